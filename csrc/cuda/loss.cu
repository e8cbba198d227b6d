// CUDA kernels of the loss family (launchers in loss.cuh). Unverified on a GPU at the time of
// writing; tools/cuda_emu checks them against the CPU reference kernels (cpu/ref/loss_ref.cpp).
//
// Cross-entropy forward (class-index or probability targets): a group of G threads owns a row
// and reduces its max, sum of exp(x - max) (float exp, double sum) and the weighted / smoothing
// sums in double through a fixed shared-memory tree, then lane 0 forms loss and lse as the
// reference does. G by layout: logits (N, C) have contiguous rows, so G = 32 for rows shorter
// than kBlockRowMin classes (at most a warp's lanes idle) and the whole block of 256 otherwise;
// logits (N, C, d1, ..., dk) have rows whose classes lie D floats apart but neighbouring rows
// side by side, so G = 1: a thread per row walks the classes, and a warp's 32 loads of one class
// are 32 neighbouring floats. Every block walks its rows in lock step (the trip count is the
// block's), so the tree's barriers are uniform. Backward kernels: the same row groups, one write
// per element (probability targets first reduce sum_c w_c t'_c per row).
//
// Reductions to LossTotal: pass 1 gives each of at most kLossPartials blocks a fixed share
// of the rows / elements (grid-stride; the grid depends on the size only) and writes one
// double partial per block; pass 2, one block, sums the partials in a fixed tree. Point-wise
// forward kernels fuse pass 1 with the per-element loss. Memory-bound throughout.
#include <cmath>
#include <cstdint>
#include <type_traits>

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

// Offset of row r's first logit in the (N, C, D) layout (its classes are D floats apart).
__device__ __forceinline__ index_t row_base(index_t r, index_t C, index_t D) {
  return D == 1 ? r * C : r / D * C * D + r % D;
}

// scale / weight for reduction='mean' with the forward's divisor on the device (NaN when it is 0).
__device__ __forceinline__ float mean_scale(float scale, const LossTotal* mean_over) {
  if (!mean_over) return scale;
  const double w = mean_over->weight;
  return w != 0.0 ? static_cast<float>(static_cast<double>(scale) / w) : NAN;
}

// sum_c w_c (C for no weights), reduced by the whole block; every thread must call it.
__device__ double block_weight_sum(const float* w, index_t C, double* dsm) {
  double acc = 0.0;
  for (index_t c = threadIdx.x; w && c < C; c += kThreads) acc += w[c];
  return w ? group_reduce<kThreads>(acc, dsm, Sum()) : static_cast<double>(C);
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
                                 index_t C, index_t D, CeOptions o) {
  __shared__ float fsm[kThreads];
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const double eps = o.label_smoothing;
  const float* w = o.weight;
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < rows; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const Row kind = r < rows ? row_kind(target[r], C, o.ignore_index) : Row::ignored;
    const float* xr = x + row_base(r, C, D);
    float m = -INFINITY;
    if (kind == Row::valid)
      for (index_t c = lane; c < C; c += G) m = fmaxf(m, xr[c * D]);
    m = group_reduce<G>(m, fsm, MaxF());
    // sx: the smoothing sum (sum x without weights, sum w (m - x) with them); sw: sum w
    double s = 0.0, sx = 0.0, sw = 0.0;
    if (kind == Row::valid)
      for (index_t c = lane; c < C; c += G) {
        const float v = xr[c * D];
        s += expf(v - m);
        if (w) {
          sx += static_cast<double>(w[c]) * (m - v);
          sw += w[c];
        } else {
          sx += v;
        }
      }
    s = group_reduce<G>(s, dsm, Sum());
    if (eps != 0.0) sx = group_reduce<G>(sx, dsm, Sum());
    if (eps != 0.0 && w) sw = group_reduce<G>(sw, dsm, Sum());
    if (lane != 0 || r >= rows) continue;
    if (kind == Row::valid) {
      const std::int64_t t = target[r];
      const double ls = log(s);
      lse[r] = static_cast<float>(m + ls);
      const float dt = m - xr[t * D];
      if (w)
        loss[r] = static_cast<float>((1.0 - eps) * w[t] * (ls + dt) + (eps != 0.0 ? eps / C * (sw * ls + sx) : 0.0));
      else
        loss[r] = static_cast<float>(ls + (1.0 - eps) * dt + (eps != 0.0 ? eps * (m - sx / C) : 0.0));
    } else {
      loss[r] = lse[r] = kind == Row::ignored ? 0.0f : NAN;
    }
  }
}

