// CUDA SGEMM kernels (launcher contract in gemm.cuh). Unverified on hardware at the time of
// writing: compiled for sm_80 / sm_90, tested by tests/test_cuda.py where a GPU is present.
//
// Both kernels share one structure. A thread block computes a 128 x 128 tile of C with 256
// threads (8 warps laid out 2 (m) x 4 (n), each owning a 64 x 32 warp tile). Per step of the
// K loop it stages a BK-deep slice of A and B in shared memory as S[k][m] and S[k][n] (both
// operands "k-major", whatever their transposition, so the inner loop reads contiguous m and n
// runs). Slices are double-buffered: the next slice's global loads are issued into registers
// before the current slice is multiplied, and stored after, so one __syncthreads per step
// suffices (a buffer is rewritten only after every thread has passed the barrier that follows
// its last read).
//
// Global loads are float4 when the operand's base is 16-byte aligned and its leading dimension
// a multiple of 4 (then every 4-run the tile loader reads is aligned); otherwise, and at the
// matrix edges, scalar loads with bounds checks fill the tile with zeros past M, N, K.
//
// fp32 kernel (BK = 8): each thread accumulates an 8 x 8 block of C in registers as a 2 x 2
// grid of 4 x 4 pieces (rows lm*4 and 32 + lm*4 of the warp tile, columns ln*4 and 16 + ln*4),
// so a warp's float4 reads of a k-row of S cover 32 contiguous floats: no bank conflicts, and
// 64 FMAs per 4 shared-memory loads.
// tf32 kernel (BK = 16): each warp issues 4 x 4 mma.sync.m16n8k8 per 8-deep k step; S rows are
// padded to 136 floats so that the fragment loads (lanes spread over 4 k rows and 8 columns)
// hit 32 distinct banks. A and B are rounded to TF32 once, when stored to shared memory.
#include "cuda/activation_math.cuh"
#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "cuda/mma_tf32.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kTileM = 128, kTileN = 128, kThreads = 256;

struct GemmArgs {
  float* c;
  const float* a;
  const float* b;
  const float* bias;
  index_t M, N, K, lda, ldb, ldc;
  float alpha, beta, act_param;
  int act;
  bool vec_a, vec_b, vec_c;
};

// Stages a BK x BX slice of one operand: element (x, k) of the operand lives at
// p[x * ld + k] (KCONTIG: k runs contiguous, as in A or B^T) or p[k * ld + x] (x contiguous,
// as in A^T or B). Each thread moves kUnits runs of 4 floats, global -> registers (load) and
// registers -> shared S[k * SP + x] (store).
template <int BX, int BK, bool KCONTIG>
struct TileLoader {
  static constexpr int kUnits = BX * BK / 4 / kThreads;
  static_assert(kUnits * 4 * kThreads == BX * BK, "tile must split evenly over the threads");
  float4 reg[kUnits];

  // (x, k) of the first element of this thread's u-th run, relative to the tile.
  __device__ static void coords(int u, int& xi, int& ki) {
    const int q = threadIdx.x + u * kThreads;
    if (KCONTIG) {
      xi = q / (BK / 4);
      ki = (q % (BK / 4)) * 4;
    } else {
      ki = q / (BX / 4);
      xi = (q % (BX / 4)) * 4;
    }
  }

