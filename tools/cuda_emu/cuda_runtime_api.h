// Host emulation of the CUDA subset fastlayers' kernels use, for checking them on a machine
// without a GPU (see run.py). Each CUDA thread of a block is an OS thread; __syncthreads is a
// block-wide barrier and warp shuffles exchange through per-warp slots between two warp-wide
// barriers. Blocks run one after another, so __shared__ arrays can be function statics.
// Stands in for <cuda_runtime_api.h>; it is only ever found first on the emulator's include path.
#pragma once
#define FL_CUDA_EMULATION 1
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <math.h>

// ---- language ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline dim3 blockDim, gridDim;

namespace emu {
inline std::barrier<>* block_barrier = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline std::vector<float> warp_slots;  // 32 floats per warp for shuffles, 32 * 10 for mma
inline thread_local int warp_id = 0, lane_id = 0;
inline void warp_sync() { warp_barriers[warp_id]->arrive_and_wait(); }
inline float* warp_slot(int lane, int reg) { return &warp_slots[(warp_id * 32 + lane) * 16 + reg]; }
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int off) {
  *emu::warp_slot(emu::lane_id, 0) = v;
  emu::warp_sync();
  const float r = *emu::warp_slot(emu::lane_id ^ off, 0);
  emu::warp_sync();
  return r;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void __trap() { std::abort(); }
using std::isnan;

// ---- runtime ----
using cudaStream_t = void*;
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor = 75 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "emu"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emu"; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 8; return cudaSuccess; }

// kernel<<<grid, block, smem, stream>>>(args...) is rewritten by run.py into this call.
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
  gridDim = grid;
  blockDim = block;
  const unsigned n = block.x;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::barrier<> bar(n);
      emu::block_barrier = &bar;
      emu::warp_barriers.clear();
      for (unsigned w = 0; w < (n + 31) / 32; ++w) emu::warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
      emu::warp_slots.assign(((n + 31) / 32) * 32 * 16, 0.0f);
      std::vector<std::thread> threads;
      for (unsigned t = 0; t < n; ++t)
        threads.emplace_back([&, t] {
          threadIdx.x = t;
          blockIdx.x = bx;
          blockIdx.y = by;
          emu::warp_id = t / 32;
          emu::lane_id = t % 32;
          kernel(P(args)...);
          emu::warp_barriers[t / 32]->arrive_and_drop();
          bar.arrive_and_drop();
        });
      for (auto& th : threads) th.join();
    }
}
