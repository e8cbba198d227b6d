// CUDA launchers of the dropout family: y = x * mask(seed) * scale on device memory, with the
// mask of ops/dropout.h drawn by the same counter-based hash as the CPU kernels
// (ops/dropout_hash.h), so a CPU and a GPU run with the same seed keep the same elements and
// produce bit-identical outputs. Backward is the same call on dy with the same parameters.
// Plain C++ declarations: raw device pointers to contiguous floats (y == x is allowed);
// launchers never synchronise; a bad launch throws std::runtime_error. Unverified on a GPU at
// the time of writing (checked by host emulation).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/dropout.h"

namespace fl {

// The whole tensor of n elements: dropout_apply on the device.
void dropout_apply_cuda(float* y, const float* x, index_t n, const DropoutParams& p, cudaStream_t stream);
// Elements [begin, begin + n) of a larger tensor (begin fixes the mask's indices), as the CPU
// kernel-table contract DropoutApplyFn: y and x point at element `begin`.
void dropout_apply_range_cuda(float* y, const float* x, index_t begin, index_t n, const DropoutParams& p,
                              cudaStream_t stream);

}  // namespace fl
