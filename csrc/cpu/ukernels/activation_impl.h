// Activation micro-kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/activation_avx2.cpp, ukernels/avx512/activation_avx512.cpp). Include only
// inside an anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract (see ops/activation.h): contiguous float ranges, any n >= 0, no alignment needed;
// tails are handled with masked loads/stores, never a scalar loop. In-place (y == x, dx == dy)
// is allowed. NaN propagates through every forward op.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/activation.h"
#include "cpu/ukernels/vmath_impl.h"

namespace act {
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluK0 = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluK1 = 0.044715f;

using fl::index_t;

// The functors are generic lambdas so that map1/map2 can evaluate V::ilp vectors in lock step
// (see vmath_impl.h); W is the vector type they are called with.
template <class V> void sigmoid_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](auto v) { return v_sigmoid(v); });
}
template <class V> void tanh_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](auto v) { return v_tanh(v); });
}
template <class V> void relu_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](V v) { return V::max(V::zero(), v); });  // NaN in v passes; memory-bound
}
template <class V> void leaky_fwd(float* y, const float* x, index_t n, float a) {
  const V s = V::set1(a);
  map1<V>(y, x, n, [s](V v) { return V::select(V::gt(v, V::zero()), v, v * s); });
}
template <class V> void elu_fwd(float* y, const float* x, index_t n, float a) {
  // expm1 of lanes above 88 overflows, but those lanes take x itself.
  map1<V>(y, x, n, [a](auto v) {
    using W = decltype(v);
    return W::select(W::gt(v, W::zero()), v, W::set1(a) * expm1_core(W::max(W::set1(-30.0f), v)));
  });
}
template <class V> void gelu_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](auto v) { return v_gelu(v); });
}
// 0.5 x (1 + tanh(u)) = x sigmoid(t), t = 2u = x (c0 + c1 x^2), c0 = 2 k0, c1 = 2 k0 k1.
template <class W> W gelu_tanh_t(W v) {
  return v * W::fmadd(W::set1(2.0f * kGeluK0 * kGeluK1), v * v, W::set1(2.0f * kGeluK0));
}
template <class V> void gelu_tanh_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](auto v) { return v_gelu_tanh(v); });
}

template <class V> void silu_fwd(float* y, const float* x, index_t n, float) {
  map1<V>(y, x, n, [](auto v) { return v * v_sigmoid(v); });
}

template <class V> void sigmoid_bwd(float* dx, const float* dy, const float* y, index_t n, float) {
  map2<V>(dx, dy, y, n, [](V g, V s) { return g * (s * (V::set1(1.0f) - s)); });
}
template <class V> void tanh_bwd(float* dx, const float* dy, const float* y, index_t n, float) {
  map2<V>(dx, dy, y, n, [](V g, V t) { return g * V::fnmadd(t, t, V::set1(1.0f)); });
}
template <class V> void relu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  map2<V>(dx, dy, x, n, [](V g, V v) { return V::select(V::gt(v, V::zero()), g, V::zero()); });
}
template <class V> void leaky_bwd(float* dx, const float* dy, const float* x, index_t n, float a) {
  const V s = V::set1(a);
  map2<V>(dx, dy, x, n, [s](V g, V v) { return V::select(V::gt(v, V::zero()), g, g * s); });
}
template <class V> void elu_bwd(float* dx, const float* dy, const float* x, index_t n, float a) {
  map2<V>(dx, dy, x, n, [a](auto g, auto v) {
    using W = decltype(v);
    return W::select(W::gt(v, W::zero()), g, g * (W::set1(a) * v_exp(v)));
  });
}
template <class V> void gelu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  map2<V>(dx, dy, x, n, [](auto g, auto v) {
    using W = decltype(v);
    const W pdf = W::set1(kInvSqrt2Pi) * v_exp(W::set1(-0.5f) * v * v);
    return g * W::fmadd(v, pdf, v_normal_cdf(v));
  });
}
template <class V> void gelu_tanh_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  // d/dx x s(t) = s + x s (1 - s) t',  t' = c0 + 3 c1 x^2
  map2<V>(dx, dy, x, n, [](auto g, auto v) {
    using W = decltype(v);
    const W s = v_sigmoid(gelu_tanh_t(v));
    const W dt = W::fmadd(W::set1(6.0f * kGeluK0 * kGeluK1) * v, v, W::set1(2.0f * kGeluK0));
    return g * W::fmadd(v * s * (W::set1(1.0f) - s), dt, s);
  });
}

