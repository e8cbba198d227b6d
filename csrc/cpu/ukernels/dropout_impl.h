// The dropout apply loop, in plain C++ that compilers vectorise (32-bit
// integer multiplies, shifts, a compare and a blend per element). Included inside an
// anonymous namespace by the reference file and by each ISA file, which compiles it with
// that ISA's flags (8 or 16 lanes); the ISA copies never merge at link time.
//
// The hash itself (bits, keys) is the contract shared with the CUDA kernel: ops/dropout_hash.h.
#pragma once
#include <cstdint>

#include "ops/dropout.h"
#include "ops/dropout_hash.h"

namespace dropout {
using fl::index_t;

using dropout_hash::bits;
using dropout_hash::keys;
using dropout_hash::Keys;

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
      const std::uint32_t b = bits(k, lo0 + static_cast<std::uint32_t>(t));
      yj[t] = xj[t] * (b >= thr ? scale : 0.0f);  // a multiply, as PyTorch: NaN * 0 stays NaN
    }
    j += len;
  }
}

}  // namespace dropout