  __device__ void load(const float* p, index_t ld, index_t x0, index_t xmax, index_t k0, index_t kmax, bool vec) {
#pragma unroll
    for (int u = 0; u < kUnits; ++u) {
      int xi, ki;
      coords(u, xi, ki);
      const index_t gx = x0 + xi, gk = k0 + ki;
      float v[4];
      if (KCONTIG) {
        const bool row_ok = gx < xmax;
        if (vec && row_ok && gk + 3 < kmax) {
          reg[u] = *reinterpret_cast<const float4*>(p + gx * ld + gk);
          continue;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = (row_ok && gk + i < kmax) ? p[gx * ld + gk + i] : 0.0f;
      } else {
        const bool row_ok = gk < kmax;
        if (vec && row_ok && gx + 3 < xmax) {
          reg[u] = *reinterpret_cast<const float4*>(p + gk * ld + gx);
          continue;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = (row_ok && gx + i < xmax) ? p[gk * ld + gx + i] : 0.0f;
      }
      reg[u] = make_float4(v[0], v[1], v[2], v[3]);
    }
  }

  template <int SP, bool TF32>
  __device__ void store(float* s) const {
#pragma unroll
    for (int u = 0; u < kUnits; ++u) {
      int xi, ki;
      coords(u, xi, ki);
      float4 r = reg[u];
      if (TF32) r = make_float4(to_tf32(r.x), to_tf32(r.y), to_tf32(r.z), to_tf32(r.w));
      if (KCONTIG) {
        s[(ki + 0) * SP + xi] = r.x;
        s[(ki + 1) * SP + xi] = r.y;
        s[(ki + 2) * SP + xi] = r.z;
        s[(ki + 3) * SP + xi] = r.w;
      } else {
        *reinterpret_cast<float4*>(s + ki * SP + xi) = r;
      }
    }
  }
};

// The activation of the epilogue, kept out of line: inlined into each of a thread's 64 outputs
// it would multiply the kernel's code by the size of every activation function.
__device__ __noinline__ float epilogue_act(int act, float v, float param) {
  return act_forward1(static_cast<ActOp>(act), v, param);
}

// act(alpha * acc + beta * c_old + bias[n]); c_old is read only when beta != 0.
__device__ __forceinline__ float epilogue1(const GemmArgs& g, float acc, float c_old, index_t n) {
  float v = g.alpha * acc;
  if (g.beta != 0.0f) v += g.beta * c_old;
  if (g.bias != nullptr) v += g.bias[n];
  if (g.act >= 0) v = epilogue_act(g.act, v, g.act_param);
  return v;
}

// Writes 4 adjacent outputs C[m, n .. n+3] (those with column < N).
__device__ __forceinline__ void store_row4(const GemmArgs& g, index_t m, index_t n, const float* acc) {
  float* crow = g.c + m * g.ldc;
  if (g.vec_c && n + 3 < g.N) {
    float4 old = make_float4(0.f, 0.f, 0.f, 0.f);
    if (g.beta != 0.0f) old = *reinterpret_cast<const float4*>(crow + n);
    float4 r;
    r.x = epilogue1(g, acc[0], old.x, n);
    r.y = epilogue1(g, acc[1], old.y, n + 1);
    r.z = epilogue1(g, acc[2], old.z, n + 2);
    r.w = epilogue1(g, acc[3], old.w, n + 3);
    *reinterpret_cast<float4*>(crow + n) = r;
    return;
  }
  for (int j = 0; j < 4; ++j) {
    if (n + j >= g.N) break;
    const float old = g.beta != 0.0f ? crow[n + j] : 0.0f;
    crow[n + j] = epilogue1(g, acc[j], old, n + j);
  }
}

// The K loop both kernels share. As and Bs each hold two BK x SP slices (double buffer);
// compute(as, bs) multiplies the slice in shared memory into the caller's accumulators.
// Round: store the staged registers, barrier, issue the next slice's global loads, compute.
template <int BK, int SP, bool TF32, bool TA, bool TB, class Compute>
__device__ __forceinline__ void gemm_mainloop(const GemmArgs& g, index_t m0, index_t n0, float* As, float* Bs,
                                              Compute&& compute) {
  TileLoader<kTileM, BK, !TA> la;  // A as (m, k): k contiguous unless transposed
  TileLoader<kTileN, BK, TB> lb;   // B as (n, k): n contiguous unless transposed
  const index_t ktiles = (g.K + BK - 1) / BK;
  if (ktiles > 0) {
    la.load(g.a, g.lda, m0, g.M, 0, g.K, g.vec_a);
    lb.load(g.b, g.ldb, n0, g.N, 0, g.K, g.vec_b);
  }
  for (index_t t = 0; t < ktiles; ++t) {
    float* as = As + (t & 1) * BK * SP;
    float* bs = Bs + (t & 1) * BK * SP;
    la.template store<SP, TF32>(as);
    lb.template store<SP, TF32>(bs);
    __syncthreads();
    if (t + 1 < ktiles) {
      la.load(g.a, g.lda, m0, g.M, (t + 1) * BK, g.K, g.vec_a);
      lb.load(g.b, g.ldb, n0, g.N, (t + 1) * BK, g.K, g.vec_b);
    }
    compute(as, bs);
  }
}

// ---- FP32 SIMT kernel -----------------------------------------------------------------------

template <bool TA, bool TB>
__global__ void __launch_bounds__(kThreads, 2) sgemm_fp32_kernel(GemmArgs g) {
  constexpr int BK = 8;
  __shared__ __align__(16) float As[2][BK * kTileM];
  __shared__ __align__(16) float Bs[2][BK * kTileN];
  const index_t m0 = static_cast<index_t>(blockIdx.y) * kTileM, n0 = static_cast<index_t>(blockIdx.x) * kTileN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  const int lm = lane / 4, ln = lane % 4;

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  gemm_mainloop<BK, kTileM, false, TA, TB>(g, m0, n0, &As[0][0], &Bs[0][0], [&](const float* as, const float* bs) {
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(as + k * kTileM + wm + lm * 4);
      const float4 a1 = *reinterpret_cast<const float4*>(as + k * kTileM + wm + 32 + lm * 4);
      const float4 b0 = *reinterpret_cast<const float4*>(bs + k * kTileN + wn + ln * 4);
      const float4 b1 = *reinterpret_cast<const float4*>(bs + k * kTileN + wn + 16 + ln * 4);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  });

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const index_t m = m0 + wm + (i < 4 ? lm * 4 + i : 32 + lm * 4 + (i - 4));
    if (m >= g.M) continue;
    store_row4(g, m, n0 + wn + ln * 4, &acc[i][0]);
    store_row4(g, m, n0 + wn + 16 + ln * 4, &acc[i][4]);
  }
}

// ---- TF32 tensor-core kernel ----------------------------------------------------------------

template <bool TA, bool TB>
__global__ void __launch_bounds__(kThreads, 2) sgemm_tf32_kernel(GemmArgs g) {
  constexpr int BK = 16, SP = kTileM + 8;  // padded rows: conflict-free fragment loads
  static_assert(kTileM == kTileN, "one padded stride serves both operands");
  __shared__ __align__(16) float As[2][BK * SP];
  __shared__ __align__(16) float Bs[2][BK * SP];
  const index_t m0 = static_cast<index_t>(blockIdx.y) * kTileM, n0 = static_cast<index_t>(blockIdx.x) * kTileN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  const int gq = lane / 4, tq = lane % 4;

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;

  gemm_mainloop<BK, SP, true, TA, TB>(g, m0, n0, &As[0][0], &Bs[0][0], [&](const float* as, const float* bs) {
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      const float* ak = as + (kk + tq) * SP;
      const float* bk = bs + (kk + tq) * SP;
      float af[4][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int r = wm + mi * 16 + gq;
        af[mi][0] = ak[r];
        af[mi][1] = ak[r + 8];
        af[mi][2] = ak[4 * SP + r];
        af[mi][3] = ak[4 * SP + r + 8];
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int col = wn + ni * 8 + gq;
        bf[ni][0] = bk[col];
        bf[ni][1] = bk[4 * SP + col];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_tf32(acc[mi][ni], af[mi], bf[ni]);
    }
  });

#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const index_t m = m0 + wm + mi * 16 + gq + half * 8;
      if (m >= g.M) continue;
      float* crow = g.c + m * g.ldc;
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const index_t n = n0 + wn + ni * 8 + tq * 2 + j;
          if (n >= g.N) continue;
          const float old = g.beta != 0.0f ? crow[n] : 0.0f;
          crow[n] = epilogue1(g, acc[mi][ni][half * 2 + j], old, n);
        }
    }
}