// d/dx x s(x) = s (1 + x (1 - s))
template <class V> void silu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  map2<V>(dx, dy, x, n, [](auto g, auto v) {
    using W = decltype(v);
    const W s = v_sigmoid(v), one = W::set1(1.0f);
    return g * (s * W::fmadd(v, one - s, one));
  });
}

// ---- softmax over the axis of an (n, width) slab, rows `stride` apart ----
// width == 1: one contiguous row, vectorised along it. width > 1: vectorised across the
// width (the inner dimension), walking the axis row by row.
// NaN and inf need no special case: a NaN input, or +inf (inf - inf), or an all -inf row,
// makes the sum NaN, and every output of the row NaN, as in PyTorch.

// `rows` contiguous rows of n. Per row: exp(x - max), stored (softmax) and summed, then scaled
// by 1/sum, or (x - max) - log(sum) (log_softmax; the first difference is exact near the
// maximum, so outputs near 0 keep their relative accuracy). Numerics are those of the plain
// three-pass algorithm; in-place (y == x) is safe. The max of row r + 1 is taken inside row r's
// exp loop, which reads a row already in cache, so the next row streams in meanwhile. Each loop
// runs on Lanes<V> groups, so that the exp chains and the max/sum accumulators of several
// vectors interleave. exp's argument x - max is <= 0 (or NaN): only the lower clamp is needed.
//
// The max of a row (masked tail filled with -inf).
template <class V> float softmax_row_max(const float* xr, index_t n) {
  using W = Lanes<V>;
  const float ninf = -std::numeric_limits<float>::infinity();
  const index_t wide = n / W::width * W::width, body = n / V::width * V::width, tail = n - body;
  W wm = W::set1(ninf);
  for (index_t i = 0; i < wide; i += W::width) wm = W::max(wm, W::load(xr + i));
  V vm = fold_max(wm);
  for (index_t i = wide; i < body; i += V::width) vm = V::max(vm, V::load(xr + i));
  if (tail) vm = V::max(vm, V::load_fill(xr + body, tail, ninf));
  return V::hmax(vm);
}

// The single vectors and the masked tail of a row's exp pass, from `from` (after the Lanes
// groups): exp(x - m) into e when kStore, their sum into vs, the next row's max into vn.
template <class V, bool kStore> void softmax_exp_rest(float* e, const float* xr, const float* xn, index_t from,
                                                      index_t n, float m, V& vs, V& vn) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const index_t body = n / V::width * V::width, tail = n - body;
  const V vmax = V::set1(m);
  for (index_t i = from; i < body; i += V::width) {
    vn = V::max(vn, V::load(xn + i));
    const V ev = exp_core(V::max(V::set1(-104.0f), V::load(xr + i) - vmax));
    if (kStore) V::store(e + i, ev);
    vs = vs + ev;
  }
  if (tail) {
    vn = V::max(vn, V::load_fill(xn + body, tail, ninf));
    const V ev = exp_core(V::max(V::set1(-104.0f), V::load_fill(xr + body, tail, ninf) - vmax));
    if (kStore) V::store_n(e + body, ev, tail);
    vs = vs + ev;
  }
}

