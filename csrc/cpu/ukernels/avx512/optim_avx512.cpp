// AVX-512 optimizer updates: the ISA-generic templates of optim_impl.h on Vec16.
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/optim.h"

namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
// Correctly rounded square root, as std::sqrt and PyTorch's sqrt.
inline Vec16 v_sqrt(Vec16 a) { return {_mm512_sqrt_ps(a.v)}; }
#include "cpu/ukernels/optim_impl.h"
}  // namespace

namespace fl {
void register_optim_avx512(OptimKernels& t) { optim::register_all<Vec16>(t); }
}  // namespace fl
