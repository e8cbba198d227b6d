// CUDA kernels of the loss family (launchers in loss.cuh). Unverified on a GPU at the time of
// writing; tools/cuda_emu checks them against the CPU reference kernels (cpu/ref/loss_ref.cpp).
//
// Cross-entropy forward: a group of G threads owns a row (G = 32 for rows shorter than
// kBlockRowMin classes, the whole block of 256 otherwise, so a long row keeps a block busy and
// a short one wastes at most a warp's lanes); it reduces the row's max, sum of exp(x - max)
// (float exp, double sum) and, with label smoothing, sum of x in double through a fixed
// shared-memory tree, then lane 0 forms loss and lse exactly as the reference does. Every
// block walks its rows in lock step (the trip count is the block's), so the tree's barriers
// are uniform. Backward and NLL backward: the same row groups, one write per element.
//
// Reductions to LossTotal: pass 1 gives each of at most kLossPartials blocks a fixed share
// of the rows / elements (grid-stride; the grid depends on the size only) and writes one
// double partial per block; pass 2, one block, sums the partials in a fixed tree. Point-wise
// forward kernels fuse pass 1 with the per-element loss. Memory-bound throughout.
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/loss.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = kBlock;
constexpr index_t kBlockRowMin = 1024;                  // rows at least this long get a whole block
constexpr index_t kNoBad = INT64_MAX;                   // partial_bad of a share with no bad target

struct MaxF {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Sum {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Min {
  __device__ index_t operator()(index_t a, index_t b) const { return a < b ? a : b; }
};

// Reduces v over each aligned group of G threads of the block (G divides kThreads) through a
// fixed tree in smem (kThreads values); every thread gets its group's result. Every thread of
// the block must call it.
template <int G, class T, class Op>
__device__ T group_reduce(T v, T* smem, Op op) {
  const int lane = threadIdx.x % G;
  __syncthreads();  // smem may still be read by the previous reduction
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int half = G / 2; half > 0; half /= 2) {
    if (lane < half) smem[threadIdx.x] = op(smem[threadIdx.x], smem[threadIdx.x + half]);
    __syncthreads();
  }
  return smem[threadIdx.x - lane];
}

enum class Row { ignored, bad, valid };
__device__ __forceinline__ Row row_kind(std::int64_t t, index_t C, std::int64_t ignore_index) {
  if (t == ignore_index) return Row::ignored;
  return t >= 0 && t < C ? Row::valid : Row::bad;
}

// scale / count for reduction='mean' with the count on the device.
__device__ __forceinline__ float mean_scale(float scale, const LossTotal* mean_over) {
  if (!mean_over) return scale;
  const index_t count = mean_over->count;
  return count > 0 ? static_cast<float>(static_cast<double>(scale) / static_cast<double>(count)) : NAN;
}

// Blocks of a reduction's first pass over `work` items.
unsigned partial_blocks(index_t work) {
  const index_t b = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kLossPartials ? kLossPartials : b));
}

// ---- cross-entropy and NLL ----------------------------------------------------------------

template <int G>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows,
                                 index_t C, CeOptions o) {
  __shared__ float fsm[kThreads];
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const double eps = o.label_smoothing;
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < rows; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const Row kind = r < rows ? row_kind(target[r], C, o.ignore_index) : Row::ignored;
    const float* xr = x + r * C;
    float m = -INFINITY;
    if (kind == Row::valid)
      for (index_t c = lane; c < C; c += G) m = fmaxf(m, xr[c]);
    m = group_reduce<G>(m, fsm, MaxF());
    double s = 0.0, sx = 0.0;
    if (kind == Row::valid)
      for (index_t c = lane; c < C; c += G) {
        const float v = xr[c];
        s += expf(v - m);
        sx += v;
      }
    s = group_reduce<G>(s, dsm, Sum());
    if (eps != 0.0) sx = group_reduce<G>(sx, dsm, Sum());
    if (lane != 0 || r >= rows) continue;
    if (kind == Row::valid) {
      const double ls = log(s);
      lse[r] = static_cast<float>(m + ls);
      const float dt = m - xr[target[r]];
      loss[r] = static_cast<float>(ls + (1.0 - eps) * dt + (eps != 0.0 ? eps * (m - sx / C) : 0.0));
    } else {
      loss[r] = lse[r] = kind == Row::ignored ? 0.0f : NAN;
    }
  }
}

