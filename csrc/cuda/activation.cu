// CUDA kernels of the activation family (launchers declared in activation.cuh).
//
// Element-wise ops: one kernel template per op (the op is a compile-time constant, so each
// instantiation is a tight loop); grid-stride over 64-bit indices, float4 loads and stores when
// every pointer is 16-byte aligned, scalar for the tail. Memory-bound: 8 bytes per element
// forward, 12 backward.
//
// Softmax: rows along the reduced axis. When the axis is the last one (inner == 1) a group of
// threads owns one row -- a warp for rows shorter than kBlockRowMin, the whole block for longer
// ones -- and reduces max and sum with shuffles; otherwise one thread owns one column
// (o, j) and walks its n elements `inner` apart, so a warp reads 32 adjacent floats per step.
// Sums are float (tree-ordered, so their error grows with log n, not n).
//
// Maxout: one thread per output element, reading its `pieces` inputs.
#include <cmath>

#include "cuda/activation.cuh"
#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"

namespace fl {
namespace cuda {
namespace {

// ---- element-wise ------------------------------------------------------------------------

template <ActOp OP>
__global__ void act_forward_kernel(float* y, const float* x, index_t n, float a) {
  const index_t start = global_index(), stride = grid_stride();
  index_t done = 0;
  if (aligned16(y) && aligned16(x)) {
    const index_t n4 = n / 4;
    for (index_t i = start; i < n4; i += stride) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      float4 r;
      r.x = act_forward1(OP, v.x, a);
      r.y = act_forward1(OP, v.y, a);
      r.z = act_forward1(OP, v.z, a);
      r.w = act_forward1(OP, v.w, a);
      reinterpret_cast<float4*>(y)[i] = r;
    }
    done = n4 * 4;
  }
  for (index_t i = done + start; i < n; i += stride) y[i] = act_forward1(OP, x[i], a);
}

template <ActOp OP>
__global__ void act_backward_kernel(float* dx, const float* dy, const float* s, index_t n, float a) {
  const index_t start = global_index(), stride = grid_stride();
  index_t done = 0;
  if (aligned16(dx) && aligned16(dy) && aligned16(s)) {
    const index_t n4 = n / 4;
    for (index_t i = start; i < n4; i += stride) {
      const float4 g = reinterpret_cast<const float4*>(dy)[i];
      const float4 v = reinterpret_cast<const float4*>(s)[i];
      float4 r;
      r.x = act_backward1(OP, g.x, v.x, a);
      r.y = act_backward1(OP, g.y, v.y, a);
      r.z = act_backward1(OP, g.z, v.z, a);
      r.w = act_backward1(OP, g.w, v.w, a);
      reinterpret_cast<float4*>(dx)[i] = r;
    }
    done = n4 * 4;
  }
  for (index_t i = done + start; i < n; i += stride) dx[i] = act_backward1(OP, dy[i], s[i], a);
}

template <ActOp OP>
void launch_act(float* y, const float* x, const float* s, index_t n, float a, cudaStream_t stream) {
  const unsigned grid = grid_for((n + 3) / 4);
  if (s == nullptr)
    act_forward_kernel<OP><<<grid, kBlock, 0, stream>>>(y, x, n, a);
  else
    act_backward_kernel<OP><<<grid, kBlock, 0, stream>>>(y, x, s, n, a);
}

// s == nullptr: forward y = f(x); otherwise backward y = dx, x = dy.
void launch_act_op(ActOp op, float* y, const float* x, const float* s, index_t n, float a, cudaStream_t stream) {
  switch (op) {
    case ActOp::sigmoid: launch_act<ActOp::sigmoid>(y, x, s, n, a, stream); break;
    case ActOp::tanh: launch_act<ActOp::tanh>(y, x, s, n, a, stream); break;
    case ActOp::relu: launch_act<ActOp::relu>(y, x, s, n, a, stream); break;
    case ActOp::leaky_relu: launch_act<ActOp::leaky_relu>(y, x, s, n, a, stream); break;
    case ActOp::elu: launch_act<ActOp::elu>(y, x, s, n, a, stream); break;
    case ActOp::gelu: launch_act<ActOp::gelu>(y, x, s, n, a, stream); break;
    case ActOp::gelu_tanh: launch_act<ActOp::gelu_tanh>(y, x, s, n, a, stream); break;
    case ActOp::silu: launch_act<ActOp::silu>(y, x, s, n, a, stream); break;
    default: throw std::invalid_argument(str_cat("op: unknown activation ", static_cast<int>(op)));
  }
  check_launch(s == nullptr ? "act_forward_kernel" : "act_backward_kernel");
}

// ---- reductions for softmax ----------------------------------------------------------------

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};

template <class Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Reduces v over a group of G threads (G = 32: one warp; G = blockDim.x: the block; every
// thread of the group must call it). Every thread gets the result.
template <int G, class Op>
__device__ __forceinline__ float group_reduce(float v, Op op, float* smem) {
  v = warp_reduce(v, op);
  if constexpr (G > 32) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // smem may still be read by the previous reduction
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    v = smem[0];
    for (int w = 1; w < G / 32; ++w) v = op(v, smem[w]);
  }
  return v;
}

constexpr index_t kBlockRowMin = 1024;  // rows at least this long get a whole block

// Rows are shared out to groups of G threads (G divides the block): this thread's lane in its
// group, its group's first row and the grid-wide row stride.
template <int G>
struct RowGroups {
  int lane = threadIdx.x % G;
  index_t first = static_cast<index_t>(blockIdx.x) * (kBlock / G) + threadIdx.x / G;
  index_t step = static_cast<index_t>(gridDim.x) * (kBlock / G);
};

// Softmax over contiguous rows of n floats (inner == 1), G threads per row.
template <int G>
__global__ void softmax_rows_forward_kernel(float* y, const float* x, index_t rows, index_t n, bool log) {
  __shared__ float smem[kBlock / 32];
  const RowGroups<G> rg;
  const int lane = rg.lane;
  for (index_t r = rg.first; r < rows; r += rg.step) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float m = -INFINITY;
    for (index_t i = lane; i < n; i += G) m = fmaxf(m, xr[i]);
    m = group_reduce<G>(m, MaxOp(), smem);
    float s = 0.0f;
    for (index_t i = lane; i < n; i += G) s += expf(xr[i] - m);
    s = group_reduce<G>(s, SumOp(), smem);  // NaN anywhere in the row makes s NaN
    if (log) {
      const float lse = m + logf(s);
      for (index_t i = lane; i < n; i += G) yr[i] = xr[i] - lse;
    } else {
      const float inv = 1.0f / s;
      for (index_t i = lane; i < n; i += G) yr[i] = expf(xr[i] - m) * inv;
    }
  }
}