// NLL: x holds log-probabilities; loss_r = -w_t x_t. One thread per row.
__global__ void nll_loss_forward_kernel(float* loss, const float* x, const std::int64_t* target, index_t rows,
                                        index_t C, index_t D, std::int64_t ignore_index, const float* w) {
  for (index_t r = global_index(); r < rows; r += grid_stride()) {
    const std::int64_t t = target[r];
    const Row kind = row_kind(t, C, ignore_index);
    loss[r] = kind == Row::valid ? -((w ? w[t] : 1.0f) * x[row_base(r, C, D) + t * D])
                                 : (kind == Row::ignored ? 0.0f : NAN);
  }
}

// NLL = false: dx = s (a exp(x - lse) - e w_c) - [c == t] s (1 - eps) w_t, the reference's terms
// (a = (1 - eps) w_t + e W, e = eps / C; a = 1 and w = 1 without weights).
// NLL = true: dx = -[c == t] s w_t (x and lse unread, eps 0).
template <int G, bool NLL>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(float* dx, const float* x, const float* lse, const std::int64_t* target,
                                  const float* grad, float scale, const LossTotal* mean_over, index_t rows, index_t C,
                                  index_t D, CeOptions o) {
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const float sc = mean_scale(scale, mean_over);
  const float eps = o.label_smoothing, e = eps / static_cast<float>(C);
  const float* w = o.weight;
  const float W = !NLL && w && eps != 0.0f ? static_cast<float>(block_weight_sum(w, C, dsm)) : 0.0f;
  const index_t step = static_cast<index_t>(gridDim.x) * kRows;
  for (index_t r = static_cast<index_t>(blockIdx.x) * kRows + threadIdx.x / G; r < rows; r += step) {
    const index_t base = row_base(r, C, D);
    float* d = dx + base;
    const std::int64_t t = target[r];
    const Row kind = row_kind(t, C, o.ignore_index);
    if (kind != Row::valid) {
      const float fill = kind == Row::ignored ? 0.0f : NAN;
      for (index_t c = lane; c < C; c += G) d[c * D] = fill;
      continue;
    }
    const float s = grad ? sc * grad[r] : sc, wt = w ? w[t] : 1.0f;
    if (NLL) {
      for (index_t c = lane; c < C; c += G) d[c * D] = c == t ? -__fmul_rn(s, wt) : 0.0f;
      continue;
    }
    const float* xr = x + base;
    const float l = lse[r];
    const float a = w ? __fadd_rn(__fmul_rn(1.0f - eps, wt), __fmul_rn(e, W)) : 1.0f;
    for (index_t c = lane; c < C; c += G) {
      const float p = expf(xr[c * D] - l);
      float v = w ? __fmul_rn(s, __fsub_rn(__fmul_rn(a, p), __fmul_rn(e, w[c]))) : s * (p - e);
      if (c == t) v = __fsub_rn(v, w ? __fmul_rn(__fmul_rn(s, 1.0f - eps), wt) : __fmul_rn(s, 1.0f - eps));
      d[c * D] = v;
    }
  }
}

