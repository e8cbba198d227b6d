// AVX2+FMA pooling kernels: the ISA-generic templates of pool_impl.h on Vec8.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "ops/pool.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx2.cpp).
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"

// Offsets idx[l] - base of n <= 8 int64 pool indices as floats (lanes past n: -base), for
// max_bwd; offsets past +-2^30 (indices from anywhere: 2^40 must not wrap to 0 in int32) are
// clamped there, far outside any window of a plane below 2^24 floats (the caller's bound).
struct PoolIdx {
  static __m256i clamp(__m256i a) {
    const __m256i hi = _mm256_set1_epi64x(int64_t{1} << 30), lo = _mm256_set1_epi64x(-(int64_t{1} << 30));
    a = _mm256_blendv_epi8(a, hi, _mm256_cmpgt_epi64(a, hi));
    return _mm256_blendv_epi8(a, lo, _mm256_cmpgt_epi64(lo, a));
  }
  static Vec8 rel(const int64_t* idx, int64_t base, fl::index_t n) {
    const __m256i nn = _mm256_set1_epi64x(n), b = _mm256_set1_epi64x(base);
    const __m256i m0 = _mm256_cmpgt_epi64(nn, _mm256_setr_epi64x(0, 1, 2, 3));
    const __m256i m1 = _mm256_cmpgt_epi64(nn, _mm256_setr_epi64x(4, 5, 6, 7));
    const __m256i a0 = clamp(_mm256_sub_epi64(_mm256_maskload_epi64(reinterpret_cast<const long long*>(idx), m0), b));
    const __m256i a1 =
        clamp(_mm256_sub_epi64(_mm256_maskload_epi64(reinterpret_cast<const long long*>(idx + 4), m1), b));
    // low halves of the eight int64: per 128-bit lane a0[0] a0[1] a1[0] a1[1], then reorder
    const __m256 lo32 = _mm256_shuffle_ps(_mm256_castsi256_ps(a0), _mm256_castsi256_ps(a1), _MM_SHUFFLE(2, 0, 2, 0));
    const __m256i ordered = _mm256_permute4x64_epi64(_mm256_castps_si256(lo32), _MM_SHUFFLE(3, 1, 2, 0));
    return {_mm256_cvtepi32_ps(ordered)};
  }
};

#include "cpu/ukernels/pool_impl.h"
}  // namespace

namespace fl {
void register_pool_avx2(PoolKernels& t) { pool::register_all<Vec8, PoolIdx>(t); }
}  // namespace fl
