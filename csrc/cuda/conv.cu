// CUDA kernels of the conv family (launchers in conv.cuh): implicit GEMM. Unverified on a GPU
// at the time of writing; tools/cuda_emu checks them against the CPU reference kernels.
//
// Each op is a GEMM per group whose operands are never materialised: the kernel reads their
// elements straight from the tensors (the im2col matrix is implicit).
//   forward          Y[k][(n,p,q)]   = sum over (c,r,s)   W[k][(c,r,s)]  * X~[(c,r,s)][(n,p,q)]
//   backward-input   DX[c][(n,h,w)]  = sum over (k,r,s)   W'[c][(k,r,s)] * DY~[(k,r,s)][(n,h,w)]
//   backward-weight  DW[k][(c,r,s)]  = sum over (n,p,q)   DY[k][(n,p,q)] * X~'[(n,p,q)][(c,r,s)]
// X~ gathers input pixels (zero in the padding); DY~ reads dy at the output (p, q) that tap
// (r, s) of pixel (h, w) came from, zero where h + pad - r dil is not a multiple of the
// stride or falls outside the output. Sizes per group: Cg = C / G, Kg = K / G.
//
// One kernel template runs the three: a block computes a 64 x 64 tile of the GEMM output with
// 256 threads; per 16-deep step of the reduction it stages the A slice (16 x 64) and B slice
// (16 x 64) in double-buffered shared memory (each thread gathers 4 elements of each, zero
// past the edges, the next slice while the current one is multiplied), then each thread
// accumulates a 4 x 4 register block (rows ty + 16 i, columns tx + 16 j, so a
// warp reads 16 consecutive floats of a shared row: no bank conflicts). blockIdx.z numbers
// (group, reduction split). The backward-weight reduction (N P Q) is long and its output
// small, so it is split over up to kMaxSplits blocks that add into a zeroed dw atomically.
// Correctness before speed: no vector loads, index arithmetic per gathered element.
// Depthwise layers (Cg = Kg = 1), which would fill 1/64 of each tile, have direct kernels:
// one thread per output (forward) or input (backward-input), one block per weight
// (backward-weight, a deterministic tree over N P Q).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/conv.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;
constexpr index_t kMaxSplits = 64;

// ---- the three problems: sizes, operand gathers, output store ----------------------------

struct ConvGeom {
  Conv2dShape s;
  index_t Cg, Kg, RS, PQ, HW;
  // Input pixel read by tap (c, r, t) of output (img, p, q) in group grp; 0 in the padding.
  // k_crs is the flat (c, r, t) index, n_pq the flat (img, p, q) index.
  __device__ __forceinline__ float x_tap(const float* x, index_t grp, index_t k_crs, index_t n_pq) const {
    const index_t c = k_crs / RS, r = (k_crs % RS) / s.S, t = k_crs % s.S;
    const index_t img = n_pq / PQ, p = (n_pq % PQ) / s.Q, q = n_pq % s.Q;
    const index_t h = p * s.stride_h - s.pad_h + r * s.dil_h, w = q * s.stride_w - s.pad_w + t * s.dil_w;
    return h >= 0 && h < s.H && w >= 0 && w < s.W ? x[((img * s.C + grp * Cg + c) * s.H + h) * s.W + w] : 0.0f;
  }
};

ConvGeom make_geom(const Conv2dShape& s) {
  return ConvGeom{s, s.C / s.groups, s.K / s.groups, s.R * s.S, s.P * s.Q, s.H * s.W};
}

