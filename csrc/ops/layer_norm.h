// The layer-norm family: y = (x - mean) * rstd * weight + bias over the last N elements of each
// of M rows (PyTorch's layer_norm with prod(normalized_shape) = N), rstd = 1 / sqrt(var + eps),
// var the biased variance of the row. Forward and backward; the CPU driver (layer_norm.cpp) splits
// the rows over threads and calls the kernel table of the current ISA level.
//
// Backward, per row, with g = dy * weight (dy without weight) and xhat = (x - mean) * rstd:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat));
// and over all rows: dweight = sum(dy * xhat), dbias = sum(dy).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct LayerNormShape {
  index_t M;  // rows
  index_t N;  // elements normalised together (contiguous)
};

// Rows [0, m) of n contiguous floats: mean[r], rstd[r] of row r, and, when y is non-null,
// y = (x - mean) * rstd * w + b (w, b: n floats each, or null for 1 and 0). The statistics take
// one pass over the row for the mean and one over the (cached) row for the centred variance,
// the output one more (a row is read from memory once while it fits the caches).
using LayerNormForwardFn = void (*)(float* y, float* mean, float* rstd, const float* x, const float* w,
                                    const float* b, index_t m, index_t n, float eps);
// Rows [0, m): dx from dy, x and the row statistics (w null: no weight), in two passes over the
// row (the sums of g and g * xhat, then dx). dw_acc[j] += sum_r dy * xhat and db_acc[j] +=
// sum_r dy over these rows (float; the driver sums blocks of rows into double); either may be null.
using LayerNormBackwardFn = void (*)(float* dx, float* dw_acc, float* db_acc, const float* dy, const float* x,
                                     const float* mean, const float* rstd, const float* w, index_t m, index_t n);

struct LayerNormKernels {
  LayerNormForwardFn forward;
  LayerNormBackwardFn backward;
};

extern KernelTables<LayerNormKernels> g_layer_norm_kernels;
void register_layer_norm_ref(LayerNormKernels& t);
void register_layer_norm_avx2(LayerNormKernels& t);
void register_layer_norm_avx512(LayerNormKernels& t);

// ---- drivers: threads over rows ----
// y may be null (statistics only); w, b may be null.
void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                        LayerNormShape s, float eps);
// dw, db (N floats each) may be null. Throws std::bad_alloc when the partial sums cannot be allocated.
void layer_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* w, LayerNormShape s);

}  // namespace fl