// Probability targets t: loss = (1 - eps) A + e Q + ls ((1 - eps) B + e W), with A = sum w t
// (m - x), B = sum w t, Q = sum w (m - x) (the CPU vector kernels' split; e = eps / C).
template <int G>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_soft_forward_kernel(float* loss, float* lse, const float* x, const float* t, index_t rows, index_t C,
                                      index_t D, CeOptions o) {
  __shared__ float fsm[kThreads];
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const double eps = o.label_smoothing, e = eps / C;
  const float* w = o.weight;
  const double W = block_weight_sum(w, C, dsm);
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < rows; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const index_t base = row_base(r, C, D);
    float m = -INFINITY;
    if (r < rows)
      for (index_t c = lane; c < C; c += G) m = fmaxf(m, x[base + c * D]);
    m = group_reduce<G>(m, fsm, MaxF());
    double s = 0.0, A = 0.0, B = 0.0, Q = 0.0;
    if (r < rows)
      for (index_t c = lane; c < C; c += G) {
        const float v = x[base + c * D];
        const double wv = w ? w[c] : 1.0, wtv = wv * t[base + c * D], dv = m - v;
        s += expf(v - m);
        A += wtv * dv;
        B += wtv;
        Q += wv * dv;
      }
    s = group_reduce<G>(s, dsm, Sum());
    A = group_reduce<G>(A, dsm, Sum());
    B = group_reduce<G>(B, dsm, Sum());
    if (eps != 0.0) Q = group_reduce<G>(Q, dsm, Sum());
    if (lane != 0 || r >= rows) continue;
    const double ls = log(s);
    lse[r] = static_cast<float>(m + ls);
    const double s1 = eps != 0.0 ? (1.0 - eps) * A + e * Q : A, s2 = eps != 0.0 ? (1.0 - eps) * B + e * W : B;
    loss[r] = static_cast<float>(s1 + ls * s2);
  }
}

// dx = s (exp(x - lse) S - w t'), S = sum_c w_c t'_c, t' = (1 - eps) t + eps / C.
template <int G>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_soft_backward_kernel(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                       float scale, const LossTotal* mean_over, index_t rows, index_t C, index_t D,
                                       CeOptions o) {
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const float sc = mean_scale(scale, mean_over);
  const double eps = o.label_smoothing, e = eps / C;
  const float* w = o.weight;
  const double W = block_weight_sum(w, C, dsm);
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < rows; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const index_t base = row_base(r, C, D);
    double B = 0.0;
    if (r < rows)
      for (index_t c = lane; c < C; c += G) B += (w ? w[c] : 1.0) * t[base + c * D];
    B = group_reduce<G>(B, dsm, Sum());
    if (r >= rows) continue;
    const float S = static_cast<float>(eps != 0.0 ? (1.0 - eps) * B + e * W : B);
    const float s = grad ? sc * grad[r] : sc, l = lse[r];
    for (index_t c = lane; c < C; c += G) {
      const float wt = static_cast<float>((w ? w[c] : 1.0) * (eps != 0.0 ? (1.0 - eps) * t[base + c * D] + e
                                                                          : t[base + c * D]));
      dx[base + c * D] = __fmul_rn(s, __fsub_rn(__fmul_rn(expf(x[base + c * D] - l), S), wt));
    }
  }
}

// Pass 1 over rows: sum of loss, count of non-ignored rows, their class-weight sum and the first
// bad target, per block. target == null (probability targets): every row counts with weight 1.
__global__ void __launch_bounds__(kThreads)
    row_loss_partial_kernel(LossTotal* total, const float* loss, const std::int64_t* target, const float* weight,
                            index_t rows, index_t C, std::int64_t ignore_index) {
  __shared__ double dsm[kThreads];
  __shared__ index_t ism[kThreads];
  double s = 0.0, ws = 0.0;
  index_t count = 0, bad = kNoBad;
  for (index_t r = global_index(); r < rows; r += grid_stride()) {
    s += loss[r];
    if (!target) {
      ++count;
      ws += 1.0;
      continue;
    }
    const std::int64_t t = target[r];
    const Row kind = row_kind(t, C, ignore_index);
    count += kind != Row::ignored;
    if (kind == Row::valid) ws += weight ? weight[t] : 1.0;
    if (kind == Row::bad && r < bad) bad = r;
  }
  s = group_reduce<kThreads>(s, dsm, Sum());
  ws = group_reduce<kThreads>(ws, dsm, Sum());
  count = group_reduce<kThreads>(count, ism, Sum());
  bad = group_reduce<kThreads>(bad, ism, Min());
  if (threadIdx.x == 0) {
    total->partial_sum[blockIdx.x] = s;
    total->partial_weight[blockIdx.x] = ws;
    total->partial_count[blockIdx.x] = count;
    total->partial_bad[blockIdx.x] = bad;
  }
}

