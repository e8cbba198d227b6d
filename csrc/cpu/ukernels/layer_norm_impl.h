// Layer-norm row kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/layer_norm_avx2.cpp, ukernels/avx512/layer_norm_avx512.cpp). Include only inside
// an anonymous namespace, after the ISA's Vec header. Contracts in ops/layer_norm.h.
//
// A row is n contiguous floats, any n >= 1 (the last vector of a row is masked). Sums run in four
// vector accumulators (independent chains, each lane summing n / (4 W) terms), folded in double.
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/layer_norm.h"

namespace lnorm {
using fl::index_t;

template <class V>
inline V ld(const float* p, index_t k) { return k >= V::width ? V::load(p) : V::load_n(p, k); }

template <class V>
inline void st(float* p, V a, index_t k) {
  if (k >= V::width) V::store(p, a);
  else V::store_n(p, a, k);
}

// body(j, k) over the vectors of a row of n floats written at out, k = the vector's lanes: first
// the floats before out's first vector-aligned address (masked), then aligned vectors. NumPy's
// large arrays start 16 bytes past a page: without the head, every 64-byte store would split two
// cache lines (AVX-512 (8192, 1024) forward, 1 thread: 7.4 ms, against 5.0 ms on AVX2).
template <class V, class Body>
inline void aligned_row(const float* out, index_t n, const Body& body) {
  constexpr int W = V::width;
  const auto mis = static_cast<index_t>(reinterpret_cast<std::uintptr_t>(out) % (W * sizeof(float)) / sizeof(float));
  index_t j = mis ? (W - mis < n ? W - mis : n) : 0;
  if (j) body(0, j);
  for (; j < n; j += W) body(j, n - j);
}

// sum(f(x[j])) over a row, f applied to whole vectors (lanes past n load 0; f(0) must be 0 there,
// so f gets a lane count to mask with).
template <class V, class F>
inline double row_sum(const float* x, index_t n, const F& f) {
  constexpr int W = V::width;
  V a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
  index_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W) {
    a0 = a0 + f(V::load(x + j), W);
    a1 = a1 + f(V::load(x + j + W), W);
    a2 = a2 + f(V::load(x + j + 2 * W), W);
    a3 = a3 + f(V::load(x + j + 3 * W), W);
  }
  for (; j < n; j += W) a0 = a0 + f(ld<V>(x + j, n - j), n - j);
  return static_cast<double>(V::hsum(a0 + a1)) + V::hsum(a2 + a3);
}

template <class V>
void forward(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b, index_t m,
             index_t n, float eps) {
  constexpr int W = V::width;
  for (index_t r = 0; r < m; ++r) {
    const float* xr = x + r * n;
    const float mu = static_cast<float>(row_sum<V>(xr, n, [](V v, index_t) { return v; }) / n);
    const V mv = V::set1(mu);
    // Centred squares; lanes past n hold 0 - mu: masked to 0.
    const double ss = row_sum<V>(xr, n, [&](V v, index_t k) {
      const V d = v - mv;
      return k >= W ? d * d : V::select(V::gt(V::set1(static_cast<float>(k)), V::lane_index()), d * d, V::zero());
    });
    const float rs = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
    mean[r] = mu;
    rstd[r] = rs;
    if (!y) continue;
    float* yr = y + r * n;
    const V rv = V::set1(rs);
    aligned_row<V>(yr, n, [&](index_t j, index_t k) {
      V h = (ld<V>(xr + j, k) - mv) * rv;
      if (w) h = h * ld<V>(w + j, k);
      if (b) h = h + ld<V>(b + j, k);
      st(yr + j, h, k);
    });
  }
}

template <class V>
void backward(float* dx, float* dw_acc, float* db_acc, const float* dy, const float* x, const float* mean,
              const float* rstd, const float* w, index_t m, index_t n) {
  constexpr int W = V::width;
  for (index_t r = 0; r < m; ++r) {
    const float* xr = x + r * n;
    const float* dyr = dy + r * n;
    const V mv = V::set1(mean[r]), rv = V::set1(rstd[r]);
    V sg0 = V::zero(), sg1 = V::zero(), sh0 = V::zero(), sh1 = V::zero();
    index_t j = 0;
    auto step = [&](index_t jj, index_t k, V& sg, V& sh) {
      V g = ld<V>(dyr + jj, k);  // lanes past n: dy = 0, so g and g * h are 0 there
      if (w) g = g * ld<V>(w + jj, k);
      sg = sg + g;
      sh = V::fmadd(g, (ld<V>(xr + jj, k) - mv) * rv, sh);
    };
    for (; j + 2 * W <= n; j += 2 * W) {
      step(j, W, sg0, sh0);
      step(j + W, W, sg1, sh1);
    }
    for (; j < n; j += W) step(j, n - j, sg0, sh0);
    const float mg = static_cast<float>(V::hsum(sg0 + sg1) / static_cast<double>(n));
    const float mgx = static_cast<float>(V::hsum(sh0 + sh1) / static_cast<double>(n));
    // dx = rstd * (g - mg - h * mgx)
    const V a = V::set1(mg), c = V::set1(mgx);
    float* dxr = dx + r * n;
    auto body = [&](index_t jj, index_t k) {
      const V d = ld<V>(dyr + jj, k);
      const V h = (ld<V>(xr + jj, k) - mv) * rv;
      const V g = w ? d * ld<V>(w + jj, k) : d;
      st(dxr + jj, rv * V::fnmadd(h, c, g - a), k);
      if (dw_acc) st(dw_acc + jj, V::fmadd(d, h, ld<V>(dw_acc + jj, k)), k);
      if (db_acc) st(db_acc + jj, ld<V>(db_acc + jj, k) + d, k);
    };
    // (Not aligned_row: with dx, dw_acc and db_acc written, the masked head cost more than the
    // split stores, AVX-512 (8192, 1024), 1 thread: 9.5 against 8.5 ms.)
    for (index_t jj = 0; jj < n; jj += W) body(jj, n - jj);
  }
}

template <class V>
void register_all(fl::LayerNormKernels& t) {
  t.forward = &forward<V>;
  t.backward = &backward<V>;
}

}  // namespace lnorm
