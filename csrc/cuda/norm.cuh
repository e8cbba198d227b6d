// CUDA launchers of the norm family: batch normalisation over (N, C, L) tensors and group
// normalisation (instance norm is its G = C case) with the semantics of csrc/ops/norm.h (element (n, c, l) at (n * C + c) * L + l; statistics in
// double; running statistics updated with the unbiased variance). Plain C++ declarations: raw
// device pointers (per-channel arrays hold C floats; weight / bias / running_* may be null as
// on the CPU); launchers never synchronise. Unverified on a GPU at the time of writing
// (checked by host emulation).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/norm.h"

namespace fl {

void batch_norm_forward_cuda(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                             const float* x, const float* weight, const float* bias, ChannelShape s, bool training,
                             float momentum, float eps, cudaStream_t stream);
// Batch statistics alone: mean and 1 / sqrt(biased variance + eps) per channel.
void batch_norm_stats_cuda(float* mean, float* invstd, const float* x, ChannelShape s, float eps,
                           cudaStream_t stream);
// dx, dweight, dbias (each may be null) from dy, x and the forward's (mean, invstd).
void batch_norm_backward_cuda(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                              const float* weight, const float* mean, const float* invstd, ChannelShape s,
                              bool training, cudaStream_t stream);

// Group norm (per-group arrays hold N G floats; save_var may be null).
void group_norm_forward_cuda(float* y, float* save_mean, float* save_invstd, float* save_var, const float* x,
                             const float* weight, const float* bias, GroupShape s, float eps, cudaStream_t stream);
void group_norm_backward_cuda(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                              const float* weight, const float* mean, const float* invstd, GroupShape s,
                              cudaStream_t stream);
void group_norm_update_running_cuda(float* running_mean, float* running_var, const float* mean, const float* var,
                                    GroupShape s, float momentum, cudaStream_t stream);

}  // namespace fl
