// The dropout mask's hash, part of the family's contract (ops/dropout.h): element i of a
// tensor is kept iff bits(keys(seed, hi(i)), lo(i)) >= threshold. One definition for both
// backends -- the CPU kernels (cpu/ukernels/dropout_impl.h) and the CUDA kernel
// (cuda/dropout.cu) -- so a CPU and a GPU run draw the identical mask; tests/reference.py
// re-implements it in NumPy as the oracle.
//
// bits = mix(mix(lo ^ k1) + k2), with keys k1, k2 from the seed and the index's high word;
// mix is the "lowbias32" integer finaliser (xor-shift / multiply, bijective on 32 bits).
// Include only inside an anonymous namespace (as the ukernels' *_impl.h): each ISA file's copy
// then stays its own and no two ISAs' code is merged at link time. Under nvcc the functions
// are host and device functions.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define FL_DROPOUT_HASH_FN __host__ __device__ __forceinline__
#else
#define FL_DROPOUT_HASH_FN inline
#endif

namespace dropout_hash {

FL_DROPOUT_HASH_FN std::uint32_t mix32(std::uint32_t x) {
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
FL_DROPOUT_HASH_FN Keys keys(std::uint64_t seed, std::uint32_t hi) {
  const std::uint32_t s_lo = static_cast<std::uint32_t>(seed), s_hi = static_cast<std::uint32_t>(seed >> 32);
  const std::uint32_t k1 = mix32(s_lo ^ mix32(s_hi ^ mix32(hi + 0x9e3779b9U)));
  return {k1, mix32(k1 ^ 0x85ebca6bU)};
}

// The 32 random bits of the element whose index has low word `lo`, in the chunk of `k`.
FL_DROPOUT_HASH_FN std::uint32_t bits(const Keys& k, std::uint32_t lo) { return mix32(mix32(lo ^ k.k1) + k.k2); }

}  // namespace dropout_hash
