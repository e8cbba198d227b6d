// AVX-512 resample kernels: the ISA-generic templates of resample_impl.h on Vec16 (bilinear
// interpolation and padding forwards; the other ops keep the reference kernels).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/tensor.h"
#include "ops/resample.h"

namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/resample_impl.h"
}  // namespace

namespace fl {
void register_resample_avx512(ResampleKernels& t) { resample::register_all<Vec16>(t); }
}  // namespace fl
