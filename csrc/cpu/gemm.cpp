// SGEMM driver: threads, cache blocking, packing and edges around the current ISA's
// micro-kernel (cpu/gemm.h states the contracts).
//
// Threads: C is cut into a tm x tn grid of blocks, one per thread, along MR rows and 16 columns;
// each thread runs the serial Goto loops on its block with its own packing buffers, so no
// thread waits for another (no barriers). The grid is chosen to minimise the largest block's
// multiply-adds plus the packing it repeats (a row split re-packs B, a column split re-packs A).
// Large products cut each block into 2 row chunks that idle threads take over, each thread
// keeping its block's B packed for all its chunks (run_problem). K is never split.
//
// Serial loops (Goto/BLIS): jc over NC columns -> pc over KC -> pack B[kc x nc] (L3)
// -> ic over MC rows -> (transposed A only: pack A[mc x kc], L2) -> jr over NR -> ir over MR ->
// micro-kernel with a kc x NR sliver of B in L1 (or L2 for the AVX-512 KC), A's block in L2 (read
// in place when its rows are contiguous). K is cut into equal blocks.
// Direct path (use_direct): when B's rows are contiguous and A's rows and a K x NR sliver of B
// fit L2, the micro-kernel reads A and B in place, column sliver by column sliver.
// Dot path (use_dot): A B^T with at most 8 rows of A (linear on a small batch) runs dot products
// along K on the operands in place, reading B once per 4 rows of A.
// Fused epilogue: alpha, beta, bias and relu in the micro-kernel's store; other activations on
// the finished tile's rows through the activation table (tile_activation).
#include "cpu/gemm.h"

#include "core/scratch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace fl {

KernelTables<GemmKernels> g_gemm_kernels;

