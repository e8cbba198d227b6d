// CUDA kernels of the layer-norm family (launchers in layer_norm.cuh; contract ops/layer_norm.h).
// Unverified on a GPU at the time of writing; tools/cuda_emu checks them against the CPU
// reference kernels (cpu/ref/layer_norm_ref.cpp).
//
// Rows: a group of G threads owns a row (G = 32 for rows shorter than kBlockRowMin elements, the
// whole block of 256 otherwise, so a long row keeps a block busy and a short one wastes at most a
// warp's lanes). Forward: the group sums the row in double, then the centred squares (the
// row is re-read from L1/L2), reduces each through a fixed shared-memory tree, and writes y with
// the reference's float operations (__fmul_rn / __fadd_rn: no contraction into FMA). Backward dx:
// the same groups reduce sum(g) and sum(g * xhat) in double, g = dy * weight, then write dx.
// Every block walks its rows in lock step, so the trees' barriers are uniform.
//
// dweight, dbias (column sums over all M rows) in two passes, without atomics: pass 1 gives each
// of `chunks` row chunks (a number that depends on M only) one thread per column, which sums
// its chunk's dy * xhat and dy in double (coalesced across the columns of a row) into a partial;
// pass 2 adds a column's partials in chunk order. The same order on every run and every GPU.
// Memory-bound throughout.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/layer_norm.cuh"
#include "cuda/memory.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = kBlock;
constexpr index_t kBlockRowMin = 1024;  // rows at least this long get a whole block
constexpr index_t kChunkRows = 32;      // rows per partial at least, in the column sums
constexpr index_t kMaxChunks = 256;

struct Sum {
  __device__ double operator()(double a, double b) const { return a + b; }
};

template <int G>
__global__ void __launch_bounds__(kThreads)
    layer_norm_forward_kernel(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                              LayerNormShape s, float eps) {
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const double n = static_cast<double>(s.N);
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < s.M; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const bool live = r < s.M;
    const float* xr = x + r * s.N;
    double a = 0.0;
    if (live)
      for (index_t j = lane; j < s.N; j += G) a += xr[j];
    const double mu = tree_reduce<G, kThreads>(a, dsm, Sum()) / n;
    double q = 0.0;
    if (live)
      for (index_t j = lane; j < s.N; j += G) {
        const double d = xr[j] - mu;
        q += d * d;
      }
    const double var = tree_reduce<G, kThreads>(q, dsm, Sum()) / n;
    if (!live) continue;
    const float mf = static_cast<float>(mu);
    const float rs = static_cast<float>(1.0 / sqrt(var + eps));
    if (lane == 0) {
      mean[r] = mf;
      rstd[r] = rs;
    }
    if (!y) continue;
    float* yr = y + r * s.N;
    for (index_t j = lane; j < s.N; j += G) {
      const float h = __fmul_rn(__fsub_rn(xr[j], mf), rs);
      yr[j] = __fadd_rn(__fmul_rn(h, w ? w[j] : 1.0f), b ? b[j] : 0.0f);
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w, xhat = (x - mean) * rstd.
template <int G>
__global__ void __launch_bounds__(kThreads)
    layer_norm_backward_kernel(float* dx, const float* dy, const float* x, const float* mean, const float* rstd,
                               const float* w, LayerNormShape s) {
  __shared__ double dsm[kThreads];
  constexpr int kRows = kThreads / G;
  const int lane = threadIdx.x % G;
  const double n = static_cast<double>(s.N);
  for (index_t r0 = static_cast<index_t>(blockIdx.x) * kRows; r0 < s.M; r0 += static_cast<index_t>(gridDim.x) * kRows) {
    const index_t r = r0 + threadIdx.x / G;
    const bool live = r < s.M;
    const float* xr = x + r * s.N;
    const float* dyr = dy + r * s.N;
    const float mu = live ? mean[r] : 0.0f, rs = live ? rstd[r] : 0.0f;
    double sg = 0.0, sgx = 0.0;
    if (live)
      for (index_t j = lane; j < s.N; j += G) {
        const double g = static_cast<double>(dyr[j]) * (w ? w[j] : 1.0f);
        sg += g;
        sgx += g * __fmul_rn(__fsub_rn(xr[j], mu), rs);
      }
    const double mg = tree_reduce<G, kThreads>(sg, dsm, Sum()) / n;
    const double mgx = tree_reduce<G, kThreads>(sgx, dsm, Sum()) / n;
    if (!live) continue;
    float* dxr = dx + r * s.N;
    for (index_t j = lane; j < s.N; j += G) {
      const float h = __fmul_rn(__fsub_rn(xr[j], mu), rs);
      const double g = static_cast<double>(dyr[j]) * (w ? w[j] : 1.0f);
      dxr[j] = static_cast<float>(rs * (g - mg - h * mgx));
    }
  }
}

// Pass 1: partial[c * N + j] = sums over rows [c * per, (c + 1) * per) of column j: dy * xhat in
// pw, dy in pb (either may be null). grid = (column blocks, chunks).
__global__ void __launch_bounds__(kThreads)
    layer_norm_partial_kernel(double* pw, double* pb, const float* dy, const float* x, const float* mean,
                              const float* rstd, LayerNormShape s, index_t per) {
  const index_t j = static_cast<index_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= s.N) return;
  const index_t c = blockIdx.y, r1 = (c + 1) * per < s.M ? (c + 1) * per : s.M;
  double aw = 0.0, ab = 0.0;
  for (index_t r = c * per; r < r1; ++r) {
    const float g = dy[r * s.N + j];
    if (pw) aw += __fmul_rn(g, __fmul_rn(__fsub_rn(x[r * s.N + j], mean[r]), rstd[r]));
    ab += g;
  }
  if (pw) pw[c * s.N + j] = aw;
  if (pb) pb[c * s.N + j] = ab;
}

// Pass 2: dw[j], db[j] = the chunks' partials of column j, added in chunk order.
__global__ void layer_norm_columns_kernel(float* dw, float* db, const double* pw, const double* pb, index_t N,
                                          index_t chunks) {
  for (index_t j = global_index(); j < N; j += grid_stride()) {
    double aw = 0.0, ab = 0.0;
    for (index_t c = 0; c < chunks; ++c) {
      if (dw) aw += pw[c * N + j];
      if (db) ab += pb[c * N + j];
    }
    if (dw) dw[j] = static_cast<float>(aw);
    if (db) db[j] = static_cast<float>(ab);
  }
}

template <int G>
unsigned row_blocks(index_t M) {
  const index_t b = (M + kThreads / G - 1) / (kThreads / G);
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

}  // namespace
}  // namespace cuda