struct Forward {
  ConvGeom g;
  float* y;
  const float* x;
  const float* w;
  const float* bias;
  __device__ index_t M() const { return g.Kg; }
  __device__ index_t N() const { return g.s.N * g.PQ; }
  __device__ index_t K() const { return g.Cg * g.RS; }
  __device__ float a(index_t grp, index_t m, index_t k) const { return w[(grp * g.Kg + m) * g.Cg * g.RS + k]; }
  // Column n = output pixel (img, p, q): its input planes and window origin, decoded once.
  struct Col {
    const float* x;
    index_t h0, w0;
  };
  __device__ Col col(index_t grp, index_t n) const {
    const Conv2dShape& s = g.s;
    const index_t img = n / g.PQ, p = (n % g.PQ) / s.Q, q = n % s.Q;
    return {x + (img * s.C + grp * g.Cg) * g.HW, p * s.stride_h - s.pad_h, q * s.stride_w - s.pad_w};
  }
  __device__ float b(const Col& cl, index_t k) const {
    const Conv2dShape& s = g.s;
    const index_t c = k / g.RS, rs = k - c * g.RS, r = rs / s.S, t = rs - r * s.S;
    const index_t h = cl.h0 + r * s.dil_h, wc = cl.w0 + t * s.dil_w;
    return h >= 0 && h < s.H && wc >= 0 && wc < s.W ? cl.x[c * g.HW + h * s.W + wc] : 0.0f;
  }
  __device__ void store(index_t grp, index_t m, index_t n, float acc) const {
    const index_t k = grp * g.Kg + m, img = n / g.PQ;
    y[(img * g.s.K + k) * g.PQ + n % g.PQ] = bias ? acc + bias[k] : acc;
  }
};

struct BackwardInput {
  ConvGeom g;
  float* dx;
  const float* dy;
  const float* w;
  const float* bias;
  __device__ index_t M() const { return g.Cg; }
  __device__ index_t N() const { return g.s.N * g.HW; }
  __device__ index_t K() const { return g.Kg * g.RS; }
  __device__ float a(index_t grp, index_t m, index_t k) const {
    const index_t kk = k / g.RS, rs = k % g.RS;
    return w[((grp * g.Kg + kk) * g.Cg + m) * g.RS + rs];
  }
  // Column n = input pixel (img, h, w): its dy planes and padded position, decoded once.
  struct Col {
    const float* dy;
    index_t hp, wp;
  };
  __device__ Col col(index_t grp, index_t n) const {
    const Conv2dShape& s = g.s;
    const index_t img = n / g.HW, h = (n % g.HW) / s.W, wc = n % s.W;
    return {dy + (img * s.K + grp * g.Kg) * g.PQ, h + s.pad_h, wc + s.pad_w};
  }
  // dy at the output (p, q) whose tap (r, t) reads the column's pixel, or 0.
  __device__ float b(const Col& cl, index_t k) const {
    const Conv2dShape& s = g.s;
    const index_t kk = k / g.RS, rs = k - kk * g.RS, r = rs / s.S, t = rs - r * s.S;
    const index_t ph = cl.hp - r * s.dil_h, qw = cl.wp - t * s.dil_w;
    if (ph < 0 || qw < 0 || ph % s.stride_h || qw % s.stride_w) return 0.0f;
    const index_t p = ph / s.stride_h, q = qw / s.stride_w;
    if (p >= s.P || q >= s.Q) return 0.0f;
    return cl.dy[kk * g.PQ + p * s.Q + q];
  }
  __device__ void store(index_t grp, index_t m, index_t n, float acc) const {
    const index_t c = grp * g.Cg + m, img = n / g.HW;
    dx[(img * g.s.C + c) * g.HW + n % g.HW] = bias ? acc + bias[c] : acc;
  }
};

