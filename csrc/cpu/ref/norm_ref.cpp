// Reference batch-norm kernels: plain loops, double accumulators. The scalar ISA level, and
// the vector kernels' path when L is below the vector width ((N, C) inputs, tiny images).
#include <vector>

#include "ops/norm.h"

namespace fl {

void norm_reduce_ref(double* sum_y, double* sum_xy, const float* y, const float* cy, const float* x,
                     const float* cx, ChannelShape s, index_t c0, index_t c1) {
  for (index_t c = c0; c < c1; ++c) {
    sum_y[c] = 0.0;
    if (x) sum_xy[c] = 0.0;
  }
  // n outer, c inner: rows of (N, C) inputs are read contiguously
  for (index_t n = 0; n < s.N; ++n)
    for (index_t c = c0; c < c1; ++c) {
      const index_t off = (n * s.C + c) * s.L;
      double a = 0.0, b = 0.0;
      const float my = cy ? cy[c] : 0.0f, mx = x ? cx[c] : 0.0f;
      for (index_t l = 0; l < s.L; ++l) {
        a += y[off + l];
        if (x) b += static_cast<double>(x[off + l] - mx) * (y[off + l] - my);
      }
      sum_y[c] += a;
      if (x) sum_xy[c] += b;
    }
}

void norm_apply_ref(float* out, const float* u, const float* a, const float* v, const float* m, const float* b,
                    const float* k, ChannelShape s, index_t c0, index_t c1) {
  for (index_t n = 0; n < s.N; ++n)
    for (index_t c = c0; c < c1; ++c) {
      const index_t off = (n * s.C + c) * s.L;
      for (index_t l = 0; l < s.L; ++l) {
        float r = k[c];
        if (u) r += a[c] * u[off + l];
        if (v) r += b[c] * (v[off + l] - m[c]);
        out[off + l] = r;
      }
    }
}

void register_norm_ref(NormKernels& t) {
  t.reduce = norm_reduce_ref;
  t.apply = norm_apply_ref;
}

}  // namespace fl
