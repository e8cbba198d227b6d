// avx2 FMA loop for the measured peak (ops/peak.h).
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/peak.h"

namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/peak_impl.h"
}  // namespace

namespace fl {
void register_peak_avx2(PeakKernels& t) { t.fma_loop = fma_loop<Vec8>; }
}  // namespace fl