// NLL: x holds log-probabilities; loss[r] = -x[r, t_r]. One thread per row.
__global__ void nll_loss_forward_kernel(float* loss, const float* x, const std::int64_t* target, index_t rows,
                                        index_t C, std::int64_t ignore_index) {
  for (index_t r = global_index(); r < rows; r += grid_stride()) {
    const std::int64_t t = target[r];
    const Row kind = row_kind(t, C, ignore_index);
    loss[r] = kind == Row::valid ? -x[r * C + t] : (kind == Row::ignored ? 0.0f : NAN);
  }
}

// NLL = false: dx = s (exp(x - lse) - eps / C) - [c == t] s (1 - eps), the reference's terms.
// NLL = true: dx = -[c == t] s (x and lse unread, eps 0).
template <int G, bool NLL>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(float* dx, const float* x, const float* lse, const std::int64_t* target,
                                  const float* grad, float scale, const LossTotal* mean_over, index_t rows, index_t C,
                                  CeOptions o) {
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const float sc = mean_scale(scale, mean_over);
  const float eps = o.label_smoothing, e = eps / static_cast<float>(C);
  const index_t step = static_cast<index_t>(gridDim.x) * kRows;
  for (index_t r = static_cast<index_t>(blockIdx.x) * kRows + threadIdx.x / G; r < rows; r += step) {
    float* d = dx + r * C;
    const std::int64_t t = target[r];
    const Row kind = row_kind(t, C, o.ignore_index);
    if (kind != Row::valid) {
      const float fill = kind == Row::ignored ? 0.0f : NAN;
      for (index_t c = lane; c < C; c += G) d[c] = fill;
      continue;
    }
    const float s = grad ? sc * grad[r] : sc;
    const float* xr = x + r * C;
    const float l = NLL ? 0.0f : lse[r];
    for (index_t c = lane; c < C; c += G) {
      float v = NLL ? 0.0f : s * (expf(xr[c] - l) - e);
      if (c == t) v = __fsub_rn(v, __fmul_rn(s, 1.0f - eps));
      d[c] = v;
    }
  }
}

// Pass 1 over rows: sum of loss, count of non-ignored rows, first bad target, per block.
__global__ void __launch_bounds__(kThreads)
    row_loss_partial_kernel(LossTotal* total, const float* loss, const std::int64_t* target, index_t rows, index_t C,
                            std::int64_t ignore_index) {
  __shared__ double dsm[kThreads];
  __shared__ index_t ism[kThreads];
  double s = 0.0;
  index_t count = 0, bad = kNoBad;
  for (index_t r = global_index(); r < rows; r += grid_stride()) {
    const Row kind = row_kind(target[r], C, ignore_index);
    s += loss[r];
    count += kind != Row::ignored;
    if (kind == Row::bad && r < bad) bad = r;
  }
  s = group_reduce<kThreads>(s, dsm, Sum());
  count = group_reduce<kThreads>(count, ism, Sum());
  bad = group_reduce<kThreads>(bad, ism, Min());
  if (threadIdx.x == 0) {
    total->partial_sum[blockIdx.x] = s;
    total->partial_count[blockIdx.x] = count;
    total->partial_bad[blockIdx.x] = bad;
  }
}

// Pass 2, one block: the partials of `parts` blocks into the result. count >= 0 is the
// element count of a point-wise loss (its partial counts and bad targets are not written).
__global__ void __launch_bounds__(kThreads) loss_total_kernel(LossTotal* total, int parts, index_t count) {
  __shared__ double dsm[kThreads];
  __shared__ index_t ism[kThreads];
  double s = 0.0;
  index_t cnt = 0, bad = kNoBad;
  for (int b = threadIdx.x; b < parts; b += kThreads) {
    s += total->partial_sum[b];
    if (count < 0) {
      cnt += total->partial_count[b];
      bad = bad < total->partial_bad[b] ? bad : total->partial_bad[b];
    }
  }
  s = group_reduce<kThreads>(s, dsm, Sum());
  if (count < 0) {
    cnt = group_reduce<kThreads>(cnt, ism, Sum());
    bad = group_reduce<kThreads>(bad, ism, Min());
  } else {
    cnt = count;
  }
  if (threadIdx.x == 0) {
    total->sum = s;
    total->count = cnt;
    total->bad_target = bad == kNoBad ? -1 : bad;
    total->sum_f = static_cast<float>(s);
    total->mean = cnt > 0 ? static_cast<float>(s / static_cast<double>(cnt)) : NAN;
  }
}

