// CUDA kernels of the attention family (launchers in attention.cuh; contract ops/attention.h):
// FlashAttention-2 in FP32 on the CUDA cores. Unverified on a GPU at the time of writing;
// tools/cuda_emu checks them against the CPU reference kernels (cpu/ref/attention_ref.cpp).
//
// Tiles: a block of 128 threads; kD is the head-dimension bucket (64, 128 or 256, the smallest
// holding max(D, Dv)), and the tile sizes shrink as it grows so that the tiles fit the 48 KiB
// of static shared memory (rows padded by one float: the column walks hit distinct banks).
// Forward, one block per (query block of kBr rows, batch-head): the Q tile stays in shared
// memory while the key blocks of kBc keys stream through it (K_j, V_j staged in shared memory);
// per key block the block computes the scores S = scale Q K_j^T (each thread its share of the
// kBr x kBc elements, a dot product over D) with the mask, one thread per row runs the online
// softmax step (running max m, sum l, the rescale factor of the row's output, P = exp(S - m),
// probabilities below exp(-87) flushed to 0 as on the CPU, dropout factors applied after the
// sum), and each thread rescales and accumulates its share of the kBr x Dv output O += P V_j in
// registers. At the end O /= l and lse = m + log(l). Causal: key blocks after the block's last
// query are never loaded.
// Backward, deterministic: delta = rowsum(dO * O) per row first; then one block per key block
// (K_j, V_j resident; query blocks streamed, causal: from the first that attends) recomputes
// S, P = exp(S - lse), dP = dO V_j^T, dS = P (dP keep - delta) and accumulates dV_j += (P keep)^T
// dO_i and dK_j += scale dS^T Q_i in registers; a second kernel, one block per query block
// (Q_i, dO_i resident, key blocks streamed), recomputes the same tiles and accumulates dQ_i +=
// scale dS K_j. Each output element is summed by one thread in a fixed order: no float atomics,
// the same result on every run (at twice the score recomputation of a fused backward).
// Correctness before speed: dot products from shared memory, no tensor cores.
#include <cmath>
#include <cstdint>

#include "cuda/attention.cuh"
#include "cuda/common.cuh"
#include "cuda/memory.cuh"

namespace {
#include "ops/dropout_hash.h"
}  // namespace

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = 128;
constexpr float kExpFlush = -87.0f;  // exp of anything at or below is flushed to 0 (as on the CPU)
constexpr index_t kMaxGridY = 65535;

__device__ __forceinline__ float exp_flush(float x) { return x <= kExpFlush ? 0.0f : expf(x); }

// The scaled score x of (b, i, j) after the mask: x, x + additive, or -inf where masked.
__device__ float masked(const AttnMaskView& m, index_t b, index_t i, index_t j, float x) {
  switch (m.kind) {
    case AttnMask::causal: return j > i ? -INFINITY : x;
    case AttnMask::boolean:
      return static_cast<const std::uint8_t*>(m.data)[m.batch_offset[b] + i * m.stride_q + j * m.stride_k]
                 ? x
                 : -INFINITY;
    case AttnMask::additive:
      return x + static_cast<const float*>(m.data)[m.batch_offset[b] + i * m.stride_q + j * m.stride_k];
    default: return x;
  }
}

// The dropout factor of weight `index`: scale where kept, 0 where dropped (1 without dropout).
__device__ float keep_factor(const AttnDropout& d, index_t index) {
  if (d.threshold == 0) return 1.0f;
  const auto g = static_cast<std::uint64_t>(index);
  const dropout_hash::Keys k = dropout_hash::keys(d.seed, static_cast<std::uint32_t>(g >> 32));
  return dropout_hash::bits(k, static_cast<std::uint32_t>(g)) >= d.threshold ? d.scale : 0.0f;
}

// rows x n floats of src (rows ld_src apart) into a tile of kRows rows kLd apart, zero past
// rows and n (up to kD columns).
template <int kRows, int kD, int kLd>
__device__ void load_tile(float* dst, const float* src, index_t rows, index_t n, index_t ld_src) {
  for (int e = threadIdx.x; e < kRows * kD; e += kThreads) {
    const int r = e / kD, d = e % kD;
    dst[r * kLd + d] = r < rows && d < n ? src[r * ld_src + d] : 0.0f;
  }
}

// sum_d a[d] b[d] over n < kD elements of two shared-memory rows.
__device__ __forceinline__ float dot(const float* a, const float* b, index_t n) {
  float acc = 0.0f;
  for (index_t d = 0; d < n; ++d) acc = fmaf(a[d], b[d], acc);
  return acc;
}