namespace {

// Below kDirectMacs multiply-adds the direct path beats packing whatever the shape. A thread
// gets at least kMacsPerThread. With OpenMP this was 360K: its join waited for the second core
// to wake (2.5 us, and milliseconds after a pause on the VM). The pool hands the caller every
// range no worker has taken, so a second thread pays from about 60^3 (Zen 5 VM, 2 threads, hot
// loop, fastest batch: square 64 190 -> 254 GF/s, 80 197 -> 284; after a 50 ms pause 64^3
// took 70 us against 53 on one thread, both cold).
constexpr index_t kDirectMacs = 96 * 96 * 96;
constexpr index_t kMacsPerThread = 128 * 1024;
// The direct path does not block K: its K x NR sliver of B must stay in L2 (768 KiB at NR = 48),
// and the rows of A it re-reads for every sliver should too (GemmKernels::direct_max_a).
constexpr index_t kDirectMaxK = 4096;
// A B^T with at most this many rows takes the dot path (cpu/ukernels/gemm_impl.h): measured on
// linear shapes (K = 784, N = 512) it ran 1.6-3x faster than packing B up to M = 8; even at 16.
constexpr index_t kDotMaxM = 8;
// From this many multiply-adds (~800^3) each thread's block is cut into kChunks row chunks that
// idle threads can take over (run_problem). A thread's strip of packed B serves all its chunks,
// so on a quiet machine this packs no more than one block per thread (square 1024 on 2 threads:
// 2-4% faster than 4 independent blocks per thread, which re-packed A and B per block), and with
// another process on one core it ran square 2048 15% faster than fixed blocks. Two chunks per
// block rather than four: every chunk streams its strip of B from L3 or memory again (Zen 5 VM,
// 2 threads, best batch: square 1024 424 -> 447 GF/s, 2048 422 -> 438, 4096 406 -> 417; one
// chunk, no take-over, ran within 1-3% of two).
constexpr double kDynamicMacs = 512.0 * 1024 * 1024;
constexpr index_t kChunks = 2;
// A thread keeps its packed strip of B (run_problem) when the strip is at most this many kc x nc
// panels; past that B is packed again for every row chunk, as the chunks would revisit panels
// evicted from L3 (AVX2 square 2048 on 2 threads, a 4-panel strip: 6% slower than re-packing).
constexpr index_t kStripMaxPanels = 2;
// Column blocks of threads start at multiples of 16 floats (whole vectors on every ISA), a finer
// split than NR, so that threads get near-equal shares of N.
constexpr index_t kSplitN = 16;
// A packed element costs about as much as this many multiply-adds (a load and a store against
// 1/16 cycle per MAC).
constexpr index_t kPackCostMacs = 8;

thread_local ScratchBuffer t_pack_a, t_pack_b, t_strip;

index_t round_up(index_t x, index_t m) { return (x + m - 1) / m * m; }
// Multiply-adds of a product (K = 0 counts as 1 for the C update), in double: no overflow.
double mac_count(GemmShape s) { return double(s.M) * double(s.N) * double(std::max<index_t>(s.K, 1)); }

// Block boundaries of part `i` of `parts` over `units` micro-tiles of `tile` elements.
index_t split_at(index_t i, index_t parts, index_t units, index_t tile, index_t n) {
  return std::min(n, (units * i / parts) * tile);
}

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
  bool b_cold = false;    // B is new to the caches (a batch of products with their own B)
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
  // Column slivers of near-equal whole vectors (N = 80 on AVX-512: 48 + 32, not 48 + 16): a narrow
  // sliver has too few accumulators per broadcast to run at the FMA rate. The wide tile, where
  // there is one, when N is one sliver of it and more than one of NR (cpu/gemm.h).
  const index_t vecs = (p.s.N + t.vw - 1) / t.vw;
  const bool wide = t.ukernel_wide && p.s.N > t.nr && p.s.N <= t.wide_nr;
  const GemmUkernelFn uk = wide ? t.ukernel_wide : t.ukernel;
  const index_t tile_m = wide ? t.wide_mr : t.mr, tile_n = wide ? t.wide_nr : t.nr;
  const index_t slivers = (p.s.N + tile_n - 1) / tile_n;
  for (index_t s = 0, j = 0; s < slivers; ++s) {
    const index_t nr = std::min(p.s.N - j, (vecs * (s + 1) / slivers - vecs * s / slivers) * t.vw);
    ep.bias_col = p.bias_col ? p.bias_col + j : nullptr;
    for (index_t i = 0; i < p.s.M; i += tile_m) {
      const index_t mr = std::min(tile_m, p.s.M - i);
      ep.bias_row = p.bias_row ? p.bias_row + i : nullptr;
      float* c = p.c + i * p.ldc + j;
      uk(mr, nr, p.s.K, p.a + i * rs_a, rs_a, cs_a, p.b + j, p.ldb, GemmPacking::none, c, p.ldc, ep);
      tile_activation(p, c, mr, nr);
    }
    j += nr;
  }
}

// op(B)[k0, j0] and op(A)[i0, k0] of a problem.
const float* b_at(const Problem& p, index_t k0, index_t j0) {
  return p.opt->trans_b ? p.b + j0 * p.ldb + k0 : p.b + k0 * p.ldb + j0;
}
const float* a_at(const Problem& p, index_t i0, index_t k0) {
  return p.opt->trans_a ? p.a + k0 * p.lda + i0 : p.a + i0 * p.lda + k0;
}

// Whether the packed path packs A. Transposed A always: read in place, a tile would touch a new
// line lda apart at every k step (square 1024 and 2048 ran 4-10% slower). A with contiguous rows
// is read in place (see macro_kernel) unless lda is a multiple of the ISA's pack_rows_lda. On
// AVX2 that is 1024 floats: rows 4 KiB apart fall into the same sets of the 32 KiB 8-way L1
// (all MR rows of a tile) and of the 512 KiB 8-way L2 (12 rows of a 96-row block at lda = 2048)
// on the Zen 3 VM, where square 1024 and 2048 ran 3% and 10% faster with A packed, and 512
// (lda = 512) 5% slower (1 thread, ratio to NumPy in the same process, median of 4 runs).
bool packs_a(const GemmKernels& t, const GemmOptions& o, index_t lda) {
  return o.trans_a || (t.pack_rows_lda > 0 && lda % t.pack_rows_lda == 0);
}

