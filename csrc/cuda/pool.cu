// CUDA kernels of the pool family (launchers and contracts in pool.cuh). Unverified on a GPU
// at the time of writing; tools/cuda_emu checks them against the CPU reference kernels.
//
// Every kernel is a grid-stride loop with one thread per element it writes (max backward
// aside), deterministic, with the CPU's summation order:
// - forwards: one thread per output, reading its window (taps clipped to the input as the
//   CPU's pool_taps does, same scan order, so the same winner and the same float sums);
// - max backward: dx zeroed, then one thread per output adds dy at its winner with an atomic
//   add (the backward is given the indices, not the windows; overlapping windows make the
//   order of additions, hence the last bits, vary between runs);
// - average backwards: one thread per input position, summing dy / divisor over the windows
//   that cover it (the divisor recomputed per window exactly as the forward's).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/pool.cuh"

namespace fl {
namespace cuda {
namespace {

__device__ __forceinline__ index_t imin(index_t a, index_t b) { return a < b ? a : b; }
__device__ __forceinline__ index_t imax(index_t a, index_t b) { return a > b ? a : b; }
// floor(a / b) for b > 0 and any a.
__device__ __forceinline__ index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Outputs o in [lo, hi) along one axis whose window (start o * stride - pad, `taps` taps
// `dil` apart) can contain input position i: o * stride <= i + pad and
// o * stride + (taps - 1) dil >= i + pad.
__device__ __forceinline__ void covering(index_t i, index_t taps, index_t stride, index_t pad, index_t dil,
                                         index_t n_out, index_t* lo, index_t* hi) {
  const index_t a = i + pad - (taps - 1) * dil;
  *lo = imax(0, floor_div(a + stride - 1, stride));
  *hi = imin(n_out, floor_div(i + pad, stride) + 1);
}

// First valid tap t0 and end t1 of a window starting at `start` (the CPU's pool_taps).
__device__ __forceinline__ void taps_in(index_t start, index_t taps, index_t dil, index_t n, index_t* t0,
                                        index_t* t1) {
  const index_t a = imin(taps, start < 0 ? (-start + dil - 1) / dil : index_t(0));
  const index_t b = start > n - 1 ? index_t(0) : imin(taps, (n - 1 - start) / dil + 1);
  *t0 = a;
  *t1 = imax(a, b);
}

__global__ void max_forward_kernel(float* y, int64_t* idx, const float* x, index_t total, Pool2dShape s) {
  for (index_t o = global_index(); o < total; o += grid_stride()) {
    const index_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    const float* xp = x + plane * s.H * s.W;
    const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
    index_t r0, r1, c0, c1;
    taps_in(h0, s.R, s.dil_h, s.H, &r0, &r1);
    taps_in(w0, s.S, s.dil_w, s.W, &c0, &c1);
    float m = -INFINITY;
    int64_t best = (h0 + r0 * s.dil_h) * s.W + (w0 + c0 * s.dil_w);
    for (index_t r = r0; r < r1; ++r)
      for (index_t c = c0; c < c1; ++c) {
        const index_t k = (h0 + r * s.dil_h) * s.W + (w0 + c * s.dil_w);
        const float v = xp[k];
        if (v > m || isnan(v)) {
          m = v;
          best = k;
        }
      }
    y[o] = m;
    if (idx) idx[o] = best;
  }
}

__global__ void fill_zero_kernel(float* x, index_t n) {
  for (index_t i = global_index(); i < n; i += grid_stride()) x[i] = 0.0f;
}

// One thread per output: dy[o] added at its winner (outputs of one plane may share a winner
// when windows overlap, hence the atomic add; the summation order then varies from run to run).
__global__ void max_backward_kernel(float* dx, const float* dy, const int64_t* idx, index_t total, index_t pq,
                                    index_t hw) {
  for (index_t o = global_index(); o < total; o += grid_stride()) {
    const int64_t k = idx[o];
    if (k >= 0 && k < hw) atomicAdd(dx + (o / pq) * hw + k, dy[o]);
  }
}

// Divisor of window (p, q): the CPU's avg_divisor.
__device__ __forceinline__ float divisor(const Pool2dShape& s, const AvgPoolOptions& o, index_t p, index_t q) {
  if (o.divisor_override) return static_cast<float>(o.divisor_override);
  index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  index_t h1 = imin(h0 + s.R, s.H + s.pad_h), w1 = imin(w0 + s.S, s.W + s.pad_w);
  if (o.count_include_pad) return static_cast<float>((h1 - h0) * (w1 - w0));
  h0 = imax(h0, 0);
  w0 = imax(w0, 0);
  h1 = imin(h1, s.H);
  w1 = imin(w1, s.W);
  return static_cast<float>((h1 - h0) * (w1 - w0));
}

__global__ void avg_forward_kernel(float* y, const float* x, index_t total, Pool2dShape s, AvgPoolOptions opt) {
  for (index_t o = global_index(); o < total; o += grid_stride()) {
    const index_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    const float* xp = x + plane * s.H * s.W;
    const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
    const index_t ha = imax(h0, 0), hb = imin(h0 + s.R, s.H), wa = imax(w0, 0), wb = imin(w0 + s.S, s.W);
    float sum = 0.0f;
    for (index_t h = ha; h < hb; ++h)
      for (index_t w = wa; w < wb; ++w) sum += xp[h * s.W + w];
    y[o] = sum / divisor(s, opt, p, q);
  }
}

__global__ void avg_backward_kernel(float* dx, const float* dy, index_t total, Pool2dShape s, AvgPoolOptions opt) {
  for (index_t i = global_index(); i < total; i += grid_stride()) {
    const index_t hw = i % (s.H * s.W), plane = i / (s.H * s.W);
    const index_t h = hw / s.W, w = hw % s.W;
    index_t p0, p1, q0, q1;
    covering(h, s.R, s.stride_h, s.pad_h, 1, s.P, &p0, &p1);
    covering(w, s.S, s.stride_w, s.pad_w, 1, s.Q, &q0, &q1);
    const float* g = dy + plane * s.P * s.Q;
    float acc = 0.0f;
    for (index_t p = p0; p < p1; ++p)
      for (index_t q = q0; q < q1; ++q) acc += g[p * s.Q + q] / divisor(s, opt, p, q);
    dx[i] = acc;
  }
}

// Adaptive window [start, end) of output o along an axis of n inputs and m outputs.
__device__ __forceinline__ index_t ad_start(index_t o, index_t n, index_t m) { return (o * n) / m; }
__device__ __forceinline__ index_t ad_end(index_t o, index_t n, index_t m) { return ((o + 1) * n + m - 1) / m; }

__global__ void adaptive_forward_kernel(float* y, const float* x, index_t total, Pool2dShape s) {
  for (index_t o = global_index(); o < total; o += grid_stride()) {
    const index_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    const float* xp = x + plane * s.H * s.W;
    const index_t h0 = ad_start(p, s.H, s.P), h1 = ad_end(p, s.H, s.P);
    const index_t w0 = ad_start(q, s.W, s.Q), w1 = ad_end(q, s.W, s.Q);
    float sum = 0.0f;
    for (index_t h = h0; h < h1; ++h)
      for (index_t w = w0; w < w1; ++w) sum += xp[h * s.W + w];
    y[o] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

// Outputs [lo, hi) along one axis whose adaptive window contains input i (windows are
// ordered and each is non-empty, so they form one run around floor(i m / n)).
__device__ __forceinline__ void ad_covering(index_t i, index_t n, index_t m, index_t* lo, index_t* hi) {
  index_t a = (i * m) / n;
  while (a > 0 && ad_end(a - 1, n, m) > i) --a;
  index_t b = a;
  while (b < m && ad_start(b, n, m) <= i) ++b;
  *lo = a;
  *hi = b;
}

__global__ void adaptive_backward_kernel(float* dx, const float* dy, index_t total, Pool2dShape s) {
  for (index_t i = global_index(); i < total; i += grid_stride()) {
    const index_t hw = i % (s.H * s.W), plane = i / (s.H * s.W);
    const index_t h = hw / s.W, w = hw % s.W;
    index_t p0, p1, q0, q1;
    ad_covering(h, s.H, s.P, &p0, &p1);
    ad_covering(w, s.W, s.Q, &q0, &q1);
    const float* g = dy + plane * s.P * s.Q;
    float acc = 0.0f;
    for (index_t p = p0; p < p1; ++p) {
      const index_t rows = ad_end(p, s.H, s.P) - ad_start(p, s.H, s.P);
      for (index_t q = q0; q < q1; ++q)
        acc += g[p * s.Q + q] / static_cast<float>(rows * (ad_end(q, s.W, s.Q) - ad_start(q, s.W, s.Q)));
    }
    dx[i] = acc;
  }
}

}  // namespace
}  // namespace cuda

void max_pool2d_forward_cuda(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s,
                             cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.P * s.Q;
  if (total <= 0) return;
  max_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, idx, x, total, s);
  check_launch("max_pool_forward_kernel");
}

void max_pool2d_backward_cuda(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s,
                              cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.P * s.Q, hw = s.H * s.W;
  if (planes * hw <= 0) return;
  fill_zero_kernel<<<grid_for(planes * hw), kBlock, 0, stream>>>(dx, planes * hw);
  check_launch("fill_zero_kernel");
  if (total <= 0) return;
  max_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(dx, dy, idx, total, s.P * s.Q, hw);
  check_launch("max_pool_backward_kernel");
}

void avg_pool2d_forward_cuda(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o,
                             cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.P * s.Q;
  if (total <= 0) return;
  avg_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, x, total, s, o);
  check_launch("avg_pool_forward_kernel");
}

void avg_pool2d_backward_cuda(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                              const AvgPoolOptions& o, cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.H * s.W;
  if (total <= 0) return;
  avg_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(dx, dy, total, s, o);
  check_launch("avg_pool_backward_kernel");
}

void adaptive_avg_pool2d_forward_cuda(float* y, const float* x, index_t planes, const Pool2dShape& s,
                                      cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.P * s.Q;
  if (total <= 0) return;
  adaptive_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, x, total, s);
  check_launch("adaptive_avg_pool_forward_kernel");
}

void adaptive_avg_pool2d_backward_cuda(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                                       cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.H * s.W;
  if (total <= 0) return;
  adaptive_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(dx, dy, total, s);
  check_launch("adaptive_avg_pool_backward_kernel");
}

}  // namespace fl
