// Vector float math written once against the Vec interface (avx2/vec_avx2.h,
// avx512/vec_avx512.h) and instantiated per ISA. Include only inside an anonymous namespace
// of a file under ukernels/<isa>/ (so each ISA gets its own copy, never merged by the linker).
//
// Accuracy, measured over the whole float range against float64 (tests/test_activation.py):
//   v_exp    <= 2 ulp; overflows to +inf above 88.72, rounds through the subnormals to 0
//            below -103.9, exp(-inf) = 0, NaN in -> NaN out.
//   v_expm1  <= 2 ulp relative, including tiny and subnormal x (expm1(x) = x there).
//   v_tanh   <= 3 ulp; exact +-1 beyond |x| = 9.01, odd, tanh(-0) = -0.
//   v_erfc   relative error < 1.2e-7 of the rational-Chebyshev form (Numerical Recipes'
//            erfcc coefficients, derived for double) plus float rounding: <= 8 ulp; x >= 0.
#pragma once
#include "core/tensor.h"

template <class V>
inline V v_exp(V x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2], with ln2
  // split in two (Cody-Waite) so that n * ln2_hi is exact. exp(r) by its Taylor polynomial of
  // degree 7 (truncation < 5e-9 relative on that interval). V::ldexp applies 2^n for n in
  // [-150, 128] with no special cases: the product overflows to inf or rounds to a subnormal
  // exactly once.
  x = V::min(V::set1(89.0f), V::max(V::set1(-104.0f), x));
  const V n = V::round(x * V::set1(1.44269504088896341f));
  V r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  V p = V::set1(1.0f / 5040.0f);
  p = V::fmadd(p, r, V::set1(1.0f / 720.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 120.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 24.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 6.0f));
  p = V::fmadd(p, r, V::set1(0.5f));
  p = V::fmadd(p, r, V::set1(1.0f));
  p = V::fmadd(p, r, V::set1(1.0f));
  return V::ldexp(p, n);
}

template <class V>
inline V v_expm1(V x) {
  // |x| <= ln2: x + x^2 (1/2 + x/6 + ... + x^7/9!), Taylor, truncation < 1e-8 relative;
  // it keeps full relative accuracy for tiny x, where exp(x) - 1 would cancel.
  // Elsewhere exp(x) - 1, whose result is >= 0.5 in magnitude, so the subtraction is benign.
  V p = V::set1(1.0f / 362880.0f);
  p = V::fmadd(p, x, V::set1(1.0f / 40320.0f));
  p = V::fmadd(p, x, V::set1(1.0f / 5040.0f));
  p = V::fmadd(p, x, V::set1(1.0f / 720.0f));
  p = V::fmadd(p, x, V::set1(1.0f / 120.0f));
  p = V::fmadd(p, x, V::set1(1.0f / 24.0f));
  p = V::fmadd(p, x, V::set1(1.0f / 6.0f));
  p = V::fmadd(p, x, V::set1(0.5f));
  const V small = V::fmadd(x * x, p, x);
  const V big = v_exp(x) - V::set1(1.0f);
  return V::select(V::le(V::abs(x), V::set1(0.69314718f)), small, big);
}

template <class V>
inline V v_sigmoid(V x) {
  // e = exp(-|x|) in (0, 1]; sigmoid = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so the
  // negative tail keeps its relative accuracy down to the subnormals.
  const V e = v_exp(V::zero() - V::abs(x));
  const V s = V::set1(1.0f) / (V::set1(1.0f) + e);
  return V::select(V::ge(x, V::zero()), s, e * s);
}

template <class V>
inline V v_tanh(V x) {
  // tanh|x| = m / (m + 2), m = expm1(2|x|); 2|x| is capped at 40 where tanh is 1 in float.
  const V m = v_expm1(V::min(V::set1(40.0f), V::abs(x) + V::abs(x)));
  return V::copysign(m / (m + V::set1(2.0f)), x);
}

template <class V>
inline V v_erfc_nonneg(V z) {
  // erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0, P of degree 9.
  const V t = V::set1(1.0f) / V::fmadd(V::set1(0.5f), z, V::set1(1.0f));
  V p = V::set1(0.17087277f);
  p = V::fmadd(p, t, V::set1(-0.82215223f));
  p = V::fmadd(p, t, V::set1(1.48851587f));
  p = V::fmadd(p, t, V::set1(-1.13520398f));
  p = V::fmadd(p, t, V::set1(0.27886807f));
  p = V::fmadd(p, t, V::set1(-0.18628806f));
  p = V::fmadd(p, t, V::set1(0.09678418f));
  p = V::fmadd(p, t, V::set1(0.37409196f));
  p = V::fmadd(p, t, V::set1(1.00002368f));
  p = V::fmadd(p, t, V::set1(-1.26551223f));
  return t * v_exp(V::fnmadd(z, z, p));
}

// Phi(x), the standard normal CDF: 1 - erfc(z)/2 for x >= 0, erfc(z)/2 for x < 0, z = |x|/sqrt2.
template <class V>
inline V v_normal_cdf(V x) {
  const V h = V::set1(0.5f) * v_erfc_nonneg(V::abs(x) * V::set1(0.70710678118654752f));
  return V::select(V::ge(x, V::zero()), V::set1(1.0f) - h, h);
}

// Applies f to every element of x[0, n): full vectors, then one masked tail.
template <class V, class F>
inline void map1(float* y, const float* x, fl::index_t n, const F& f) {
  fl::index_t i = 0;
  for (; i + 2 * V::width <= n; i += 2 * V::width) {
    const V a = V::load(x + i), b = V::load(x + i + V::width);
    V::store(y + i, f(a));
    V::store(y + i + V::width, f(b));
  }
  for (; i + V::width <= n; i += V::width) V::store(y + i, f(V::load(x + i)));
  if (i < n) V::store_n(y + i, f(V::load_n(x + i, n - i)), n - i);
}

// dx = f(dy, s) element-wise over [0, n).
template <class V, class F>
inline void map2(float* dx, const float* dy, const float* s, fl::index_t n, const F& f) {
  fl::index_t i = 0;
  for (; i + V::width <= n; i += V::width) V::store(dx + i, f(V::load(dy + i), V::load(s + i)));
  if (i < n) V::store_n(dx + i, f(V::load_n(dy + i, n - i), V::load_n(s + i, n - i)), n - i);
}
