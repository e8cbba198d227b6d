// The dropout family: y = x * mask * scale with a counter-based random mask.
// Element i of a tensor is kept iff bits(seed, i) >= threshold, where bits is a stateless
// 32-bit hash of the seed and the 64-bit index (ukernels/dropout_impl.h). So the mask is a
// pure function of (seed, i): any split over threads gives the same mask, no generator
// state is shared, and backward re-applies the identical mask from the same seed instead of
// storing it (dx = dy * mask * scale is the same kernel as the forward).
#pragma once
#include <cstdint>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct DropoutParams {
  std::uint64_t seed;
  std::uint32_t threshold;  // keep iff bits >= threshold; round(p * 2^32), 0 keeps all
  float scale;              // 1 / (1 - p)
};

// Contract: y and x are n contiguous floats holding elements [begin, begin + n) of the
// tensor (begin fixes the mask's indices); y == x is allowed.
using DropoutApplyFn = void (*)(float* y, const float* x, index_t begin, index_t n, const DropoutParams& p);

struct DropoutKernels {
  DropoutApplyFn apply;
};

extern KernelTables<DropoutKernels> g_dropout_kernels;
void register_dropout_ref(DropoutKernels& t);
void register_dropout_avx2(DropoutKernels& t);
void register_dropout_avx512(DropoutKernels& t);

// Driver: y = x * mask(seed) * scale over the whole tensor of n elements.
void dropout_apply(float* y, const float* x, index_t n, const DropoutParams& p);

}  // namespace fl
