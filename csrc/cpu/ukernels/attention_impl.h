// Attention tile kernels written once against the Vec interface (avx2/vec_avx2.h,
// avx512/vec_avx512.h), instantiated in ukernels/<isa>/attention_<isa>.cpp. Include only inside
// an anonymous namespace, after the ISA's Vec header. Contracts: AttnTile,
// AttnSoftmaxTileFn and AttnGradTileFn in ops/attention.h.
//
// The tiles are the element-wise middle of the fused driver (cpu/attention.cpp), between the
// micro-GEMMs that make the scores and consume the probabilities: per row, the mask, the row
// maximum and one exp per score. Rows are short (a key block, 100-400 floats) and hot in L1,
// so each row is two vector passes (mask and maximum, then exp and sum) with masked tails.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/attention.h"
#include "cpu/ukernels/vmath_impl.h"
#include "cpu/ukernels/dropout_impl.h"

namespace attn {
using fl::index_t;

constexpr float kInf = std::numeric_limits<float>::infinity();
// exp(x) for x <= -87 is below 2^-125 (or subnormal): flushed to 0, so no operation ever makes
// a subnormal (each costs a microcode assist on Intel cores, vmath_impl.h).
constexpr float kExpFlush = -87.0f;

// exp(x) for x <= 0 (or NaN, which passes), 0 at and below kExpFlush.
template <class V>
inline V exp_nonpositive(V x) {
  const V lo = V::set1(kExpFlush);
  return V::select(V::le(x, lo), V::zero(), exp_core(V::max(lo, x)));  // max(lo, NaN) = NaN
}

// The number of leading columns of row r that the tile's causal mask leaves (all when not causal).
inline index_t valid_cols(const fl::AttnTile& t, index_t r) {
  if (t.kind != fl::AttnMask::causal) return t.cols;
  const index_t v = t.q0 + r - t.k0 + 1;
  return v < 0 ? 0 : v > t.cols ? t.cols : v;
}

// Applies an explicit mask to s[0:n] of row r: adds the additive mask, sets -inf where the
// boolean mask is 0.
template <class V>
inline void apply_mask_row(float* s, index_t n, const fl::AttnTile& t, index_t r) {
  constexpr int W = V::width;
  const index_t sk = t.stride_k;
  if (t.kind == fl::AttnMask::additive) {
    const float* m = static_cast<const float*>(t.mask) + r * t.stride_q;
    if (sk == 1) {
      index_t j = 0;
      for (; j + W <= n; j += W) V::store(s + j, V::load(s + j) + V::load(m + j));
      if (j < n) V::store_n(s + j, V::load_n(s + j, n - j) + V::load_n(m + j, n - j), n - j);
    } else {
      for (index_t j = 0; j < n; ++j) s[j] += m[j * sk];
    }
  } else if (t.kind == fl::AttnMask::boolean) {
    const std::uint8_t* m = static_cast<const std::uint8_t*>(t.mask) + r * t.stride_q;
    if (sk == 1) {
      for (index_t j = 0; j < n; ++j) s[j] = m[j] ? s[j] : -kInf;
    } else {
      for (index_t j = 0; j < n; ++j) s[j] = m[j * sk] ? s[j] : -kInf;
    }
  }
}

// max(lo, s[0:n]); NaN scores are skipped (they reach the output through exp).
template <class V>
inline float row_max(const float* s, index_t n, float lo) {
  constexpr int W = V::width;
  V m0 = V::set1(lo), m1 = m0;
  index_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) {
    m0 = V::max(V::load(s + j), m0);
    m1 = V::max(V::load(s + j + W), m1);
  }
  if (j + W <= n) m0 = V::max(V::load(s + j), m0), j += W;
  if (j < n) m1 = V::max(V::load_fill(s + j, n - j, -kInf), m1);
  return V::hmax(V::max(m0, m1));
}

// Row r of the tile times its dropout factors (scale where kept, 0 where dropped), in place over
// s[0:n]: dropout_impl.h's loop, the same mask as functional.dropout over the weights.
inline void drop_row(float* s, index_t n, const fl::AttnTile& t, index_t r) {
  const fl::DropoutParams p{t.dropout->seed, t.dropout->threshold, t.dropout->scale};
  dropout::apply(s, s, t.drop_index + r * t.drop_ld, n, p);
}