struct BackwardWeight {
  ConvGeom g;
  float* dw;
  const float* dy;
  const float* x;
  __device__ index_t M() const { return g.Kg; }
  __device__ index_t N() const { return g.Cg * g.RS; }
  __device__ index_t K() const { return g.s.N * g.PQ; }
  __device__ float a(index_t grp, index_t m, index_t k) const {
    const index_t img = k / g.PQ;
    return dy[(img * g.s.K + grp * g.Kg + m) * g.PQ + k % g.PQ];
  }
  // Column n = weight tap (c, r, t): its input plane and tap offsets, decoded once.
  struct Col {
    const float* x;
    index_t dh, dw;
  };
  __device__ Col col(index_t grp, index_t n) const {
    const Conv2dShape& s = g.s;
    const index_t c = n / g.RS, r = (n % g.RS) / s.S, t = n % s.S;
    return {x + (grp * g.Cg + c) * g.HW, r * s.dil_h - s.pad_h, t * s.dil_w - s.pad_w};
  }
  __device__ float b(const Col& cl, index_t k) const {
    const Conv2dShape& s = g.s;
    const index_t img = k / g.PQ, pq = k - img * g.PQ, p = pq / s.Q, q = pq - p * s.Q;
    const index_t h = p * s.stride_h + cl.dh, wc = q * s.stride_w + cl.dw;
    return h >= 0 && h < s.H && wc >= 0 && wc < s.W ? cl.x[img * s.C * g.HW + h * s.W + wc] : 0.0f;
  }
  __device__ void store(index_t grp, index_t m, index_t n, float acc) const {
    atomicAdd(dw + (grp * g.Kg + m) * g.Cg * g.RS + n, acc);
  }
};

// ---- the implicit-GEMM kernel ----------------------------------------------------------------

// C[m][n] = sum over k in this block's split of A[m][k] B[k][n]; blockIdx.z = group * splits
// + split, each split covering `kchunk` (a multiple of kBK) of the reduction. Shared tiles are
// double-buffered: the next slice is gathered into registers while the current one is
// multiplied, then stored to the other buffer, so one barrier per slice suffices (a buffer is
// rewritten only after every thread passed the barrier that follows its last read).
template <class Problem>
__global__ void __launch_bounds__(kThreads) igemm_kernel(Problem pr, index_t splits, index_t kchunk) {
  constexpr int kUnits = kBM * kBK / kThreads;  // elements of each operand a thread gathers per slice
  __shared__ float As[2][kBK][kBM];
  __shared__ float Bs[2][kBK][kBN];
  const index_t grp = blockIdx.z / splits, split = blockIdx.z % splits;
  const index_t M = pr.M(), N = pr.N(), K = pr.K();
  const index_t m0 = static_cast<index_t>(blockIdx.y) * kBM, n0 = static_cast<index_t>(blockIdx.x) * kBN;
  const index_t k_begin = split * kchunk, k_end = K < k_begin + kchunk ? K : k_begin + kchunk;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float ra[kUnits], rb[kUnits];
  // Every B element this thread gathers lies in one column (kThreads is a multiple of kBN),
  // so the column's decoding happens once per block.
  static_assert(kThreads % kBN == 0, "a thread's B elements must share one column");
  const index_t gn = n0 + tid % kBN;
  const typename Problem::Col col = pr.col(grp, gn < N ? gn : 0);
  // A: consecutive threads take consecutive k (weights and dy are contiguous along it);
  // B: consecutive threads take consecutive n (neighbouring pixels). Zero past the edges.
  auto gather = [&](index_t k0) {
    for (int u = 0; u < kUnits; ++u) {
      const int e = tid + u * kThreads;
      const index_t gm = m0 + e / kBK, gk = k0 + e % kBK;
      ra[u] = gm < M && gk < k_end ? pr.a(grp, gm, gk) : 0.0f;
      const index_t gkb = k0 + e / kBN;
      rb[u] = gn < N && gkb < k_end ? pr.b(col, gkb) : 0.0f;
    }
  };
  auto stage = [&](int buf) {
    for (int u = 0; u < kUnits; ++u) {
      const int e = tid + u * kThreads;
      As[buf][e % kBK][e / kBK] = ra[u];
      Bs[buf][e / kBN][e % kBN] = rb[u];
    }
  };
  float acc[4][4] = {};
  if (k_begin < k_end) {
    gather(k_begin);
    stage(0);
  }
  __syncthreads();
  int buf = 0;
  for (index_t k0 = k_begin; k0 < k_end; k0 += kBK) {
    const bool more = k0 + kBK < k_end;
    if (more) gather(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[4], bv[4];
      for (int i = 0; i < 4; ++i) av[i] = As[buf][kk][ty + 16 * i];
      for (int j = 0; j < 4; ++j) bv[j] = Bs[buf][kk][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) stage(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const index_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) pr.store(grp, m, n, acc[i][j]);
    }
}

template <class Problem>
void launch_igemm(const Problem& pr, index_t M, index_t N, index_t K, index_t groups, index_t splits,
                  cudaStream_t stream, const char* name) {
  if (M <= 0 || N <= 0) return;
  index_t kchunk = (K + splits - 1) / splits;
  kchunk = std::max<index_t>(kBK, (kchunk + kBK - 1) / kBK * kBK);
  splits = std::max<index_t>(1, (K + kchunk - 1) / kchunk);
  const index_t gx = (N + kBN - 1) / kBN, gy = (M + kBM - 1) / kBM, gz = groups * splits;
  FL_CHECK_ARG(gx < (index_t(1) << 31) && gy <= 65535 && gz <= 65535, name, ": problem too large for one launch (",
               gx, " x ", gy, " x ", gz, " blocks)");
  igemm_kernel<Problem><<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(gz)),
                          kThreads, 0, stream>>>(pr, splits, kchunk);
  check_launch(name);
}