void layer_norm_forward_cuda(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                             LayerNormShape s, float eps, cudaStream_t stream) {
  using namespace cuda;
  if (s.M <= 0 || s.N <= 0) return;
  if (s.N >= kBlockRowMin)
    layer_norm_forward_kernel<kThreads><<<row_blocks<kThreads>(s.M), kThreads, 0, stream>>>(y, mean, rstd, x, w, b, s,
                                                                                              eps);
  else
    layer_norm_forward_kernel<32><<<row_blocks<32>(s.M), kThreads, 0, stream>>>(y, mean, rstd, x, w, b, s, eps);
  check_launch("layer_norm_forward_kernel");
}

void layer_norm_backward_cuda(float* dx, float* dw, float* db, const float* dy, const float* x, const float* mean,
                              const float* rstd, const float* w, LayerNormShape s, cudaStream_t stream) {
  using namespace cuda;
  if (s.N <= 0) return;
  if (s.M > 0) {
    if (s.N >= kBlockRowMin)
      layer_norm_backward_kernel<kThreads><<<row_blocks<kThreads>(s.M), kThreads, 0, stream>>>(dx, dy, x, mean, rstd,
                                                                                                 w, s);
    else
      layer_norm_backward_kernel<32><<<row_blocks<32>(s.M), kThreads, 0, stream>>>(dx, dy, x, mean, rstd, w, s);
    check_launch("layer_norm_backward_kernel");
  }
  if (!dw && !db) return;
  index_t chunks = s.M / kChunkRows;
  chunks = chunks < 1 ? 1 : (chunks > kMaxChunks ? kMaxChunks : chunks);
  const index_t per = (s.M + chunks - 1) / chunks;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  const DeviceBlock block = device_alloc(device, static_cast<std::size_t>(2 * chunks * s.N) * sizeof(double));
  double* pw = dw ? static_cast<double*>(block.ptr) : nullptr;
  double* pb = db ? static_cast<double*>(block.ptr) + chunks * s.N : nullptr;
  try {
    const dim3 grid(static_cast<unsigned>((s.N + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
    layer_norm_partial_kernel<<<grid, kThreads, 0, stream>>>(pw, pb, dy, x, mean, rstd, s, per);
    check_launch("layer_norm_partial_kernel");
    layer_norm_columns_kernel<<<grid_for(s.N), kBlock, 0, stream>>>(dw, db, pw, pb, s.N, chunks);
    check_launch("layer_norm_columns_kernel");
  } catch (...) {
    device_release(device, block);
    throw;
  }
  device_release(device, block);
}

}  // namespace fl
