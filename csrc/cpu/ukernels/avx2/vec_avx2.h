// Vec8: the AVX2+FMA vector the ISA-generic templates (ukernels/*_impl.h) are written against.
// Included only from files under ukernels/avx2/, inside their anonymous namespace.
// Semantics of min/max follow x86: max(a, b) = a > b ? a : b, so NaN in b passes through.
#pragma once
#include <immintrin.h>

#include "core/tensor.h"

struct Vec8 {
  using M = __m256;  // lane mask: all ones or all zeros per lane
  static constexpr int width = 8;
  // Independent vectors that element-wise kernels evaluate in lock step (vmath_impl.h, Lanes).
  // 4 measured faster than 2 despite the 16 registers (tanh 22 -> 19.5 cycles per 16 floats).
  static constexpr int ilp = 4;
  __m256 v;

  static Vec8 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static void store(float* p, Vec8 a) { _mm256_storeu_ps(p, a.v); }
  static __m256i tail_mask(fl::index_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
  }
  // n in [0, width): lanes past n read as 0 and are not written.
  static Vec8 load_n(const float* p, fl::index_t n) { return {_mm256_maskload_ps(p, tail_mask(n))}; }
  static Vec8 load_fill(const float* p, fl::index_t n, float fill) {
    const __m256i m = tail_mask(n);
    return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))};
  }
  static void store_n(float* p, Vec8 a, fl::index_t n) { _mm256_maskstore_ps(p, tail_mask(n), a.v); }
  // Non-temporal store to a 32-byte aligned p (see Vec16::stream).
  static void stream(float* p, Vec8 a) { _mm256_stream_ps(p, a.v); }
  static void stream_fence() { _mm_sfence(); }
  static Vec8 set1(float f) { return {_mm256_set1_ps(f)}; }
  static Vec8 zero() { return {_mm256_setzero_ps()}; }

  friend Vec8 operator+(Vec8 a, Vec8 b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec8 operator-(Vec8 a, Vec8 b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec8 operator*(Vec8 a, Vec8 b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend Vec8 operator/(Vec8 a, Vec8 b) { return {_mm256_div_ps(a.v, b.v)}; }
  static Vec8 fmadd(Vec8 a, Vec8 b, Vec8 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static Vec8 fnmadd(Vec8 a, Vec8 b, Vec8 c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
  static Vec8 max(Vec8 a, Vec8 b) { return {_mm256_max_ps(a.v, b.v)}; }
  static Vec8 min(Vec8 a, Vec8 b) { return {_mm256_min_ps(a.v, b.v)}; }
  static Vec8 abs(Vec8 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
  static Vec8 copysign(Vec8 mag, Vec8 sgn) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return {_mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sgn.v))};
  }
  static Vec8 round(Vec8 a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  static Vec8 floor(Vec8 a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }
  // 2^n for integer-valued n in [-126, 127].
  static Vec8 pow2(Vec8 n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
  }

  // p * 2^n for integer-valued n in [-150, 128]: two exact power-of-two factors, so that the
  // product overflows to inf or rounds into the subnormals exactly once.
  static Vec8 ldexp(Vec8 p, Vec8 n) {
    const Vec8 n1 = floor(n * set1(0.5f));
    return (p * pow2(n1)) * pow2(n - n1);
  }

  // Table lookup: t[k & 15] per lane, k the 32-bit pattern of the lane of idx; t: 16 floats.
  // Two vpermps (entries 0-7 and 8-15) and a blend on bit 3 of k.
  static Vec8 lut16(Vec8 idx, const float* t) {
    const __m256i k = _mm256_castps_si256(idx.v);
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t), k);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t + 8), k);
    return {_mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(k, 28)))};
  }
  // vmath_impl.h's formulations for this Vec: 16-entry lookups (32 would take four vpermps
  // and three blends), integer rounding by 1.5 * 2^23, no blends where an FMA form exists.
  static constexpr bool kAvx512Math = false;

  static M gt(Vec8 a, Vec8 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
  static M ge(Vec8 a, Vec8 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ); }
  static M le(Vec8 a, Vec8 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
  static M eq(Vec8 a, Vec8 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ); }
  static M isnan(Vec8 a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return _mm256_or_ps(a, b); }
  static M mask_andnot(M a, M b) { return _mm256_andnot_ps(a, b); }  // (!a) & b
  static Vec8 select(M m, Vec8 a, Vec8 b) { return {_mm256_blendv_ps(b.v, a.v, m)}; }  // m ? a : b

  // (0, 1, ..., 7) as floats.
  static Vec8 lane_index() { return {_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7)}; }
  // Lanes 0, 2, 4, ... of the 16-float concatenation [a, b] (stride-2 deinterleave).
  static Vec8 even(Vec8 a, Vec8 b) {
    const __m256 t = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)))};
  }

  // Interleaves a and b: lo = a0 b0 a1 b1 a2 b2 a3 b3, hi = a4 b4 ... a7 b7 (inverse of even/odd).
  static void zip(Vec8 a, Vec8 b, Vec8& lo, Vec8& hi) {
    const __m256 l = _mm256_unpacklo_ps(a.v, b.v), h = _mm256_unpackhi_ps(a.v, b.v);  // a0 b0 a1 b1 | a4 b4 a5 b5
    lo.v = _mm256_permute2f128_ps(l, h, 0x20);
    hi.v = _mm256_permute2f128_ps(l, h, 0x31);
  }

  static float hsum(Vec8 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(Vec8 a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
