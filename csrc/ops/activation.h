// The activation family: element-wise activations, softmax / log_softmax over one axis,
// and maxout. Forward and backward for each; the CPU driver (activation.cpp) splits work
// over threads and calls the kernel table of the current ISA level.
//
// Element-wise ops work on contiguous ranges of n floats. Backward kernels take the saved
// tensor named in the op's contract: the input x for relu, leaky_relu, elu, gelu, gelu_tanh;
// the output y for sigmoid and tanh; the input x for silu (x sigmoid(x)).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

enum class ActOp : int { sigmoid = 0, tanh, relu, leaky_relu, elu, gelu, gelu_tanh, silu };
constexpr int kActOpCount = 8;

// y[i] = f(x[i]) for i < n; `a` is the op's parameter (negative_slope, alpha) or unused.
using ActForwardFn = void (*)(float* y, const float* x, index_t n, float a);
// dx[i] = dy[i] * f'(.) computed from the saved tensor s (x or y, see above).
using ActBackwardFn = void (*)(float* dx, const float* dy, const float* s, index_t n, float a);

// Softmax over the axis of one (n, width) slab whose rows are `stride` floats apart
// (stride >= width; stride == width == 1 is a contiguous row of n). log: log_softmax.
using SoftmaxForwardFn = void (*)(float* y, const float* x, index_t n, index_t stride, index_t width, bool log);
// Softmax along the last axis of `rows` contiguous rows of n floats (the common case, kept
// apart so that a kernel can overlap one row's memory traffic with another row's arithmetic).
// stream: the output is too large to stay in cache; a kernel may write it with non-temporal
// stores.
using SoftmaxRowsFn = void (*)(float* y, const float* x, index_t rows, index_t n, bool log, bool stream);
// dx from dy and the forward's output y over the same slab layout.
using SoftmaxBackwardFn = void (*)(float* dx, const float* dy, const float* y, index_t n, index_t stride,
                                   index_t width, bool log);

// Maxout over one outer slice: x is (cout * pieces, inner), y is (cout, inner);
// y[c, j] = max_k x[c * pieces + k, j]. The first maximum wins; NaN wins over numbers.
using MaxoutForwardFn = void (*)(float* y, const float* x, index_t cout, index_t pieces, index_t inner);
// dx[c * pieces + k, j] = dy[c, j] if k is the winner of y[c, j], else 0.
using MaxoutBackwardFn = void (*)(float* dx, const float* dy, const float* x, index_t cout, index_t pieces,
                                  index_t inner);

struct ActivationKernels {
  ActForwardFn forward[kActOpCount];
  ActBackwardFn backward[kActOpCount];
  SoftmaxForwardFn softmax_forward;
  SoftmaxRowsFn softmax_rows;
  SoftmaxBackwardFn softmax_backward;
  MaxoutForwardFn maxout_forward;
  MaxoutBackwardFn maxout_backward;
};

// Reference maxout kernels, also the vector kernels' fallback when inner < vector width.
void maxout_forward_ref(float* y, const float* x, index_t cout, index_t pieces, index_t inner);
void maxout_backward_ref(float* dx, const float* dy, const float* x, index_t cout, index_t pieces, index_t inner);

extern KernelTables<ActivationKernels> g_activation_kernels;
void register_activation_ref(ActivationKernels& t);
void register_activation_avx2(ActivationKernels& t);
void register_activation_avx512(ActivationKernels& t);

// ---- drivers: threads over the whole tensor; all pointers to contiguous float32 ----
void activation_forward(ActOp op, float* y, const float* x, index_t n, float a);
void activation_backward(ActOp op, float* dx, const float* dy, const float* s, index_t n, float a);
void softmax_forward(float* y, const float* x, AxisShape shape, bool log);
void softmax_backward(float* dx, const float* dy, const float* y, AxisShape shape, bool log);
// shape.n is the input channel count cout * pieces.
void maxout_forward(float* y, const float* x, AxisShape shape, index_t pieces);
void maxout_backward(float* dx, const float* dy, const float* x, AxisShape shape, index_t pieces);

}  // namespace fl