// Outputs that fit the caches: the exps go to y, then y is scaled in place (or, for
// log_softmax, y = (x - max) - log(sum) from x).
template <class V> void softmax_rows_cached(float* y, const float* x, index_t rows, index_t n, bool log) {
  using W = Lanes<V>;
  const float ninf = -std::numeric_limits<float>::infinity();
  const index_t wide = n / W::width * W::width;
  float m = rows > 0 ? softmax_row_max<V>(x, n) : 0.0f;
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float* xn = r + 1 < rows ? xr + n : xr;  // the next row (the last row: itself, cached)
    const W wmax = W::set1(m);
    W ws = W::zero(), wn = W::set1(ninf);
    for (index_t i = 0; i < wide; i += W::width) {
      wn = W::max(wn, W::load(xn + i));
      const W e = exp_core(W::max(W::set1(-104.0f), W::load(xr + i) - wmax));
      if (!log) W::store(yr + i, e);
      ws = ws + e;
    }
    V vs = fold_sum(ws), vn = fold_max(wn);
    if (log) softmax_exp_rest<V, false>(yr, xr, xn, wide, n, m, vs, vn);
    else softmax_exp_rest<V, true>(yr, xr, xn, wide, n, m, vs, vn);
    const float sum = V::hsum(vs);
    if (log) {
      const float ls = std::log(sum);
      map1<V>(yr, xr, n, [m, ls](auto v) {
        using U = decltype(v);
        return (v - U::set1(m)) - U::set1(ls);
      });
    } else {
      const float inv = 1.0f / sum;
      map1<V>(yr, yr, n, [inv](auto v) { return v * decltype(v)::set1(inv); });
    }
    m = V::hmax(vn);
  }
}

