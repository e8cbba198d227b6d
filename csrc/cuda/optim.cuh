// CUDA launchers of the optim family: the fused SGD and Adam / AdamW updates of
// csrc/ops/optim.h on device memory, one kernel per parameter, with exactly the reference
// kernels' term order (csrc/cpu/ref/optim_ref.cpp). Plain C++ declarations: raw device
// pointers to n contiguous floats. Launchers never synchronise; a bad launch throws
// std::runtime_error. Unverified on a GPU at the time of writing (checked by host emulation).
#pragma once
#include "cuda/stream.h"

#include <cmath>

#include "core/tensor.h"
#include "ops/optim.h"

namespace fl {

// p -= lr * d as SgdHyper says; buf == nullptr means momentum == 0.
void sgd_update_cuda(float* p, float* buf, const float* g, index_t n, const SgdHyper& h, cudaStream_t stream);
// Adam / AdamW (h.decoupled); vmax == nullptr means amsgrad off.
void adam_update_cuda(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const AdamHyper& h,
                      cudaStream_t stream);

}  // namespace fl