// ---- depthwise (Cg = Kg = 1): direct kernels, no GEMM tile to waste -----------------------

// One thread per output (img, k, p, q): the R x S taps of channel k, in the reference's order.
__global__ void depthwise_forward_kernel(float* y, const float* x, const float* w, const float* bias, ConvGeom g,
                                         index_t total) {
  const Conv2dShape& s = g.s;
  for (index_t o = global_index(); o < total; o += grid_stride()) {
    const index_t pq = o % g.PQ, k = (o / g.PQ) % s.K;
    float acc = 0.0f;
    for (index_t rs = 0; rs < g.RS; ++rs) acc += g.x_tap(x, k, rs, (o / (g.PQ * s.K)) * g.PQ + pq) * w[k * g.RS + rs];
    y[o] = bias ? acc + bias[k] : acc;
  }
}

// One thread per input (img, c, h, w): dy at the outputs whose taps read it.
__global__ void depthwise_backward_input_kernel(float* dx, const float* dy, const float* w, const float* bias,
                                                ConvGeom g, index_t total) {
  const Conv2dShape& s = g.s;
  for (index_t i = global_index(); i < total; i += grid_stride()) {
    const index_t hw = i % g.HW, c = (i / g.HW) % s.C, img = i / (g.HW * s.C);
    const index_t h = hw / s.W, wc = hw % s.W;
    const float* dyc = dy + (img * s.K + c) * g.PQ;
    float acc = 0.0f;
    for (index_t r = 0; r < s.R; ++r) {
      const index_t ph = h + s.pad_h - r * s.dil_h;
      if (ph < 0 || ph % s.stride_h || ph / s.stride_h >= s.P) continue;
      for (index_t t = 0; t < s.S; ++t) {
        const index_t qw = wc + s.pad_w - t * s.dil_w;
        if (qw < 0 || qw % s.stride_w || qw / s.stride_w >= s.Q) continue;
        acc += dyc[(ph / s.stride_h) * s.Q + qw / s.stride_w] * w[c * g.RS + r * s.S + t];
      }
    }
    dx[i] = bias ? acc + bias[c] : acc;
  }
}

// One block per weight (k, r, t): the sum over (img, p, q) of dy * x, a fixed-order tree.
__global__ void __launch_bounds__(kThreads) depthwise_backward_weight_kernel(float* dw, const float* dy,
                                                                             const float* x, ConvGeom g) {
  __shared__ float smem[kThreads];
  const index_t k = blockIdx.x / g.RS, rs = blockIdx.x % g.RS, red = g.s.N * g.PQ;
  float acc = 0.0f;
  for (index_t n = threadIdx.x; n < red; n += kThreads)
    acc += dy[((n / g.PQ) * g.s.K + k) * g.PQ + n % g.PQ] * g.x_tap(x, k, rs, n);
  smem[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) smem[threadIdx.x] += smem[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) dw[blockIdx.x] = smem[0];
}