template <int kD, int kBr, int kBc>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(float* o, float* lse, const float* q, const float* k, const float* v, AttentionShape s,
                             AttnMaskView mask, AttentionOptions opt, index_t b0) {
  constexpr int kLd = kD + 1, kSld = kBc + 1;
  constexpr int kAcc = kBr * kD / kThreads;
  constexpr int kScores = (kBr * kBc + kThreads - 1) / kThreads;
  static_assert(kBr * kD % kThreads == 0 && kBr <= kThreads, "attention_forward_kernel: tile shape");
  __shared__ float qs[kBr * kLd], ks[kBc * kLd], vs[kBc * kLd], ss[kBr * kSld];
  __shared__ float row_m[kBr], row_l[kBr], row_c[kBr];
  const index_t b = b0 + blockIdx.y, q0 = static_cast<index_t>(blockIdx.x) * kBr;
  const index_t rows = s.Tq - q0 < kBr ? s.Tq - q0 : kBr;
  const float* kb = k + b * s.Tk * s.D;
  const float* vb = v + b * s.Tk * s.Dv;
  load_tile<kBr, kD, kLd>(qs, q + (b * s.Tq + q0) * s.D, rows, s.D, s.D);
  if (threadIdx.x < kBr) {
    row_m[threadIdx.x] = -INFINITY;
    row_l[threadIdx.x] = 0.0f;
  }
  float acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;
  const index_t kend = mask.kind == AttnMask::causal ? (s.Tk < q0 + rows ? s.Tk : q0 + rows) : s.Tk;
  for (index_t k0 = 0; k0 < kend; k0 += kBc) {
    const index_t cols = kend - k0 < kBc ? kend - k0 : kBc;
    __syncthreads();  // the previous key block's tiles are read
    load_tile<kBc, kD, kLd>(ks, kb + k0 * s.D, cols, s.D, s.D);
    load_tile<kBc, kD, kLd>(vs, vb + k0 * s.Dv, cols, s.Dv, s.Dv);
    __syncthreads();
    for (int i = 0; i < kScores; ++i) {
      const int e = threadIdx.x + i * kThreads;
      if (e >= kBr * kBc) break;
      const int r = e / kBc, c = e % kBc;
      float sc = -INFINITY;
      if (r < rows && c < cols) sc = masked(mask, b, q0 + r, k0 + c, opt.scale * dot(qs + r * kLd, ks + c * kLd, s.D));
      ss[r * kSld + c] = sc;
    }
    __syncthreads();
    if (threadIdx.x < kBr) {  // the online softmax step of row r
      const int r = threadIdx.x;
      float* sr = ss + r * kSld;
      const float m_old = row_m[r];
      float mx = m_old;
      for (int c = 0; c < kBc; ++c) mx = fmaxf(mx, sr[c]);  // NaN scores skipped (they reach O through exp)
      if (mx == -INFINITY) {  // nothing attended so far: P = 0, m, l and O unchanged
        for (int c = 0; c < kBc; ++c) sr[c] = 0.0f;
        row_c[r] = 1.0f;
      } else {
        float sum = 0.0f;
        const index_t drop0 = ((b * s.Tq + q0 + r) * s.Tk) + k0;
        for (int c = 0; c < kBc; ++c) {
          const float p = exp_flush(sr[c] - mx);
          sum += p;
          sr[c] = p != 0.0f && opt.dropout.threshold ? p * keep_factor(opt.dropout, drop0 + c) : p;
        }
        const float f = m_old == -INFINITY ? 0.0f : expf(m_old - mx);
        row_l[r] = row_l[r] * f + sum;
        row_m[r] = mx;
        row_c[r] = f;
      }
    }
    __syncthreads();
    for (int i = 0; i < kAcc; ++i) {
      const int e = threadIdx.x + i * kThreads, r = e / kD, d = e % kD;
      float a = acc[i] * row_c[r];
      for (int c = 0; c < kBc; ++c) a = fmaf(ss[r * kSld + c], vs[c * kLd + d], a);
      acc[i] = a;
    }
  }
  __syncthreads();
  for (int i = 0; i < kAcc; ++i) {
    const int e = threadIdx.x + i * kThreads, r = e / kD, d = e % kD;
    if (r < rows && d < s.Dv) {
      const float l = row_l[r];
      o[(b * s.Tq + q0 + r) * s.Dv + d] = l == 0.0f ? 0.0f : acc[i] * (1.0f / l);
    }
  }
  if (lse && static_cast<index_t>(threadIdx.x) < rows) {
    const float l = row_l[threadIdx.x];
    lse[b * s.Tq + q0 + threadIdx.x] = l == 0.0f ? INFINITY : row_m[threadIdx.x] + logf(l);
  }
}

