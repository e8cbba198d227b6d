// CUDA launchers of the attention family (ops/attention.h): fused scaled dot-product attention
// in FP32, FlashAttention-2's algorithm. Forward: o (BH, Tq, Dv) and, when lse is non-null, the
// per-row log-sum-exp lse (BH, Tq) (+inf for a row that attends to no key, whose o is 0).
// Backward: dq, dk, dv (each written, not accumulated) from do_ and the forward's q, k, v, o,
// lse, recomputing the probabilities from lse; deterministic (no float atomics).
//
// The mask is the CPU's AttnMaskView (causal, or boolean / additive data seen as (BH, Tq, Tk)
// through per-batch-head offsets and two strides), with data and batch_offset in device memory;
// dropout is AttnDropout with ops/dropout_hash.h's mask at index (b * Tq + i) * Tk + j, the
// CPU's very mask. Head dimensions D, Dv up to kAttnCudaMaxHeadDim (std::invalid_argument
// beyond: the Q tile lives in shared memory).
//
// Plain C++ declarations: raw device pointers; launchers never synchronise; a bad launch throws
// std::runtime_error. The backward takes a scratch of 4 BH Tq bytes (rowsum(dO * O)) from the
// caching allocator of the current device. Unverified on a GPU at the time of writing (checked
// by host emulation against the CPU reference kernels, tools/cuda_emu/emu_attention.cpp).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/attention.h"

namespace fl {

constexpr index_t kAttnCudaMaxHeadDim = 256;

void attention_forward_cuda(float* o, float* lse, const float* q, const float* k, const float* v,
                            const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt,
                            cudaStream_t stream);
void attention_backward_cuda(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                             const float* v, const float* o, const float* lse, const AttentionShape& s,
                             const AttnMaskView& mask, const AttentionOptions& opt, cudaStream_t stream);

}  // namespace fl