__global__ void zero_kernel(float* p, index_t n) {
  for (index_t i = global_index(); i < n; i += grid_stride()) p[i] = 0.0f;
}

// One block per channel k: db[k] = sum over (n, l) of t[(n K + k) L + l], a fixed-order tree.
__global__ void __launch_bounds__(kThreads) bias_grad_kernel(float* db, const float* t, index_t N, index_t K,
                                                             index_t L) {
  __shared__ float smem[kThreads];
  const index_t k = blockIdx.x;
  float a = 0.0f;
  for (index_t i = threadIdx.x; i < N * L; i += kThreads) a += t[((i / L) * K + k) * L + i % L];
  smem[threadIdx.x] = a;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) smem[threadIdx.x] += smem[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = smem[0];
}

}  // namespace
}  // namespace cuda

void conv2d_forward_cuda(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s,
                         cudaStream_t stream) {
  using namespace cuda;
  const ConvGeom g = make_geom(s);
  if (g.Cg == 1 && g.Kg == 1) {
    const index_t total = s.N * s.K * g.PQ;
    if (total <= 0) return;
    depthwise_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, x, w, bias, g, total);
    check_launch("depthwise_forward_kernel");
    return;
  }
  launch_igemm(Forward{g, y, x, w, bias}, g.Kg, s.N * g.PQ, g.Cg * g.RS, s.groups, 1, stream, "conv2d_forward");
}

void conv2d_backward_input_cuda(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s,
                                cudaStream_t stream) {
  using namespace cuda;
  const ConvGeom g = make_geom(s);
  if (g.Cg == 1 && g.Kg == 1) {
    const index_t total = s.N * s.C * g.HW;
    if (total <= 0) return;
    depthwise_backward_input_kernel<<<grid_for(total), kBlock, 0, stream>>>(dx, dy, w, bias, g, total);
    check_launch("depthwise_backward_input_kernel");
    return;
  }
  launch_igemm(BackwardInput{g, dx, dy, w, bias}, g.Cg, s.N * g.HW, g.Kg * g.RS, s.groups, 1, stream,
               "conv2d_backward_input");
}

void conv2d_backward_weight_cuda(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                                 cudaStream_t stream) {
  using namespace cuda;
  const ConvGeom g = make_geom(s);
  const index_t n = s.K * g.Cg * g.RS;
  if (n <= 0) return;
  if (g.Cg == 1 && g.Kg == 1) {
    depthwise_backward_weight_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(dw, dy, x, g);
    check_launch("depthwise_backward_weight_kernel");
    return;
  }
  zero_kernel<<<grid_for(n), kBlock, 0, stream>>>(dw, n);
  check_launch("conv2d_backward_weight zero");
  const index_t red = s.N * g.PQ;
  // about 1024 reduction steps per block, at most kMaxSplits blocks per output tile
  index_t splits = std::min<index_t>(kMaxSplits, std::max<index_t>(1, red / 1024));
  splits = std::max<index_t>(1, std::min<index_t>(splits, 65535 / std::max<index_t>(1, s.groups)));
  launch_igemm(BackwardWeight{g, dw, dy, x}, g.Kg, g.Cg * g.RS, red, s.groups, splits, stream,
               "conv2d_backward_weight");
}

void conv_bias_backward_cuda(float* db, const float* t, index_t N, index_t K, index_t L, cudaStream_t stream) {
  using namespace cuda;
  if (K <= 0) return;
  bias_grad_kernel<<<static_cast<unsigned>(K), kThreads, 0, stream>>>(db, t, N, K, L);
  check_launch("conv_bias_backward");
}

}  // namespace fl
