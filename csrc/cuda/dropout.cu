// CUDA kernel of the dropout family (launchers in dropout.cuh). Unverified on a GPU at the time
// of writing; tools/cuda_emu checks it bit for bit against the CPU reference kernel.
//
// Grid-stride over 64-bit element indices, float4 loads and stores when both pointers are
// 16-byte aligned (4 consecutive elements per thread step), scalar otherwise and for the tail.
// Each element's mask is bits(keys(seed, hi), lo) of ops/dropout_hash.h, the CPU's hash; a
// thread keeps the keys of the 2^32-element chunk it is in and recomputes them only when its
// index crosses into the next chunk (tensors past 2^32 elements). Memory-bound: 8 bytes per
// element; the hash is 10 integer operations.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/dropout.cuh"

namespace {
#include "ops/dropout_hash.h"
}  // namespace

namespace fl {
namespace cuda {
namespace {

// The mask factors of a thread: scale for kept elements, 0 for dropped ones (a multiply, as
// the CPU and PyTorch: NaN * 0 stays NaN).
struct Mask {
  DropoutParams p;
  std::uint32_t hi = 0;
  dropout_hash::Keys k;
  __device__ explicit Mask(const DropoutParams& params) : p(params), k(dropout_hash::keys(params.seed, 0)) {}
  __device__ float operator()(index_t g) {
    const std::uint32_t h = static_cast<std::uint32_t>(static_cast<std::uint64_t>(g) >> 32);
    if (h != hi) {
      hi = h;
      k = dropout_hash::keys(p.seed, h);
    }
    return dropout_hash::bits(k, static_cast<std::uint32_t>(g)) >= p.threshold ? p.scale : 0.0f;
  }
};

// y[j] = x[j] * mask(begin + j) for j < n.
__global__ void dropout_apply_kernel(float* y, const float* x, index_t begin, index_t n, DropoutParams p) {
  const index_t start = global_index(), stride = grid_stride();
  Mask mask(p);
  index_t done = 0;
  if (aligned16(y) && aligned16(x)) {
    const index_t n4 = n / 4;
    for (index_t i = start; i < n4; i += stride) {
      const index_t g = begin + 4 * i;
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      float4 r;
      r.x = v.x * mask(g);
      r.y = v.y * mask(g + 1);
      r.z = v.z * mask(g + 2);
      r.w = v.w * mask(g + 3);
      reinterpret_cast<float4*>(y)[i] = r;
    }
    done = n4 * 4;
  }
  for (index_t j = done + start; j < n; j += stride) y[j] = x[j] * mask(begin + j);
}

}  // namespace
}  // namespace cuda

void dropout_apply_range_cuda(float* y, const float* x, index_t begin, index_t n, const DropoutParams& p,
                              cudaStream_t stream) {
  using namespace cuda;
  if (n <= 0) return;
  dropout_apply_kernel<<<grid_for((n + 3) / 4), kBlock, 0, stream>>>(y, x, begin, n, p);
  check_launch("dropout_apply_kernel");
}

void dropout_apply_cuda(float* y, const float* x, index_t n, const DropoutParams& p, cudaStream_t stream) {
  dropout_apply_range_cuda(y, x, 0, n, p, stream);
}

}  // namespace fl
