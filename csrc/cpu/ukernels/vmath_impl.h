// Vector float math written once against the Vec interface (avx2/vec_avx2.h,
// avx512/vec_avx512.h) and instantiated per ISA. Include only inside an anonymous namespace
// of a file under ukernels/<isa>/ (so each ISA gets its own copy, never merged by the linker).
//
// Accuracy, measured over the whole float range against float64 (tests/test_activation.py):
//   v_exp     <= 1 ulp; overflows to +inf above 88.72, rounds through the subnormals to 0
//             below -103.9, exp(-inf) = 0, NaN in -> NaN out.
//   expm1     <= 1.5 ulp relative on [-30, 88], including tiny and subnormal x.
//   v_sigmoid <= 2.2 ulp, v_tanh <= 2.3 ulp (exact +-1 beyond |x| = 9.01, odd, tanh(-0) = -0).
//   v_gelu    <= 6 ulp * max(1, x^2) (x^2 is gelu's condition number in the negative tail).
//
// Speed: these functions are long chains of dependent operations (~40 for gelu). Evaluated one
// vector at a time, the chains fill the out-of-order scheduler long before the FMA units are
// busy, so map1/map2 evaluate V::ilp vectors in lock step through Lanes<V> (Pair below) when
// the functor accepts it: on Zen 5, 8-way interleaving made gelu 1.7x and tanh 1.3x faster.
#pragma once
#include <type_traits>

#include "core/tensor.h"

// ---- Pair: two vectors with the Vec interface, every operation issued for both halves ----
template <class V>
struct Pair {
  struct M {
    typename V::M a, b;
  };
  static constexpr int width = 2 * V::width;
  V a, b;

  static Pair load(const float* p) { return {V::load(p), V::load(p + V::width)}; }
  static void store(float* p, Pair x) {
    V::store(p, x.a);
    V::store(p + V::width, x.b);
  }
  static Pair set1(float f) { return {V::set1(f), V::set1(f)}; }
  static Pair zero() { return {V::zero(), V::zero()}; }
  friend Pair operator+(Pair x, Pair y) { return {x.a + y.a, x.b + y.b}; }
  friend Pair operator-(Pair x, Pair y) { return {x.a - y.a, x.b - y.b}; }
  friend Pair operator*(Pair x, Pair y) { return {x.a * y.a, x.b * y.b}; }
  friend Pair operator/(Pair x, Pair y) { return {x.a / y.a, x.b / y.b}; }
  static Pair fmadd(Pair x, Pair y, Pair z) { return {V::fmadd(x.a, y.a, z.a), V::fmadd(x.b, y.b, z.b)}; }
  static Pair fnmadd(Pair x, Pair y, Pair z) { return {V::fnmadd(x.a, y.a, z.a), V::fnmadd(x.b, y.b, z.b)}; }
  static Pair max(Pair x, Pair y) { return {V::max(x.a, y.a), V::max(x.b, y.b)}; }
  static Pair min(Pair x, Pair y) { return {V::min(x.a, y.a), V::min(x.b, y.b)}; }
  static Pair abs(Pair x) { return {V::abs(x.a), V::abs(x.b)}; }
  static Pair copysign(Pair x, Pair y) { return {V::copysign(x.a, y.a), V::copysign(x.b, y.b)}; }
  static Pair round(Pair x) { return {V::round(x.a), V::round(x.b)}; }
  static Pair pow2(Pair n) { return {V::pow2(n.a), V::pow2(n.b)}; }
  static Pair ldexp(Pair x, Pair n) { return {V::ldexp(x.a, n.a), V::ldexp(x.b, n.b)}; }
  static M gt(Pair x, Pair y) { return {V::gt(x.a, y.a), V::gt(x.b, y.b)}; }
  static M ge(Pair x, Pair y) { return {V::ge(x.a, y.a), V::ge(x.b, y.b)}; }
  static M le(Pair x, Pair y) { return {V::le(x.a, y.a), V::le(x.b, y.b)}; }
  static Pair select(M m, Pair x, Pair y) { return {V::select(m.a, x.a, y.a), V::select(m.b, x.b, y.b)}; }
};

template <class V, int K>
struct LanesOf {
  static_assert(K > 1 && (K & (K - 1)) == 0, "lanes: a power of two");
  using type = Pair<typename LanesOf<V, K / 2>::type>;
};
template <class V>
struct LanesOf<V, 1> {
  using type = V;
};
// K vectors in lock step (K a power of two; V::ilp by default).
template <class V, int K = V::ilp>
using Lanes = typename LanesOf<V, K>::type;

