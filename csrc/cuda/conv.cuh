// CUDA launchers of the conv family: implicit-GEMM 2-D convolution forward, backward-input
// and backward-weight with stride, padding, dilation and groups (depthwise included), with the
// shape contract of csrc/ops/conv.h (x (N, C, H, W), y (N, K, P, Q), weight (K, C/G, R, S)).
// Conv1d is H = 1; transposed convolution is these ops with the roles exchanged (its forward
// is conv2d_backward_input_cuda with its bias), as on the CPU. Plain C++ declarations: raw
// device pointers to contiguous float32; launchers never synchronise. Unverified on a GPU at
// the time of writing (checked by host emulation against the CPU reference kernels).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/conv.h"

namespace fl {

// y = conv(x, w) + bias (bias: K floats or null).
void conv2d_forward_cuda(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s,
                         cudaStream_t stream);
// dx = dL/dx from dy (overwrites), then bias (C floats or null) added per input channel.
void conv2d_backward_input_cuda(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s,
                                cudaStream_t stream);
// dw = dL/dw (overwrites; split over the reduction with atomic adds, so the last bits vary,
// except for depthwise layers).
void conv2d_backward_weight_cuda(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                                 cudaStream_t stream);
// db[k] = sum of t[n, k, :] over n and the L positions (t is (N, K, L)).
void conv_bias_backward_cuda(float* db, const float* t, index_t N, index_t K, index_t L, cudaStream_t stream);

}  // namespace fl
