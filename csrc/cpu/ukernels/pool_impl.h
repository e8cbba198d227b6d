// Pooling micro-kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/pool_avx2.cpp, ukernels/avx512/pool_avx512.cpp). Include only inside an
// anonymous namespace, after the ISA's Vec header.
//
// Contract (see cpu/pool.h): `planes` planes of H x W in, P x Q out, any sizes >= 1.
// Forward max and average pooling vectorise across the output columns of one row: for the
// "interior" columns, whose windows lie inside [0, W) horizontally, one vector holds V::width
// outputs and each tap is one load (stride 1) or two loads and an even-lane shuffle
// (stride 2). Rows are clipped per output row, so padding costs nothing there. The columns
// touching the left or right padding, and strides above 2, use the scalar helpers of
// cpu/pool.h. Results equal the reference bit for bit (same order of operations).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/pool.h"
#include "cpu/ukernels/window_impl.h"

namespace pool {
using fl::index_t;
using fl::Pool2dShape;

// One output row p of one plane: outputs [qa, qb) by vectors (op = max or sum).
// offs[r * S + t]: the flat offset of tap (r, t) from its window's top-left position.
template <class V, bool kMax>
void row_vector(float* y, int64_t* idx, const index_t* offs, const float* x, const Pool2dShape& s, index_t p,
                index_t qa, index_t qb, float div) {
  const index_t h0 = p * s.stride_h - s.pad_h;
  index_t r0, r1;
  fl::pool_taps(h0, s.R, s.dil_h, s.H, &r0, &r1);
  const index_t span = (s.S - 1) * s.dil_w;  // columns covered by the taps, minus one
  for (index_t q = qa; q < qb; q += V::width) {
    const index_t c = std::min<index_t>(V::width, qb - q);
    const index_t w0 = q * s.stride_w - s.pad_w;
    // the widest read of the chunk ends before W, or before the array's last float
    const bool full = c == V::width && w0 + span + s.stride_w * V::width - 1 < s.W;
    V acc = kMax ? V::set1(-std::numeric_limits<float>::infinity()) : V::zero();
    V pos = V::set1(static_cast<float>(r0 * s.S));
    for (index_t r = r0; r < r1; ++r) {
      const float* row = x + (h0 + r * s.dil_h) * s.W + w0;
      for (index_t t = 0; t < s.S; ++t) {
        const V v = window::load_taps<V>(row + t * s.dil_w, s.stride_w, c, full);
        if (kMax) {
          const auto take = V::mask_or(V::gt(v, acc), V::isnan(v));
          acc = V::select(take, v, acc);
          if (idx) pos = V::select(take, V::set1(static_cast<float>(r * s.S + t)), pos);
        } else {
          acc = acc + v;
        }
      }
    }
    if (!kMax) acc = acc / V::set1(div);
    if (c == V::width) V::store(y + q, acc); else V::store_n(y + q, acc, c);
    if (kMax && idx) {
      float lanes[V::width];
      V::store(lanes, pos);
      const index_t base = h0 * s.W + w0;
      for (index_t j = 0; j < c; ++j) idx[q + j] = base + j * s.stride_w + offs[static_cast<index_t>(lanes[j])];
    }
  }
}

template <class V, bool kMax>
void pool_planes(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s,
                 const fl::AvgPoolOptions& o) {
  index_t qa = 0, qb = 0;
  if (s.stride_w <= 2) window::interior_cols(s.W, s.Q, s.S, s.stride_w, s.pad_w, s.dil_w, &qa, &qb);
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::vector<index_t> offs(static_cast<size_t>(idx ? s.R * s.S : 0));
  for (index_t r = 0; idx && r < s.R; ++r)
    for (index_t t = 0; t < s.S; ++t) offs[r * s.S + t] = r * s.dil_h * s.W + t * s.dil_w;
  for (index_t n = 0; n < planes; ++n) {
    const float* xn = x + n * hw;
    float* yn = y + n * pq;
    int64_t* in = idx ? idx + n * pq : nullptr;
    for (index_t p = 0; p < s.P; ++p) {
      float* yr = yn + p * s.Q;
      int64_t* ir = in ? in + p * s.Q : nullptr;
      auto scalar = [&](index_t q) {
        if (kMax) {
          int64_t at;
          yr[q] = fl::max_pool_at(xn, s, p, q, &at);
          if (ir) ir[q] = at;
        } else {
          yr[q] = fl::avg_pool_at(xn, s, o, p, q);
        }
      };
      for (index_t q = 0; q < std::min(qa, s.Q); ++q) scalar(q);
      if (qa < qb) row_vector<V, kMax>(yr, ir, offs.data(), xn, s, p, qa, qb, kMax ? 1.0f : fl::avg_divisor(s, o, p, qa));
      for (index_t q = std::max(qa, qb); q < s.Q; ++q) scalar(q);
    }
  }
}

template <class V> void max_fwd(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s) {
  pool_planes<V, true>(y, idx, x, planes, s, {});
}
template <class V> void avg_fwd(float* y, const float* x, index_t planes, const Pool2dShape& s,
                                const fl::AvgPoolOptions& o) {
  pool_planes<V, false>(y, nullptr, x, planes, s, o);
}

// Global average (P = Q = 1): a vector sum over each contiguous plane; other output sizes
// take the reference kernel.
template <class V> void adaptive_fwd(float* y, const float* x, index_t planes, const Pool2dShape& s) {
  if (s.P != 1 || s.Q != 1) return fl::adaptive_avg_forward_ref(y, x, planes, s);
  const index_t hw = s.H * s.W, body = hw - hw % V::width;
  for (index_t n = 0; n < planes; ++n) {
    const float* xn = x + n * hw;
    V a0 = V::zero(), a1 = V::zero();
    index_t i = 0;
    for (; i + 2 * V::width <= body; i += 2 * V::width) {
      a0 = a0 + V::load(xn + i);
      a1 = a1 + V::load(xn + i + V::width);
    }
    if (i < body) a0 = a0 + V::load(xn + i);
    if (body < hw) a1 = a1 + V::load_n(xn + body, hw - body);
    y[n] = V::hsum(a0 + a1) / static_cast<float>(hw);
  }
}

template <class V> void register_all(fl::PoolKernels& t) {
  t.max_forward = max_fwd<V>;
  t.avg_forward = avg_fwd<V>;
  t.adaptive_forward = adaptive_fwd<V>;
}

}  // namespace pool
