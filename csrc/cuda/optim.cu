// CUDA kernels of the optim family (launchers declared in optim.cuh): one grid-stride
// element-wise kernel per update rule, each element computed term by term in the order of the
// CPU reference (optim_ref.cpp), so results agree with the CPU up to CUDA's sqrt rounding
// (correctly rounded, as the host's) and FMA contraction (disabled below with __fmul_rn /
// __fadd_rn where the reference has separate multiply and add). Memory-bound: SGD moves 12-20
// bytes per element, Adam 28-36. Unverified on a GPU at the time of writing.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/optim.cuh"

namespace fl {
namespace cuda {
namespace {

// a * b + c rounded twice (no FMA contraction), as the host reference computes it.
__device__ __forceinline__ float mul_add(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }

__global__ void sgd_kernel(float* p, float* buf, const float* g, index_t n, SgdHyper h) {
  for (index_t i = global_index(); i < n; i += grid_stride()) {
    float d = h.weight_decay != 0.0f ? mul_add(h.weight_decay, p[i], g[i]) : g[i];
    if (buf) {
      const float b = h.first_step ? d : __fadd_rn(__fmul_rn(h.momentum, buf[i]), __fmul_rn(1.0f - h.dampening, d));
      buf[i] = b;
      d = h.nesterov ? mul_add(h.momentum, b, d) : b;
    }
    p[i] = __fsub_rn(p[i], __fmul_rn(h.lr, d));
  }
}

__global__ void adam_kernel(float* p, float* m, float* v, float* vmax, const float* g, index_t n, AdamHyper h) {
  for (index_t i = global_index(); i < n; i += grid_stride()) {
    float pi = p[i], gi = g[i];
    if (h.decoupled) pi = __fmul_rn(pi, h.decay_factor);
    else if (h.weight_decay != 0.0f) gi = mul_add(h.weight_decay, pi, gi);
    const float mi = mul_add(1.0f - h.beta1, __fsub_rn(gi, m[i]), m[i]);
    const float vi = __fadd_rn(__fmul_rn(h.beta2, v[i]), __fmul_rn(__fmul_rn(1.0f - h.beta2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    float vd = vi;
    if (vmax) vd = vmax[i] = vmax[i] < vi ? vi : vmax[i];  // std::max's NaN behaviour
    const float denom = __fadd_rn(__fdiv_rn(sqrtf(vd), h.bc2_sqrt), h.eps);
    p[i] = __fsub_rn(pi, __fmul_rn(h.step_size, __fdiv_rn(mi, denom)));
  }
}

}  // namespace
}  // namespace cuda

void sgd_update_cuda(float* p, float* buf, const float* g, index_t n, const SgdHyper& h, cudaStream_t stream) {
  using namespace cuda;
  if (n <= 0) return;
  sgd_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, buf, g, n, h);
  check_launch("sgd_kernel");
}

void adam_update_cuda(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const AdamHyper& h,
                      cudaStream_t stream) {
  using namespace cuda;
  if (n <= 0) return;
  adam_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, m, v, vmax, g, n, h);
  check_launch("adam_kernel");
}

}  // namespace fl