// delta[r] = sum_d dO[r, d] O[r, d] over the BH Tq rows (in order, in float: the CPU driver's sum).
__global__ void attention_delta_kernel(float* delta, const float* do_, const float* o, index_t rows, index_t Dv) {
  for (index_t r = global_index(); r < rows; r += grid_stride()) {
    float acc = 0.0f;
    for (index_t d = 0; d < Dv; ++d) acc += do_[r * Dv + d] * o[r * Dv + d];
    delta[r] = acc;
  }
}

// The gradient tiles of query rows [q0, q0 + rows) against keys [k0, k0 + cols) of batch-head b:
// pk[r][c] = P keep (the dropped weights; null: not wanted) and ds[r][c] = P (dP keep - delta),
// P = exp(S - lse), from the staged tiles of Q, K (rows kLd apart), dO, V. Zero outside the tile.
template <int kLd, int kSld, int kBr, int kBc>
__device__ void grad_tiles(float* pk, float* ds, const float* qs, const float* ks, const float* dos, const float* vs,
                           const float* lse_s, const float* delta_s, index_t b, index_t q0, index_t rows, index_t k0,
                           index_t cols, const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt) {
  constexpr int kScores = (kBr * kBc + kThreads - 1) / kThreads;
  for (int i = 0; i < kScores; ++i) {
    const int e = threadIdx.x + i * kThreads;
    if (e >= kBr * kBc) break;
    const int r = e / kBc, c = e % kBc;
    float pkeep = 0.0f, dsv = 0.0f;
    if (r < rows && c < cols) {
      const float sc = masked(mask, b, q0 + r, k0 + c, opt.scale * dot(qs + r * kLd, ks + c * kLd, s.D));
      const float p = exp_flush(sc - lse_s[r]);
      if (p != 0.0f) {  // masked or flushed: no gradient (as the reference, even where dP is not finite)
        const float f = keep_factor(opt.dropout, (b * s.Tq + q0 + r) * s.Tk + k0 + c);
        pkeep = p * f;
        dsv = p * (dot(dos + r * kLd, vs + c * kLd, s.Dv) * f - delta_s[r]);
      }
    }
    if (pk) pk[r * kSld + c] = pkeep;
    ds[r * kSld + c] = dsv;
  }
}

// One block per (key block of kBc keys, batch-head): dK_j, dV_j over every query block.
template <int kD, int kBr, int kBc>
__global__ void __launch_bounds__(kThreads)
    attention_backward_kv_kernel(float* dk, float* dv, const float* do_, const float* q, const float* k,
                                 const float* v, const float* lse, const float* delta, AttentionShape s,
                                 AttnMaskView mask, AttentionOptions opt, index_t b0) {
  constexpr int kLd = kD + 1, kSld = kBc + 1;
  constexpr int kAcc = kBc * kD / kThreads;
  static_assert(kBc * kD % kThreads == 0, "attention_backward_kv_kernel: tile shape");
  __shared__ float ks[kBc * kLd], vs[kBc * kLd], qs[kBr * kLd], dos[kBr * kLd];
  __shared__ float pk[kBr * kSld], ds[kBr * kSld], lse_s[kBr], delta_s[kBr];
  const index_t b = b0 + blockIdx.y, k0 = static_cast<index_t>(blockIdx.x) * kBc;
  const index_t cols = s.Tk - k0 < kBc ? s.Tk - k0 : kBc;
  load_tile<kBc, kD, kLd>(ks, k + (b * s.Tk + k0) * s.D, cols, s.D, s.D);
  load_tile<kBc, kD, kLd>(vs, v + (b * s.Tk + k0) * s.Dv, cols, s.Dv, s.Dv);
  float acc_k[kAcc], acc_v[kAcc];
  for (int i = 0; i < kAcc; ++i) acc_k[i] = acc_v[i] = 0.0f;
  const index_t qstart = mask.kind == AttnMask::causal ? k0 / kBr * kBr : 0;  // causal: queries from k0 on
  for (index_t q0 = qstart; q0 < s.Tq; q0 += kBr) {
    const index_t rows = s.Tq - q0 < kBr ? s.Tq - q0 : kBr;
    __syncthreads();  // the previous query block's tiles are read
    load_tile<kBr, kD, kLd>(qs, q + (b * s.Tq + q0) * s.D, rows, s.D, s.D);
    load_tile<kBr, kD, kLd>(dos, do_ + (b * s.Tq + q0) * s.Dv, rows, s.Dv, s.Dv);
    if (threadIdx.x < kBr) {
      const bool live = static_cast<index_t>(threadIdx.x) < rows;
      lse_s[threadIdx.x] = live ? lse[b * s.Tq + q0 + threadIdx.x] : INFINITY;
      delta_s[threadIdx.x] = live ? delta[b * s.Tq + q0 + threadIdx.x] : 0.0f;
    }
    __syncthreads();
    grad_tiles<kLd, kSld, kBr, kBc>(pk, ds, qs, ks, dos, vs, lse_s, delta_s, b, q0, rows, k0, cols, s, mask, opt);
    __syncthreads();
    for (int i = 0; i < kAcc; ++i) {
      const int e = threadIdx.x + i * kThreads, c = e / kD, d = e % kD;
      float av = acc_v[i], ak = acc_k[i];
      for (int r = 0; r < kBr; ++r) {
        av = fmaf(pk[r * kSld + c], dos[r * kLd + d], av);
        ak = fmaf(ds[r * kSld + c], qs[r * kLd + d], ak);
      }
      acc_v[i] = av;
      acc_k[i] = ak;
    }
  }
  for (int i = 0; i < kAcc; ++i) {
    const int e = threadIdx.x + i * kThreads, c = e / kD, d = e % kD;
    if (c >= cols) continue;
    if (d < s.Dv) dv[(b * s.Tk + k0 + c) * s.Dv + d] = acc_v[i];
    if (d < s.D) dk[(b * s.Tk + k0 + c) * s.D + d] = opt.scale * acc_k[i];
  }
}