// Pass 2, one block: the partials of `parts` blocks into the result. count >= 0 is the
// element count of a point-wise loss (its partial counts, weights and bad targets are not written).
__global__ void __launch_bounds__(kThreads) loss_total_kernel(LossTotal* total, int parts, index_t count) {
  __shared__ double dsm[kThreads];
  __shared__ index_t ism[kThreads];
  double s = 0.0, ws = 0.0;
  index_t cnt = 0, bad = kNoBad;
  for (int b = threadIdx.x; b < parts; b += kThreads) {
    s += total->partial_sum[b];
    if (count < 0) {
      ws += total->partial_weight[b];
      cnt += total->partial_count[b];
      bad = bad < total->partial_bad[b] ? bad : total->partial_bad[b];
    }
  }
  s = group_reduce<kThreads>(s, dsm, Sum());
  if (count < 0) {
    ws = group_reduce<kThreads>(ws, dsm, Sum());
    cnt = group_reduce<kThreads>(cnt, ism, Sum());
    bad = group_reduce<kThreads>(bad, ism, Min());
  } else {
    cnt = count;
    ws = static_cast<double>(count);
  }
  if (threadIdx.x == 0) {
    total->sum = s;
    total->count = cnt;
    total->weight = ws;
    total->bad_target = bad == kNoBad ? -1 : bad;
    total->sum_f = static_cast<float>(s);
    total->mean = ws != 0.0 ? static_cast<float>(s / ws) : NAN;
  }
}

// ---- point-wise ----------------------------------------------------------------------------

// The reference's per-element loss and derivative, operation by operation (no contraction).
template <PointLoss OP>
__device__ __forceinline__ float point_loss1(float x, float y, index_t i, const PointWeights& w) {
  if constexpr (OP == PointLoss::mse) {
    const float d = x - y;
    return __fmul_rn(d, d);
  } else {
    const float sp = log1pf(expf(-fabsf(x)));
    float l;
    if (w.pos_weight) {  // (1 - y) x + (1 + (p - 1) y) (log1p(exp(-|x|)) + max(-x, 0))
      const float lw = __fadd_rn(1.0f, __fmul_rn(w.pos_weight[i] - 1.0f, y));
      l = __fadd_rn(__fmul_rn(1.0f - y, x), __fmul_rn(lw, __fadd_rn(sp, fmaxf(-x, 0.0f))));
    } else {  // max(x, 0) - x y + log1p(exp(-|x|))
      l = __fadd_rn(__fsub_rn(fmaxf(x, 0.0f), __fmul_rn(x, y)), sp);
    }
    return w.weight ? __fmul_rn(l, w.weight[i]) : l;
  }
}

template <PointLoss OP>
__device__ __forceinline__ float point_grad1(float x, float y, index_t i, const PointWeights& w) {
  if constexpr (OP == PointLoss::mse) {
    return 2.0f * (x - y);
  } else {  // sigmoid(x) - y, without overflow; with p: (p y + 1 - y) sigmoid(x) - p y
    const float e = expf(-fabsf(x));
    const float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    float d = sig - y;
    if (w.pos_weight) {
      const float py = __fmul_rn(w.pos_weight[i], y);
      d = __fsub_rn(__fmul_rn(__fsub_rn(__fadd_rn(py, 1.0f), y), sig), py);
    }
    return w.weight ? __fmul_rn(d, w.weight[i]) : d;
  }
}