// Outputs too large for the caches (`stream`), rows of up to kSoftmaxScratch floats. y is
// written once, with non-temporal stores (no read-for-ownership of y: a third less memory
// traffic), and evenly over the run:
// - the exps of row r go to an L1-resident scratch row (two alternate), and row r - 1's output
//   (its scratch times 1/sum, or (x - max) - log(sum) from x for log_softmax) is computed and
//   streamed inside row r's exp loop, one group of vectors per group of exps. Writing a row's
//   output in a burst after its exps (the previous design) left the memory idle during the
//   arithmetic and then stalled on the write-combining buffers (Xeon, 16M floats, 1 thread:
//   6.2 -> 4.9 ns per vector; 2 threads 1.36 -> 1.1x relu's time).
// - x is prefetched into L2 kAhead floats ahead of the next row's max (rows of 1024: row r + 4
//   during row r): a row of 1024 is one 4 KB page, where the hardware prefetchers stop.
//   prefetcht1 rather than t0: 3.39 -> 3.16 ms at 2 threads before the interleaving.
// - the rows inside y are not vector-aligned in general (NumPy's buffers start 16 bytes past a
//   64-byte boundary): the vector straddling two rows is assembled in a stack buffer and
//   streamed whole; masked regular stores there cost a read-for-ownership from memory per row.
//   Each row's exps sit in the scratch at the offset that makes the output's loads from it
//   vector-aligned wherever its stores to y are.
constexpr index_t kSoftmaxScratch = 4096;
template <class V, bool kLog> void softmax_rows_stream(float* y, const float* x, index_t rows, index_t n) {
  using W = Lanes<V>;
  constexpr index_t kAhead = 3072;  // prefetch distance, floats (12 KB: 3 rows of 1024)
  alignas(64) float scratch[2][kSoftmaxScratch + V::width];
  const float ninf = -std::numeric_limits<float>::infinity();
  const index_t wide = n / W::width * W::width;
  auto ld = [n](const float* p, index_t i) { return n - i >= V::width ? V::load(p + i) : V::load_n(p + i, n - i); };

  // The output row in flight (the previous row): oy its place in y, os its source (scratch, or
  // x for log_softmax), oa/ob its constants (1/sum; or max and log(sum)), [oi, oend) the
  // aligned vectors still to stream.
  float* oy = nullptr;
  const float* os = nullptr;
  float oa = 0.0f, ob = 0.0f;
  index_t oi = 0, oend = 0;
  auto of = [&](index_t i) {
    if constexpr (kLog) return (ld(os, i) - V::set1(oa)) - V::set1(ob);
    else return ld(os, i) * V::set1(oa);
  };
  // The vector that straddles two rows is assembled in `stage` (pend floats, for y addresses
  // from sp on) and streamed whole.
  alignas(64) float stage[V::width];
  float* sp = y;
  index_t pend = 0;
  // Head of the output row: completes the staged vector, or a masked store up to alignment.
  auto out_begin = [&] {
    index_t i = 0;
    if (pend) {
      const index_t k = V::width - pend < n ? V::width - pend : n;
      V::store_n(stage + pend, of(0), k);
      pend += k;
      i = k;
      if (pend < V::width) {  // the whole row went into the stage
        oi = oend = n;
        return;
      }
      V::stream(sp, V::load(stage));
      pend = 0;
    } else {
      i = floats_to_alignment<V>(oy, n);
      if (i) V::store_n(oy, of(0), i);
    }
    oi = i;
    oend = i + (n - i) / V::width * V::width;
  };
  // The rest of the aligned body, then the tail into the stage.
  auto out_finish = [&] {
    for (; oi < oend; oi += V::width) V::stream(oy + oi, of(oi));
    if (oi < n) {
      V::store_n(stage, of(oi), n - oi);
      sp = oy + oi;
      pend = n - oi;
    }
  };

  float m = rows > 0 ? softmax_row_max<V>(x, n) : 0.0f;
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float* se = scratch[r & 1] + (V::width - floats_to_alignment<V>(yr, V::width)) % V::width;
    const float* xn = r + 1 < rows ? xr + n : xr;  // the next row (the last row: itself, cached)
    // prefetched: kAhead floats past the next row's stream, or nothing new near the end
    const float* xp = xn + ((rows - 1 - r) * n - wide >= kAhead ? kAhead : 0);
    const W wmax = W::set1(m);
    W ws = W::zero(), wn = W::set1(ninf);
    auto exp_group = [&](index_t i) {
      for (int k = 0; k < W::width; k += 16) __builtin_prefetch(xp + i + k, 0, 2);  // 64-byte lines
      wn = W::max(wn, W::load(xn + i));
      const W e = exp_core(W::max(W::set1(-104.0f), W::load(xr + i) - wmax));
      if (!kLog) W::store(se + i, e);
      ws = ws + e;
    };
    index_t i = 0;
    if (oy) {  // row r - 1's output, a group of vectors per group of exps
      const index_t both = (oend - oi) / W::width * W::width < wide ? (oend - oi) / W::width * W::width : wide;
      const W wa = W::set1(oa), wb = W::set1(ob);
      for (; i < both; i += W::width, oi += W::width) {
        exp_group(i);
        if constexpr (kLog) W::stream(oy + oi, (W::load(os + oi) - wa) - wb);
        else W::stream(oy + oi, W::load(os + oi) * wa);
      }
    }
    for (; i < wide; i += W::width) exp_group(i);
    V vs = fold_sum(ws), vn = fold_max(wn);
    softmax_exp_rest<V, !kLog>(se, xr, xn, wide, n, m, vs, vn);
    const float sum = V::hsum(vs);
    if (oy) out_finish();
    // Row r's output is next: its head now, its body inside row r + 1's loop.
    oy = yr;
    if constexpr (kLog) {
      os = xr;
      oa = m;
      ob = std::log(sum);
    } else {
      os = se;
      oa = 1.0f / sum;
    }
    out_begin();
    m = V::hmax(vn);
  }
  if (oy) out_finish();
  if (pend) V::store_n(sp, V::load(stage), pend);
  V::stream_fence();
}

template <class V> void softmax_rows(float* y, const float* x, index_t rows, index_t n, bool log, bool stream) {
  if (!(stream && n <= kSoftmaxScratch)) return softmax_rows_cached<V>(y, x, rows, n, log);
  if (log) softmax_rows_stream<V, true>(y, x, rows, n);
  else softmax_rows_stream<V, false>(y, x, rows, n);
}