// ---- point-wise ----------------------------------------------------------------------------

// The reference's per-element loss and derivative, operation by operation (no contraction).
template <PointLoss OP>
__device__ __forceinline__ float point_loss1(float x, float y) {
  if constexpr (OP == PointLoss::mse) {
    const float d = x - y;
    return __fmul_rn(d, d);
  } else {  // max(x, 0) - x y + log1p(exp(-|x|))
    return __fadd_rn(__fsub_rn(fmaxf(x, 0.0f), __fmul_rn(x, y)), log1pf(expf(-fabsf(x))));
  }
}

template <PointLoss OP>
__device__ __forceinline__ float point_grad1(float x, float y) {
  if constexpr (OP == PointLoss::mse) {
    return 2.0f * (x - y);
  } else {  // sigmoid(x) - y, without overflow
    const float e = expf(-fabsf(x));
    const float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    return sig - y;
  }
}

// Per-element losses (loss may be null) and, when total is given, pass 1 of their sum.
template <PointLoss OP>
__global__ void __launch_bounds__(kThreads)
    point_loss_forward_kernel(float* loss, LossTotal* total, const float* x, const float* y, index_t n) {
  __shared__ double dsm[kThreads];
  double s = 0.0;
  for (index_t i = global_index(); i < n; i += grid_stride()) {
    const float l = point_loss1<OP>(x[i], y[i]);
    if (loss) loss[i] = l;
    s += l;
  }
  if (!total) return;
  s = group_reduce<kThreads>(s, dsm, Sum());
  if (threadIdx.x == 0) total->partial_sum[blockIdx.x] = s;
}

template <PointLoss OP>
__global__ void point_loss_backward_kernel(float* dx, const float* x, const float* y, const float* grad, float scale,
                                           const LossTotal* mean_over, index_t n) {
  const float sc = mean_scale(scale, mean_over);
  for (index_t i = global_index(); i < n; i += grid_stride())
    dx[i] = (grad ? sc * grad[i] : sc) * point_grad1<OP>(x[i], y[i]);
}

// ---- launch helpers ------------------------------------------------------------------------

void launch_total(LossTotal* total, unsigned parts, index_t count, cudaStream_t stream) {
  loss_total_kernel<<<1, kThreads, 0, stream>>>(total, static_cast<int>(parts), count);
  check_launch("loss_total_kernel");
}

void reduce_rows(LossTotal* total, const float* loss, const std::int64_t* target, index_t rows, index_t C,
                 std::int64_t ignore_index, cudaStream_t stream) {
  const unsigned parts = partial_blocks(rows);
  row_loss_partial_kernel<<<parts, kThreads, 0, stream>>>(total, loss, target, rows, C, ignore_index);
  check_launch("row_loss_partial_kernel");
  launch_total(total, parts, -1, stream);
}

template <int G, bool NLL>
void launch_ce_backward(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                        float scale, const LossTotal* mean_over, index_t rows, index_t C, const CeOptions& o,
                        cudaStream_t stream) {
  cross_entropy_backward_kernel<G, NLL><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(
      dx, x, lse, target, grad, scale, mean_over, rows, C, o);
  check_launch("cross_entropy_backward_kernel");
}

template <PointLoss OP>
void launch_point(float* loss, LossTotal* total, float* dx, const float* x, const float* y, const float* grad,
                  float scale, const LossTotal* mean_over, index_t n, cudaStream_t stream) {
  if (dx) {
    point_loss_backward_kernel<OP><<<grid_for(n), kThreads, 0, stream>>>(dx, x, y, grad, scale, mean_over, n);
    check_launch("point_loss_backward_kernel");
    return;
  }
  const unsigned grid = total ? partial_blocks(n) : grid_for(n);
  point_loss_forward_kernel<OP><<<grid, kThreads, 0, stream>>>(loss, total, x, y, n);
  check_launch("point_loss_forward_kernel");
  if (total) launch_total(total, grid, n, stream);
}

