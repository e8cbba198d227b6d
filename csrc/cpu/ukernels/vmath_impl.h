// Vector float math written once against the Vec interface (avx2/vec_avx2.h,
// avx512/vec_avx512.h) and instantiated per ISA. Include only inside an anonymous namespace
// of a file under ukernels/<isa>/ (so each ISA gets its own copy, never merged by the linker).
//
// Accuracy, measured over the whole float range against float64 (tests/test_activation.py; max
// over 3M random bit patterns and 4M points of [-20, 20]):
//   v_exp     <= 1 ulp; overflows to +inf above 88.72, rounds through the subnormals to 0
//             below -103.9, exp(-inf) = 0, NaN in -> NaN out.
//   expm1     <= 1.5 ulp relative on [-30, 88], including tiny and subnormal x (elu: 1.86).
//   v_sigmoid <= 2.3 ulp, v_tanh <= 2.4 ulp (exact +-1 beyond |x| = 9.01, odd, tanh(-0) = -0).
//   v_gelu    <= 3.6 ulp * max(1, x^2), v_gelu_tanh <= 3.9 ulp * max(1, x^2) (x^2 is gelu's
//             condition number in the negative tail; gelu(+inf) = +inf, gelu(-inf) = NaN).
// Results in the subnormal range are computed, not flushed. On Intel cores every operation
// that produces (or reads) a subnormal takes a microcode assist of ~40-60 ns: the AVX-512 gelu
// avoids them (gelu_avx512); on AVX2, gelu(tanh) at x < -10 runs ~15x slower than elsewhere
// (PyTorch's 1 + tanh form returns 0 there).
//
// Speed: these functions are long chains of dependent operations (~40 for gelu). Evaluated one
// vector at a time, the chains fill the out-of-order scheduler long before the FMA units are
// busy, so map1/map2 evaluate V::ilp vectors in lock step through Lanes<V> (Pair below) when
// the functor accepts it: on Zen 5, 8-way interleaving made gelu 1.7x and tanh 1.3x faster.
// On Intel cores 512-bit operations issue on two ports only (p0, p5), so the operation count is
// the cost: integer rounding by a 1.5 * 2^23 FMA (vrndscaleps is two p0 uops), vreduceps for
// fractions, vscalefps applying 2^floor(q) directly, one vpermt2ps per 32-entry lookup.
#pragma once
#include <cstdint>
#include <limits>
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
  static constexpr bool kAvx512Math = V::kAvx512Math;
  static Pair lut32(Pair k, const float* t) { return {V::lut32(k.a, t), V::lut32(k.b, t)}; }
  static Pair frac_floor(Pair x) { return {V::frac_floor(x.a), V::frac_floor(x.b)}; }
  static Pair frac_half(Pair x) { return {V::frac_half(x.a), V::frac_half(x.b)}; }
  static Pair scalef(Pair p, Pair q) { return {V::scalef(p.a, q.a), V::scalef(p.b, q.b)}; }
  static Pair round_bits(Pair x) { return {V::round_bits(x.a), V::round_bits(x.b)}; }
  static Pair or_sign(Pair x, Pair s) { return {V::or_sign(x.a, s.a), V::or_sign(x.b, s.b)}; }
  static M lt(Pair x, Pair y) { return {V::lt(x.a, y.a), V::lt(x.b, y.b)}; }
  static M eq(Pair x, Pair y) { return {V::eq(x.a, y.a), V::eq(x.b, y.b)}; }
  static M mask_and(M x, M y) { return {V::mask_and(x.a, y.a), V::mask_and(x.b, y.b)}; }
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
// n comes from one FMA that adds 1.5 * 2^23 (whose ulp is 1) to x log2e and rounds once, then
// one subtraction: two single-uop operations (vrndscaleps is two uops on port 0 on Intel cores).
template <class V>
inline V reduce_ln2(V x, V& r) {
  const V n = V::fmadd(x, V::set1(kLog2e), V::set1(12582912.0f)) - V::set1(12582912.0f);
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
// [-168, -1] there; it is evaluated piecewise, each interval a polynomial in u = a - (its centre)
// whose coefficients are looked up per lane from tables (V::lut16 / V::lut32: shuffles, no
// division, no exp range reduction: Q is already in log2 units). Two layouts, by what a lookup
// costs on the ISA:
//   lut16 (AVX2: two vpermps and a blend): 16 intervals of width 1 centred on k = 0..15, degree 5;
//     k and u from one rounding: m = a + 2^23 holds k in its low mantissa bits, u = a - (m - 2^23).
//   lut32 (AVX-512: one vpermt2ps from 32 entries): 32 intervals of width 1/2 centred on k/2,
//     degree 4; m = a + 1.5 * 2^22 (ulp 1/2) holds k = round(2a) in its low 5 mantissa bits and
//     u = a - k/2 comes from one vreduceps (V::frac_half). One lookup and one FMA fewer.
// Then 2^Q = 2^floor(Q) 2^f (pow2_split). The error is mostly the float32 rounding of Q (half an
// ulp of Q, i.e. a relative ln2 |Q| 2^-24 in 2^Q), which grows like a^2, as gelu's own condition
// number does.
// Coefficients: tools/fit_vmath.py (Lawson near-minimax per interval for absolute error in Q
// weighted by 1/max(1, a^2); relative error in 2^Q with float32 Horner steps, units of 2^-24:
// lut16 tables 2.42 (Phi) and 3.74 (gelu tanh), lut32 tables 2.11 and 4.50; 2^f: 7.5e-8 relative).
alignas(64) constexpr float kPhiLog2Tab[6][16] = {
    {-1.0f, -2.6560328006744385f, -5.457981109619141f, -9.532934188842773f, -14.946467399597168f, -21.73419761657715f, -29.916833877563477f, -39.507205963134766f, -50.51371383666992f, -62.942115783691406f, -76.7965087890625f, -92.07991790771484f, -108.79460144042969f, -126.94232940673828f, -146.5244903564453f, -167.54217529296875f},
    {-1.1511043310165405f, -2.2003049850463867f, -3.4238264560699463f, -4.736510276794434f, -6.096262454986572f, -7.482543468475342f, -8.884812355041504f, -10.297301292419434f, -11.716657638549805f, -13.14082145690918f, -14.568469047546387f, -15.998716354370117f, -17.430950164794922f, -18.864736557006836f, -20.299755096435547f, -21.735769271850586f},
    {-0.4592190980911255f, -0.5777294039726257f, -0.6389139294624329f, -0.6704505681991577f, -0.6876805424690247f, -0.6977621912956238f, -0.7040441632270813f, -0.7081743478775024f, -0.7110143303871155f, -0.713041365146637f, -0.7145341038703918f, -0.7156628370285034f, -0.7165356278419495f, -0.7172237038612366f, -0.717775285243988f, -0.7182239890098572f},
    {-0.052465543150901794f, -0.02811669372022152f, -0.014270257204771042f, -0.00756635470315814f, -0.004293271340429783f, -0.002602943917736411f, -0.0016719308914616704f, -0.0011273374548181891f, -0.0007915205787867308f, -0.0005748490802943707f, -0.00042953630327247083f, -0.00032879895297810435f, -0.00025694395299069583f, -0.00020440921070985496f, -0.00016516393225174397f, -0.00013528676936402917f},
    {0.007080099545419216f, 0.004764997866004705f, 0.0023848984856158495f, 0.0011459261877462268f, 0.0005750113050453365f, 0.0003074266714975238f, 0.00017501969705335796f, 0.00010540015500737354f, 6.663412932539359e-05f, 4.391422407934442e-05f, 2.998840318468865e-05f, 2.111347930622287e-05f, 1.5262288798112422e-05f, 1.128858912124997e-05f, 8.518829417880625e-06f, 6.543420113303e-06f},
    {-0.0003025208134204149f, -0.0005799901555292308f, -0.00035631065838970244f, -0.00016625679563730955f, -7.633407221874222e-05f, -3.6718563933391124e-05f, -1.876927308330778e-05f, -1.0185091923631262e-05f, -5.8345094657852314e-06f, -3.5054276850132737e-06f, -2.195373099311837e-06f, -1.4254754887588206e-06f, -9.551915809424827e-07f, -6.579664955097542e-07f, -4.6437060063908575e-07f, -3.3485611083960976e-07f},
};

// gelu(tanh): sigmoid(-t(a)) = 2^Q(a), t = 2 k0 (a + k1 a^3), the same scheme for a in [0, 11]
// (Q(11.5) = -185: the result is 0 in float past 11). Intervals past 11.5 repeat the last one.
alignas(64) constexpr float kGeluTanhLog2Tab[6][16] = {
    {-1.0f, -2.65464448928833f, -5.461090087890625f, -9.68784236907959f, -15.797225952148438f, -24.37894630432129f, -36.048988342285156f, -51.42498779296875f, -71.12460327148438f, -95.76549530029297f, -125.96532440185547f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f, -162.34173583984375f},
    {-1.1511046886444092f, -2.196383237838745f, -3.4572231769561768f, -5.075514316558838f, -7.243356227874756f, -10.022951126098633f, -13.42007827758789f, -17.434864044189453f, -22.067310333251953f, -27.317415237426758f, -33.1851806640625f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f, -39.67060470581055f},
    {-0.45921069383621216f, -0.5754174590110779f, -0.6998835206031799f, -0.9361987709999084f, -1.235611915588379f, -1.5441499948501587f, -1.8529783487319946f, -2.1618080139160156f, -2.470637798309326f, -2.7794675827026367f, -3.088297128677368f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f, -3.3971269130706787f},
    {-0.051584746688604355f, -0.03134491294622421f, -0.0590985007584095f, -0.09407367557287216f, -0.10252144932746887f, -0.10294036567211151f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f},
    {0.008087140507996082f, -0.0003683506802190095f, -0.01072935201227665f, -0.005036411341279745f, -0.00046589699923060834f, -6.659719019808108e-06f, -1.0566137298440026e-08f, -1.262545623603728e-12f, 6.52811138479592e-14f, -6.03073146976385e-13f, 1.461053500406706e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f, -3.943512183468556e-13f},
    {-0.0007477598846890032f, -0.0029167828615754843f, -0.00031133927404880524f, 0.0015754521591588855f, 0.0003115632280241698f, 7.2579896368552e-06f, 1.6608884934044e-08f, 2.6281199438926706e-12f, 3.7442271505483404e-13f, -5.209166431541234e-13f, 5.688782778179302e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f, 4.062306047103448e-13f},
};

// The lut32 layout of the same two functions (the entries past each clamp repeat the last one).
alignas(64) constexpr float kPhiLog2Tab32[5][32] = {
    {-1.0f, -1.6964820623397827f, -2.6560328006744385f, -3.9038524627685547f, -5.457981109619141f, -7.331268787384033f, -9.532934188842773f, -12.069681167602539f, -14.946467399597168f, -18.167020797729492f, -21.73419761657715f, -25.650218963623047f, -29.916833877563477f, -34.53544998168945f, -39.507205963134766f, -44.83303451538086f, -50.51371383666992f, -56.549888610839844f, -62.942115783691406f, -69.69085693359375f, -76.7965087890625f, -84.25942993164062f, -92.07991790771484f, -100.25823211669922f, -108.79460144042969f, -117.68924713134766f, -126.94232940673828f, -136.5540313720703f, -146.5244903564453f, -156.85382080078125f, -167.54217529296875f, -167.54217529296875f},
    {-1.1511040925979614f, -1.6462266445159912f, -2.2003045082092285f, -2.796919345855713f, -3.423825740814209f, -4.072359561920166f, -4.736509799957275f, -5.412113666534424f, -6.096262454986572f, -6.786898612976074f, -7.482543468475342f, -8.18211555480957f, -8.884812355041504f, -9.590028762817383f, -10.297301292419434f, -11.006272315979004f, -11.716657638549805f, -12.428234100341797f, -13.14082145690918f, -13.854272842407227f, -14.568469047546387f, -15.283310890197754f, -15.998716354370117f, -16.714614868164062f, -17.430950164794922f, -18.14767074584961f, -18.864736557006836f, -19.582107543945312f, -20.299755096435547f, -21.017648696899414f, -21.735769271850586f, -21.735769271850586f},
    {-0.459225594997406f, -0.5276795625686646f, -0.5777300000190735f, -0.6134738326072693f, -0.6389133930206299f, -0.6571669578552246f, -0.6704500913619995f, -0.6802791953086853f, -0.6876803040504456f, -0.6933491230010986f, -0.6977620720863342f, -0.7012495398521423f, -0.7040441036224365f, -0.7063121795654297f, -0.7081743478775024f, -0.7097195982933044f, -0.7110143303871155f, -0.7121087312698364f, -0.713041365146637f, -0.7138420343399048f, -0.7145341038703918f, -0.7151361107826233f, -0.7156628370285034f, -0.7161260843276978f, -0.7165356278419495f, -0.7168992757797241f, -0.7172237038612366f, -0.717514157295227f, -0.717775285243988f, -0.7180108428001404f, -0.7182239890098572f, -0.7182239890098572f},
    {-0.05240717530250549f, -0.039137452840805054f, -0.028160694986581802f, -0.02003110758960247f, -0.014299262315034866f, -0.010328919626772404f, -0.007579829543828964f, -0.005659367423504591f, -0.004299411550164223f, -0.00332114496268332f, -0.0026058789808303118f, -0.002074430463835597f, -0.0016734240343794227f, -0.0013664108701050282f, -0.001128144795075059f, -0.0009408844052813947f, -0.0007919818162918091f, -0.0006722945836372674f, -0.0005751256248913705f, -0.0004955069744028151f, -0.00042970923823304474f, -0.00037490128306671977f, -0.00032891109003685415f, -0.0002900557010434568f, -0.00025701901176944375f, -0.00022876269940752536f, -0.0002044608845608309f, -0.00018345160060562193f, -0.0001652003702474758f, -0.00014927267329767346f, -0.00013531303557101637f, -0.00013531303557101637f},
    {0.006859272252768278f, 0.006182733457535505f, 0.0047777374275028706f, 0.00343245267868042f, 0.0023852658923715353f, 0.0016469485126435757f, 0.001143717672675848f, 0.0008039151434786618f, 0.0005736793973483145f, 0.00041609114850871265f, 0.0003067590878345072f, 0.0002297593600815162f, 0.00017468836449552327f, 0.00013469798432197422f, 0.00010523023956920952f, 8.321209315909073e-05f, 6.654312164755538e-05f, 5.3767729696119204e-05f, 4.3863270548172295e-05f, 3.610187195590697e-05f, 2.9958671802887693e-05f, 2.5050761905731633e-05f, 2.1095469492138363e-05f, 1.78818609128939e-05f, 1.525100196886342e-05f, 1.3081783436064143e-05f, 1.1281286788289435e-05f, 9.777456398296636e-06f, 8.513976354151964e-06f, 7.446627478202572e-06f, 6.540110462083248e-06f, 6.540110462083248e-06f},
};

alignas(64) constexpr float kGeluTanhLog2Tab32[5][32] = {
    {-1.0f, -1.6963210105895996f, -2.65464448928833f, -3.9007229804992676f, -5.461090564727783f, -7.372739791870117f, -9.68784236907959f, -12.471673965454102f, -15.797224998474121f, -19.74064064025879f, -24.37894630432129f, -29.789325714111328f, -36.048988342285156f, -43.23514175415039f, -51.42498779296875f, -60.69573974609375f, -71.12460327148438f, -82.78878784179688f, -95.76549530029297f, -110.1319351196289f, -125.96532440185547f, -143.3428497314453f, -162.34173583984375f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f, -183.03919982910156f},
    {-1.1511039733886719f, -1.6451927423477173f, -2.196380853652954f, -2.7964112758636475f, -3.457221031188965f, -4.2068586349487305f, -5.075516223907471f, -6.084301948547363f, -7.243356704711914f, -8.556000709533691f, -10.022951126098633f, -11.644307136535645f, -13.42007827758789f, -15.350263595581055f, -17.434864044189453f, -19.673879623413086f, -22.067310333251953f, -24.615156173706055f, -27.317415237426758f, -30.174089431762695f, -33.1851806640625f, -36.350685119628906f, -39.67060470581055f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f, -43.14493942260742f},
    {-0.45922785997390747f, -0.5254037380218506f, -0.5754277110099792f, -0.6267107725143433f, -0.6998615860939026f, -0.8046471476554871f, -0.936201274394989f, -1.0829710960388184f, -1.235615849494934f, -1.389760971069336f, -1.5441501140594482f, -1.6985634565353394f, -1.8529783487319946f, -2.0073931217193604f, -2.1618080139160156f, -2.316222906112671f, -2.470637798309326f, -2.6250526905059814f, -2.7794675827026367f, -2.933882236480713f, -3.088297128677368f, -3.2427120208740234f, -3.3971269130706787f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f, -3.551541805267334f},
    {-0.05143459513783455f, -0.037523891776800156f, -0.031555041670799255f, -0.03972018510103226f, -0.05914619565010071f, -0.07982256263494492f, -0.09395148605108261f, -0.1004829853773117f, -0.10249362885951996f, -0.10289113968610764f, -0.10293959826231003f, -0.10294309258460999f, -0.10294323414564133f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f, -0.10294324159622192f},
    {0.007531423587352037f, 0.005685894750058651f, -0.00023495017376262695f, -0.007481909357011318f, -0.01091462280601263f, -0.009111366234719753f, -0.0050307027995586395f, -0.0018457983387634158f, -0.00043491300311870873f, -6.300935638137162e-05f, -5.3694916459789965e-06f, -2.5746399501258566e-07f, -6.6330221315524796e-09f, -8.521967853614143e-11f, 4.237012650454286e-12f, 6.457073591092932e-12f, -8.53605987977124e-12f, 1.273905113341467e-11f, -1.4879483279175987e-12f, 2.93694998876326e-11f, -7.526526602484596e-13f, 3.414032836816794e-13f, -9.545963845780658e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f, -3.982634534660523e-12f},
};

// AVX-512: 2^f for f = q - floor(q) in [0, 1), so that 2^q = V::scalef(pow2_frac(q), q).
template <class V>
inline V pow2_frac(V q) {
  const V f = V::frac_floor(q);
  V p = V::set1(0.0018775764619931579f);
  p = V::fmadd(p, f, V::set1(0.008989340625703335f));
  p = V::fmadd(p, f, V::set1(0.05582631751894951f));
  p = V::fmadd(p, f, V::set1(0.24015361070632935f));
  p = V::fmadd(p, f, V::set1(0.6931530833244324f));
  return V::fmadd(p, f, V::set1(0.9999999403953552f));
}

// 2^q for q <= 0 (or NaN), q = n + f, 2^f of degree 5 (relative error 7.5e-8 before rounding):
// - AVX-512: n = floor(q), f = q - n in [0, 1) exact (one vreduceps), and vscalefps, which takes
//   floor(q) itself: no separate rounding of q to an integer.
// - otherwise: n = round(q) (adding and removing 1.5 * 2^23), f = q - n in [-1/2, 1/2] exact, and
//   V::ldexp (no vscalefps: floor and ldexp would cost more than this rounding).
template <class V>
inline V pow2_split(V q) {
  if constexpr (V::kAvx512Math) {
    return V::scalef(pow2_frac(q), q);
  } else {
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
}

// 2^Q(a) for a >= 0 (within the table's range), Q piecewise from a 16-interval table (lut16).
template <class V>
inline V pow2_piecewise16(V a, const float (*tab)[16]) {
  const V m = a + V::set1(8388608.0f);  // 2^23 + round(a)
  const V u = a - (m - V::set1(8388608.0f));
  V q = V::lut16(m, tab[5]);
  q = V::fmadd(q, u, V::lut16(m, tab[4]));
  q = V::fmadd(q, u, V::lut16(m, tab[3]));
  q = V::fmadd(q, u, V::lut16(m, tab[2]));
  q = V::fmadd(q, u, V::lut16(m, tab[1]));
  q = V::fmadd(q, u, V::lut16(m, tab[0]));
  return pow2_split(q);
}

// Q(a) from a 32-interval table (lut32), a in [0, 16).
template <class V>
inline V log2_piecewise32(V a, const float (*tab)[32]) {
  const V m = a + V::set1(6291456.0f);  // 1.5 * 2^22 + round(2a) / 2
  const V u = V::frac_half(a);           // a - round(2a) / 2, the same rounding
  V q = V::lut32(m, tab[4]);
  q = V::fmadd(q, u, V::lut32(m, tab[3]));
  q = V::fmadd(q, u, V::lut32(m, tab[2]));
  q = V::fmadd(q, u, V::lut32(m, tab[1]));
  return V::fmadd(q, u, V::lut32(m, tab[0]));
}

// Phi(-a) for a in [0, 15] or NaN.
template <class V>
inline V normal_cdf_neg(V a) {
  if constexpr (V::kAvx512Math) return pow2_split(log2_piecewise32(a, kPhiLog2Tab32));
  else return pow2_piecewise16(a, kPhiLog2Tab);
}

// Phi(x), the standard normal CDF: 1 - Phi(-|x|) for x >= 0, Phi(-|x|) for x < 0 (NaN passes).
template <class V>
inline V v_normal_cdf(V x) {
  const V p = normal_cdf_neg(V::min(V::set1(15.0f), V::abs(x)));
  return V::select(V::ge(x, V::zero()), V::set1(1.0f) - p, p);
}

// Any lane of x (one vector or a Lanes group) below c. NaN lanes count as not below.
template <class V>
inline bool any_lt(V x, float c) { return V::any_lt(x, V::set1(c)); }
template <class T>
inline bool any_lt(Pair<T> x, float c) { return any_lt(T::min(x.a, x.b), c); }

// gelu(x) = x Phi(x) from p = Phi(-|x|) <= 1/2 (p or 1 - p, without cancellation, so the negative
// side keeps its relative accuracy): max(x, 0) - |x| p, which needs no blend (the AVX2 form;
// AVX-512 takes gelu_avx512). Phi's argument is capped (Phi(-15) = 2^-167.5 is 0 in float); the
// factor |x| is capped at 20 on the positive side only, so gelu(+inf) = +inf and
// gelu(-inf) = -inf * 0 is NaN, as in PyTorch.
template <class V>
inline V gelu_from_tail(V x, V p) {
  return V::fnmadd(V::abs(V::min(V::set1(20.0f), x)), p, V::max(V::zero(), x));
}

// AVX-512: gelu from Q = log2 p (p as above). Where no lane has p below the normal range
// (Q >= -126, i.e. |x| <= 12.9 for gelu, 10.4 for gelu(tanh)): x * (x < 0 ? p : 1 - p), the
// choice one masked subtraction. Otherwise the group takes a path that never computes a
// subnormal intermediate: on Intel cores each operation producing or reading one takes a
// microcode assist of ~40-60 ns (gelu(tanh) over x = -11: 60 -> ~5 ns per vector):
// - x >= 0: x (1 - p) with p = 2^max(Q, -100) (1 - p is 1 in float below that);
// - x < 0: |y| = z 2^floor(Q), z = a 2^f normal (a = |x| capped as Phi's argument, so that past
//   the cap |y| rounds to 0, as p does on the fast path); where |y| is below 2^-126, its
//   subnormal bit pattern is the integer round(|y| 2^149) (one vcvtps2dq of a normal number: the
//   same single rounding as the hardware's); then x's sign. gelu(-inf) = NaN as on the fast path.
template <class V>
inline V gelu_avx512(V x, V a, V q) {
  const V s = pow2_frac(q);  // 2^(Q - floor(Q)) in [1, 2)
  if (!any_lt(q, -126.0f)) {
    const V p = V::scalef(s, q);
    return x * V::select(V::ge(x, V::zero()), V::set1(1.0f) - p, p);
  }
  const V lo = V::set1(-100.0f);
  const V ypos = x * (V::set1(1.0f) - V::scalef(s, V::max(q, lo)));
  const V z = a * s;
  const V w = V::scalef(z, V::min(q, lo) + V::set1(149.0f));  // |y| 2^149 where Q < -100
  const auto tiny = V::mask_and(V::lt(q, lo), V::lt(w, V::set1(8388608.0f)));
  const V yneg = V::or_sign(V::select(tiny, V::round_bits(w), V::scalef(z, V::select(tiny, V::zero(), q))), x);
  const V yninf = V::select(V::eq(x, V::set1(-std::numeric_limits<float>::infinity())),
                            V::set1(std::numeric_limits<float>::quiet_NaN()), yneg);
  return V::select(V::ge(x, V::zero()), ypos, yninf);
}

template <class V>
inline V v_gelu(V x) {
  const V a = V::min(V::set1(15.0f), V::abs(x));
  if constexpr (V::kAvx512Math) return gelu_avx512(x, a, log2_piecewise32(a, kPhiLog2Tab32));
  else return gelu_from_tail(x, pow2_piecewise16(a, kPhiLog2Tab));
}

// gelu(tanh)(x) = x sigmoid(t(x)), t odd: the same with p = sigmoid(-t(|x|)).
template <class V>
inline V v_gelu_tanh(V x) {
  const V a = V::min(V::set1(11.0f), V::abs(x));
  if constexpr (V::kAvx512Math) return gelu_avx512(x, a, log2_piecewise32(a, kGeluTanhLog2Tab32));
  else return gelu_from_tail(x, pow2_piecewise16(a, kGeluTanhLog2Tab));
}

// ---- element-wise drivers ----
// From this many elements (16 MB of output) in one call, map1/map2 write with non-temporal
// stores: such an output (plus its input) cannot stay in the caches (1 MB L2 per core, 32 MB
// L3 here) for the next op anyway, and skipping the read-for-ownership of every output line
// cuts a third of the memory traffic (relu over 16M floats, 2 threads: 1.15 -> 0.96 ms). The
// activation driver hands each thread one contiguous chunk, so this is per thread.
constexpr fl::index_t kMapStreamMin = fl::index_t(1) << 22;
// Streamed inputs are prefetched this many floats (8 KB) ahead, one prefetch per 64-byte line:
// the hardware prefetchers stop at every 4 KB page and, with a compute-heavy loop, do not keep
// enough lines in flight (Xeon, 16M floats, 2 threads: gelu 1.13 -> 1.04x relu's time, gelu(tanh)
// 1.36 -> 1.25x; 2 KB and 32 KB gained less; relu itself unchanged, it is bandwidth-bound).
constexpr fl::index_t kMapPrefetch = 2048;

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
// With kStream, prefetches the lines of one group of W::width floats kMapPrefetch ahead of each
// input (past the end of an input a prefetch is a no-op: it never faults).
template <bool kStream, class W, class... In>
inline void prefetch_ahead(fl::index_t i, const In*... in) {
  if constexpr (kStream)
    for (int k = 0; k < W::width; k += 16) (__builtin_prefetch(in + i + kMapPrefetch + k, 0, 3), ...);
}

// y[i] = f(in[i]...) for i in [begin, n): K vectors in lock step when f accepts Lanes<V, K> for
// every input (a generic lambda), then single vectors, then one masked tail.
template <class V, int K, bool kStream, class F, class... In>
inline void map_range(float* y, fl::index_t i, fl::index_t n, const F& f, const In*... in) {
  if constexpr (K > 1 && std::is_invocable_v<const F&, std::conditional_t<true, Lanes<V, K>, In>...>) {
    using W = Lanes<V, K>;
    for (; i + W::width <= n; i += W::width) {
      prefetch_ahead<kStream, W>(i, in...);
      put<kStream>(y + i, f(W::load(in + i)...));
    }
  }
  for (; i + V::width <= n; i += V::width) {
    prefetch_ahead<kStream, V>(i, in...);
    put<kStream>(y + i, f(V::load(in + i)...));
  }
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
