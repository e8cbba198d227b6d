// SGEMM driver: threads, cache blocking, packing and edges around the current ISA's
// micro-kernel (cpu/gemm.h states the contracts).
//
// Threads: C is cut into a tm x tn grid of blocks, one per thread, aligned to the micro-tile;
// each thread runs the serial Goto loops on its block with its own packing buffers, so no
// thread waits for another (no barriers). The grid is chosen to minimise the largest block's
// multiply-adds plus the packing it repeats (a row split re-packs B, a column split re-packs A).
// K is never split.
//
// Serial loops (Goto/BLIS): jc over NC columns -> pc over KC -> pack B[kc x nc] (L3)
// -> ic over MC rows -> pack A[mc x kc] (L2) -> jr over NR -> ir over MR -> micro-kernel with a
// kc x NR sliver of B in L1. Small products skip packing (the direct path) when B's rows are
// contiguous: the micro-kernel then reads A and B in place.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/parallel.h"

namespace fl {

KernelTables<GemmKernels> g_gemm_kernels;

namespace {

// Below these many multiply-adds the direct path beats packing (measured on Zen 4; see
// bench/bench_gemm.py), and one more thread costs more than it saves.
constexpr index_t kDirectMacs = 96 * 96 * 96;
constexpr index_t kMacsPerThread = 48 * 48 * 48;
// Column blocks of threads start at multiples of 16 floats (whole vectors on every ISA), a finer
// split than NR, so that threads get near-equal shares of N.
constexpr index_t kSplitN = 16;
// A packed element costs about as much as this many multiply-adds (a load and a store against
// 1/16 cycle per MAC).
constexpr index_t kPackCostMacs = 8;

// A grow-only, 64-byte aligned buffer owned by one thread and kept between calls: freshly
// mapped pages cost more than the packing itself on this machine.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(p_); }
  float* get(index_t n) {
    const size_t bytes = static_cast<size_t>(std::max<index_t>(n, 16)) * sizeof(float);
    if (bytes > cap_) {
      std::free(p_);
      cap_ = (std::max(bytes, cap_ + cap_ / 2) + 4095) / 4096 * 4096;
      p_ = static_cast<float*>(std::aligned_alloc(64, cap_));
      if (!p_) cap_ = 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local PackBuffer t_pack_a, t_pack_b;

index_t round_up(index_t x, index_t m) { return (x + m - 1) / m * m; }

// One product (or a block of one): pointers already offset to the block's first row/column.
struct Problem {
  float* c;
  index_t ldc;
  const float* a;
  index_t lda;
  const float* b;
  index_t ldb;
  GemmShape s;
  const GemmOptions* opt;
  const float* bias_col;  // N floats or null
  const float* bias_row;  // M floats or null
};

Problem sub_problem(const Problem& p, index_t i0, index_t i1, index_t j0, index_t j1) {
  Problem q = p;
  const GemmOptions& o = *p.opt;
  q.c = p.c + i0 * p.ldc + j0;
  q.a = o.trans_a ? p.a + i0 : p.a + i0 * p.lda;
  q.b = o.trans_b ? p.b + j0 * p.ldb : p.b + j0;
  q.s = {i1 - i0, j1 - j0, p.s.K};
  if (p.bias_col) q.bias_col = p.bias_col + j0;
  if (p.bias_row) q.bias_row = p.bias_row + i0;
  return q;
}

// Activations other than relu run on the finished tile's rows while they are in L1.
void tile_activation(const Problem& p, float* c, index_t mr, index_t nr) {
  const GemmEpilogue& ep = p.opt->ep;
  if (!ep.has_act || ep.act == ActOp::relu) return;
  const ActForwardFn f = g_activation_kernels.current().forward[static_cast<int>(ep.act)];
  for (index_t i = 0; i < mr; ++i) f(c + i * p.ldc, c + i * p.ldc, nr, ep.act_param);
}

GemmTileEpilogue tile_epilogue(const Problem& p, bool first, bool last) {
  const GemmOptions& o = *p.opt;
  return {o.alpha, first ? o.beta : 1.0f, nullptr, nullptr, last, o.ep.has_act && o.ep.act == ActOp::relu};
}

// Direct path: micro-kernel on A and B in place (requires B rows contiguous, !trans_b).
void gemm_direct(const GemmKernels& t, const Problem& p) {
  const GemmOptions& o = *p.opt;
  const index_t rs_a = o.trans_a ? 1 : p.lda, cs_a = o.trans_a ? p.lda : 1;
  GemmTileEpilogue ep = tile_epilogue(p, true, true);
  for (index_t j = 0; j < p.s.N; j += t.nr) {
    const index_t nr = std::min(t.nr, p.s.N - j);
    ep.bias_col = p.bias_col ? p.bias_col + j : nullptr;
    for (index_t i = 0; i < p.s.M; i += t.mr) {
      const index_t mr = std::min(t.mr, p.s.M - i);
      ep.bias_row = p.bias_row ? p.bias_row + i : nullptr;
      float* c = p.c + i * p.ldc + j;
      t.ukernel(mr, nr, p.s.K, p.a + i * rs_a, rs_a, cs_a, p.b + j, p.ldb, false, c, p.ldc, ep);
      tile_activation(p, c, mr, nr);
    }
  }
}

// Packed path: the five Goto loops on one thread's block.
void gemm_packed(const GemmKernels& t, const Problem& p) {
  const GemmOptions& o = *p.opt;
  const index_t M = p.s.M, N = p.s.N, K = p.s.K;
  // K blocks of equal size (a multiple of 8) rather than KC and a short remainder.
  const index_t kblocks = std::max<index_t>(1, (K + t.kc - 1) / t.kc);
  const index_t kc_max = std::max<index_t>(1, round_up((K + kblocks - 1) / kblocks, 8));
  // Packed panels are padded to whole micro-tiles, whatever MC and NC are.
  const index_t nc_max = round_up(std::min(t.nc, N), t.nr);
  const index_t mc_max = round_up(std::min(t.mc, M), t.mr);
  float* bp = t_pack_b.get(kc_max * nc_max);
  float* ap = t_pack_a.get(kc_max * mc_max);
  for (index_t jc = 0; jc < N; jc += t.nc) {
    const index_t nc = std::min(t.nc, N - jc);
    for (index_t pc = 0; pc == 0 || pc < K; pc += kc_max) {
      const index_t kc = std::min(kc_max, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      t.pack_b(bp, o.trans_b ? p.b + jc * p.ldb + pc : p.b + pc * p.ldb + jc, p.ldb, o.trans_b, kc, nc);
      GemmTileEpilogue ep = tile_epilogue(p, first, last);
      for (index_t ic = 0; ic < M; ic += t.mc) {
        const index_t mc = std::min(t.mc, M - ic);
        t.pack_a(ap, o.trans_a ? p.a + pc * p.lda + ic : p.a + ic * p.lda + pc, p.lda, o.trans_a, mc, kc);
        for (index_t jr = 0; jr < nc; jr += t.nr) {
          const index_t nr = std::min(t.nr, nc - jr);
          ep.bias_col = p.bias_col ? p.bias_col + jc + jr : nullptr;
          for (index_t ir = 0; ir < mc; ir += t.mr) {
            const index_t mr = std::min(t.mr, mc - ir);
            ep.bias_row = p.bias_row ? p.bias_row + ic + ir : nullptr;
            float* c = p.c + (ic + ir) * p.ldc + jc + jr;
            t.ukernel(mr, nr, kc, ap + ir * kc, 1, t.mr, bp + jr * kc, t.nr, true, c, p.ldc, ep);
            if (last) tile_activation(p, c, mr, nr);
          }
        }
      }
    }
  }
}

struct Grid {
  index_t tm, tn;
};

// The thread grid for nt threads (see the file comment).
Grid choose_grid(const GemmKernels& t, GemmShape s, index_t nt, bool packed) {
  const index_t mu = (s.M + t.mr - 1) / t.mr, nu = (s.N + kSplitN - 1) / kSplitN;
  Grid best{1, 1};
  double best_cost = -1.0;
  for (index_t tm = 1; tm <= nt; ++tm) {
    if (nt % tm) continue;
    const index_t tn = nt / tm;
    if (tm > mu || tn > nu) continue;
    const double bm = static_cast<double>((mu + tm - 1) / tm * t.mr);
    const double bn = static_cast<double>((nu + tn - 1) / tn * kSplitN);
    double cost = bm * bn * static_cast<double>(s.K);
    if (packed) cost += kPackCostMacs * static_cast<double>(s.K) * (bm + bn);
    if (best_cost < 0 || cost < best_cost) best = {tm, tn}, best_cost = cost;
  }
  return best;
}

// Block boundaries of part `i` of `parts` over `units` micro-tiles of `tile` elements.
index_t split_at(index_t i, index_t parts, index_t units, index_t tile, index_t n) {
  return std::min(n, (units * i / parts) * tile);
}

void run_problem(const GemmKernels& t, const Problem& p) {
  const GemmShape s = p.s;
  const bool direct = !p.opt->trans_b && s.M * s.N * s.K <= kDirectMacs;
  const index_t macs = s.M * s.N * std::max<index_t>(s.K, 1);
  index_t nt = std::min<index_t>(get_num_threads(), std::max<index_t>(1, macs / kMacsPerThread));
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  // Fall back to fewer threads when the tile grid cannot give each one a block.
  Grid g = choose_grid(t, s, nt, !direct);
  while (nt > 1 && g.tm * g.tn != nt) g = choose_grid(t, s, --nt, !direct);
  const index_t mu = (s.M + t.mr - 1) / t.mr, nu = (s.N + kSplitN - 1) / kSplitN;
  auto run_block = [&](index_t id) {
    const index_t bi = id / g.tn, bj = id % g.tn;
    const index_t i0 = split_at(bi, g.tm, mu, t.mr, s.M), i1 = split_at(bi + 1, g.tm, mu, t.mr, s.M);
    const index_t j0 = split_at(bj, g.tn, nu, kSplitN, s.N), j1 = split_at(bj + 1, g.tn, nu, kSplitN, s.N);
    if (i0 >= i1 || j0 >= j1) return;
    const Problem q = sub_problem(p, i0, i1, j0, j1);
    if (direct) gemm_direct(t, q); else gemm_packed(t, q);
  };
  if (nt == 1) {
    run_block(0);
    return;
  }
  parallel_for(0, nt, 1, [&](index_t lo, index_t hi) {
    for (index_t id = lo; id < hi; ++id) run_block(id);
  });
}

Problem make_problem(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
                     const GemmOptions& opt) {
  Problem p{c, ldc, a, lda, b, ldb, s, &opt, nullptr, nullptr};
  if (opt.ep.bias_mode == GemmBias::per_col) p.bias_col = opt.ep.bias;
  if (opt.ep.bias_mode == GemmBias::per_row) p.bias_row = opt.ep.bias;
  return p;
}

}  // namespace

void sgemm(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
           const GemmOptions& opt) {
  if (s.M <= 0 || s.N <= 0) return;
  const GemmKernels& t = g_gemm_kernels.current();
  if (!t.ukernel) {
    t.reference(c, ldc, a, lda, b, ldb, s, opt);
    return;
  }
  run_problem(t, make_problem(c, ldc, a, lda, b, ldb, s, opt));
}

void sgemm_batched(index_t batch, float* c, index_t ldc, index_t stride_c, const float* a, index_t lda,
                   index_t stride_a, const float* b, index_t ldb, index_t stride_b, GemmShape s,
                   const GemmOptions& opt) {
  if (batch <= 0 || s.M <= 0 || s.N <= 0) return;
  const index_t macs = s.M * s.N * std::max<index_t>(s.K, 1);
  auto one = [&](index_t t) {
    sgemm(c + t * stride_c, ldc, a + t * stride_a, lda, b + t * stride_b, ldb, s, opt);
  };
  if (macs >= kMacsPerThread * get_num_threads()) {  // each product fills the threads by itself
    for (index_t t = 0; t < batch; ++t) one(t);
    return;
  }
  // Small products: threads over the batch; sgemm runs serially inside the parallel region.
  const index_t grain = std::max<index_t>(1, kMacsPerThread / macs);
  parallel_for(0, batch, grain, [&](index_t lo, index_t hi) {
    for (index_t t = lo; t < hi; ++t) one(t);
  });
}

}  // namespace fl