// Rows ic..ic+mc of C against the packed kc x nc panel of B at bp (columns jc.., K block pc..):
// runs the micro-kernel over jr (NR) and ir (MR). With pack_b_here the B slivers are packed just
// before their first use (one_row_block, below).
// A is read in place when its rows are contiguous along K (not transposed): the tile broadcasts
// from MR rows lda apart, and the block of A, once read, stays in L2 for the other slivers. The
// packed copy of A it replaces was the largest cost outside the micro-kernel (2 threads on the
// Zen 5 VM: linear 256 x 784 x 512 spent 25 us of 620 packing A, square 1024 275 us of 5.9 ms,
// mostly waiting on memory), and the tiles prefetch the next block of A instead. A is packed
// into ap where packs_a says so (ap non-null: transposed A, or rows at a conflicting stride).
// Prefetches (ep.prefetch): each row tile fetches its share of the next B sliver into L2 (the
// first sliver of the panel after the last one, for the next row block), and with A in place the
// tiles of the last slivers fetch the next row block of A instead, whole rows per tile.
void macro_kernel(const GemmKernels& t, const Problem& p, float* ap, float* bp, index_t ic, index_t mc, index_t jc,
                  index_t nc, index_t pc, index_t kc, bool first, bool last, bool pack_b_here) {
  const GemmOptions& o = *p.opt;
  const bool a_in_place = ap == nullptr;  // gemm_packed gives a buffer exactly when packs_a
  const float* const a0 = a_at(p, ic, pc);
  if (!a_in_place) (o.trans_a ? t.pack_a : t.pack_a_rows)(ap, a0, p.lda, mc, kc);
  GemmTileEpilogue ep = tile_epilogue(p, first, last);
  const index_t tiles = (mc + t.mr - 1) / t.mr, slivers = (nc + t.nr - 1) / t.nr;
  const index_t slots = std::max<index_t>(1, kc / 4);  // prefetches one tile issues at most
  const index_t sliver_lines = kc * t.nr / 16;
  const index_t share = (sliver_lines + tiles - 1) / tiles;
  const index_t next_rows = a_in_place ? std::min(t.mc, p.s.M - ic - mc) : 0;
  const index_t row_lines = kc / 16 + 1;  // lines a row of kc floats can touch
  const index_t rows_per_tile = std::max<index_t>(1, slots / row_lines);
  const index_t a_slivers = std::min(slivers, (next_rows + rows_per_tile * tiles - 1) / (rows_per_tile * tiles));
  const float* const a_next = next_rows > 0 ? a_at(p, ic + mc, pc) : nullptr;
  for (index_t jr = 0, js = 0; jr < nc; jr += t.nr, ++js) {
    const index_t nr = std::min(t.nr, nc - jr);
    if (pack_b_here) t.pack_b(bp + jr * kc, b_at(p, pc, jc + jr), p.ldb, o.trans_b, kc, nr);
    ep.bias_col = p.bias_col ? p.bias_col + jc + jr : nullptr;
    const bool pf_a = js >= slivers - a_slivers;
    const float* next_b = pack_b_here ? nullptr : jr + t.nr < nc ? bp + (jr + t.nr) * kc : bp;
    for (index_t ir = 0; ir < mc; ir += t.mr) {
      const index_t mr = std::min(t.mr, mc - ir);
      ep.bias_row = p.bias_row ? p.bias_row + ic + ir : nullptr;
      if (pf_a) {
        const index_t row0 = ((js - (slivers - a_slivers)) * tiles + ir / t.mr) * rows_per_tile;
        ep.prefetch = a_next + row0 * p.lda;
        ep.prefetch_lines = std::max<index_t>(0, std::min(rows_per_tile, next_rows - row0)) * row_lines;
        ep.prefetch_lines_per_row = row_lines;
        ep.prefetch_ld = p.lda;
      } else {
        const index_t line0 = ir / t.mr * share;
        ep.prefetch = next_b ? next_b + line0 * 16 : nullptr;
        ep.prefetch_lines = next_b ? std::max<index_t>(0, std::min(share, sliver_lines - line0)) : 0;
        ep.prefetch_lines_per_row = 1;
        ep.prefetch_ld = 16;
      }
      float* c = p.c + (ic + ir) * p.ldc + jc + jr;
      if (a_in_place)
        t.ukernel(mr, nr, kc, a0 + ir * p.lda, p.lda, 1, bp + jr * kc, t.nr, GemmPacking::b_only, c, p.ldc, ep);
      else
        t.ukernel(mr, nr, kc, ap + ir * kc, 1, t.mr, bp + jr * kc, t.nr, GemmPacking::both, c, p.ldc, ep);
      if (last) tile_activation(p, c, mr, nr);
    }
  }
}

