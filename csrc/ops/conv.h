// The conv family: 2-D convolution (1-D is the H = 1 case) forward, backward-input and
// backward-weight, with stride, padding, dilation and groups. Transposed convolution is the
// same three ops with the roles exchanged (its forward is conv2d_backward_input), so it has
// no kernels of its own. The CPU driver (cpu/conv.cpp) runs the reference kernels at the scalar
// level, and otherwise one algorithm per file: GEMM (ops/gemm.h) on per-thread im2col tiles
// (conv_im2col.cpp), straight GEMM for 1 x 1 stride-1 convolutions, Winograd F(2x2, 3x3)
// (conv_winograd.cpp), direct kernels for small C R S (conv_direct.cpp) and the vector
// depthwise kernels of the current ISA (conv_depthwise.cpp). CUDA: cuda/conv.cuh.
//
// Legend (core/tensor.h): x is (N, C, H, W), y is (N, K, P, Q), the weight (K, C/G, R, S)
// with G = groups; output channel k reads input channels of group k / (K/G). Output (p, q)
// reads rows p * stride_h - pad_h + r * dil_h and columns q * stride_w - pad_w + s * dil_w;
// positions outside the input read 0. pad_h / pad_w are the top / left padding; the bottom /
// right padding is implied by P and Q (asymmetric for padding='same' with even kernels).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct Conv2dShape {
  index_t N, C, H, W;  // input
  index_t K, R, S;     // output channels, filter
  index_t P, Q;        // output plane
  index_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  index_t groups;
};

// ---- kernels; each covers images [0, s.N) of the arrays it is given ----
// y = conv(x, w) + bias (bias: K floats or null).
using ConvForwardFn = void (*)(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s);
// dx = the gradient of conv(x, w) with respect to x, given dy (overwrites dx).
using ConvBackwardInputFn = void (*)(float* dx, const float* dy, const float* w, const Conv2dShape& s);
// dw += the gradient with respect to w (accumulates, so the driver can sum over batches).
using ConvBackwardWeightFn = void (*)(float* dw, const float* dy, const float* x, const Conv2dShape& s);

// Winograd F(2x2, 3x3) transforms (3 x 3 filters, stride 1, dilation 1). Output tiles of
// 2 x 2 are numbered t = i * ceil(Q/2) + j over the plane; a call covers tiles [t0, t0 + T).
// Input: v[e][c][t - t0] = (B^T d B)[e] for the 4 x 4 input patch d of tile t in each of the
// Cg planes of x (H x W each), zeros outside the input. Output: y (Kg planes of P x Q) at
// tile t = A^T m A + bias[k] from m[e][k][t - t0] (bias: Kg floats or null); positions past
// P or Q are not written.
// The kernel first copies the rows the block reads of each plane into `pad` (scratch of
// winograd_pad_floats(s) floats), zero-padded, so that every load of the transform is a
// whole vector in bounds.
using WinogradInputFn = void (*)(float* v, float* pad, const float* x, const Conv2dShape& s, index_t Cg,
                                 index_t t0, index_t T);
// The zero-padded plane of the input transform: rows of winograd_pad_ld(s) floats (2 ceil(Q/2)
// + 2 columns, rounded up, plus the 32 floats a stride-2 vector load of 16 lanes may reach),
// 2 ceil(P/2) + 2 rows.
inline index_t winograd_pad_ld(const Conv2dShape& s) { return (2 * ((s.Q + 1) / 2) + 2 + 15) / 16 * 16 + 32; }
inline index_t winograd_pad_floats(const Conv2dShape& s) { return (2 * ((s.P + 1) / 2) + 2) * winograd_pad_ld(s); }
using WinogradOutputFn = void (*)(float* y, const float* m, const float* bias, const Conv2dShape& s, index_t Kg,
                                  index_t t0, index_t T);
// Weight gradient's transform of dy (Kg planes of P x Q): g[e][k][t - t0] = (A m A^T)[e] for
// the 2 x 2 block m of tile t (zeros past P or Q). With v from WinogradInputFn,
// dU[e] = sum over tiles of g[e] v[e]^T and dw = G^T dU G.
using WinogradGradOutputFn = void (*)(float* g, const float* dy, const Conv2dShape& s, index_t Kg, index_t t0,
                                      index_t T);

