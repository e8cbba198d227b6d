// Shared CUDA helpers: error checking (CUDA errors -> std::runtime_error with the CUDA error
// text, which pybind11 turns into RuntimeError), a device guard, and grid-stride launch sizes.
//
// The host-side part is plain C++ so that the bindings (compiled by the host compiler) can
// include it; the device-side helpers are compiled only by nvcc (__CUDACC__) or by the host
// emulation that checks the kernels without a GPU (tools/cuda_emu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/check.h"
#include "core/tensor.h"

namespace fl {
namespace cuda {

// Throws std::runtime_error("<what>: <CUDA error name>: <text>") when err is not cudaSuccess.
// The sticky-free error state is cleared so that one failed call does not poison the next.
inline void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
  throw std::runtime_error(str_cat(what, ": ", cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
}

// Call after a kernel launch: reports a bad launch configuration or an earlier async error.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Makes `device` current for the guard's lifetime and restores the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&prev_), "cudaGetDevice");
    if (prev_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int cur = prev_;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != prev_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

// Element-wise kernels use grid-stride loops over 64-bit indices: a grid of at most
// kMaxBlocks blocks covers any n (each thread then handles several elements).
constexpr int kBlock = 256;
constexpr index_t kMaxBlocks = 65535;
inline unsigned grid_for(index_t work, int block = kBlock) {
  const index_t blocks = (work + block - 1) / block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

#if defined(__CUDACC__) || defined(FL_CUDA_EMULATION)  // emulation: tools/cuda_emu
// First global index of this thread and the grid-wide stride, both 64-bit.
__device__ __forceinline__ index_t global_index() {
  return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ index_t grid_stride() { return static_cast<index_t>(gridDim.x) * blockDim.x; }

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

// Reduces v over each aligned group of G threads of a 1-D block of kThreads threads (G a power
// of two dividing kThreads; G = kThreads: the whole block) through a fixed tree in smem
// (kThreads values): the same order on every run and every GPU; every thread gets its group's
// result. Every thread of the block must call it (smem may be reused right after).
template <int G, int kThreads, class T, class Op>
__device__ T tree_reduce(T v, T* smem, Op op) {
  const int lane = static_cast<int>(threadIdx.x) % G;
  __syncthreads();  // smem may still be read by a previous call
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int half = G / 2; half > 0; half /= 2) {
    if (lane < half) smem[threadIdx.x] = op(smem[threadIdx.x], smem[threadIdx.x + half]);
    __syncthreads();
  }
  return smem[threadIdx.x - lane];
}
template <int kThreads, class T, class Op>
__device__ T block_reduce(T v, T* smem, Op op) {
  return tree_reduce<kThreads, kThreads>(v, smem, op);
}

// Block-wide inclusive prefix sum of v over the kThreads threads (thread t gets v_0 + ... + v_t),
// and the block's total in *total; smem holds kThreads values. Every thread must call it.
template <int kThreads, class T>
__device__ T block_inclusive_scan(T v, T* smem, T* total) {
  __syncthreads();
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int off = 1; off < kThreads; off *= 2) {
    const T add = static_cast<int>(threadIdx.x) >= off ? smem[threadIdx.x - off] : T(0);
    __syncthreads();
    smem[threadIdx.x] += add;
    __syncthreads();
  }
  *total = smem[kThreads - 1];
  return smem[threadIdx.x];
}
#endif

}  // namespace cuda
}  // namespace fl
