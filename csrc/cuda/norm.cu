// CUDA kernels of the norm family (launchers in norm.cuh). Unverified on a GPU at the time of
// writing; tools/cuda_emu checks them against a double-precision oracle of the CPU driver.
//
// Batch norm: one thread block per channel (grid = C, kThreads threads): the block walks the
// channel's N * L elements, accumulates in double per thread, reduces through shared memory (a
// fixed tree, so results are deterministic), computes the per-channel scalars in double
// exactly as the CPU driver (cpu/norm.cpp) does, and applies the affine map in the same pass.
// Channels with few elements leave most of the GPU idle, but batch norm is memory-bound and
// cheap next to the convolutions around it; correctness first.
// Group norm: the same with one block per group of one sample (grid = N G), whose C / G * L
// floats are contiguous; the parameters' gradients take a second kernel, a block per channel
// summing over the samples.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/norm.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// Sum of v over the block; every thread gets it. smem: kThreads doubles.
__device__ double block_sum(double v, double* smem) {
  __syncthreads();  // smem may still be read by a previous call
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) smem[threadIdx.x] += smem[threadIdx.x + half];
    __syncthreads();
  }
  return smem[0];
}

// Offset of the i-th element (i < N L) of channel c.
__device__ __forceinline__ index_t chan_off(index_t i, index_t c, const ChannelShape& s) {
  return ((i / s.L) * s.C + c) * s.L + i % s.L;
}

// y may be null (statistics only). training: batch statistics (and running update when the
// running arrays are given); otherwise the running statistics.
__global__ void __launch_bounds__(kThreads)
    bn_forward_kernel(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                      const float* x, const float* weight, const float* bias, ChannelShape s, bool training,
                      float momentum, float eps) {
  __shared__ double smem[kThreads];
  __shared__ float coef[3];  // mean, scale, shift
  const index_t c = blockIdx.x, M = s.N * s.L;
  if (training) {
    double a = 0.0;
    for (index_t i = threadIdx.x; i < M; i += kThreads) a += x[chan_off(i, c, s)];
    const double sum = block_sum(a, smem);
    const float mean = static_cast<float>(sum / static_cast<double>(M));
    double b = 0.0;
    for (index_t i = threadIdx.x; i < M; i += kThreads) {
      const float d = x[chan_off(i, c, s)] - mean;
      b += static_cast<double>(d) * d;
    }
    const double sq = block_sum(b, smem);
    if (threadIdx.x == 0) {
      const double var = sq / static_cast<double>(M);
      save_mean[c] = mean;
      if (running_mean)
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
      if (running_var)
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] +
                                            momentum * var * static_cast<double>(M) / static_cast<double>(M - 1));
      const double inv = 1.0 / sqrt(var + static_cast<double>(eps));
      save_invstd[c] = static_cast<float>(inv);
      coef[0] = mean;
      coef[1] = static_cast<float>((weight ? weight[c] : 1.0) * inv);
      coef[2] = bias ? bias[c] : 0.0f;
    }
  } else if (threadIdx.x == 0) {
    const float mean = running_mean[c];
    const double inv = 1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps));
    save_mean[c] = mean;
    save_invstd[c] = static_cast<float>(inv);
    coef[0] = mean;
    coef[1] = static_cast<float>((weight ? weight[c] : 1.0) * inv);
    coef[2] = bias ? bias[c] : 0.0f;
  }
  __syncthreads();
  if (!y) return;
  const float mean = coef[0], scale = coef[1], shift = coef[2];
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const index_t k = chan_off(i, c, s);
    y[k] = __fadd_rn(shift, __fmul_rn(scale, x[k] - mean));
  }
}

__global__ void __launch_bounds__(kThreads)
    bn_backward_kernel(float* dx, float* dweight, float* dbias, const float* dy, const float* x, const float* weight,
                       const float* mean, const float* invstd, ChannelShape s, bool training) {
  __shared__ double smem[kThreads];
  __shared__ float coef[3];  // a, b, shift
  const index_t c = blockIdx.x, M = s.N * s.L;
  const bool need_x = training || dweight;
  const float mc = mean[c];
  double a = 0.0, b = 0.0;
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const index_t k = chan_off(i, c, s);
    a += dy[k];
    if (need_x) b += static_cast<double>(x[k] - mc) * dy[k];
  }
  const double sum_dy = block_sum(a, smem);
  const double sum_dyx = need_x ? block_sum(b, smem) : 0.0;
  if (threadIdx.x == 0) {
    const double w = weight ? weight[c] : 1.0, inv = invstd[c], m = static_cast<double>(M);
    if (dweight) dweight[c] = static_cast<float>(sum_dyx * inv);
    if (dbias) dbias[c] = static_cast<float>(sum_dy);
    coef[0] = static_cast<float>(w * inv);
    coef[1] = training ? static_cast<float>(-w * inv * inv * inv * sum_dyx / m) : 0.0f;
    coef[2] = training ? static_cast<float>(-w * inv * sum_dy / m) : 0.0f;
  }
  __syncthreads();
  if (!dx) return;
  const float ca = coef[0], cb = coef[1], shift = coef[2];
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const index_t k = chan_off(i, c, s);
    float r = __fadd_rn(shift, __fmul_rn(ca, dy[k]));
    if (training) r = __fadd_rn(r, __fmul_rn(cb, x[k] - mc));
    dx[k] = r;
  }
}