// Horizontal folds of Lanes<V> down to one V (lane-wise max / sum of the K vectors).
template <class V>
V fold_max(V v) { return v; }
template <class T>
auto fold_max(Pair<T> p) { return fold_max(T::max(p.a, p.b)); }
template <class V>
V fold_sum(V v) { return v; }
template <class T>
auto fold_sum(Pair<T> p) { return fold_sum(p.a + p.b); }

// ---- exp family ----
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // ln2 = kLn2Hi + kLn2Lo; n * kLn2Hi is exact for |n| < 2^11
constexpr float kLn2Lo = -2.12194440e-4f;

// exp(x) for x in [-104, 89] or NaN (callers clamp; v_exp does).
// exp(x) = 2^n exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite, two
// steps). exp(r) = 1 + r + r^2 P(r), P of degree 4 fitted for least maximum relative error
// (3e-9 before rounding the coefficients to float; tools/fit_vmath.py). V::ldexp applies 2^n for n in
// [-150, 128] with no special cases: the product overflows to inf or rounds to a subnormal
// exactly once.
template <class V>
inline V exp_core(V x) {
  const V n = V::round(x * V::set1(kLog2e));
  V r = V::fnmadd(n, V::set1(kLn2Hi), x);
  r = V::fnmadd(n, V::set1(kLn2Lo), r);
  V p = V::set1(0.0013814611593261361f);
  p = V::fmadd(p, r, V::set1(0.008368710055947304f));
  p = V::fmadd(p, r, V::set1(0.04166838899254799f));
  p = V::fmadd(p, r, V::set1(0.1666652113199234f));
  p = V::fmadd(p, r, V::set1(0.4999999403953552f));
  p = V::fmadd(p, r, V::set1(1.0f));
  p = V::fmadd(p, r, V::set1(1.0f));
  return V::ldexp(p, n);
}

template <class V>
inline V v_exp(V x) {
  // min/max return their second operand when one is NaN, so NaN passes.
  return exp_core(V::min(V::set1(89.0f), V::max(V::set1(-104.0f), x)));
}

// expm1(x) for x in [-30, 88] or NaN (callers clamp). One path for every x:
// expm1(x) = 2^n (1 + q) - 1 = s q + (s - 1), s = 2^n, q = expm1(r) = r + r^2 P(r) with the
// same reduction as exp_core. For n = 0 it is q itself (exact for tiny and subnormal x); for
// n != 0 the result is at least 0.29 in magnitude, so the final sum does not cancel.
// P of degree 4 fitted for relative error (1.3e-8 before rounding).
template <class V>
inline V expm1_core(V x) {
  const V n = V::round(x * V::set1(kLog2e));
  V r = V::fnmadd(n, V::set1(kLn2Hi), x);
  r = V::fnmadd(n, V::set1(kLn2Lo), r);
  V p = V::set1(0.0013882520142942667f);
  p = V::fmadd(p, r, V::set1(0.00836651399731636f));
  p = V::fmadd(p, r, V::set1(0.04166720062494278f));
  p = V::fmadd(p, r, V::set1(0.1666654348373413f));
  p = V::fmadd(p, r, V::set1(0.4999999701976776f));
  const V q = V::fmadd(r * r, p, r);
  const V s = V::pow2(n);
  return V::fmadd(s, q, s - V::set1(1.0f));
}

template <class V>
inline V v_sigmoid(V x) {
  // e = exp(-|x|) in (0, 1]; sigmoid = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so the
  // negative tail keeps its relative accuracy down to the subnormals.
  const V e = exp_core(V::max(V::set1(-104.0f), V::zero() - V::abs(x)));
  return V::select(V::ge(x, V::zero()), V::set1(1.0f), e) / (V::set1(1.0f) + e);
}

template <class V>
inline V v_tanh(V x) {
  // tanh|x| = m / (m + 2), m = expm1(2|x|); 2|x| is capped at 40 where tanh is 1 in float.
  const V m = expm1_core(V::min(V::set1(40.0f), V::abs(x) + V::abs(x)));
  return V::copysign(m / (m + V::set1(2.0f)), x);
}

