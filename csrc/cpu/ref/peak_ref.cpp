// Scalar multiply-add loop: the peak of the reference level (no FMA flags in this file).

#include "ops/peak.h"

namespace fl {
namespace {
double fma_loop_ref(index_t iters, float* sink) {
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float m = 0.999999f, c = 1e-7f;
  for (index_t i = 0; i < iters; ++i)
    for (float& v : a) v = v * m + c;
  float s = 0;
  for (float v : a) s += v;
  *sink = s;
  return 2.0 * 8 * static_cast<double>(iters);
}
}  // namespace

void register_peak_ref(PeakKernels& t) { t.fma_loop = fma_loop_ref; }
}  // namespace fl
