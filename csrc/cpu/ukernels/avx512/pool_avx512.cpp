// AVX-512 pooling kernels: the ISA-generic templates of pool_impl.h on Vec16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "ops/pool.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx512.cpp).
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"

// Offsets idx[l] - base of n <= 16 int64 pool indices as floats (lanes past n: -base), for
// max_bwd; offsets past +-2^30 (indices from anywhere: 2^40 must not wrap to 0 in int32) are
// clamped there, far outside any window of a plane below 2^24 floats (the caller's bound).
struct PoolIdx {
  static __m512i clamp(__m512i a) {
    return _mm512_max_epi64(_mm512_min_epi64(a, _mm512_set1_epi64(int64_t{1} << 30)),
                            _mm512_set1_epi64(-(int64_t{1} << 30)));
  }
  static Vec16 rel(const int64_t* idx, int64_t base, fl::index_t n) {
    const __mmask8 m0 = static_cast<__mmask8>(n >= 8 ? 0xFF : (1u << n) - 1u);
    const __mmask8 m1 = static_cast<__mmask8>(n >= 16 ? 0xFF : n > 8 ? (1u << (n - 8)) - 1u : 0u);
    const __m512i b = _mm512_set1_epi64(base);
    const __m256i lo = _mm512_cvtepi64_epi32(clamp(_mm512_sub_epi64(_mm512_maskz_loadu_epi64(m0, idx), b)));
    const __m256i hi = _mm512_cvtepi64_epi32(clamp(_mm512_sub_epi64(_mm512_maskz_loadu_epi64(m1, idx + 8), b)));
    return {_mm512_cvtepi32_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1))};
  }
};

#include "cpu/ukernels/pool_impl.h"
}  // namespace

namespace fl {
void register_pool_avx512(PoolKernels& t) { pool::register_all<Vec16, PoolIdx>(t); }
}  // namespace fl