template <bool TA, bool TB>
void launch_sgemm(const GemmArgs& g, GemmPrecision precision, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((g.N + kTileN - 1) / kTileN), static_cast<unsigned>((g.M + kTileM - 1) / kTileM));
  if (precision == GemmPrecision::tf32) {
    sgemm_tf32_kernel<TA, TB><<<grid, kThreads, 0, stream>>>(g);
    check_launch("sgemm_tf32_kernel");
  } else {
    sgemm_fp32_kernel<TA, TB><<<grid, kThreads, 0, stream>>>(g);
    check_launch("sgemm_fp32_kernel");
  }
}

bool aligned_ld(const void* p, index_t ld) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0 && ld % 4 == 0;
}

}  // namespace
}  // namespace cuda

void sgemm_cuda(float* c, const float* a, const float* b, index_t M, index_t N, index_t K, index_t lda,
                index_t ldb, index_t ldc, bool trans_a, bool trans_b, float alpha, float beta,
                const GemmEpilogue& epilogue, GemmPrecision precision, cudaStream_t stream) {
  using namespace cuda;
  if (M <= 0 || N <= 0) return;
  FL_CHECK_ARG(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N, "sgemm: leading dimension too small");
  FL_CHECK_ARG((N + kTileN - 1) / kTileN <= 0x7fffffff, "sgemm: N = ", N, " is too large for one launch");
  if (precision == GemmPrecision::tf32) {
    int dev = 0, major = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), "cudaDeviceGetAttribute");
    if (major < 8) throw std::runtime_error("the TF32 tensor-core path needs a GPU of compute capability 8.0 or newer");
  }
  FL_CHECK_ARG(epilogue.bias_mode != GemmBias::per_row, "sgemm: a bias per row is not supported on CUDA");
  GemmArgs g{};
  g.b = b;
  g.bias = epilogue.bias_mode == GemmBias::per_col ? epilogue.bias : nullptr;
  g.N = N;
  g.K = K;
  g.lda = lda;
  g.ldb = ldb;
  g.ldc = ldc;
  g.alpha = alpha;
  g.beta = beta;
  g.act = epilogue.has_act ? static_cast<int>(epilogue.act) : -1;
  g.act_param = epilogue.act_param;
  g.vec_b = aligned_ld(b, ldb);
  // gridDim.y is at most 65535: launch M in chunks of that many row tiles.
  const index_t chunk = index_t(65535) * kTileM;
  for (index_t m0 = 0; m0 < M; m0 += chunk) {
    g.M = M - m0 < chunk ? M - m0 : chunk;
    g.a = trans_a ? a + m0 : a + m0 * lda;
    g.c = c + m0 * ldc;
    g.vec_a = aligned_ld(g.a, lda);
    g.vec_c = aligned_ld(g.c, ldc);
    if (trans_a && trans_b) launch_sgemm<true, true>(g, precision, stream);
    else if (trans_a) launch_sgemm<true, false>(g, precision, stream);
    else if (trans_b) launch_sgemm<false, true>(g, precision, stream);
    else launch_sgemm<false, false>(g, precision, stream);
  }
}

}  // namespace fl
