// Vec16: the AVX-512 vector the ISA-generic templates (ukernels/*_impl.h) are written against.
// Included only from files under ukernels/avx512/, inside their anonymous namespace.
// Same semantics as Vec8 (avx2/vec_avx2.h); lane masks are __mmask16.
#pragma once
#include <immintrin.h>

#include "core/tensor.h"

struct Vec16 {
  using M = __mmask16;
  static constexpr int width = 16;
  // Independent vectors that element-wise kernels evaluate in lock step (vmath_impl.h, Lanes):
  // long dependency chains (exp, erfc) otherwise fill the scheduler. 4 measured best here.
  static constexpr int ilp = 4;
  __m512 v;

  static Vec16 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static void store(float* p, Vec16 a) { _mm512_storeu_ps(p, a.v); }
  static __mmask16 tail_mask(fl::index_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Vec16 load_n(const float* p, fl::index_t n) { return {_mm512_maskz_loadu_ps(tail_mask(n), p)}; }
  static Vec16 load_fill(const float* p, fl::index_t n, float fill) {
    return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p)};
  }
  static void store_n(float* p, Vec16 a, fl::index_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), a.v); }
  // Non-temporal store to a 64-byte aligned p (no read-for-ownership, bypasses the caches);
  // call stream_fence() before the written memory is handed to another thread.
  static void stream(float* p, Vec16 a) { _mm512_stream_ps(p, a.v); }
  static void stream_fence() { _mm_sfence(); }
  static Vec16 set1(float f) { return {_mm512_set1_ps(f)}; }
  static Vec16 zero() { return {_mm512_setzero_ps()}; }

  friend Vec16 operator+(Vec16 a, Vec16 b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend Vec16 operator-(Vec16 a, Vec16 b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend Vec16 operator*(Vec16 a, Vec16 b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend Vec16 operator/(Vec16 a, Vec16 b) { return {_mm512_div_ps(a.v, b.v)}; }
  static Vec16 fmadd(Vec16 a, Vec16 b, Vec16 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static Vec16 fnmadd(Vec16 a, Vec16 b, Vec16 c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
  static Vec16 max(Vec16 a, Vec16 b) { return {_mm512_max_ps(a.v, b.v)}; }
  static Vec16 min(Vec16 a, Vec16 b) { return {_mm512_min_ps(a.v, b.v)}; }
  static Vec16 abs(Vec16 a) { return {_mm512_abs_ps(a.v)}; }
  static Vec16 copysign(Vec16 mag, Vec16 sgn) {
    const __m512i s = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    // (s & sgn) | (~s & mag)
    return {_mm512_castsi512_ps(_mm512_ternarylogic_epi32(s, _mm512_castps_si512(sgn.v),
                                                           _mm512_castps_si512(mag.v), 0xCA))};
  }
  static Vec16 round(Vec16 a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  static Vec16 floor(Vec16 a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }
  // 2^n for integer-valued n in [-126, 127] (one vscalefps).
  static Vec16 pow2(Vec16 n) { return {_mm512_scalef_ps(_mm512_set1_ps(1.0f), n.v)}; }

  // p * 2^n for integer-valued n, overflow and subnormal rounding done by the hardware (vscalefps).
  static Vec16 ldexp(Vec16 p, Vec16 n) { return {_mm512_scalef_ps(p.v, n.v)}; }

  // Table lookup: t[k & 15] per lane, where k is the 32-bit pattern of the lane of idx (e.g. the
  // float 2^23 + k, whose low mantissa bits are k). t: 16 floats. One vpermps (a shuffle, no FMA).
  static Vec16 lut16(Vec16 idx, const float* t) {
    return {_mm512_permutexvar_ps(_mm512_castps_si512(idx.v), _mm512_loadu_ps(t))};
  }
  // vmath_impl.h takes its AVX-512 formulations on this Vec (32-entry lookups, vreduceps
  // fractions, vscalefps, masked operations in place of blends).
  static constexpr bool kAvx512Math = true;
  // t[k & 31] per lane (t: 32 floats): one vpermt2ps.
  static Vec16 lut32(Vec16 idx, const float* t) {
    return {_mm512_permutex2var_ps(_mm512_loadu_ps(t), _mm512_castps_si512(idx.v), _mm512_loadu_ps(t + 16))};
  }
  // x - floor(x) and x - round(2x) / 2 (nearest even), exact (one vreduceps each; NaN passes).
  static Vec16 frac_floor(Vec16 a) { return {_mm512_reduce_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }
  static Vec16 frac_half(Vec16 a) { return {_mm512_reduce_ps(a.v, (1 << 4) | _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  // p * 2^floor(q) (vscalefps; overflow and subnormal rounding by the hardware).
  static Vec16 scalef(Vec16 p, Vec16 q) { return {_mm512_scalef_ps(p.v, q.v)}; }
  // The float whose bit pattern is the integer nearest to a (vcvtps2dq), for a in [0, 2^31):
  // round(|y| 2^149) for |y| < 2^-126 is y's subnormal encoding.
  static Vec16 round_bits(Vec16 a) { return {_mm512_castsi512_ps(_mm512_cvtps_epi32(a.v))}; }
  // a with the sign bit of s or-ed in.
  static Vec16 or_sign(Vec16 a, Vec16 s) {
    return {_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a.v),
                                                _mm512_and_si512(_mm512_castps_si512(s.v), _mm512_set1_epi32(static_cast<int>(0x80000000u)))))};
  }
  // Any lane of a below b (one compare into a mask register and a test).
  static bool any_lt(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ) != 0; }

  static M gt(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
  static M ge(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ); }
  static M le(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
  static M lt(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
  static M mask_and(M a, M b) { return static_cast<M>(a & b); }
  static M eq(Vec16 a, Vec16 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ); }
  static M isnan(Vec16 a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return static_cast<M>(a | b); }
  static M mask_andnot(M a, M b) { return static_cast<M>(~a & b); }
  static Vec16 select(M m, Vec16 a, Vec16 b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }

  // (0, 1, ..., 15) as floats.
  static Vec16 lane_index() { return {_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)}; }
  // Lanes 0, 2, 4, ... of the 32-float concatenation [a, b] (stride-2 deinterleave).
  static Vec16 even(Vec16 a, Vec16 b) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return {_mm512_permutex2var_ps(a.v, idx, b.v)};
  }

  // Interleaves a and b: lo = a0 b0 ... a7 b7, hi = a8 b8 ... a15 b15 (inverse of even/odd).
  static void zip(Vec16 a, Vec16 b, Vec16& lo, Vec16& hi) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    lo.v = _mm512_permutex2var_ps(a.v, il, b.v);
    hi.v = _mm512_permutex2var_ps(a.v, ih, b.v);
  }

  static float hsum(Vec16 a) { return _mm512_reduce_add_ps(a.v); }
  static float hmax(Vec16 a) { return _mm512_reduce_max_ps(a.v); }
};