// The whole (block of a) product on the reference kernel: the fallback when packing buffers
// cannot be had.
void run_reference(const GemmKernels& t, const Problem& p) {
  GemmOptions o2 = *p.opt;
  o2.ep.bias_mode = p.bias_col ? GemmBias::per_col : p.bias_row ? GemmBias::per_row : GemmBias::none;
  o2.ep.bias = p.bias_col ? p.bias_col : p.bias_row;
  t.reference(p.c, p.ldc, p.a, p.lda, p.b, p.ldb, p.s, o2);
}

// K blocks of equal size (a multiple of 8) rather than KC and a short remainder.
index_t k_block(const GemmKernels& t, index_t K) {
  const index_t kblocks = std::max<index_t>(1, (K + t.kc - 1) / t.kc);
  return std::max<index_t>(1, round_up((K + kblocks - 1) / kblocks, 8));
}

// Packed path: the five Goto loops on one thread's block.
// strip (optional): room for every (jc, pc) panel of this block's columns of B (strip_size);
// strip_ready: they are already packed there (by this thread, for an earlier row chunk of the
// same columns), so B is not packed again.
void gemm_packed(const GemmKernels& t, const Problem& p, float* strip = nullptr, bool strip_ready = false) {
  const GemmOptions& o = *p.opt;
  const index_t M = p.s.M, N = p.s.N, K = p.s.K;
  const index_t kc_max = k_block(t, K);
  // Packed panels are padded to whole micro-tiles, whatever MC and NC are.
  const index_t nc_max = round_up(std::min(t.nc, N), t.nr);
  const index_t mc_max = round_up(std::min(t.mc, M), t.mr);
  float* bp = strip ? strip : t_pack_b.get(kc_max * nc_max);
  const bool pack_a = packs_a(t, o, p.lda);
  float* ap = pack_a ? t_pack_a.get(kc_max * mc_max) : nullptr;  // A in place unless packed (macro_kernel)
  if ((pack_a && !ap) || !bp) {  // out of memory for a few MiB: the reference needs none (never throw here)
    run_reference(t, p);
    return;
  }
  // With a single row block and B transposed (its rows contiguous along K), each B sliver is
  // packed just before its row tiles use it and read back from L2, not from a kc x nc panel in
  // L3. (Not for B in place: a sliver of it is kc rows ldb apart, which defeats the prefetcher;
  // the whole panel is read row by row instead.)
  const bool one_row_block = M <= t.mc && o.trans_b && !strip;
  for (index_t jc = 0; jc < N; jc += t.nc) {
    const index_t nc = std::min(t.nc, N - jc);
    for (index_t pc = 0; pc == 0 || pc < K; pc += kc_max) {
      const index_t kc = std::min(kc_max, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      if (strip) bp = strip + (jc / t.nc * std::max<index_t>(1, (K + kc_max - 1) / kc_max) + pc / kc_max) * kc_max * nc_max;
      if (!one_row_block && !strip_ready) t.pack_b(bp, b_at(p, pc, jc), p.ldb, o.trans_b, kc, nc);
      for (index_t ic = 0; ic < M; ic += t.mc) {
        const index_t mc = std::min(t.mc, M - ic);
        macro_kernel(t, p, ap, bp, ic, mc, jc, nc, pc, kc, first, last, one_row_block);
      }
    }
  }
}

// gemm_packed's strip for an M x N x K block (every kc x nc panel of its columns of B): the
// number of panels and the floats they take.
struct StripSize {
  index_t panels, floats;
};
StripSize strip_size(const GemmKernels& t, GemmShape s) {
  const index_t kc_max = k_block(t, s.K), nc_max = round_up(std::min(t.nc, s.N), t.nr);
  const index_t panels = (s.N + t.nc - 1) / t.nc * std::max<index_t>(1, (s.K + kc_max - 1) / kc_max);
  return {panels, panels * kc_max * nc_max};
}

// Whether a (thread's block of a) product skips packing. The direct path runs column slivers
// of B (K x NR, rows ldb apart) against every row panel of A read in place, so it needs B's rows
// contiguous (!trans_b), the sliver in L2 (K bounded) and A re-read from L2 once per sliver
// (M * K small, or few slivers). Within those bounds it ran 3-50% faster than packing on the
// 2-core VM (e.g. 32x1024x256 68 vs 87 us, 16x4096x512 266 vs 471 us); with A past L2 it lost
// up to 40% (2048^3).
// With b_cold (every product of a batch has its own B, arriving from L3 or memory) only the
// first and last rules hold: the direct path's K x NR slivers of B are rows ldb apart, a stride
// that fetches from memory far worse than packing's row-by-row copy (Zen 3 VM, 1 thread,
// 64 x (128x64 @ 64x128): 0.68x NumPy direct, 0.97x packed; hot, 128^3 ran the same either way).
bool use_direct(const GemmKernels& t, const GemmOptions& o, GemmShape s, bool b_cold = false) {
  if (o.trans_b || s.K > kDirectMaxK) return false;
  if (mac_count(s) <= kDirectMacs || s.N <= 2 * t.nr) return true;
  return !b_cold && s.M * s.K <= t.direct_max_a;
}

// The dot path (A B^T, both contiguous along K) for a few rows of A, where packing B would cost
// more than the product: it reads B once per dot_rows rows of A, in place.
bool use_dot(const GemmKernels& t, const GemmOptions& o, GemmShape s) {
  return t.dot && o.trans_b && !o.trans_a && s.M <= kDotMaxM && s.K > 0;
}

// Threads split N (B's rows) in groups of 16; each runs all rows of A against its columns.
void gemm_dot(const GemmKernels& t, const Problem& p, index_t nt) {
  const GemmShape s = p.s;
  auto body = [&](index_t g0, index_t g1) {
    const index_t j0 = g0 * kSplitN, j1 = std::min(s.N, g1 * kSplitN);
    GemmTileEpilogue ep = tile_epilogue(p, true, true);
    ep.bias_col = p.bias_col ? p.bias_col + j0 : nullptr;
    for (index_t i = 0; i < s.M; i += t.dot_rows) {
      const index_t m = std::min(t.dot_rows, s.M - i);
      ep.bias_row = p.bias_row ? p.bias_row + i : nullptr;
      float* c = p.c + i * p.ldc + j0;
      t.dot(m, j1 - j0, s.K, p.a + i * p.lda, p.lda, p.b + j0 * p.ldb, p.ldb, c, p.ldc, ep);
      tile_activation(p, c, m, j1 - j0);
    }
  };
  const index_t groups = (s.N + kSplitN - 1) / kSplitN;
  if (nt <= 1) body(0, groups);
  else parallel_for(0, groups, std::max<index_t>(1, groups / nt), body);
}

struct Grid {
  index_t tm, tn;
};

// The grid of nt blocks (see the file comment); tm * tn < nt when no grid of nt fits.
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
    // Ties go to the lower tm when packing, and to the higher tm on the direct path, whose blocks then keep N whole: wider column slivers, fewer
    // narrow ones (square 128 on 2 threads: 64 x 128 blocks ran 3% faster than 128 x 64).
    if (best_cost < 0 || cost < best_cost || (!packed && cost == best_cost)) best = {tm, tn}, best_cost = cost;
  }
  return best;
}