// One block per (query block of kBr rows, batch-head): dQ_i over every key block.
template <int kD, int kBr, int kBc>
__global__ void __launch_bounds__(kThreads)
    attention_backward_q_kernel(float* dq, const float* do_, const float* q, const float* k, const float* v,
                                const float* lse, const float* delta, AttentionShape s, AttnMaskView mask,
                                AttentionOptions opt, index_t b0) {
  constexpr int kLd = kD + 1, kSld = kBc + 1;
  constexpr int kAcc = kBr * kD / kThreads;
  static_assert(kBr * kD % kThreads == 0, "attention_backward_q_kernel: tile shape");
  __shared__ float qs[kBr * kLd], dos[kBr * kLd], ks[kBc * kLd], vs[kBc * kLd];
  __shared__ float ds[kBr * kSld], lse_s[kBr], delta_s[kBr];
  const index_t b = b0 + blockIdx.y, q0 = static_cast<index_t>(blockIdx.x) * kBr;
  const index_t rows = s.Tq - q0 < kBr ? s.Tq - q0 : kBr;
  load_tile<kBr, kD, kLd>(qs, q + (b * s.Tq + q0) * s.D, rows, s.D, s.D);
  load_tile<kBr, kD, kLd>(dos, do_ + (b * s.Tq + q0) * s.Dv, rows, s.Dv, s.Dv);
  if (threadIdx.x < kBr) {
    const bool live = static_cast<index_t>(threadIdx.x) < rows;
    lse_s[threadIdx.x] = live ? lse[b * s.Tq + q0 + threadIdx.x] : INFINITY;
    delta_s[threadIdx.x] = live ? delta[b * s.Tq + q0 + threadIdx.x] : 0.0f;
  }
  float acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;
  const index_t kend = mask.kind == AttnMask::causal ? (s.Tk < q0 + rows ? s.Tk : q0 + rows) : s.Tk;
  for (index_t k0 = 0; k0 < kend; k0 += kBc) {
    const index_t cols = kend - k0 < kBc ? kend - k0 : kBc;
    __syncthreads();
    load_tile<kBc, kD, kLd>(ks, k + (b * s.Tk + k0) * s.D, cols, s.D, s.D);
    load_tile<kBc, kD, kLd>(vs, v + (b * s.Tk + k0) * s.Dv, cols, s.Dv, s.Dv);
    __syncthreads();
    grad_tiles<kLd, kSld, kBr, kBc>(nullptr, ds, qs, ks, dos, vs, lse_s, delta_s, b, q0, rows, k0, cols, s, mask,
                                    opt);
    __syncthreads();
    for (int i = 0; i < kAcc; ++i) {
      const int e = threadIdx.x + i * kThreads, r = e / kD, d = e % kD;
      float a = acc[i];
      for (int c = 0; c < kBc; ++c) a = fmaf(ds[r * kSld + c], ks[c * kLd + d], a);
      acc[i] = a;
    }
  }
  for (int i = 0; i < kAcc; ++i) {
    const int e = threadIdx.x + i * kThreads, r = e / kD, d = e % kD;
    if (r < rows && d < s.D) dq[(b * s.Tq + q0 + r) * s.D + d] = opt.scale * acc[i];
  }
}

