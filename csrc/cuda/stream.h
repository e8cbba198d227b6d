// cudaStream_t for the launcher declarations in cuda/<family>.cuh. With the CUDA runtime's
// header at hand (CUDA builds, nvcc, the host emulator in tools/cuda_emu) it is the real type;
// without it a forward declaration, so that the family bindings can name the launchers in
// every build (a build without CUDA kernels never instantiates the calls: bindings/backend.h).
#pragma once
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#else
struct CUstream_st;
using cudaStream_t = CUstream_st*;
#endif
