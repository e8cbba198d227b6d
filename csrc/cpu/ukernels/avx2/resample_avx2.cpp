// AVX2+FMA resample kernels: the ISA-generic templates of resample_impl.h on Vec8 (bilinear
// interpolation and padding forwards; the other ops keep the reference kernels).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/tensor.h"
#include "ops/resample.h"

namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/resample_impl.h"
}  // namespace

namespace fl {
void register_resample_avx2(ResampleKernels& t) { resample::register_all<Vec8>(t); }
}  // namespace fl