unsigned blocks_of(index_t n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

// Batch-heads in launches of at most kMaxGridY (gridDim.y's limit).
template <class Launch>
void over_batch_heads(index_t BH, const Launch& launch) {
  for (index_t b0 = 0; b0 < BH; b0 += kMaxGridY) launch(b0, static_cast<unsigned>(BH - b0 < kMaxGridY ? BH - b0 : kMaxGridY));
}

template <int kD, int kBr, int kBc>
void forward_tiles(float* o, float* lse, const float* q, const float* k, const float* v, const AttentionShape& s,
                   const AttnMaskView& mask, const AttentionOptions& opt, cudaStream_t stream) {
  over_batch_heads(s.BH, [&](index_t b0, unsigned nb) {
    attention_forward_kernel<kD, kBr, kBc><<<dim3(blocks_of(s.Tq, kBr), nb), kThreads, 0, stream>>>(o, lse, q, k, v, s,
                                                                                                  mask, opt, b0);
    check_launch("attention_forward_kernel");
  });
}

template <int kD, int kB>
void backward_tiles(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k, const float* v,
                    const float* lse, const float* delta, const AttentionShape& s, const AttnMaskView& mask,
                    const AttentionOptions& opt, cudaStream_t stream) {
  over_batch_heads(s.BH, [&](index_t b0, unsigned nb) {
    if (s.Tk > 0) {
      attention_backward_kv_kernel<kD, kB, kB><<<dim3(blocks_of(s.Tk, kB), nb), kThreads, 0, stream>>>(
          dk, dv, do_, q, k, v, lse, delta, s, mask, opt, b0);
      check_launch("attention_backward_kv_kernel");
    }
    if (s.Tq > 0) {
      attention_backward_q_kernel<kD, kB, kB><<<dim3(blocks_of(s.Tq, kB), nb), kThreads, 0, stream>>>(
          dq, do_, q, k, v, lse, delta, s, mask, opt, b0);
      check_launch("attention_backward_q_kernel");
    }
  });
}

void check_head_dims(const AttentionShape& s) {
  FL_CHECK_ARG(s.D <= kAttnCudaMaxHeadDim && s.Dv <= kAttnCudaMaxHeadDim, "attention: head dimensions up to ",
               kAttnCudaMaxHeadDim, " on CUDA, got query/key ", s.D, " and value ", s.Dv);
}

}  // namespace
}  // namespace cuda

void attention_forward_cuda(float* o, float* lse, const float* q, const float* k, const float* v,
                            const AttentionShape& s, const AttnMaskView& mask, const AttentionOptions& opt,
                            cudaStream_t stream) {
  using namespace cuda;
  check_head_dims(s);
  if (s.BH <= 0 || s.Tq <= 0) return;
  const index_t hd = s.D > s.Dv ? s.D : s.Dv;
  if (hd <= 64) forward_tiles<64, 32, 32>(o, lse, q, k, v, s, mask, opt, stream);
  else if (hd <= 128) forward_tiles<128, 32, 16>(o, lse, q, k, v, s, mask, opt, stream);
  else forward_tiles<256, 16, 8>(o, lse, q, k, v, s, mask, opt, stream);
}

void attention_backward_cuda(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                             const float* v, const float* o, const float* lse, const AttentionShape& s,
                             const AttnMaskView& mask, const AttentionOptions& opt, cudaStream_t stream) {
  using namespace cuda;
  check_head_dims(s);
  if (s.BH <= 0) return;
  const index_t rows = s.BH * s.Tq;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  const DeviceBlock block = device_alloc(device, static_cast<std::size_t>(rows) * sizeof(float));
  float* delta = static_cast<float*>(block.ptr);
  try {
    if (rows > 0) {
      attention_delta_kernel<<<grid_for(rows), kBlock, 0, stream>>>(delta, do_, o, rows, s.Dv);
      check_launch("attention_delta_kernel");
    }
    const index_t hd = s.D > s.Dv ? s.D : s.Dv;
    if (hd <= 64) backward_tiles<64, 32>(dq, dk, dv, do_, q, k, v, lse, delta, s, mask, opt, stream);
    else if (hd <= 128) backward_tiles<128, 16>(dq, dk, dv, do_, q, k, v, lse, delta, s, mask, opt, stream);
    else backward_tiles<256, 8>(dq, dk, dv, do_, q, k, v, lse, delta, s, mask, opt, stream);
  } catch (...) {
    device_release(device, block);
    throw;
  }
  device_release(device, block);
}

}  // namespace fl