template <class V>
inline void zero_range(float* s, index_t n) {
  constexpr int W = V::width;
  index_t j = 0;
  for (; j + W <= n; j += W) V::store(s + j, V::zero());
  if (j < n) V::store_n(s + j, V::zero(), n - j);
}

template <class V>
inline void scale_row(float* a, index_t n, float c) {
  constexpr int W = V::width;
  const V cv = V::set1(c);
  index_t j = 0;
  for (; j + W <= n; j += W) V::store(a + j, V::load(a + j) * cv);
  if (j < n) V::store_n(a + j, V::load_n(a + j, n - j) * cv, n - j);
}

// AttnSoftmaxTileFn.
template <class V>
void softmax_tile(float* s, index_t lds, float* acc, index_t acc_ld, index_t dv, float* m, float* l,
                  const fl::AttnTile& t) {
  constexpr int W = V::width;
  for (index_t r = 0; r < t.rows; ++r) {
    float* sr = s + r * lds;
    const index_t n = valid_cols(t, r);
    apply_mask_row<V>(sr, n, t, r);
    const float m_old = m[r];
    const float m_new = row_max<V>(sr, n, m_old);
    if (m_new == -kInf) {  // nothing attended so far: P = 0, m and l unchanged
      zero_range<V>(sr, t.cols);
      continue;
    }
    const V mv = V::set1(m_new);
    V sum0 = V::zero(), sum1 = V::zero();
    index_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      const V p0 = exp_nonpositive(V::load(sr + j) - mv);
      const V p1 = exp_nonpositive(V::load(sr + j + W) - mv);
      V::store(sr + j, p0);
      V::store(sr + j + W, p1);
      sum0 = sum0 + p0;
      sum1 = sum1 + p1;
    }
    for (; j < n; j += W) {  // lanes past n read -inf, whose exp is 0
      const index_t k = n - j < W ? n - j : W;
      const V p = exp_nonpositive(V::load_fill(sr + j, k, -kInf) - mv);
      V::store_n(sr + j, p, k);
      sum0 = sum0 + p;
    }
    zero_range<V>(sr + n, t.cols - n);
    if (t.dropout) drop_row(sr, n, t, r);  // after the sum: l is the undropped weights' sum
    const float c = m_old == -kInf ? 0.0f : std::exp(m_old - m_new);
    l[r] = l[r] * c + V::hsum(sum0 + sum1);
    m[r] = m_new;
    if (c != 1.0f) scale_row<V>(acc + r * acc_ld, dv, c);
  }
}

// AttnGradTileFn.
template <class V>
void grad_tile(float* s, float* dp, index_t lds, const float* lse, const float* delta, const fl::AttnTile& t) {
  constexpr int W = V::width;
  for (index_t r = 0; r < t.rows; ++r) {
    float* sr = s + r * lds;
    float* dr = dp + r * lds;
    const index_t n = valid_cols(t, r);
    apply_mask_row<V>(sr, n, t, r);
    if (t.dropout) drop_row(dr, n, t, r);  // dO v^T of the dropped weights -> of the weights
    const V lv = V::set1(lse[r]), dl = V::set1(delta[r]);
    index_t j = 0;
    for (; j + W <= n; j += W) {
      const V p = exp_nonpositive(V::load(sr + j) - lv);
      V::store(sr + j, p);
      V::store(dr + j, p * (V::load(dr + j) - dl));
    }
    if (j < n) {
      const index_t k = n - j;
      const V p = exp_nonpositive(V::load_n(sr + j, k) - lv);
      V::store_n(sr + j, p, k);
      V::store_n(dr + j, p * (V::load_n(dr + j, k) - dl), k);
    }
    zero_range<V>(sr + n, t.cols - n);
    zero_range<V>(dr + n, t.cols - n);
    if (t.dropout) drop_row(sr, n, t, r);  // the dropped weights, for dV
  }
}

template <class V>
void register_all(fl::AttentionKernels& t) {
  t.softmax_tile = &softmax_tile<V>;
  t.grad_tile = &grad_tile<V>;
}

}  // namespace attn