// Threads and blocks for a product (see the file comment).
struct Plan {
  index_t nt, nblocks;
  Grid g;
};

index_t thread_count(GemmShape s) {
  index_t nt = static_cast<index_t>(std::min<double>(get_num_threads(), std::max(1.0, mac_count(s) / kMacsPerThread)));
  if (in_parallel()) nt = 1;
  return nt;
}

Plan plan_blocks(const GemmKernels& t, GemmShape s, bool direct, index_t nt) {
  // One block per thread, and fewer threads when the tile grid cannot give each one a block.
  Grid g = choose_grid(t, s, nt, !direct);
  while (nt > 1 && g.tm * g.tn != nt) g = choose_grid(t, s, --nt, !direct);
  // Large products cut each block into kChunks row chunks (see run_problem).
  const index_t mu = (s.M + t.mr - 1) / t.mr;
  const index_t chunks = nt > 1 && mac_count(s) >= kDynamicMacs ? std::min(kChunks, mu / g.tm) : 1;
  return {nt, nt * std::max<index_t>(chunks, 1), g};
}

// Threads run one block of the grid each (a tm x tn grid of C, see choose_grid). For large
// products each block is cut into row chunks taken from a counter per block: a thread takes the
// chunks of its own block, then those left in the others' blocks, so when another process holds
// a core the other threads take over its work. A thread keeps every panel of its block's
// columns of B packed in a strip (when that is at most kStripMaxPanels panels), so its own chunks
// pack B once, as a single block would; only a chunk taken from another block packs that
// block's B again.
void run_problem(const GemmKernels& t, const Problem& p) {
  const GemmShape s = p.s;
  if (use_dot(t, *p.opt, s)) {
    gemm_dot(t, p, thread_count(s));
    return;
  }
  const Plan plan = plan_blocks(t, s, use_direct(t, *p.opt, s, p.b_cold), thread_count(s));
  const index_t nt = plan.nt, chunks = plan.nblocks / plan.nt;
  const Grid g = plan.g;
  const index_t mu = (s.M + t.mr - 1) / t.mr, nu = (s.N + kSplitN - 1) / kSplitN;
  struct Block {
    index_t i0, i1, j0, j1;
  };
  auto block = [&](index_t id) {
    const index_t bi = id / g.tn, bj = id % g.tn;
    return Block{split_at(bi, g.tm, mu, t.mr, s.M), split_at(bi + 1, g.tm, mu, t.mr, s.M),
                 split_at(bj, g.tn, nu, kSplitN, s.N), split_at(bj + 1, g.tn, nu, kSplitN, s.N)};
  };
  auto run_block = [&](const Block& b) {
    if (b.i0 >= b.i1 || b.j0 >= b.j1) return;
    const Problem q = sub_problem(p, b.i0, b.i1, b.j0, b.j1);
    if (use_direct(t, *p.opt, q.s, q.b_cold)) gemm_direct(t, q); else gemm_packed(t, q);
  };
  if (nt == 1) {
    run_block(block(0));
    return;
  }
  if (chunks == 1) {
    parallel_for(0, nt, 1, [&](index_t lo, index_t hi) {
      for (index_t id = lo; id < hi; ++id) run_block(block(id));
    });
    return;
  }
  std::vector<std::atomic<index_t>> next(static_cast<size_t>(nt));
  for (auto& n : next) n.store(0);
  parallel_for(0, nt, 1, [&](index_t lo, index_t hi) {
    index_t cached = -1;  // the block whose strip of B this thread holds packed
    for (index_t k = 0; k < nt; ++k) {
      const index_t id = (lo + k) % nt;
      const Block b = block(id);
      if (b.i0 >= b.i1 || b.j0 >= b.j1) continue;
      const index_t bu = (b.i1 - b.i0 + t.mr - 1) / t.mr;
      for (index_t c = next[id].fetch_add(1); c < chunks; c = next[id].fetch_add(1)) {
        const index_t i0 = b.i0 + split_at(c, chunks, bu, t.mr, b.i1 - b.i0);
        const index_t i1 = b.i0 + split_at(c + 1, chunks, bu, t.mr, b.i1 - b.i0);
        if (i0 >= i1) continue;
        const Problem q = sub_problem(p, i0, i1, b.j0, b.j1);
        if (use_direct(t, *p.opt, q.s, q.b_cold)) {
          gemm_direct(t, q);
          continue;
        }
        const StripSize need = strip_size(t, q.s);
        float* strip = need.panels <= kStripMaxPanels ? t_strip.get(need.floats) : nullptr;
        gemm_packed(t, q, strip, strip && cached == id);
        cached = strip ? id : -1;
      }
    }
    (void)hi;
  });
}

