// The norm family: batch normalisation over (N, C, L) tensors ((N, C) is L = 1, (N, C, H, W)
// is L = H * W), forward (training statistics or running statistics) and backward; group
// normalisation (statistics per sample over groups of C / G channels) and instance
// normalisation, its G = C case. The CPU driver (norm.cpp) splits channels (or groups) over
// threads; per channel it needs two kernels, a reduction and an affine map, which the kernel
// table provides per ISA level. Group norm runs on the same two kernels: a group of one sample
// is a contiguous run of C / G * L floats, i.e. one "channel" of the shape (1, N G, C / G L),
// and its per-channel affine map is an apply over the shape (1, N C, L).
//
// Element (n, c, l) lives at (n * C + c) * L + l. Kernels work on channels [c0, c1).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct ChannelShape {
  index_t N, C, L;
};

// Per-channel sums, accumulated in double across segments of L floats:
//   sum_y[c]  = sum over (n, l) of y
//   sum_xy[c] = sum over (n, l) of (x - cx[c]) * (y - cy[c])   (only when x is non-null;
//               cy null means 0)
using NormReduceFn = void (*)(double* sum_y, double* sum_xy, const float* y, const float* cy, const float* x,
                              const float* cx, ChannelShape s, index_t c0, index_t c1);
// out = a[c] * u + b[c] * (v - m[c]) + k[c]; a term is skipped when its tensor (u or v) is null.
using NormApplyFn = void (*)(float* out, const float* u, const float* a, const float* v, const float* m,
                             const float* b, const float* k, ChannelShape s, index_t c0, index_t c1);

struct NormKernels {
  NormReduceFn reduce;
  NormApplyFn apply;
};

extern KernelTables<NormKernels> g_norm_kernels;
void register_norm_ref(NormKernels& t);
void register_norm_avx2(NormKernels& t);
void register_norm_avx512(NormKernels& t);
// Reference kernels: the vector kernels' fallback when L is below the vector width.
void norm_reduce_ref(double* sum_y, double* sum_xy, const float* y, const float* cy, const float* x,
                     const float* cx, ChannelShape s, index_t c0, index_t c1);
void norm_apply_ref(float* out, const float* u, const float* a, const float* v, const float* m, const float* b,
                    const float* k, ChannelShape s, index_t c0, index_t c1);

// ---- drivers (all arrays contiguous float32; per-channel arrays hold C floats) ----
// y = weight * (x - mean) * invstd + bias. training: mean and biased variance of the batch,
// written to save_mean / save_invstd, and running_mean / running_var (when non-null) updated
// in place with `momentum` and the unbiased variance. Otherwise the running statistics are
// used (save_* receive them). weight / bias may be null (1 and 0).
void batch_norm_forward(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                        const float* x, const float* weight, const float* bias, ChannelShape s, bool training,
                        float momentum, float eps);
// Batch statistics alone: per-channel mean and 1 / sqrt(biased variance + eps).
void batch_norm_stats(float* mean, float* invstd, const float* x, ChannelShape s, float eps);
// dx, dweight, dbias (each may be null) from dy, x and the statistics the forward used
// (mean, invstd). training: the batch statistics' own gradient is included.
void batch_norm_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                         const float* weight, const float* mean, const float* invstd, ChannelShape s, bool training);

// Group norm over (N, C, L) in G groups (C % G == 0): group q = n * G + g holds channels
// [g C / G, (g + 1) C / G) of sample n, M = C / G * L contiguous floats from q * M.
struct GroupShape {
  index_t N, C, G, L;
};
// y = weight[c] * (x - mean_q) * invstd_q + bias[c]; save_mean / save_invstd / save_var (N G
// floats; save_var, the biased variance, may be null) receive the group statistics. weight /
// bias may be null (1 and 0).
void group_norm_forward(float* y, float* save_mean, float* save_invstd, float* save_var, const float* x,
                        const float* weight, const float* bias, GroupShape s, float eps);
// dx (may be null), dweight, dbias (C floats each, may be null) from dy, x and the forward's
// statistics, through the group statistics.
void group_norm_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                         const float* weight, const float* mean, const float* invstd, GroupShape s);
// Instance norm's running statistics (G = C, one per channel), as PyTorch: each sample's
// statistics update a copy of the running ones, and the copies are averaged:
// running = (1 - momentum) running + momentum * mean over n (of the group mean / of the
// unbiased group variance, var * M / (M - 1)). Either array may be null.
void group_norm_update_running(float* running_mean, float* running_var, const float* mean, const float* var,
                               GroupShape s, float momentum);

}  // namespace fl
