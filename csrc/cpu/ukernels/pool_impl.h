// Pooling micro-kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/pool_avx2.cpp, ukernels/avx512/pool_avx512.cpp). Include only inside an
// anonymous namespace, after the ISA's Vec header.
//
// Contract (see ops/pool.h): `planes` planes of H x W in, P x Q out, any sizes >= 1.
// Forward max and average pooling vectorise across the output columns of one row: for the
// "interior" columns, whose windows lie inside [0, W) horizontally, one vector holds V::width
// outputs and each tap is one load (stride 1) or two loads and an even-lane shuffle
// (stride 2). Rows are clipped per output row, so padding costs nothing there. The columns
// touching the left or right padding, and strides above 2, use the scalar helpers of
// ops/pool.h. Results equal the reference bit for bit (same order of operations).
// Backward kernels: see max_bwd and avg_bwd below.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/pool.h"
#include "cpu/ukernels/window_impl.h"

namespace pool {
using fl::index_t;
using fl::Pool2dShape;

// One output row p of one plane: outputs [qa, qb) by vectors (op = max or sum). The winner of
// max pooling is tracked as the floats r - r0 and t of its tap (two vectors, so that no lane
// needs a division to find its tap), exact while the valid taps of a window number below 2^24
// (pool_planes takes the scalar path otherwise).
template <class V, bool kMax>
void row_vector(float* y, int64_t* idx, const float* x, const Pool2dShape& s, index_t p, index_t qa, index_t qb,
                float div) {
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
    V pos_r = V::zero(), pos_t = V::zero();
    for (index_t r = r0; r < r1; ++r) {
      const float* row = x + (h0 + r * s.dil_h) * s.W + w0;
      for (index_t t = 0; t < s.S; ++t) {
        const V v = window::load_taps<V>(row + t * s.dil_w, s.stride_w, c, full);
        if (kMax) {
          const auto take = V::mask_or(V::gt(v, acc), V::isnan(v));
          acc = V::select(take, v, acc);
          if (idx) {
            pos_r = V::select(take, V::set1(static_cast<float>(r - r0)), pos_r);
            pos_t = V::select(take, V::set1(static_cast<float>(t)), pos_t);
          }
        } else {
          acc = acc + v;
        }
      }
    }
    if (!kMax) acc = acc / V::set1(div);
    if (c == V::width) V::store(y + q, acc); else V::store_n(y + q, acc, c);
    if (kMax && idx) {
      float lanes_r[V::width], lanes_t[V::width];
      V::store(lanes_r, pos_r);
      V::store(lanes_t, pos_t);
      const index_t base = h0 * s.W + w0;
      for (index_t j = 0; j < c; ++j) {
        const index_t r = r0 + static_cast<index_t>(lanes_r[j]), t = static_cast<index_t>(lanes_t[j]);
        idx[q + j] = base + j * s.stride_w + r * s.dil_h * s.W + t * s.dil_w;
      }
    }
  }
}