Problem make_problem(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
                     const GemmOptions& opt, bool b_cold) {
  Problem p{c, ldc, a, lda, b, ldb, s, &opt, nullptr, nullptr, b_cold};
  if (opt.ep.bias_mode == GemmBias::per_col) p.bias_col = opt.ep.bias;
  if (opt.ep.bias_mode == GemmBias::per_row) p.bias_row = opt.ep.bias;
  return p;
}

}  // namespace

namespace {
void check_args(index_t ldc, index_t lda, index_t ldb, GemmShape s, const GemmOptions& opt) {
  FL_CHECK_ARG(s.M >= 0 && s.N >= 0 && s.K >= 0, "sgemm: negative shape M=", s.M, " N=", s.N, " K=", s.K);
  const index_t need_a = opt.trans_a ? s.M : s.K, need_b = opt.trans_b ? s.K : s.N;
  FL_CHECK_ARG(lda >= need_a, "sgemm: lda=", lda, " < ", need_a);
  FL_CHECK_ARG(ldb >= need_b, "sgemm: ldb=", ldb, " < ", need_b);
  FL_CHECK_ARG(ldc >= s.N, "sgemm: ldc=", ldc, " < N=", s.N);
  FL_CHECK_ARG(opt.ep.bias_mode == GemmBias::none || opt.ep.bias, "sgemm: bias_mode set without a bias");
}

void sgemm_unchecked(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
                     const GemmOptions& opt, bool b_cold = false) {
  if (s.M <= 0 || s.N <= 0) return;
  const GemmKernels& t = g_gemm_kernels.current();
  if (!t.ukernel) {
    t.reference(c, ldc, a, lda, b, ldb, s, opt);
    return;
  }
  run_problem(t, make_problem(c, ldc, a, lda, b, ldb, s, opt, b_cold));
}
}  // namespace

