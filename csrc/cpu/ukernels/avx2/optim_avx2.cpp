// AVX2+FMA optimizer updates: the ISA-generic templates of optim_impl.h on Vec8.
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/optim.h"

namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
// Correctly rounded square root, as std::sqrt and PyTorch's sqrt.
inline Vec8 v_sqrt(Vec8 a) { return {_mm256_sqrt_ps(a.v)}; }
#include "cpu/ukernels/optim_impl.h"
}  // namespace

namespace fl {
void register_optim_avx2(OptimKernels& t) { optim::register_all<Vec8>(t); }
}  // namespace fl
