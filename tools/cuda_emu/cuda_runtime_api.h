// Host emulation of the CUDA subset fastlayers' kernels use, for checking them on a machine
// without a GPU (see run.py). Each CUDA thread of a block is a fiber; __syncthreads is a
// block-wide barrier and warp shuffles exchange through per-warp slots between two warp-wide
// barriers. Blocks run one after another, so __shared__ arrays can be function statics.
// Stands in for <cuda_runtime_api.h>; it is only ever found first on the emulator's include path.
#pragma once
#define FL_CUDA_EMULATION 1
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <math.h>
#include <ucontext.h>

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

// One CUDA thread = one fiber (ucontext) of the single OS thread: a fiber runs until it waits
// at a barrier or finishes, then the scheduler releases a warp whose live lanes all wait at a
// warp barrier, or the block once every live thread waits at __syncthreads.
inline uint3 threadIdx;  // of the running fiber: the scheduler sets them before each switch
inline uint3 blockIdx;
inline dim3 blockDim, gridDim;

namespace emu {
enum class State { run, block_wait, warp_wait, done };
struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  State state = State::run;
};
inline std::vector<Fiber> fibers;
inline ucontext_t scheduler;
inline unsigned current = 0;
inline std::function<void()> body;
inline std::vector<float> warp_slots;  // 16 floats per lane, for shuffles and mma fragments

inline int lane() { return static_cast<int>(threadIdx.x % 32); }
inline float* warp_slot(int lane_index, int reg) {
  return &warp_slots[((threadIdx.x / 32) * 32 + lane_index) * 16 + reg];
}
inline void wait(State s) {
  fibers[current].state = s;
  swapcontext(&fibers[current].ctx, &scheduler);
}
inline void warp_sync() { wait(State::warp_wait); }
inline void fiber_main() {
  body();
  fibers[current].state = State::done;
  swapcontext(&fibers[current].ctx, &scheduler);
}

// Runs body() as blockDim.x fibers of block blockIdx until all finish.
inline void run_block(unsigned n) {
  if (fibers.size() < n) fibers.resize(n);
  warp_slots.assign(((n + 31) / 32) * 32 * 16, 0.0f);
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = fibers[t];
    f.stack.resize(256 * 1024);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
    f.state = State::run;
  }
  for (;;) {
    for (unsigned t = 0; t < n; ++t)
      if (fibers[t].state == State::run) {
        current = t;
        threadIdx.x = t;
        swapcontext(&scheduler, &fibers[t].ctx);
      }
    bool all_done = true, block_ready = true, released = false;
    for (unsigned t = 0; t < n; ++t) {
      all_done &= fibers[t].state == State::done;
      block_ready &= fibers[t].state == State::done || fibers[t].state == State::block_wait;
    }
    if (all_done) return;
    if (block_ready) {
      for (unsigned t = 0; t < n; ++t)
        if (fibers[t].state == State::block_wait) fibers[t].state = State::run;
      released = true;
    }
    for (unsigned w = 0; w * 32 < n; ++w) {
      bool warp_ready = true, any = false;
      for (unsigned t = w * 32; t < n && t < w * 32 + 32; ++t) {
        warp_ready &= fibers[t].state == State::done || fibers[t].state == State::warp_wait;
        any |= fibers[t].state == State::warp_wait;
      }
      if (warp_ready && any) {
        for (unsigned t = w * 32; t < n && t < w * 32 + 32; ++t)
          if (fibers[t].state == State::warp_wait) fibers[t].state = State::run;
        released = true;
      }
    }
    if (!released) {
      std::fprintf(stderr, "emulation: deadlock (threads wait at different barriers)\n");
      std::abort();
    }
  }
}
}  // namespace emu

inline void __syncthreads() { emu::wait(emu::State::block_wait); }
inline float __shfl_xor_sync(unsigned, float v, int off) {
  *emu::warp_slot(emu::lane(), 0) = v;
  emu::warp_sync();
  const float r = *emu::warp_slot(emu::lane() ^ off, 0);
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
// Fibers of one OS thread never interleave inside a call: a plain read-modify-write is atomic.
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = old + v;
  return old;
}
// Correctly rounded single operations (no FMA contraction): what the host computes anyway.
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
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

// Device memory is host memory; `capacity` lets a test make cudaMalloc run out.
namespace emu {
inline std::size_t capacity = ~std::size_t(0), used = 0;
inline std::map<void*, std::size_t> allocations;
}  // namespace emu
inline cudaError_t cudaMalloc(void** p, std::size_t n) {
  if (emu::used + n > emu::capacity) return cudaErrorMemoryAllocation;
  *p = std::malloc(n);
  emu::allocations[*p] = n;
  emu::used += n;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  emu::used -= emu::allocations[p];
  emu::allocations.erase(p);
  std::free(p);
  return cudaSuccess;
}

// Copies and fills run at once (the emulated stream is synchronous).
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                      cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
inline cudaError_t cudaMemsetAsync(void* p, int value, std::size_t n, cudaStream_t = nullptr) {
  std::memset(p, value, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t n, cudaMemcpyKind, cudaStream_t = nullptr) {
  std::memmove(dst, src, n);
  return cudaSuccess;
}

// kernel<<<grid, block, smem, stream>>>(args...) is rewritten by run.py into this call.
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
  gridDim = grid;
  blockDim = block;
  emu::body = [&] { kernel(P(args)...); };
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx.x = bx;
        blockIdx.y = by;
        blockIdx.z = bz;
        emu::run_block(block.x);
      }
}
