// Vector float math written once against the Vec interface (avx2/vec_avx2.h,
// avx512/vec_avx512.h) and instantiated per ISA. Include only inside an anonymous namespace
// of a file under ukernels/<isa>/ (so each ISA gets its own copy, never merged by the linker).
//
// Accuracy, measured over the whole float range against float64 (tests/test_activation.py):
//   v_exp     <= 1 ulp; overflows to +inf above 88.72, rounds through the subnormals to 0
//             below -103.9, exp(-inf) = 0, NaN in -> NaN out.
//   expm1     <= 1.5 ulp relative on [-30, 88], including tiny and subnormal x.
//   v_sigmoid <= 2.2 ulp, v_tanh <= 2.3 ulp (exact +-1 beyond |x| = 9.01, odd, tanh(-0) = -0).
//   v_gelu    <= 4 ulp * max(1, x^2) (x^2 is gelu's condition number in the negative tail;
//             measured 3.95, at x = -0.337; gelu(+inf) = +inf, gelu(-inf) = NaN).
//
// Speed: these functions are long chains of dependent operations (~40 for gelu). Evaluated one
// vector at a time, the chains fill the out-of-order scheduler long before the FMA units are
// busy, so map1/map2 evaluate V::ilp vectors in lock step through Lanes<V> (Pair below) when
// the functor accepts it: on Zen 5, 8-way interleaving made gelu 1.7x and tanh 1.3x faster.
#pragma once
#include <cstdint>
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
  static void stream(float* p, Pair x) {
    V::stream(p, x.a);
    V::stream(p + V::width, x.b);
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
  static Pair lut16(Pair k, const float* t) { return {V::lut16(k.a, t), V::lut16(k.b, t)}; }
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
// x = n ln2 + r, n = round(x / ln2), r in [-ln2/2, ln2/2] (Cody-Waite, two steps).
template <class V>
inline V reduce_ln2(V x, V& r) {
  const V n = V::round(x * V::set1(kLog2e));
  r = V::fnmadd(n, V::set1(kLn2Lo), V::fnmadd(n, V::set1(kLn2Hi), x));
  return n;
}

template <class V>
inline V exp_core(V x) {
  V r;
  const V n = reduce_ln2(x, r);
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
  V r;
  const V n = reduce_ln2(x, r);
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

// Phi(-a) = 2^Q(a), the standard normal CDF at -a, for a in [0, 15] (callers clamp; NaN passes),
// relative error <= 4 ulp * max(1, a^2) (the bound of v_gelu). Q(a) = log2 Phi(-a) is smooth, in
// [-168, -1] there; it is evaluated piecewise on 16 intervals of width 1 centred on k = 0..15, each
// a degree-5 polynomial in u = a - k in [-1/2, 1/2] whose coefficients are looked up per lane
// from 16-entry tables (V::lut16: a shuffle, which leaves the FMA pipes to the arithmetic; no
// division, no exp range reduction: Q is already in log2 units). k and u come from one rounding:
// m = a + 2^23 holds k in its low mantissa bits, u = a - (m - 2^23) is exact. Then
// 2^Q = 2^n 2^f, n = round(Q), f = Q - n in [-1/2, 1/2] exact, 2^f of degree 5, and V::ldexp.
// The error is mostly the float32 rounding of Q (half an ulp of Q, i.e. a relative
// ln2 |Q| 2^-24 in 2^Q), which grows like a^2, as gelu's own condition number does.
// ~12 FMA-pipe operations and 6 shuffles per vector (an erfc/exp formulation: ~34
// and a division).
// Coefficients: tools/fit_vmath.py (Lawson near-minimax per interval for absolute error in Q
// weighted by 1/max(1, a^2): <= 0.06 * 2^-24 before rounding to float32; float32 Horner adds
// <= 2.4 * 2^-24 relative; 2^f: 7.5e-8 relative).
alignas(64) constexpr float kPhiLog2Tab[6][16] = {
    {-1.0f, -2.6560328006744385f, -5.457981109619141f, -9.532934188842773f, -14.946467399597168f, -21.73419761657715f, -29.916833877563477f, -39.507205963134766f, -50.51371383666992f, -62.942115783691406f, -76.7965087890625f, -92.07991790771484f, -108.79460144042969f, -126.94232940673828f, -146.5244903564453f, -167.54217529296875f},
    {-1.1511043310165405f, -2.2003049850463867f, -3.4238264560699463f, -4.736510276794434f, -6.096262454986572f, -7.482543468475342f, -8.884812355041504f, -10.297301292419434f, -11.716657638549805f, -13.14082145690918f, -14.568469047546387f, -15.998716354370117f, -17.430950164794922f, -18.864736557006836f, -20.299755096435547f, -21.735769271850586f},
    {-0.4592190980911255f, -0.5777294039726257f, -0.6389139294624329f, -0.6704505681991577f, -0.6876805424690247f, -0.6977621912956238f, -0.7040441632270813f, -0.7081743478775024f, -0.7110143303871155f, -0.713041365146637f, -0.7145341038703918f, -0.7156628370285034f, -0.7165356278419495f, -0.7172237038612366f, -0.717775285243988f, -0.7182239890098572f},
    {-0.052465543150901794f, -0.02811669372022152f, -0.014270257204771042f, -0.00756635470315814f, -0.004293271340429783f, -0.002602943917736411f, -0.0016719308914616704f, -0.0011273374548181891f, -0.0007915205787867308f, -0.0005748490802943707f, -0.00042953630327247083f, -0.00032879895297810435f, -0.00025694395299069583f, -0.00020440921070985496f, -0.00016516393225174397f, -0.00013528676936402917f},
    {0.007080099545419216f, 0.004764997866004705f, 0.0023848984856158495f, 0.0011459261877462268f, 0.0005750113050453365f, 0.0003074266714975238f, 0.00017501969705335796f, 0.00010540015500737354f, 6.663412932539359e-05f, 4.391422407934442e-05f, 2.998840318468865e-05f, 2.111347930622287e-05f, 1.5262288798112422e-05f, 1.128858912124997e-05f, 8.518829417880625e-06f, 6.543420113303e-06f},
    {-0.0003025208134204149f, -0.0005799901555292308f, -0.00035631065838970244f, -0.00016625679563730955f, -7.633407221874222e-05f, -3.6718563933391124e-05f, -1.876927308330778e-05f, -1.0185091923631262e-05f, -5.8345094657852314e-06f, -3.5054276850132737e-06f, -2.195373099311837e-06f, -1.4254754887588206e-06f, -9.551915809424827e-07f, -6.579664955097542e-07f, -4.6437060063908575e-07f, -3.3485611083960976e-07f},
};

// gelu(tanh): sigmoid(-t(a)) = 2^Q(a), t = 2 k0 (a + k1 a^3), the same scheme for a in [0, 11]
// (Q(11.5) = -185: the result is 0 in float past 11); fit <= 1.1 * 2^-24, float32 Horner
// <= 3.7 * 2^-24 relative (tools/fit_vmath.py). Intervals 12..15 repeat the 11th.
alignas(64) constexpr float kGeluTanhLog2Tab[6][16] = {
    {-1.0f, -2.65464448928833f, -5.461090087890625f, -9.68784236907959f, -15.797225952148438f, -24.37894630432129f, -36.048988342285156f, -51.42498779296875f, -71.12460327148438f, -95.76549530029297f, -125.96532440185547f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f},
    {-1.1511046886444092f, -2.196383237838745f, -3.4572231769561768f, -5.075514316558838f, -7.243356227874756f, -10.022951126098633f, -13.42007827758789f, -17.434864044189453f, -22.067310333251953f, -27.317415237426758f, -33.1851806640625f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f},
    {-0.45921069383621216f, -0.5754174590110779f, -0.6998835206031799f, -0.9361987709999084f, -1.235611915588379f, -1.5441499948501587f, -1.8529783487319946f, -2.1618080139160156f, -2.470637798309326f, -2.7794675827026367f, -3.088297128677368f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f},
    {-0.051584746688604355f, -0.03134491294622421f, -0.0590985007584095f, -0.09407367557287216f, -0.10252144932746887f, -0.10294036567211151f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f},
    {0.008087140507996082f, -0.0003683506802190095f, -0.01072935201227665f, -0.005036411341279745f, -0.00046589699923060834f, -6.659719019808108e-06f, -1.0566137298440026e-08f, -1.262545623603728e-12f, 6.52811138479592e-14f, -6.03073146976385e-13f, 1.461053500406706e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f},
    {-0.0007477598846890032f, -0.0029167828615754843f, -0.00031133927404880524f, 0.0015754521591588855f, 0.0003115632280241698f, 7.2579896368552e-06f, 1.6608884934044e-08f, 2.6281199438926706e-12f, 3.7442271505483404e-13f, -5.209166431541234e-13f, 5.688782778179302e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f},
};

// 2^Q(a) for a >= 0, Q piecewise from tab as described above (a within the table's range).
template <class V>
inline V pow2_piecewise(V a, const float (*tab)[16]) {
  const V m = a + V::set1(8388608.0f);  // 2^23 + round(a)
  const V u = a - (m - V::set1(8388608.0f));
  V q = V::lut16(m, tab[5]);
  q = V::fmadd(q, u, V::lut16(m, tab[4]));
  q = V::fmadd(q, u, V::lut16(m, tab[3]));
  q = V::fmadd(q, u, V::lut16(m, tab[2]));
  q = V::fmadd(q, u, V::lut16(m, tab[1]));
  q = V::fmadd(q, u, V::lut16(m, tab[0]));
  // n = round(q) (adding and removing 1.5 * 2^23 rounds to an integer), f = q - n in [-1/2, 1/2]
  // exact; 2^f of degree 5 (relative error 7.5e-8 before rounding).
  const V n = (q + V::set1(12582912.0f)) - V::set1(12582912.0f);
  const V f = q - n;
  V p = V::set1(0.0013276470126584172f);
  p = V::fmadd(p, f, V::set1(0.009675540961325169f));
  p = V::fmadd(p, f, V::set1(0.05550713464617729f));
  p = V::fmadd(p, f, V::set1(0.24022120237350464f));
  p = V::fmadd(p, f, V::set1(0.6931469440460205f));
  p = V::fmadd(p, f, V::set1(1.0000001192092896f));
  return V::ldexp(p, n);
}

// Phi(x), the standard normal CDF: 1 - Phi(-|x|) for x >= 0, Phi(-|x|) for x < 0 (NaN passes).
template <class V>
inline V v_normal_cdf(V x) {
  const V p = normal_cdf_neg(V::min(V::set1(15.0f), V::abs(x)));
  return V::select(V::ge(x, V::zero()), V::set1(1.0f) - p, p);
}

// gelu(x) = x Phi(x) = max(x, 0) - |x| Phi(-|x|) for every x: one formula, no select, and the
// negative side keeps its relative accuracy. Phi's argument is capped at 15 (Phi(-15) 2^-167
// is 0 in float); the factor |x| is capped at 20 on the positive side only, so +inf stays +inf
// and gelu(-inf) = -inf * 0 is NaN as in PyTorch.
template <class V>
inline V normal_cdf_neg(V a) {
  return pow2_piecewise(a, kPhiLog2Tab);
}

template <class V>
inline V v_gelu(V x) {
  const V p = normal_cdf_neg(V::min(V::set1(15.0f), V::abs(x)));
  return V::fnmadd(V::abs(V::min(V::set1(20.0f), x)), p, V::max(V::zero(), x));
}

// gelu(tanh)(x) = x sigmoid(t(x)) = max(x, 0) - |x| sigmoid(-t(|x|)) (t is odd), as v_gelu.
template <class V>
inline V v_gelu_tanh(V x) {
  const V p = pow2_piecewise(V::min(V::set1(11.0f), V::abs(x)), kGeluTanhLog2Tab);
  return V::fnmadd(V::abs(V::min(V::set1(20.0f), x)), p, V::max(V::zero(), x));
}

// ---- element-wise drivers ----
// From this many elements (16 MB of output) in one call, map1/map2 write with non-temporal
// stores: such an output (plus its input) cannot stay in the caches (1 MB L2 per core, 32 MB
// L3 here) for the next op anyway, and skipping the read-for-ownership of every output line
// cuts a third of the memory traffic (relu over 16M floats, 2 threads: 1.15 -> 0.96 ms). The
// activation driver hands each thread one contiguous chunk, so this is per thread.
constexpr fl::index_t kMapStreamMin = fl::index_t(1) << 22;

// The number of floats before the first V::width-aligned address at or after y (at most n).
template <class V>
inline fl::index_t floats_to_alignment(const float* y, fl::index_t n) {
  const std::uintptr_t align = V::width * sizeof(float);
  const auto head = static_cast<fl::index_t>(((align - reinterpret_cast<std::uintptr_t>(y) % align) % align) / sizeof(float));
  return head < n ? head : n;
}
// Stores one group to p: a regular or, for outputs written past the caches, a streaming store.
template <bool kStream, class W>
inline void put(float* p, W v) {
  if constexpr (kStream) W::stream(p, v);
  else W::store(p, v);
}

// y[i] = f(in[i]...) for i in [begin, n): K vectors in lock step when f accepts Lanes<V, K> for
// every input (a generic lambda), then single vectors, then one masked tail.
template <class V, int K, bool kStream, class F, class... In>
inline void map_range(float* y, fl::index_t i, fl::index_t n, const F& f, const In*... in) {
  if constexpr (K > 1 && std::is_invocable_v<const F&, std::conditional_t<true, Lanes<V, K>, In>...>) {
    using W = Lanes<V, K>;
    for (; i + W::width <= n; i += W::width) put<kStream>(y + i, f(W::load(in + i)...));
  }
  for (; i + V::width <= n; i += V::width) put<kStream>(y + i, f(V::load(in + i)...));
  if (i < n) V::store_n(y + i, f(V::load_n(in + i, n - i)...), n - i);
}

// y = f(in...) element-wise over [0, n). K = V::ilp (4 on AVX-512) measured best for
// 16M-element arrays: wider groups help in-cache speed but, with one or two input streams from
// memory, slow the streaming (elu 1.36 -> 1.80 ms at 8-way). From kMapStreamMin elements: a
// masked head up to y's vector alignment, then aligned streaming stores.
template <class V, int K, class F, class... In>
inline void map_n(float* y, fl::index_t n, const F& f, const In*... in) {
  if (n < kMapStreamMin) return map_range<V, K, false>(y, 0, n, f, in...);
  const fl::index_t head = floats_to_alignment<V>(y, n);
  if (head) V::store_n(y, f(V::load_n(in, head)...), head);
  map_range<V, K, true>(y, head, n, f, in...);
  V::stream_fence();
}

// y = f(x) element-wise over [0, n).
template <class V, int K = V::ilp, class F>
inline void map1(float* y, const float* x, fl::index_t n, const F& f) {
  map_n<V, K>(y, n, f, x);
}

// dx = f(dy, s) element-wise over [0, n).
template <class V, int K = V::ilp, class F>
inline void map2(float* dx, const float* dy, const float* s, fl::index_t n, const F& f) {
  map_n<V, K>(dx, n, f, dy, s);
}
