// The two tensor-core instructions of the TF32 SGEMM path, isolated so that the kernels can be
// checked on a machine without a GPU (a host emulation supplies its own versions of these two
// functions; see tools/cuda_emu/).
#pragma once

namespace fl {
namespace cuda {

// v rounded to TF32 (10-bit mantissa; round to nearest, ties away from zero), as float bits.
__device__ __forceinline__ float to_tf32(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return __uint_as_float(r);
#else
  return v;  // below sm_80 the TF32 kernel is never launched
#endif
}

// d += A (16x8, row-major) * B (8x8, column-major): one warp-wide mma.sync.m16n8k8 in TF32 with
// FP32 accumulation. Fragment layout (PTX ISA, m16n8k8 .tf32), g = lane / 4, t = lane % 4:
//   a0 (row g, col t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
//   b0 (k=t, n=g), b1 (k=t+4, n=g);
//   d0 (row g, col 2t), d1 (g, 2t+1), d2 (g+8, 2t), d3 (g+8, 2t+1).
__device__ __forceinline__ void mma_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
        "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
#elif defined(__CUDA_ARCH__)
  __trap();  // the launcher refuses devices below sm_80
#endif
}

}  // namespace cuda
}  // namespace fl