// erfc(|x| / sqrt2) = 2 Phi(-|x|), with relative accuracy down to the underflow.
// erfc(z) = t exp(-z^2 + s Q(s)), t = 1 / (1 + z/2), s = 1 - t = (z/2) t in [0, 1). The
// exponent vanishes at z = 0, so it is written with the factor s and keeps its accuracy there.
// Q of degree 7 fitted (tools/fit_vmath.py) for error <= 7e-8 * max(1, 2 z^2) with float32
// coefficients and float32 Horner steps, on z in [0, 10.3] (beyond, the result underflows);
// the weight is gelu's condition number, x^2 = 2 z^2. -z^2 + s Q(s) is one rounding (fnmadd).
template <class V>
inline V erfc_scaled_abs(V x) {
  const V a = V::min(V::set1(20.0f), V::abs(x));  // erfc(20/sqrt2) is 0 in float; inf -> 20
  const V hz = V::set1(0.35355339059327376f) * a;  // z / 2
  const V t = V::set1(1.0f) / (V::set1(1.0f) + hz);
  const V s = hz * t;
  V q = V::set1(0.13657695055007935f);
  q = V::fmadd(q, s, V::set1(-0.2518611252307892f));
  q = V::fmadd(q, s, V::set1(0.010855930857360363f));
  q = V::fmadd(q, s, V::set1(0.04593758285045624f));
  q = V::fmadd(q, s, V::set1(0.19167397916316986f));
  q = V::fmadd(q, s, V::set1(0.1620674729347229f));
  q = V::fmadd(q, s, V::set1(-0.3032999634742737f));
  q = V::fmadd(q, s, V::set1(-1.2567565441131592f));
  const V arg = V::fnmadd(V::set1(0.5f) * a, a, s * q);
  return t * exp_core(V::max(V::set1(-104.0f), arg));
}

// Phi(x), the standard normal CDF: 1 - h/2 for x >= 0, h/2 for x < 0, h = erfc(|x|/sqrt2).
template <class V>
inline V v_normal_cdf(V x) {
  const V h = V::set1(0.5f) * erfc_scaled_abs(x);
  return V::select(V::ge(x, V::zero()), V::set1(1.0f) - h, h);
}

// gelu(x) = x Phi(x) = max(x, 0) - |x| Phi(-|x|) for every x: one formula, no select, and the
// negative side keeps its relative accuracy. |x| is capped at 20 on the positive side only
// (Phi(-20) is 0 in float; +inf stays +inf), so gelu(-inf) is NaN as in PyTorch.
template <class V>
inline V v_gelu(V x) {
  const V u = V::set1(-0.5f) * V::abs(V::min(V::set1(20.0f), x));
  return V::fmadd(u, erfc_scaled_abs(x), V::max(V::zero(), x));
}

// ---- element-wise drivers ----
// Applies f to every element of x[0, n): K vectors in lock step when f accepts Lanes<V, K>
// (a generic lambda), then single vectors, then one masked tail. K = V::ilp (4 on AVX-512)
// measured best for 16M-element arrays: wider groups help in-cache speed but, with one or two
// input streams from memory, slow the streaming (elu 1.36 -> 1.80 ms at 8-way); only gelu's
// forward, the longest chain, gains from 8 (2.47 -> 2.16 ms).
template <class V, int K = V::ilp, class F>
inline void map1(float* y, const float* x, fl::index_t n, const F& f) {
  fl::index_t i = 0;
  if constexpr (K > 1 && std::is_invocable_v<const F&, Lanes<V, K>>) {
    using W = Lanes<V, K>;
    for (; i + W::width <= n; i += W::width) W::store(y + i, f(W::load(x + i)));
  }
  for (; i + V::width <= n; i += V::width) V::store(y + i, f(V::load(x + i)));
  if (i < n) V::store_n(y + i, f(V::load_n(x + i, n - i)), n - i);
}

// dx = f(dy, s) element-wise over [0, n), interleaved as map1.
template <class V, int K = V::ilp, class F>
inline void map2(float* dx, const float* dy, const float* s, fl::index_t n, const F& f) {
  fl::index_t i = 0;
  if constexpr (K > 1 && std::is_invocable_v<const F&, Lanes<V, K>, Lanes<V, K>>) {
    using W = Lanes<V, K>;
    for (; i + W::width <= n; i += W::width) W::store(dx + i, f(W::load(dy + i), W::load(s + i)));
  }
  for (; i + V::width <= n; i += V::width) V::store(dx + i, f(V::load(dy + i), V::load(s + i)));
  if (i < n) V::store_n(dx + i, f(V::load_n(dy + i, n - i), V::load_n(s + i, n - i)), n - i);
}