// ---- group norm ----------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads)
    gn_forward_kernel(float* y, float* save_mean, float* save_invstd, float* save_var, const float* x,
                      const float* weight, const float* bias, GroupShape s, float eps) {
  __shared__ double smem[kThreads];
  __shared__ double dcoef;  // invstd, in double as the CPU driver's scale
  __shared__ float mcoef;   // mean
  const index_t q = blockIdx.x, Cg = s.C / s.G, M = Cg * s.L, c0 = q % s.G * Cg;
  const float* xq = x + q * M;
  double a = 0.0;
  for (index_t i = threadIdx.x; i < M; i += kThreads) a += xq[i];
  const float mean = static_cast<float>(block_sum(a, smem) / static_cast<double>(M));
  double b = 0.0;
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const float d = xq[i] - mean;
    b += static_cast<double>(d) * d;
  }
  const double sq = block_sum(b, smem);
  if (threadIdx.x == 0) {
    const double var = sq / static_cast<double>(M), inv = 1.0 / sqrt(var + static_cast<double>(eps));
    save_mean[q] = mean;
    save_invstd[q] = static_cast<float>(inv);
    if (save_var) save_var[q] = static_cast<float>(var);
    dcoef = inv;
    mcoef = mean;
  }
  __syncthreads();
  const double inv = dcoef;
  const float m = mcoef;
  float* yq = y + q * M;
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const index_t c = c0 + i / s.L;
    const float scale = static_cast<float>((weight ? weight[c] : 1.0) * inv), shift = bias ? bias[c] : 0.0f;
    yq[i] = __fadd_rn(shift, __fmul_rn(scale, xq[i] - m));
  }
}

// dx = w invstd dy - invstd A / M - invstd^3 B / M (x - mean), A = sum w dy, B = sum w dy (x - mean).
__global__ void __launch_bounds__(kThreads)
    gn_backward_kernel(float* dx, const float* dy, const float* x, const float* weight, const float* mean,
                       const float* invstd, GroupShape s) {
  __shared__ double smem[kThreads];
  __shared__ float coef[2];  // b, shift
  const index_t q = blockIdx.x, Cg = s.C / s.G, M = Cg * s.L, c0 = q % s.G * Cg;
  const float *xq = x + q * M, *gq = dy + q * M;
  const float mq = mean[q];
  double a = 0.0, b = 0.0;
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const double w = weight ? weight[c0 + i / s.L] : 1.0;
    a += w * gq[i];
    b += w * static_cast<double>(xq[i] - mq) * gq[i];
  }
  const double A = block_sum(a, smem), B = block_sum(b, smem);
  const double inv = invstd[q], m = static_cast<double>(M);
  if (threadIdx.x == 0) {
    coef[0] = static_cast<float>(-inv * inv * inv * B / m);
    coef[1] = static_cast<float>(-inv * A / m);
  }
  __syncthreads();
  const float cb = coef[0], shift = coef[1];
  float* dq = dx + q * M;
  for (index_t i = threadIdx.x; i < M; i += kThreads) {
    const float ca = static_cast<float>((weight ? weight[c0 + i / s.L] : 1.0) * inv);
    dq[i] = __fadd_rn(__fadd_rn(shift, __fmul_rn(ca, gq[i])), __fmul_rn(cb, xq[i] - mq));
  }
}

