// avx512 FMA loop for the measured peak (ops/peak.h).
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/peak.h"

namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/peak_impl.h"
}  // namespace

namespace fl {
void register_peak_avx512(PeakKernels& t) { t.fma_loop = fma_loop<Vec16>; }
}  // namespace fl