void sgemm(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
           const GemmOptions& opt) {
  check_args(ldc, lda, ldb, s, opt);
  sgemm_unchecked(c, ldc, a, lda, b, ldb, s, opt);
}

GemmPlan sgemm_plan(GemmShape s, const GemmOptions& opt) {
  const GemmKernels& t = g_gemm_kernels.current();
  if (!t.ukernel) return {"reference", 1, 1};
  const index_t nt = thread_count(s);
  if (use_dot(t, opt, s)) return {"dot", nt, nt};
  const bool direct = use_direct(t, opt, s);
  const Plan plan = plan_blocks(t, s, direct, nt);
  return {direct ? "direct" : "packed", plan.nt, plan.nblocks};
}

void sgemm_batched(index_t batch, float* c, index_t ldc, index_t stride_c, const float* a, index_t lda,
                   index_t stride_a, const float* b, index_t ldb, index_t stride_b, GemmShape s,
                   const GemmOptions& opt) {
  check_args(ldc, lda, ldb, s, opt);
  FL_CHECK_ARG(batch >= 0 && stride_a >= 0 && stride_b >= 0 && stride_c >= 0, "sgemm_batched: negative batch or stride");
  if (batch <= 0 || s.M <= 0 || s.N <= 0) return;
  const double macs = mac_count(s);
  const bool b_cold = batch > 1 && stride_b != 0;  // each product reads a B of its own
  auto one = [&](index_t t) {
    sgemm_unchecked(c + t * stride_c, ldc, a + t * stride_a, lda, b + t * stride_b, ldb, s, opt, b_cold);
  };
  // Threads over the batch (each product serial inside the parallel region: one fork for the
  // whole batch) when products are small or the batch splits evenly; otherwise threads inside
  // each product.
  const index_t nt = get_num_threads();
  const bool small = macs < double(kMacsPerThread) * nt;
  if (batch == 1 || nt == 1 || !(small || batch % nt == 0 || batch >= 4 * nt)) {
    for (index_t t = 0; t < batch; ++t) one(t);
    return;
  }
  const index_t grain = small ? std::max<index_t>(1, static_cast<index_t>(kMacsPerThread / macs)) : 1;
  parallel_for(0, batch, grain, [&](index_t lo, index_t hi) {
    for (index_t t = lo; t < hi; ++t) one(t);
  });
}

}  // namespace fl