template <int G>
__global__ void softmax_rows_backward_kernel(float* dx, const float* dy, const float* y, index_t rows, index_t n,
                                             bool log) {
  __shared__ float smem[kBlock / 32];
  const RowGroups<G> rg;
  const int lane = rg.lane;
  for (index_t r = rg.first; r < rows; r += rg.step) {
    const float* gr = dy + r * n;
    const float* yr = y + r * n;
    float* dr = dx + r * n;
    float s = 0.0f;
    for (index_t i = lane; i < n; i += G) s += log ? gr[i] : gr[i] * yr[i];
    s = group_reduce<G>(s, SumOp(), smem);
    for (index_t i = lane; i < n; i += G) dr[i] = log ? gr[i] - expf(yr[i]) * s : yr[i] * (gr[i] - s);
  }
}

// Softmax along a strided axis (inner > 1): one thread per column (o, j).
__global__ void softmax_cols_forward_kernel(float* y, const float* x, AxisShape sh, bool log) {
  const index_t cols = sh.outer * sh.inner;
  for (index_t c = global_index(); c < cols; c += grid_stride()) {
    const index_t base = (c / sh.inner) * sh.n * sh.inner + c % sh.inner;
    const float* xc = x + base;
    float* yc = y + base;
    float m = -INFINITY;
    for (index_t i = 0; i < sh.n; ++i) m = fmaxf(m, xc[i * sh.inner]);
    float s = 0.0f;
    for (index_t i = 0; i < sh.n; ++i) s += expf(xc[i * sh.inner] - m);
    if (log) {
      const float lse = m + logf(s);
      for (index_t i = 0; i < sh.n; ++i) yc[i * sh.inner] = xc[i * sh.inner] - lse;
    } else {
      const float inv = 1.0f / s;
      for (index_t i = 0; i < sh.n; ++i) yc[i * sh.inner] = expf(xc[i * sh.inner] - m) * inv;
    }
  }
}

__global__ void softmax_cols_backward_kernel(float* dx, const float* dy, const float* y, AxisShape sh, bool log) {
  const index_t cols = sh.outer * sh.inner;
  for (index_t c = global_index(); c < cols; c += grid_stride()) {
    const index_t base = (c / sh.inner) * sh.n * sh.inner + c % sh.inner;
    float s = 0.0f;
    for (index_t i = 0; i < sh.n; ++i) {
      const index_t k = base + i * sh.inner;
      s += log ? dy[k] : dy[k] * y[k];
    }
    for (index_t i = 0; i < sh.n; ++i) {
      const index_t k = base + i * sh.inner;
      dx[k] = log ? dy[k] - expf(y[k]) * s : y[k] * (dy[k] - s);
    }
  }
}

// ---- maxout --------------------------------------------------------------------------------