template <class V> void softmax_cols(float* y, const float* x, index_t n, index_t stride, index_t w, bool log) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (index_t j = 0; j < w; j += V::width) {
    const index_t c = w - j < V::width ? w - j : V::width;
    auto ld = [c](const float* p) { return c == V::width ? V::load(p) : V::load_n(p, c); };
    auto st = [c](float* p, V v) { c == V::width ? V::store(p, v) : V::store_n(p, v, c); };
    V vm = V::set1(ninf);
    for (index_t i = 0; i < n; ++i) vm = V::max(vm, ld(x + i * stride + j));
    V vs = V::zero();
    for (index_t i = 0; i < n; ++i) {
      const V e = v_exp(ld(x + i * stride + j) - vm);
      if (!log) st(y + i * stride + j, e);
      vs = vs + e;
    }
    if (log) {
      float lanes[V::width];
      V::store(lanes, vs);
      for (float& l : lanes) l = std::log(l);
      const V ls = V::load(lanes);
      for (index_t i = 0; i < n; ++i) st(y + i * stride + j, (ld(x + i * stride + j) - vm) - ls);
    } else {
      const V inv = V::set1(1.0f) / vs;
      for (index_t i = 0; i < n; ++i) st(y + i * stride + j, ld(y + i * stride + j) * inv);
    }
  }
}

template <class V> void softmax_fwd(float* y, const float* x, index_t n, index_t stride, index_t w, bool log) {
  if (w == 1 && stride == 1) return softmax_rows<V>(y, x, 1, n, log, false);
  softmax_cols<V>(y, x, n, stride, w, log);
}

// softmax: dx = y (dy - sum(dy y));  log_softmax: dx = dy - exp(y) sum(dy)
template <class V> void softmax_bwd(float* dx, const float* dy, const float* y, index_t n, index_t stride,
                                    index_t w, bool log) {
  if (w == 1 && stride == 1) {
    V acc = V::zero();
    const index_t tail = n % V::width, body = n - tail;
    for (index_t i = 0; i < body; i += V::width)
      acc = log ? acc + V::load(dy + i) : V::fmadd(V::load(dy + i), V::load(y + i), acc);
    if (tail) acc = log ? acc + V::load_n(dy + body, tail)
                        : V::fmadd(V::load_n(dy + body, tail), V::load_n(y + body, tail), acc);
    const V sum = V::set1(V::hsum(acc));
    if (log) map2<V>(dx, dy, y, n, [sum](V g, V s) { return V::fnmadd(v_exp(s), sum, g); });
    else map2<V>(dx, dy, y, n, [sum](V g, V s) { return s * (g - sum); });
    return;
  }
  for (index_t j = 0; j < w; j += V::width) {
    const index_t c = w - j < V::width ? w - j : V::width;
    auto ld = [c](const float* p) { return c == V::width ? V::load(p) : V::load_n(p, c); };
    auto st = [c](float* p, V v) { c == V::width ? V::store(p, v) : V::store_n(p, v, c); };
    V acc = V::zero();
    for (index_t i = 0; i < n; ++i) {
      const V g = ld(dy + i * stride + j);
      acc = log ? acc + g : V::fmadd(g, ld(y + i * stride + j), acc);
    }
    for (index_t i = 0; i < n; ++i) {
      const index_t k = i * stride + j;
      const V g = ld(dy + k), s = ld(y + k);
      st(dx + k, log ? V::fnmadd(v_exp(s), acc, g) : s * (g - acc));
    }
  }
}