// dx == nullptr: forward; otherwise backward.
void launch_point_op(PointLoss op, float* loss, LossTotal* total, float* dx, const float* x, const float* y,
                     const float* grad, float scale, const LossTotal* mean_over, index_t n, cudaStream_t stream) {
  switch (op) {
    case PointLoss::mse: launch_point<PointLoss::mse>(loss, total, dx, x, y, grad, scale, mean_over, n, stream); break;
    case PointLoss::bce_with_logits:
      launch_point<PointLoss::bce_with_logits>(loss, total, dx, x, y, grad, scale, mean_over, n, stream);
      break;
    default: throw std::invalid_argument(str_cat("op: unknown point-wise loss ", static_cast<int>(op)));
  }
}

}  // namespace
}  // namespace cuda

void cross_entropy_forward_cuda(float* loss, float* lse, LossTotal* total, const float* x, const std::int64_t* target,
                                index_t rows, index_t C, const CeOptions& o, cudaStream_t stream) {
  using namespace cuda;
  if (rows > 0 && C >= kBlockRowMin) {
    cross_entropy_forward_kernel<kThreads><<<grid_for(rows, 1), kThreads, 0, stream>>>(loss, lse, x, target, rows, C,
                                                                                         o);
  } else if (rows > 0) {
    cross_entropy_forward_kernel<32><<<grid_for(rows, kThreads / 32), kThreads, 0, stream>>>(loss, lse, x, target,
                                                                                              rows, C, o);
  }
  if (rows > 0) check_launch("cross_entropy_forward_kernel");
  if (total) reduce_rows(total, loss, target, rows, C, o.ignore_index, stream);
}

void cross_entropy_backward_cuda(float* dx, const float* x, const float* lse, const std::int64_t* target,
                                 const float* grad, float scale, const LossTotal* mean_over, index_t rows, index_t C,
                                 const CeOptions& o, cudaStream_t stream) {
  using namespace cuda;
  if (rows <= 0) return;
  if (C >= kBlockRowMin)
    launch_ce_backward<kThreads, false>(dx, x, lse, target, grad, scale, mean_over, rows, C, o, stream);
  else
    launch_ce_backward<32, false>(dx, x, lse, target, grad, scale, mean_over, rows, C, o, stream);
}

void nll_loss_forward_cuda(float* loss, LossTotal* total, const float* x, const std::int64_t* target, index_t rows,
                           index_t C, std::int64_t ignore_index, cudaStream_t stream) {
  using namespace cuda;
  if (rows > 0) {
    nll_loss_forward_kernel<<<grid_for(rows), kThreads, 0, stream>>>(loss, x, target, rows, C, ignore_index);
    check_launch("nll_loss_forward_kernel");
  }
  if (total) reduce_rows(total, loss, target, rows, C, ignore_index, stream);
}

void nll_loss_backward_cuda(float* dx, const std::int64_t* target, const float* grad, float scale,
                            const LossTotal* mean_over, index_t rows, index_t C, std::int64_t ignore_index,
                            cudaStream_t stream) {
  using namespace cuda;
  if (rows <= 0) return;
  const CeOptions o{ignore_index, 0.0f};
  if (C >= kBlockRowMin)
    launch_ce_backward<kThreads, true>(dx, nullptr, nullptr, target, grad, scale, mean_over, rows, C, o, stream);
  else
    launch_ce_backward<32, true>(dx, nullptr, nullptr, target, grad, scale, mean_over, rows, C, o, stream);
}

void point_loss_forward_cuda(PointLoss op, float* loss, LossTotal* total, const float* x, const float* y, index_t n,
                             cudaStream_t stream) {
  if ((n <= 0 && !total) || (!loss && !total)) return;
  cuda::launch_point_op(op, loss, total, nullptr, x, y, nullptr, 0.0f, nullptr, n < 0 ? 0 : n, stream);
}

void point_loss_backward_cuda(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                              const LossTotal* mean_over, index_t n, cudaStream_t stream) {
  if (n <= 0) return;
  cuda::launch_point_op(op, nullptr, nullptr, dx, x, y, grad, scale, mean_over, n, stream);
}

}  // namespace fl
