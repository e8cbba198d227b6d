// CUDA launchers of the layer-norm family (ops/layer_norm.h): y = (x - mean) * rstd * weight +
// bias over the N contiguous elements of each of M rows, forward (mean, rstd saved) and backward
// (dx per row; dweight, dbias as column sums over every row by a deterministic two-pass
// reduction). The arithmetic is the CPU reference's (cpu/ref/layer_norm_ref.cpp): statistics and
// the per-row sums of the backward in double, the affine map in float, so results agree with it
// up to the order of the sums.
//
// Plain C++ declarations: raw device pointers with the CPU driver's arguments (y may be null:
// statistics only; w, b null: 1 and 0; dw, db may be null; dx is required); launchers never
// synchronise; a bad launch throws std::runtime_error. Unverified on a GPU at the time of
// writing (checked by host emulation against the CPU reference kernels,
// tools/cuda_emu/emu_layer_norm.cpp).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/layer_norm.h"

namespace fl {

void layer_norm_forward_cuda(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                             LayerNormShape s, float eps, cudaStream_t stream);
// The column sums take a scratch of 16 * N * min(M / 32, 256) bytes (at least 16 N) from the
// caching allocator of the current device.
void layer_norm_backward_cuda(float* dx, float* dw, float* db, const float* dy, const float* x, const float* mean,
                              const float* rstd, const float* w, LayerNormShape s, cudaStream_t stream);

}  // namespace fl