// ---- maxout: y[c, j] = max_k x[c * pieces + k, j]; first maximum wins, NaN wins ----
// inner >= width: vectorised across j. inner < width (e.g. maxout over the last axis):
// the reference loop, which is what the data layout allows without gathers.
template <class V> V maxout_take(V v, V m) {
  return V::select(V::mask_or(V::gt(v, m), V::mask_andnot(V::isnan(m), V::isnan(v))), v, m);
}
template <class V> void maxout_fwd(float* y, const float* x, index_t cout, index_t pieces, index_t inner) {
  if (inner < V::width) return fl::maxout_forward_ref(y, x, cout, pieces, inner);
  for (index_t c = 0; c < cout; ++c) {
    const float* xc = x + c * pieces * inner;
    float* yc = y + c * inner;
    for (index_t j = 0; j < inner; j += V::width) {
      const index_t w = inner - j < V::width ? inner - j : V::width;
      auto ld = [w](const float* p) { return w == V::width ? V::load(p) : V::load_n(p, w); };
      V m = ld(xc + j);
      for (index_t k = 1; k < pieces; ++k) {
        const V v = ld(xc + k * inner + j);
        m = maxout_take(v, m);
      }
      if (w == V::width) V::store(yc + j, m); else V::store_n(yc + j, m, w);
    }
  }
}
template <class V> void maxout_bwd(float* dx, const float* dy, const float* x, index_t cout, index_t pieces,
                                   index_t inner) {
  if (inner < V::width) return fl::maxout_backward_ref(dx, dy, x, cout, pieces, inner);
  for (index_t c = 0; c < cout; ++c) {
    const float* xc = x + c * pieces * inner;
    float* dxc = dx + c * pieces * inner;
    for (index_t j = 0; j < inner; j += V::width) {
      const index_t w = inner - j < V::width ? inner - j : V::width;
      auto ld = [w](const float* p) { return w == V::width ? V::load(p) : V::load_n(p, w); };
      V m = ld(xc + j), win = V::zero();
      for (index_t k = 1; k < pieces; ++k) {
        const V v = ld(xc + k * inner + j);
        const auto take = V::mask_or(V::gt(v, m), V::mask_andnot(V::isnan(m), V::isnan(v)));
        m = V::select(take, v, m);
        win = V::select(take, V::set1(float(k)), win);
      }
      const V g = ld(dy + c * inner + j);
      for (index_t k = 0; k < pieces; ++k) {
        const V d = V::select(V::eq(win, V::set1(float(k))), g, V::zero());
        if (w == V::width) V::store(dxc + k * inner + j, d); else V::store_n(dxc + k * inner + j, d, w);
      }
    }
  }
}

template <class V> void register_all(fl::ActivationKernels& t) {
  using fl::ActOp;
  t.forward[int(ActOp::sigmoid)] = sigmoid_fwd<V>;
  t.forward[int(ActOp::tanh)] = tanh_fwd<V>;
  t.forward[int(ActOp::relu)] = relu_fwd<V>;
  t.forward[int(ActOp::leaky_relu)] = leaky_fwd<V>;
  t.forward[int(ActOp::elu)] = elu_fwd<V>;
  t.forward[int(ActOp::gelu)] = gelu_fwd<V>;
  t.forward[int(ActOp::gelu_tanh)] = gelu_tanh_fwd<V>;
  t.forward[int(ActOp::silu)] = silu_fwd<V>;
  t.backward[int(ActOp::sigmoid)] = sigmoid_bwd<V>;
  t.backward[int(ActOp::tanh)] = tanh_bwd<V>;
  t.backward[int(ActOp::relu)] = relu_bwd<V>;
  t.backward[int(ActOp::leaky_relu)] = leaky_bwd<V>;
  t.backward[int(ActOp::elu)] = elu_bwd<V>;
  t.backward[int(ActOp::gelu)] = gelu_bwd<V>;
  t.backward[int(ActOp::gelu_tanh)] = gelu_tanh_bwd<V>;
  t.backward[int(ActOp::silu)] = silu_bwd<V>;
  t.softmax_forward = softmax_fwd<V>;
  t.softmax_rows = softmax_rows<V>;
  t.softmax_backward = softmax_bwd<V>;
  t.maxout_forward = maxout_fwd<V>;
  t.maxout_backward = maxout_bwd<V>;
}

}  // namespace act