// Index of the first maximum of x[0], x[step], ... (pieces values); NaN wins (as the CPU).
__device__ __forceinline__ index_t maxout_winner(const float* x, index_t pieces, index_t step) {
  index_t w = 0;
  float m = x[0];
  for (index_t k = 1; k < pieces; ++k) {
    if (isnan(m)) break;
    const float v = x[k * step];
    if (v > m || isnan(v)) {
      m = v;
      w = k;
    }
  }
  return w;
}

// Output element idx = (o, c, j) of (outer, cout, inner); its inputs start at
// x[(o * n + c * pieces) * inner + j], `inner` apart.
__device__ __forceinline__ index_t maxout_input_offset(index_t idx, index_t cout, index_t pieces, index_t inner) {
  const index_t j = idx % inner, t = idx / inner;
  const index_t c = t % cout, o = t / cout;
  return (o * cout * pieces + c * pieces) * inner + j;
}

__global__ void maxout_forward_kernel(float* y, const float* x, index_t total, index_t cout, index_t pieces,
                                      index_t inner) {
  for (index_t idx = global_index(); idx < total; idx += grid_stride()) {
    const float* xc = x + maxout_input_offset(idx, cout, pieces, inner);
    y[idx] = xc[maxout_winner(xc, pieces, inner) * inner];
  }
}

__global__ void maxout_backward_kernel(float* dx, const float* dy, const float* x, index_t total, index_t cout,
                                       index_t pieces, index_t inner) {
  for (index_t idx = global_index(); idx < total; idx += grid_stride()) {
    const index_t off = maxout_input_offset(idx, cout, pieces, inner);
    const index_t w = maxout_winner(x + off, pieces, inner);
    const float g = dy[idx];
    for (index_t k = 0; k < pieces; ++k) dx[off + k * inner] = k == w ? g : 0.0f;
  }
}

}  // namespace
}  // namespace cuda

void act_forward_cuda(ActOp op, float* y, const float* x, index_t n, float a, cudaStream_t stream) {
  if (n <= 0) return;
  cuda::launch_act_op(op, y, x, nullptr, n, a, stream);
}

void act_backward_cuda(ActOp op, float* dx, const float* dy, const float* s, index_t n, float a,
                       cudaStream_t stream) {
  if (n <= 0) return;
  cuda::launch_act_op(op, dx, dy, s, n, a, stream);
}

void softmax_forward_cuda(float* y, const float* x, AxisShape sh, bool log, cudaStream_t stream) {
  using namespace cuda;
  if (sh.outer * sh.n * sh.inner <= 0) return;
  if (sh.inner == 1 && sh.n >= kBlockRowMin) {
    softmax_rows_forward_kernel<kBlock><<<grid_for(sh.outer, 1), kBlock, 0, stream>>>(y, x, sh.outer, sh.n, log);
  } else if (sh.inner == 1) {
    softmax_rows_forward_kernel<32><<<grid_for(sh.outer, kBlock / 32), kBlock, 0, stream>>>(y, x, sh.outer, sh.n,
                                                                                            log);
  } else {
    softmax_cols_forward_kernel<<<grid_for(sh.outer * sh.inner), kBlock, 0, stream>>>(y, x, sh, log);
  }
  check_launch("softmax_forward_kernel");
}

void softmax_backward_cuda(float* dx, const float* dy, const float* y, AxisShape sh, bool log,
                           cudaStream_t stream) {
  using namespace cuda;
  if (sh.outer * sh.n * sh.inner <= 0) return;
  if (sh.inner == 1 && sh.n >= kBlockRowMin) {
    softmax_rows_backward_kernel<kBlock><<<grid_for(sh.outer, 1), kBlock, 0, stream>>>(dx, dy, y, sh.outer, sh.n,
                                                                                        log);
  } else if (sh.inner == 1) {
    softmax_rows_backward_kernel<32><<<grid_for(sh.outer, kBlock / 32), kBlock, 0, stream>>>(dx, dy, y, sh.outer,
                                                                                             sh.n, log);
  } else {
    softmax_cols_backward_kernel<<<grid_for(sh.outer * sh.inner), kBlock, 0, stream>>>(dx, dy, y, sh, log);
  }
  check_launch("softmax_backward_kernel");
}

void maxout_forward_cuda(float* y, const float* x, AxisShape sh, index_t pieces, cudaStream_t stream) {
  using namespace cuda;
  const index_t cout = sh.n / pieces, total = sh.outer * cout * sh.inner;
  if (total <= 0) return;
  maxout_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, x, total, cout, pieces, sh.inner);
  check_launch("maxout_forward_kernel");
}

void maxout_backward_cuda(float* dx, const float* dy, const float* x, AxisShape sh, index_t pieces,
                          cudaStream_t stream) {
  using namespace cuda;
  const index_t cout = sh.n / pieces, total = sh.outer * cout * sh.inner;
  if (total <= 0) return;
  maxout_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(dx, dy, x, total, cout, pieces, sh.inner);
  check_launch("maxout_backward_kernel");
}

}  // namespace fl