// Direct convolution of one image (stride 1, groups 1) for small reductions C R S, where a
// GEMM's K would be too short: xp holds the C input planes zero-padded, plane after plane
// (`plane` floats apart, rows `ldx` floats apart, ldx >= Q rounded up to 32 plus
// (S - 1) dil_w; P + (R - 1) dil_h rows), so that the output (p, q) reads
// xp[c][p + r dil_h][q + t dil_w]; wt is the filter transposed to (C R S, K); y is K x P x Q.
using ConvDirectFn = void (*)(float* y, const float* xp, index_t ldx, index_t plane, const float* wt,
                              const float* bias, const Conv2dShape& s);

// Its adjoint for the weight gradient of one image: dw (K x C R S) += the sums over (p, q) of
// dy[k][p][q] xp[c][p + r dil_h][q + t dil_w], with xp as above; C R S <= 64.
using ConvDirectBackwardWeightFn = void (*)(float* dw, const float* dy, const float* xp, index_t ldx,
                                            index_t plane, const Conv2dShape& s);

// Filters of at most this many taps per row (S) or in all (R x S) take the depthwise vector
// kernels (their per-tap tables and accumulators are this size).
constexpr index_t kDepthwiseMaxTaps = 49;

struct ConvKernels {
  // The whole ops with plain loops (the reference); the scalar level runs only these.
  ConvForwardFn forward_ref;
  ConvBackwardInputFn backward_input_ref;
  ConvBackwardWeightFn backward_weight_ref;
  // Depthwise (groups == C == K): one filter per channel, vectorised along output rows at
  // the ISA levels; null at the scalar level.
  ConvForwardFn depthwise_forward;
  // Depthwise weight gradient of one plane pair (s.N = s.C = s.K = 1): dw (R x S) += the
  // products of dy (P x Q) and x (H x W). Null at the scalar level.
  ConvBackwardWeightFn depthwise_backward_weight;
  // Depthwise input gradient of one plane pair (s.N = s.C = s.K = 1): dx (H x W) = dy (P x Q)
  // through w (R x S), at column strides 1 and 2; false (nothing written) elsewhere or without
  // its buffer. Null at the scalar level.
  bool (*depthwise_backward_input)(float* dx, const float* dy, const float* w, const Conv2dShape& s) = nullptr;
  ConvDirectFn direct_forward;  // null at the scalar level
  ConvDirectBackwardWeightFn direct_backward_weight;  // null at the scalar level
  // Winograd transforms (vector kernels; null at the scalar level).
  WinogradInputFn winograd_input;
  WinogradOutputFn winograd_output;
  WinogradGradOutputFn winograd_grad_output;
  bool use_gemm;  // false at the scalar level: the driver then runs the *_ref kernels
};

extern KernelTables<ConvKernels> g_conv_kernels;
void register_conv_ref(ConvKernels& t);
void register_conv_avx2(ConvKernels& t);
void register_conv_avx512(ConvKernels& t);

// Scalar depthwise output (n, k, p, q) for the vector kernels' edges: x points at the input
// plane of channel k, w at its R x S filter.
inline float depthwise_at(const float* x, const float* w, const Conv2dShape& s, index_t p, index_t q) {
  const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  float acc = 0.0f;
  for (index_t r = 0; r < s.R; ++r) {
    const index_t h = h0 + r * s.dil_h;
    if (h < 0 || h >= s.H) continue;
    for (index_t t = 0; t < s.S; ++t) {
      const index_t c = w0 + t * s.dil_w;
      if (c >= 0 && c < s.W) acc += x[h * s.W + c] * w[r * s.S + t];
    }
  }
  return acc;
}

// Adds output (p, q)'s contribution dy_pq * x[tap] to each of the R x S weight gradients of
// one depthwise plane (the vector kernel's edge columns).
inline void depthwise_dw_at(float* dw, float dy_pq, const float* x, const Conv2dShape& s, index_t p, index_t q) {
  const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  for (index_t r = 0; r < s.R; ++r) {
    const index_t h = h0 + r * s.dil_h;
    if (h < 0 || h >= s.H) continue;
    for (index_t t = 0; t < s.S; ++t) {
      const index_t c = w0 + t * s.dil_w;
      if (c >= 0 && c < s.W) dw[r * s.S + t] += dy_pq * x[h * s.W + c];
    }
  }
}

// ---- drivers: threads over images, groups and column tiles ----
void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s);
// dx = dL/dx; bias (C floats, or null) is then added per input channel: transposed
// convolution's forward is this op with its bias.
void conv2d_backward_input(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s);
// dw = dL/dw (overwrites).
void conv2d_backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s);
// db[k] = sum of t[n, k, :] over n and the L positions: the bias gradient of t (N, K, L).
void conv_bias_backward(float* db, const float* t, index_t N, index_t K, index_t L);

}  // namespace fl