template <class V, bool kMax>
void pool_planes(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s,
                 const fl::AvgPoolOptions& o) {
  index_t qa = 0, qb = 0;
  const bool exact_pos = !idx || std::min(s.R, s.H) * s.S < (index_t(1) << 24);
  if (s.stride_w <= 2 && exact_pos) window::interior_cols(s.W, s.Q, s.S, s.stride_w, s.pad_w, s.dil_w, &qa, &qb);
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
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
      if (qa < qb) row_vector<V, kMax>(yr, ir, xn, s, p, qa, qb, kMax ? 1.0f : fl::avg_divisor(s, o, p, qa));
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

// ---- backward ----
// Max pooling 2 x 2, stride 2, no padding (the common layer; P = floor(H/2), Q = floor(W/2)):
// the windows tile the input, so each input receives at most one gradient and dx is written
// once, by whole vectors, instead of zeroed and then scattered into. For V::width outputs of
// row p: I::rel gives each index's offset from its window's top-left input as a float (0, 1,
// W or W + 1 for an index inside its window); four selects split dy by offset and two zips
// interleave them into the 2 V::width inputs of rows 2 p and 2 p + 1. A plane holding any
// index outside its window (indices from elsewhere) is redone by the reference scatter.
// I: the ISA's index helper (ukernels/<isa>/pool_<isa>.cpp).
template <class V, class I>
bool max_bwd_2x2_plane(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s) {
  const V two_lanes = V::lane_index() + V::lane_index(), one = V::set1(1.0f), zero = V::zero();
  const V fw = V::set1(static_cast<float>(s.W)), fw1 = V::set1(static_cast<float>(s.W + 1));
  V bad = zero;
  for (index_t p = 0; p < s.P; ++p) {
    float* r0 = dx + 2 * p * s.W;
    float* r1 = r0 + s.W;
    for (index_t q = 0; q < s.Q; q += V::width) {
      const index_t c = std::min<index_t>(V::width, s.Q - q);
      const V g = c == V::width ? V::load(dy + p * s.Q + q) : V::load_n(dy + p * s.Q + q, c);
      const V off = I::rel(idx + p * s.Q + q, 2 * p * s.W + 2 * q, c) - two_lanes;
      const auto m0 = V::eq(off, zero), m1 = V::eq(off, one), m2 = V::eq(off, fw), m3 = V::eq(off, fw1);
      const auto inside = V::mask_or(V::mask_or(m0, m1), V::mask_or(m2, m3));
      // lanes past c hold offsets of index 0 from far windows: counted only below c
      bad = V::max(bad, V::select(V::mask_andnot(inside, V::gt(V::set1(static_cast<float>(c)), V::lane_index())),
                                  one, zero));
      V lo, hi;
      const index_t n = 2 * c;  // inputs of this chunk in each row
      V::zip(V::select(m0, g, zero), V::select(m1, g, zero), lo, hi);
      if (n == 2 * V::width) {
        V::store(r0 + 2 * q, lo);
        V::store(r0 + 2 * q + V::width, hi);
      } else {
        V::store_n(r0 + 2 * q, lo, std::min<index_t>(n, V::width));
        if (n > V::width) V::store_n(r0 + 2 * q + V::width, hi, n - V::width);
      }
      V::zip(V::select(m2, g, zero), V::select(m3, g, zero), lo, hi);
      if (n == 2 * V::width) {
        V::store(r1 + 2 * q, lo);
        V::store(r1 + 2 * q + V::width, hi);
      } else {
        V::store_n(r1 + 2 * q, lo, std::min<index_t>(n, V::width));
        if (n > V::width) V::store_n(r1 + 2 * q + V::width, hi, n - V::width);
      }
    }
    if (s.W > 2 * s.Q) {  // the odd last column belongs to no window
      for (index_t w = 2 * s.Q; w < s.W; ++w) r0[w] = r1[w] = 0.0f;
    }
  }
  for (index_t i = 2 * s.P * s.W; i < s.H * s.W; ++i) dx[i] = 0.0f;  // the odd last row
  return V::hmax(bad) == 0.0f;
}

template <class V, class I>
bool max_bwd(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s) {
  // The backward knows only H, W, P and Q (the window is in the indices): any output plane
  // of floor(H/2) x floor(W/2) tries the 2 x 2 tiling and falls back per plane.
  const bool tiled = s.P == s.H / 2 && s.Q == s.W / 2 && s.P > 0 && s.Q > 0;
  // offsets go through int32 and float: exact while a plane stays below 2^24 floats
  if (!tiled || s.H * s.W >= (index_t{1} << 24)) return fl::max_pool_backward_ref(dx, dy, idx, planes, s);
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  for (index_t n = 0; n < planes; ++n)  // an index inside its window is inside the plane
    if (!max_bwd_2x2_plane<V, I>(dx + n * hw, dy + n * pq, idx + n * pq, s) &&
        !fl::max_pool_backward_ref(dx + n * hw, dy + n * pq, idx + n * pq, 1, s))
      return false;
  return true;
}

// Average pooling backward, strides 1 and 2: the reference's order of operations (so the
// same bits), by vectors. Per output row: g = dy / divisor (divisors of the P x Q outputs
// computed once per call), then g is added to each window row and column offset: at stride 1
// as contiguous vectors, at stride 2 interleaved with zeros (V::zip) onto 2 V::width inputs.
template <class V>
void avg_bwd(float* dx, const float* dy, index_t planes, const Pool2dShape& s, const fl::AvgPoolOptions& o) {
  if (s.stride_w > 2) return fl::avg_pool_backward_ref(dx, dy, planes, s, o);
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::vector<float> div(static_cast<size_t>(pq)), g(static_cast<size_t>(s.Q));
  for (index_t p = 0; p < s.P; ++p)
    for (index_t q = 0; q < s.Q; ++q) div[p * s.Q + q] = fl::avg_divisor(s, o, p, q);
  std::fill(dx, dx + planes * hw, 0.0f);
  const V zero = V::zero();
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p) {
      const float* gy = dy + n * pq + p * s.Q;
      const float* dv = div.data() + p * s.Q;
      for (index_t q = 0; q < s.Q; q += V::width) {
        const index_t c = std::min<index_t>(V::width, s.Q - q);
        V::store_n(g.data() + q, V::load_n(gy + q, c) / V::load_fill(dv + q, c, 1.0f), c);
      }
      const index_t h0 = p * s.stride_h - s.pad_h;
      for (index_t h = std::max<index_t>(h0, 0); h < std::min(h0 + s.R, s.H); ++h) {
        float* row = dx + n * hw + h * s.W;
        for (index_t t = 0; t < s.S; ++t) {
          const index_t off = t - s.pad_w;  // input column of output q is q * stride_w + off
          const index_t qa = off >= 0 ? 0 : (-off + s.stride_w - 1) / s.stride_w;
          const index_t qb = s.W - off <= 0 ? 0 : std::min(s.Q, (s.W - off + s.stride_w - 1) / s.stride_w);
          for (index_t q = qa; q < qb; q += V::width) {
            const index_t c = std::min<index_t>(V::width, qb - q);
            const V gv = V::load_n(g.data() + q, c);
            if (s.stride_w == 1) {
              float* d = row + off + q;
              V::store_n(d, V::load_n(d, c) + gv, c);
              continue;
            }
            // stride 2: inputs 2 q + off .. 2 (q + c - 1) + off; odd lanes add 0 (dx holds no -0)
            float* d = row + 2 * q + off;
            const index_t m = 2 * c - 1, m0 = std::min<index_t>(m, V::width), m1 = m - m0;
            V lo, hi;
            V::zip(gv, zero, lo, hi);
            V::store_n(d, V::load_n(d, m0) + lo, m0);
            if (m1 > 0) V::store_n(d + V::width, V::load_n(d + V::width, m1) + hi, m1);
          }
        }
      }
    }
}

template <class V, class I> void register_all(fl::PoolKernels& t) {
  t.max_backward = max_bwd<V, I>;
  t.avg_backward = avg_bwd<V>;
  t.max_forward = max_fwd<V>;
  t.avg_forward = avg_fwd<V>;
  t.adaptive_forward = adaptive_fwd<V>;
}

}  // namespace pool