// dweight[c] = sum over samples and positions of dy (x - mean) invstd, dbias[c] = sum of dy: a
// block per channel.
__global__ void __launch_bounds__(kThreads)
    gn_param_grad_kernel(float* dweight, float* dbias, const float* dy, const float* x, const float* mean,
                         const float* invstd, GroupShape s) {
  __shared__ double smem[kThreads];
  const index_t c = blockIdx.x, Cg = s.C / s.G, NL = s.N * s.L;
  double a = 0.0, b = 0.0;
  for (index_t i = threadIdx.x; i < NL; i += kThreads) {
    const index_t n = i / s.L, k = (n * s.C + c) * s.L + i % s.L, q = n * s.G + c / Cg;
    a += dy[k];
    b += static_cast<double>(x[k] - mean[q]) * dy[k] * invstd[q];
  }
  const double sum_dy = block_sum(a, smem), sum_dyx = block_sum(b, smem);
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] = static_cast<float>(sum_dyx);
    if (dbias) dbias[c] = static_cast<float>(sum_dy);
  }
}

// running = (1 - momentum) running + momentum * the mean over samples: a thread per group index g.
__global__ void gn_running_kernel(float* running_mean, float* running_var, const float* mean, const float* var,
                                  GroupShape s, float momentum) {
  const double M = static_cast<double>(s.C / s.G * s.L), mo = momentum;
  for (index_t g = global_index(); g < s.G; g += grid_stride()) {
    double sm = 0.0, sv = 0.0;
    for (index_t n = 0; n < s.N; ++n) {
      sm += mean[n * s.G + g];
      sv += static_cast<double>(var[n * s.G + g]) * M / (M - 1.0);
    }
    if (running_mean) running_mean[g] = static_cast<float>((1.0 - mo) * running_mean[g] + mo * sm / s.N);
    if (running_var) running_var[g] = static_cast<float>((1.0 - mo) * running_var[g] + mo * sv / s.N);
  }
}

}  // namespace
}  // namespace cuda

void group_norm_forward_cuda(float* y, float* save_mean, float* save_invstd, float* save_var, const float* x,
                             const float* weight, const float* bias, GroupShape s, float eps, cudaStream_t stream) {
  using namespace cuda;
  if (s.N * s.G <= 0) return;
  gn_forward_kernel<<<static_cast<unsigned>(s.N * s.G), kThreads, 0, stream>>>(y, save_mean, save_invstd, save_var, x,
                                                                              weight, bias, s, eps);
  check_launch("gn_forward_kernel");
}

void group_norm_backward_cuda(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                              const float* weight, const float* mean, const float* invstd, GroupShape s,
                              cudaStream_t stream) {
  using namespace cuda;
  if (dx && s.N * s.G > 0) {
    gn_backward_kernel<<<static_cast<unsigned>(s.N * s.G), kThreads, 0, stream>>>(dx, dy, x, weight, mean, invstd, s);
    check_launch("gn_backward_kernel");
  }
  if ((dweight || dbias) && s.C > 0) {
    gn_param_grad_kernel<<<static_cast<unsigned>(s.C), kThreads, 0, stream>>>(dweight, dbias, dy, x, mean, invstd, s);
    check_launch("gn_param_grad_kernel");
  }
}

void group_norm_update_running_cuda(float* running_mean, float* running_var, const float* mean, const float* var,
                                    GroupShape s, float momentum, cudaStream_t stream) {
  using namespace cuda;
  if (s.G <= 0 || s.N <= 0) return;
  gn_running_kernel<<<grid_for(s.G), kThreads, 0, stream>>>(running_mean, running_var, mean, var, s, momentum);
  check_launch("gn_running_kernel");
}

void batch_norm_forward_cuda(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                             const float* x, const float* weight, const float* bias, ChannelShape s, bool training,
                             float momentum, float eps, cudaStream_t stream) {
  using namespace cuda;
  if (s.C <= 0) return;
  bn_forward_kernel<<<static_cast<unsigned>(s.C), kThreads, 0, stream>>>(
      y, save_mean, save_invstd, running_mean, running_var, x, weight, bias, s, training, momentum, eps);
  check_launch("bn_forward_kernel");
}

void batch_norm_stats_cuda(float* mean, float* invstd, const float* x, ChannelShape s, float eps,
                           cudaStream_t stream) {
  batch_norm_forward_cuda(nullptr, mean, invstd, nullptr, nullptr, x, nullptr, nullptr, s, true, 0.0f, eps, stream);
}

void batch_norm_backward_cuda(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                              const float* weight, const float* mean, const float* invstd, ChannelShape s,
                              bool training, cudaStream_t stream) {
  using namespace cuda;
  if (s.C <= 0) return;
  bn_backward_kernel<<<static_cast<unsigned>(s.C), kThreads, 0, stream>>>(dx, dweight, dbias, dy, x, weight, mean,
                                                                           invstd, s, training);
  check_launch("bn_backward_kernel");
}

}  // namespace fl