// Per-element losses (loss may be null) and, when total is given, pass 1 of their sum.
template <PointLoss OP>
__global__ void __launch_bounds__(kThreads)
    point_loss_forward_kernel(float* loss, LossTotal* total, const float* x, const float* y, PointWeights w, index_t n) {
  __shared__ double dsm[kThreads];
  double s = 0.0;
  for (index_t i = global_index(); i < n; i += grid_stride()) {
    const float l = point_loss1<OP>(x[i], y[i], i, w);
    if (loss) loss[i] = l;
    s += l;
  }
  if (!total) return;
  s = group_reduce<kThreads>(s, dsm, Sum());
  if (threadIdx.x == 0) total->partial_sum[blockIdx.x] = s;
}

template <PointLoss OP>
__global__ void point_loss_backward_kernel(float* dx, const float* x, const float* y, const float* grad, float scale,
                                           const LossTotal* mean_over, PointWeights w, index_t n) {
  const float sc = mean_scale(scale, mean_over);
  for (index_t i = global_index(); i < n; i += grid_stride())
    dx[i] = __fmul_rn(grad ? sc * grad[i] : sc, point_grad1<OP>(x[i], y[i], i, w));
}

// ---- launch helpers ------------------------------------------------------------------------

void launch_total(LossTotal* total, unsigned parts, index_t count, cudaStream_t stream) {
  loss_total_kernel<<<1, kThreads, 0, stream>>>(total, static_cast<int>(parts), count);
  check_launch("loss_total_kernel");
}

void reduce_rows(LossTotal* total, const float* loss, const std::int64_t* target, const float* weight, index_t rows,
                 index_t C, std::int64_t ignore_index, cudaStream_t stream) {
  const unsigned parts = partial_blocks(rows);
  row_loss_partial_kernel<<<parts, kThreads, 0, stream>>>(total, loss, target, weight, rows, C, ignore_index);
  check_launch("row_loss_partial_kernel");
  launch_total(total, parts, -1, stream);
}

// Calls f(std::integral_constant<int, G>) with the row group G of the layout (see the top).
template <class F>
void with_group(CeShape s, const F& f) {
  if (s.D != 1) f(std::integral_constant<int, 1>());
  else if (s.C >= kBlockRowMin) f(std::integral_constant<int, kThreads>());
  else f(std::integral_constant<int, 32>());
}

template <PointLoss OP>
void launch_point(float* loss, LossTotal* total, float* dx, const float* x, const float* y, const float* grad,
                  float scale, const LossTotal* mean_over, const PointWeights& w, index_t n, cudaStream_t stream) {
  if (dx) {
    point_loss_backward_kernel<OP><<<grid_for(n), kThreads, 0, stream>>>(dx, x, y, grad, scale, mean_over, w, n);
    check_launch("point_loss_backward_kernel");
    return;
  }
  const unsigned grid = total ? partial_blocks(n) : grid_for(n);
  point_loss_forward_kernel<OP><<<grid, kThreads, 0, stream>>>(loss, total, x, y, w, n);
  check_launch("point_loss_forward_kernel");
  if (total) launch_total(total, grid, n, stream);
}

// dx == nullptr: forward; otherwise backward.
void launch_point_op(PointLoss op, float* loss, LossTotal* total, float* dx, const float* x, const float* y,
                     const float* grad, float scale, const LossTotal* mean_over, const PointWeights& w, index_t n,
                     cudaStream_t stream) {
  switch (op) {
    case PointLoss::mse:
      launch_point<PointLoss::mse>(loss, total, dx, x, y, grad, scale, mean_over, w, n, stream);
      break;
    case PointLoss::bce_with_logits:
      launch_point<PointLoss::bce_with_logits>(loss, total, dx, x, y, grad, scale, mean_over, w, n, stream);
      break;
    default: throw std::invalid_argument(str_cat("op: unknown point-wise loss ", static_cast<int>(op)));
  }
}

}  // namespace
}  // namespace cuda

