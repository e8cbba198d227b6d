// CUDA launchers of the activation family: the same ops and semantics as csrc/ops/activation.h
// (element-wise activations and their backwards, softmax / log_softmax over one axis, maxout).
// Plain C++ declarations: raw device pointers to contiguous float32, sizes, and the stream the
// kernels are queued on. Launchers never synchronise; a bad launch throws std::runtime_error.
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/activation.h"

namespace fl {

// y[i] = f(x[i]) for i < n (y may be x). `a`: negative_slope / alpha, see ActOp.
void act_forward_cuda(ActOp op, float* y, const float* x, index_t n, float a, cudaStream_t stream);
// dx[i] = dy[i] * f'(.) from the saved tensor s (y for sigmoid and tanh, x otherwise).
void act_backward_cuda(ActOp op, float* dx, const float* dy, const float* s, index_t n, float a,
                       cudaStream_t stream);

// Softmax (log: log_softmax) of x seen as (outer, n, inner) along n; y may be x.
void softmax_forward_cuda(float* y, const float* x, AxisShape shape, bool log, cudaStream_t stream);
// dx from dy and the forward output y, same layout (dx may alias dy or y).
void softmax_backward_cuda(float* dx, const float* dy, const float* y, AxisShape shape, bool log,
                           cudaStream_t stream);

// Maxout: x is (outer, n = cout * pieces, inner), y is (outer, cout, inner); first max wins,
// NaN wins over numbers. Backward writes every element of dx (dy to the winner, 0 elsewhere).
void maxout_forward_cuda(float* y, const float* x, AxisShape shape, index_t pieces, cudaStream_t stream);
void maxout_backward_cuda(float* dx, const float* dy, const float* x, AxisShape shape, index_t pieces,
                          cudaStream_t stream);

}  // namespace fl
