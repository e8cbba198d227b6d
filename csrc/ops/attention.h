// The attention family: scaled dot-product attention, forward and backward.
//   O = softmax(scale * Q K^T + mask) V        per batch-head b of BH (batch x heads, flattened)
// Q is (BH, Tq, D), K (BH, Tk, D), V (BH, Tk, Dv), O (BH, Tq, Dv), all C-contiguous float32.
// The forward also saves lse (BH, Tq), the log-sum-exp of each row of masked scores, so that
// the backward recomputes the probabilities P = exp(scale * Q K^T + mask - lse) tile by tile
// (FlashAttention-2): no Tq x Tk matrix is ever stored, by the fused CPU driver (attention.cpp)
// or by the reference (ref/attention_ref.cpp, which works one query row at a time).
//
// Masks (one kind per call, as PyTorch allows attn_mask or is_causal, not both):
//   causal:   key j is attended by query i iff j <= i (top-left aligned, as PyTorch's is_causal,
//             also when Tq != Tk);
//   boolean:  uint8, nonzero = attend (masked scores become -inf);
//   additive: float, added to the scaled scores (-inf masks);
//   the mask seen as (BH, Tq, Tk), element (b, i, j) at data[batch_offset[b] + i * stride_q +
//   j * stride_k] (element units): broadcasting over batch, heads, queries or keys is a zero
//   stride or a repeated offset, never a copy.
// A row with no attended key (every score -inf) gives O = 0 (and zero gradients), as PyTorch
// 2.13 does on the CPU; its lse is +inf, so that the backward's exp(score - lse) is 0 there.
//
// Dropout on the attention weights (AttnDropout): O = (P * keep / (1 - p)) V, where keep of
// weight (b, i, j) is functional.dropout's counter-based mask (ukernels/dropout_impl.h) at index
// (b * Tq + i) * Tk + j, so the very mask of dropout(P, p, seed) over the (BH, Tq, Tk) weights;
// lse stays that of the undropped weights, and the backward re-derives the mask from the seed.
#pragma once
#include <cstdint>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

enum class AttnMask : int { none = 0, causal = 1, boolean = 2, additive = 3 };

struct AttentionShape {
  index_t BH;      // batch x heads
  index_t Tq, Tk;  // query and key sequence lengths
  index_t D, Dv;   // head dimension of queries and keys, of values
};

struct AttnMaskView {
  AttnMask kind = AttnMask::none;
  const void* data = nullptr;             // std::uint8_t (boolean) or float (additive)
  const index_t* batch_offset = nullptr;  // BH offsets, in elements (boolean, additive)
  index_t stride_q = 0, stride_k = 0;     // >= 0, in elements
};

struct AttnDropout {
  std::uint64_t seed = 0;
  std::uint32_t threshold = 0;  // keep iff bits(seed, index) >= threshold; 0: no dropout
  float scale = 1.0f;           // 1 / (1 - p)
};

struct AttentionOptions {
  float scale;  // multiplies Q K^T (PyTorch's default 1 / sqrt(D) is chosen by the caller)
  AttnDropout dropout = {};
};

// ---- whole-problem kernels (the reference's; every level has them) ----
// o (BH, Tq, Dv), lse (BH, Tq) from q, k, v.
using AttnForwardFn = void (*)(float* o, float* lse, const float* q, const float* k, const float* v,
                               const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt);
// dq (BH, Tq, D), dk (BH, Tk, D), dv (BH, Tk, Dv) from do_ (dL/dO) and the forward's q, k, v,
// o and lse; every gradient is written (not accumulated).
using AttnBackwardFn = void (*)(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                                const float* v, const float* o, const float* lse, const AttentionShape& s,
                                const AttnMaskView& mask, const AttentionOptions& opt);

// ---- tile kernels of the fused driver (ukernels/attention_impl.h) ----
// One tile of scores: rows query rows from q0, cols keys from k0 (absolute positions), in a
// buffer with rows lds floats apart. mask: the explicit mask's element (q0, k0) of this batch-
// head (kind boolean or additive), stride_q / stride_k as in AttnMaskView; kind causal masks
// key k0 + j for row r when k0 + j > q0 + r. Row r's columns from valid(r) on are masked
// (valid(r) = cols but for causal). dropout: null, or the options' dropout, with weight (r, j) of
// the tile at index drop_index + r * drop_ld + j of the mask.
struct AttnTile {
  index_t rows, cols;
  index_t q0, k0;
  AttnMask kind;
  const void* mask;
  index_t stride_q, stride_k;
  const AttnDropout* dropout = nullptr;
  index_t drop_index = 0, drop_ld = 0;
};

// Forward step of the online softmax over one tile. s holds scale * q k^T; per row r it adds
// the mask, raises the running maximum m[r] to include the row, overwrites s with
// P = exp(s - m[r]) (0 where masked, every column < cols written), adds the row's sum of P to
// the running sum l[r] after rescaling l[r] by c = exp(m_old - m_new), and multiplies the row
// of the output accumulator acc (rows x dv, acc_ld apart) by c; with dropout, s then holds
// P * keep * scale (l sums the undropped P). Rows that are still entirely masked keep m = -inf,
// l = 0 and get P = 0. Probabilities below exp(-87) (relative to the row's maximum) are flushed
// to 0, so that no subnormal is computed.
using AttnSoftmaxTileFn = void (*)(float* s, index_t lds, float* acc, index_t acc_ld, index_t dv, float* m,
                                   float* l, const AttnTile& t);
// Backward over one tile: s holds scale * q k^T and dp holds dO v^T (rows lds apart). Per row
// r: s = P = exp(s + mask - lse[r]) and dp = dS = P * (dp - delta[r]), both 0 where masked
// (every column < cols written; P flushed to 0 below exp(-87) as in the forward). With dropout,
// dp holds dO v^T for the dropped weights: dS = P * (dp * keep * scale - delta[r]), and s then
// holds the dropped weights P * keep * scale (what dV needs).
using AttnGradTileFn = void (*)(float* s, float* dp, index_t lds, const float* lse, const float* delta,
                                const AttnTile& t);

struct AttentionKernels {
  AttnForwardFn forward_ref;
  AttnBackwardFn backward_ref;
  // Null at the scalar level: the driver then runs the reference.
  AttnSoftmaxTileFn softmax_tile = nullptr;
  AttnGradTileFn grad_tile = nullptr;
};

extern KernelTables<AttentionKernels> g_attention_kernels;
void register_attention_ref(AttentionKernels& t);
void register_attention_avx2(AttentionKernels& t);
void register_attention_avx512(AttentionKernels& t);

void attention_forward_ref(float* o, float* lse, const float* q, const float* k, const float* v,
                           const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt);
void attention_backward_ref(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                            const float* v, const float* o, const float* lse, const AttentionShape& s,
                            const AttnMaskView& mask, const AttentionOptions& opt);

// ---- drivers: threads over batch-heads x query blocks (forward) or key blocks (backward) ----
// lse may be null (not saved). Throws std::bad_alloc when scratch cannot be allocated.
void attention_forward(float* o, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt);
void attention_backward(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                        const float* v, const float* o, const float* lse, const AttentionShape& s,
                        const AttnMaskView& mask, const AttentionOptions& opt);

}  // namespace fl