void cross_entropy_forward_cuda(float* loss, float* lse, LossTotal* total, const float* x, const std::int64_t* target,
                                CeShape s, const CeOptions& o, cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows > 0) {
    with_group(s, [&](auto g) {
      constexpr int G = decltype(g)::value;
      cross_entropy_forward_kernel<G><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(loss, lse, x, target,
                                                                                             rows, s.C, s.D, o);
    });
    check_launch("cross_entropy_forward_kernel");
  }
  if (total) reduce_rows(total, loss, target, o.weight, rows, s.C, o.ignore_index, stream);
}

void cross_entropy_backward_cuda(float* dx, const float* x, const float* lse, const std::int64_t* target,
                                 const float* grad, float scale, const LossTotal* mean_over, CeShape s,
                                 const CeOptions& o, cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows <= 0) return;
  with_group(s, [&](auto g) {
    constexpr int G = decltype(g)::value;
    cross_entropy_backward_kernel<G, false><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(
        dx, x, lse, target, grad, scale, mean_over, rows, s.C, s.D, o);
  });
  check_launch("cross_entropy_backward_kernel");
}

void cross_entropy_soft_forward_cuda(float* loss, float* lse, LossTotal* total, const float* x, const float* t,
                                     CeShape s, const CeOptions& o, cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows > 0) {
    with_group(s, [&](auto g) {
      constexpr int G = decltype(g)::value;
      cross_entropy_soft_forward_kernel<G><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(loss, lse, x, t,
                                                                                                  rows, s.C, s.D, o);
    });
    check_launch("cross_entropy_soft_forward_kernel");
  }
  if (total) reduce_rows(total, loss, nullptr, nullptr, rows, s.C, o.ignore_index, stream);
}

void cross_entropy_soft_backward_cuda(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                      float scale, const LossTotal* mean_over, CeShape s, const CeOptions& o,
                                      cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows <= 0) return;
  with_group(s, [&](auto g) {
    constexpr int G = decltype(g)::value;
    cross_entropy_soft_backward_kernel<G><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(
        dx, x, lse, t, grad, scale, mean_over, rows, s.C, s.D, o);
  });
  check_launch("cross_entropy_soft_backward_kernel");
}

void nll_loss_forward_cuda(float* loss, LossTotal* total, const float* x, const std::int64_t* target, CeShape s,
                           std::int64_t ignore_index, const float* weight, cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows > 0) {
    nll_loss_forward_kernel<<<grid_for(rows), kThreads, 0, stream>>>(loss, x, target, rows, s.C, s.D, ignore_index,
                                                                      weight);
    check_launch("nll_loss_forward_kernel");
  }
  if (total) reduce_rows(total, loss, target, weight, rows, s.C, ignore_index, stream);
}

void nll_loss_backward_cuda(float* dx, const std::int64_t* target, const float* grad, float scale,
                            const LossTotal* mean_over, CeShape s, std::int64_t ignore_index, const float* weight,
                            cudaStream_t stream) {
  using namespace cuda;
  const index_t rows = s.N * s.D;
  if (rows <= 0) return;
  const CeOptions o{ignore_index, 0.0f, weight};
  with_group(s, [&](auto g) {
    constexpr int G = decltype(g)::value;
    cross_entropy_backward_kernel<G, true><<<grid_for(rows, kThreads / G), kThreads, 0, stream>>>(
        dx, nullptr, nullptr, target, grad, scale, mean_over, rows, s.C, s.D, o);
  });
  check_launch("cross_entropy_backward_kernel");
}

void point_loss_forward_cuda(PointLoss op, float* loss, LossTotal* total, const float* x, const float* y,
                             const PointWeights& w, index_t n, cudaStream_t stream) {
  if ((n <= 0 && !total) || (!loss && !total)) return;
  cuda::launch_point_op(op, loss, total, nullptr, x, y, nullptr, 0.0f, nullptr, w, n < 0 ? 0 : n, stream);
}

void point_loss_backward_cuda(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                              const LossTotal* mean_over, const PointWeights& w, index_t n, cudaStream_t stream) {
  if (n <= 0) return;
  cuda::launch_point_op(op, nullptr, nullptr, dx, x, y, grad, scale, mean_over, w, n, stream);
}

}  // namespace fl
