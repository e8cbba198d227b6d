// The dropout mask hash and apply loop, in plain C++ that compilers vectorise (32-bit
// integer multiplies, shifts, a compare and a blend per element). Included inside an
// anonymous namespace by the reference file and by each ISA file, which compiles it with
// that ISA's flags (8 or 16 lanes); the ISA copies never merge at link time.
//
// bits(seed, i) = mix(mix(lo(i) ^ k1) + k2), with keys k1, k2 from the seed and hi(i);
// mix is the "lowbias32" integer finaliser (xor-shift / multiply, bijective on 32 bits).
// tests/reference.py re-implements it in NumPy as the oracle.
#pragma once
#include <cstdint>

#include "ops/dropout.h"

namespace dropout {
using fl::index_t;

inline std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Keys {
  std::uint32_t k1, k2;
};

// Keys for the 2^32-element chunk `hi` of the index space.
inline Keys keys(std::uint64_t seed, std::uint32_t hi) {
  const std::uint32_t s_lo = static_cast<std::uint32_t>(seed), s_hi = static_cast<std::uint32_t>(seed >> 32);
  const std::uint32_t k1 = mix32(s_lo ^ mix32(s_hi ^ mix32(hi + 0x9e3779b9U)));
  return {k1, mix32(k1 ^ 0x85ebca6bU)};
}

// y[j] = x[j] * (scale if element begin + j is kept, else 0), for j < n. The index space is
// walked in runs that do not cross a 2^32 boundary, so the inner loop is pure 32-bit.
inline void apply(float* y, const float* x, index_t begin, index_t n, const fl::DropoutParams& p) {
  index_t j = 0;
  while (j < n) {
    const std::uint64_t g = static_cast<std::uint64_t>(begin + j);
    const std::uint64_t run_end = ((g >> 32) + 1) << 32;
    const index_t len = static_cast<index_t>(std::min<std::uint64_t>(run_end - g, static_cast<std::uint64_t>(n - j)));
    const Keys k = keys(p.seed, static_cast<std::uint32_t>(g >> 32));
    const std::uint32_t lo0 = static_cast<std::uint32_t>(g), thr = p.threshold;
    const float scale = p.scale;
    float* yj = y + j;
    const float* xj = x + j;
    for (index_t t = 0; t < len; ++t) {
      const std::uint32_t bits = mix32(mix32((lo0 + static_cast<std::uint32_t>(t)) ^ k.k1) + k.k2);
      yj[t] = xj[t] * (bits >= thr ? scale : 0.0f);  // a multiply, as PyTorch: NaN * 0 stays NaN
    }
    j += len;
  }
}

}  // namespace dropout
