// Resample micro-kernels written once against the Vec interface, instantiated per ISA
// (ukernels/avx2/resample_avx2.cpp, ukernels/avx512/resample_avx512.cpp). Include only inside
// an anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract (see ops/resample.h): planes of contiguous floats, any sizes; row tails are one
// masked step. Same results as the reference kernels, operation for operation where noted.
// - Bilinear forward is separable: each output row blends two input rows, and each input row
//   is first interpolated along W once per plane into a row cache (scalar: the columns gather
//   two inputs each), so the vertical blend, two thirds of the arithmetic and all of the output
//   traffic, runs on whole vectors. Its result is the reference's expression
//   l0 (c0 x0[i0] + c1 x0[i1]) + l1 (...), with the inner sums from the cache.
// - Pad forward copies the interior columns of every output row with vector loads and stores
//   (the edges, at most lo + hi columns, by the index map); nearest-mode interpolation and the
//   backward kernels are the reference's.
#pragma once
#include <algorithm>
#include <vector>

#include "ops/resample.h"
#include "cpu/ukernels/vmath_impl.h"

namespace resample {
using fl::index_t;

template <class V> void interp_fwd(float* y, const float* x, index_t planes, const fl::InterpShape& s) {
  const index_t H = s.h.in, W = s.w.in, P = s.h.out, Q = s.w.out;
  if (s.mode != fl::InterpMode::linear || Q < V::width) return fl::interp_forward_ref(y, x, planes, s);
  std::vector<fl::Lerp> col(static_cast<size_t>(Q));
  for (index_t q = 0; q < Q; ++q) col[q] = fl::linear_src(s.w, q, s.align_corners);
  // rows[k]: input row `cached[k]` interpolated along W (two rows live at once)
  std::vector<float> rows(static_cast<size_t>(2 * Q));
  index_t cached[2];
  auto row = [&](const float* xn, index_t i, int slot) -> const float* {
    if (cached[slot] == i) return rows.data() + slot * Q;
    float* r = rows.data() + slot * Q;
    const float* xr = xn + i * W;
    for (index_t q = 0; q < Q; ++q) r[q] = col[q].l0 * xr[col[q].i0] + col[q].l1 * xr[col[q].i1];
    cached[slot] = i;
    return r;
  };
  for (index_t n = 0; n < planes; ++n) {
    const float* xn = x + n * H * W;
    cached[0] = cached[1] = -1;
    for (index_t p = 0; p < P; ++p) {
      const fl::Lerp r = fl::linear_src(s.h, p, s.align_corners);
      // keep the slot that already holds a row: consecutive outputs share rows
      const int s0 = cached[1] == r.i0 ? 1 : 0;
      const float* r0 = row(xn, r.i0, s0);
      const float* r1 = row(xn, r.i1, 1 - s0);
      const V l0 = V::set1(r.l0), l1 = V::set1(r.l1);
      map2<V>(y + (n * P + p) * Q, r0, r1, Q, [=](V a, V b) { return l0 * a + l1 * b; });
    }
  }
}

template <class V> void pad_fwd(float* y, const float* x, index_t planes, const fl::PadShape& s) {
  const index_t in = s.d.in * s.h.in * s.w.in, out = s.d.out * s.h.out * s.w.out;
  // output columns [q0, q1) read input columns q - lo, all inside the row
  const index_t q0 = std::max<index_t>(0, s.w.lo), q1 = std::min(s.w.out, s.w.lo + s.w.in);
  if (q1 - q0 < V::width) return fl::pad_forward_ref(y, x, planes, s);
  std::vector<index_t> col(static_cast<size_t>(s.w.out));
  for (index_t q = 0; q < s.w.out; ++q) col[q] = fl::pad_src(s.w, q, s.mode);
  for (index_t n = 0; n < planes; ++n)
    for (index_t od = 0; od < s.d.out; ++od) {
      const index_t id = fl::pad_src(s.d, od, s.mode);
      for (index_t oh = 0; oh < s.h.out; ++oh) {
        const index_t ih = fl::pad_src(s.h, oh, s.mode);
        float* yr = y + n * out + (od * s.h.out + oh) * s.w.out;
        if (id < 0 || ih < 0) {
          std::fill(yr, yr + s.w.out, s.value);
          continue;
        }
        const float* xr = x + n * in + (id * s.h.in + ih) * s.w.in;
        for (index_t q = 0; q < q0; ++q) yr[q] = col[q] >= 0 ? xr[col[q]] : s.value;
        map1<V>(yr + q0, xr + (q0 - s.w.lo), q1 - q0, [](V v) { return v; });
        for (index_t q = q1; q < s.w.out; ++q) yr[q] = col[q] >= 0 ? xr[col[q]] : s.value;
      }
    }
}

template <class V> void register_all(fl::ResampleKernels& t) {
  t.interp_forward = interp_fwd<V>;
  t.pad_forward = pad_fwd<V>;
}

}  // namespace resample
