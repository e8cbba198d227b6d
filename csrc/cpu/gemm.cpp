// SGEMM driver: threads, cache blocking, packing and edges around the current ISA's
// micro-kernel (ops/gemm.h states the contracts).
//
// Threads: C is cut into a tm x tn grid of blocks, one per thread, along MR rows and 16 columns;
// each thread runs the serial Goto loops on its block with its own packing buffers, so no
// thread waits for another (no barriers). The grid is chosen to minimise the largest block's
// multiply-adds plus the packing it repeats (a row split re-packs B, a column split re-packs A).
// Large packed products (from ~800^3; ~1620^3 on Intel AVX-512) run the shared-B path instead
// (run_shared): the threads pack each panel of B together and take row units of C from a
// counter, so a slowed core does less of the work. K is never split.
//
// Serial loops (Goto/BLIS): jc over NC columns -> pc over KC -> pack B[kc x nc] (L3)
// -> ic over MC rows -> (transposed A only: pack A[mc x kc], L2) -> jr over NR -> ir over MR ->
// micro-kernel with a kc x NR sliver of B in L1 (or L2 for the AVX-512 KC), A's block in L2 (read
// in place when its rows are contiguous). K is cut into equal blocks. Where the table allows
// (rows_outer_panel: Intel, panels up to 1 MiB), the block path cuts N into panels that fit and
// swaps the two inner loops, ir over jr: a tile's rows of A stay in L1, the panel in L2.
// Direct path (use_direct): when B's rows are contiguous and A's rows and a K x NR sliver of B
// fit L2, the micro-kernel reads A and B in place, column sliver by column sliver.
// Dot path (use_dot): A B^T with at most 8 rows of A (linear on a small batch) runs dot products
// along K on the operands in place, reading B once per 4 rows of A.
// Swapped (use_swap): A B^T with 9 to 128 rows of A (and N >= 4 M) runs as C^T = B A^T, B read
// in place as the micro-kernel's A and the tiles stored transposed (Problem::trans_c).
// Fused epilogue: alpha, beta, bias and relu in the micro-kernel's store; other activations on
// the finished tile's rows through the activation table (tile_activation).
#include "ops/gemm.h"

#include "core/scratch.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace fl {

KernelTables<GemmKernels> g_gemm_kernels;
FL_REGISTER_KERNELS(gemm, g_gemm_kernels, register_gemm_ref, register_gemm_avx2, register_gemm_avx512)

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
// From GemmKernels::shared_macs multiply-adds (by default 2^29, ~800^3) the threads share each
// packed panel of B and take row units of C from a counter (run_shared) instead of one fixed
// block each. Zen 3 VM (AVX2, 512
// KiB L2), 2 threads, median of 5-6 rounds of best-of-batch, shared against fixed blocks in one
// process: square 1024 1.04x, 1536 1.04x, 2048 1.13x, 4096 1.02x; with a 25%-duty busy loop on
// one core 1.01x, 1.05x, 1.15x. Below it fixed blocks were faster: 512^3 0.97x, 256^3 0.82x,
// 256 x 784 x 512 (linear) 0.88x, where each thread's half of B stays in its own L2.
// Row units are at most MC rows, and at least this many per thread where M allows; the last
// panel cuts its last 2 units per thread into kTailSplit pieces (the threads then finish within
// a small piece of each other: 1024^3 went from 0.96x to 1.04x of fixed blocks).
constexpr index_t kSharedUnitsPerThread = 4;
constexpr index_t kTailSplit = 4;
// Packing work is claimed in groups of this many NR-wide slivers.
constexpr index_t kSliversPerItem = 4;
// Column blocks of threads start at multiples of 16 floats (whole vectors on every ISA), a finer
// split than NR, so that threads get near-equal shares of N.
constexpr index_t kSplitN = 16;
// A packed element costs about as much as this many multiply-adds (a load and a store against
// 1/16 cycle per MAC).
constexpr index_t kPackCostMacs = 8;

thread_local ScratchBuffer t_pack_a, t_pack_b, t_shared;

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
  bool trans_c = false;   // C stored transposed: c(i, j) at c[j * ldc + i] (the swapped product)
};

// Where c(i, j) of a problem is.
float* c_at(const Problem& p, index_t i, index_t j) {
  return p.trans_c ? p.c + j * p.ldc + i : p.c + i * p.ldc + j;
}

Problem sub_problem(const Problem& p, index_t i0, index_t i1, index_t j0, index_t j1) {
  Problem q = p;
  const GemmOptions& o = *p.opt;
  q.c = c_at(p, i0, j0);
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
  if (p.trans_c) {  // the tile's columns are rows of C
    for (index_t j = 0; j < nr; ++j) f(c + j * p.ldc, c + j * p.ldc, mr, ep.act_param);
    return;
  }
  for (index_t i = 0; i < mr; ++i) f(c + i * p.ldc, c + i * p.ldc, nr, ep.act_param);
}

GemmTileEpilogue tile_epilogue(const Problem& p, bool first, bool last) {
  const GemmOptions& o = *p.opt;
  return {o.alpha, first ? o.beta : 1.0f, nullptr, nullptr, last, o.ep.has_act && o.ep.act == ActOp::relu, p.trans_c};
}

// Direct path: micro-kernel on A and B in place (requires B rows contiguous, !trans_b).
void gemm_direct(const GemmKernels& t, const Problem& p) {
  const GemmOptions& o = *p.opt;
  const index_t rs_a = o.trans_a ? 1 : p.lda, cs_a = o.trans_a ? p.lda : 1;
  GemmTileEpilogue ep = tile_epilogue(p, true, true);
  // Column slivers of near-equal whole vectors (N = 80 on AVX-512: 48 + 32, not 48 + 16): a narrow
  // sliver has too few accumulators per broadcast to run at the FMA rate. The wide tile, where
  // there is one, when N is one sliver of it and more than one of NR (ops/gemm.h).
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
      float* c = c_at(p, i, j);
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
// is read in place (see macro_kernel) unless lda is a multiple of the ISA's pack_rows_lda_*. On
// AVX2 that is 1024 floats: rows 4 KiB apart fall into the same sets of the 32 KiB 8-way L1
// (all MR rows of a tile) and of the 512 KiB 8-way L2 (12 rows of a 96-row block at lda = 2048)
// on the Zen 3 VM, where square 1024 and 2048 ran 3% and 10% faster with A packed, and 512
// (lda = 512) 5% slower (1 thread, ratio to NumPy in the same process, median of 4 runs).
// Each path has its own rule (the block path and the shared-B path: AVX-512 on Intel packs for
// the stride on the shared path only, see gemm_avx512.cpp), and the table can pack at every
// stride (pack_rows_blocks, pack_rows_shared: for tests).
bool packs_a(const GemmKernels& t, const GemmOptions& o, index_t lda, bool shared_b) {
  const index_t every = shared_b ? t.pack_rows_lda_shared : t.pack_rows_lda_blocks;
  return o.trans_a || (every > 0 && lda % every == 0) || (shared_b ? t.pack_rows_shared : t.pack_rows_blocks);
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
// Rows outer (a prepacked panel of at most t.rows_outer_panel floats): the loops swap, ir over
// jr, so a tile's MR rows of A are read from L2 or memory once and then stay in L1 for all the
// slivers, while the panel, read whole by every tile, stays in L2; no prefetches. Xeon VM (2
// MiB L2), AVX-512, in alternating processes over 8 rounds, against sliver by sliver: panels of
// 0.8-1 MiB ran 1.025-1.03x (2 threads linear 256x784x512 and 512x784x512, 1 thread 256x784x256
// and square 512), square 768 on 2 threads (1.18 MiB) 1.019x, 1.2 MiB 0.986-0.995x, 1.6 MiB and
// more 0.75-0.92x; panels under 0.5 MiB within 1%. AVX2 there: 1.020-1.042x (0.4-0.6 MiB).
void macro_kernel(const GemmKernels& t, const Problem& p, float* ap, float* bp, index_t ic, index_t mc, index_t jc,
                  index_t nc, index_t pc, index_t kc, bool first, bool last, bool pack_b_here) {
  const GemmOptions& o = *p.opt;
  const bool a_in_place = ap == nullptr;  // gemm_packed gives a buffer exactly when packs_a
  const float* const a0 = a_at(p, ic, pc);
  if (!a_in_place) (o.trans_a ? t.pack_a : t.pack_a_rows)(ap, a0, p.lda, mc, kc);
  GemmTileEpilogue ep = tile_epilogue(p, first, last);
  // Tile (ir, jr) of the block with the prefetch set in ep.
  auto run_tile = [&](index_t ir, index_t jr) {
    const index_t mr = std::min(t.mr, mc - ir), nr = std::min(t.nr, nc - jr);
    ep.bias_row = p.bias_row ? p.bias_row + ic + ir : nullptr;
    ep.bias_col = p.bias_col ? p.bias_col + jc + jr : nullptr;
    float* c = c_at(p, ic + ir, jc + jr);
    if (a_in_place)
      t.ukernel(mr, nr, kc, a0 + ir * p.lda, p.lda, 1, bp + jr * kc, t.nr, GemmPacking::b_only, c, p.ldc, ep);
    else
      t.ukernel(mr, nr, kc, ap + ir * kc, 1, t.mr, bp + jr * kc, t.nr, GemmPacking::both, c, p.ldc, ep);
    if (last) tile_activation(p, c, mr, nr);
  };
  if (!pack_b_here && kc * round_up(nc, t.nr) <= t.rows_outer_panel) {
    ep.prefetch = nullptr;
    ep.prefetch_lines = 0;
    ep.prefetch_lines_per_row = 1;
    ep.prefetch_ld = 16;
    for (index_t ir = 0; ir < mc; ir += t.mr)
      for (index_t jr = 0; jr < nc; jr += t.nr) run_tile(ir, jr);
    return;
  }
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
    if (pack_b_here) t.pack_b(bp + jr * kc, b_at(p, pc, jc + jr), p.ldb, o.trans_b, kc, std::min(t.nr, nc - jr));
    const bool pf_a = js >= slivers - a_slivers;
    const float* next_b = pack_b_here ? nullptr : jr + t.nr < nc ? bp + (jr + t.nr) * kc : bp;
    for (index_t ir = 0; ir < mc; ir += t.mr) {
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
      run_tile(ir, jr);
    }
  }
}

// The whole (block of a) product on the reference kernel: the fallback when packing buffers
// cannot be had.
void run_reference(const GemmKernels& t, const Problem& p) {
  GemmOptions o2 = *p.opt;
  if (p.trans_c) {  // the swapped product: the reference on C = op(B)^T op(A)^T, as the caller asked
    o2.trans_a = false;
    o2.trans_b = true;
    o2.ep.bias_mode = p.bias_row ? GemmBias::per_col : p.bias_col ? GemmBias::per_row : GemmBias::none;
    o2.ep.bias = p.bias_row ? p.bias_row : p.bias_col;
    t.reference(p.c, p.ldc, p.b, p.ldb, p.a, p.lda, {p.s.N, p.s.M, p.s.K}, o2);
    return;
  }
  o2.ep.bias_mode = p.bias_col ? GemmBias::per_col : p.bias_row ? GemmBias::per_row : GemmBias::none;
  o2.ep.bias = p.bias_col ? p.bias_col : p.bias_row;
  t.reference(p.c, p.ldc, p.a, p.lda, p.b, p.ldb, p.s, o2);
}

// K blocks of equal size (a multiple of 8) rather than KC and a short remainder.
index_t k_block(const GemmKernels& t, index_t K) {
  const index_t kblocks = std::max<index_t>(1, (K + t.kc - 1) / t.kc);
  return std::max<index_t>(1, round_up((K + kblocks - 1) / kblocks, 8));
}

// Width of the block path's B panels: NC, or where row tiles run outer (t.rows_outer_panel, see
// macro_kernel) the widest whole slivers that keep a kc x nc panel within it, as near-equal
// panels (each re-reads the block's rows of A). Xeon VM, AVX-512, against panels of NC, in
// alternating processes over 8 rounds: 1 thread linear 256x784x512 1.034x, square 2048 1.031x,
// 640 1.010x, 1024 and 4096 0.99-1.0x; 2 threads linear 256x4096x1024 1.068x, 256x1024x1024
// 1.035x, 4096x1024x256 1.022x, square 1024 1.015x, 768 0.985x. Not on the shared-B path, whose
// A comes from memory: square 1536 1.039x, 2048 0.965x, 4096 0.919x.
index_t panel_width(const GemmKernels& t, index_t N, index_t kc) {
  const index_t nc = std::min(t.nc, N);
  const index_t fit = t.rows_outer_panel / std::max<index_t>(1, kc) / t.nr * t.nr;
  if (fit < t.nr || kc * round_up(nc, t.nr) <= t.rows_outer_panel) return nc;
  const index_t panels = (N + fit - 1) / fit;
  return std::min(nc, round_up((N + panels - 1) / panels, t.nr));
}

// Packed path: the five Goto loops on one thread's block.
void gemm_packed(const GemmKernels& t, const Problem& p) {
  const GemmOptions& o = *p.opt;
  const index_t M = p.s.M, N = p.s.N, K = p.s.K;
  const index_t kc_max = k_block(t, K);
  // With a single row block and B transposed (its rows contiguous along K), each B sliver is
  // packed just before its row tiles use it and read back from L2, not from a kc x nc panel in
  // L3. (Not for B in place: a sliver of it is kc rows ldb apart, which defeats the prefetcher;
  // the whole panel is read row by row instead.) Not where row tiles run outer (panels that fit
  // rows_outer_panel, packed first): Xeon VM, linear 128x784x500 1.054x, 100x1024x300 1.044x,
  // 128x784x256 1.024x (2 threads), 1.033x (1 thread), in alternating processes over 8 rounds.
  const bool rows_outer = t.rows_outer_panel >= kc_max * t.nr;
  const bool one_row_block = !rows_outer && M <= t.mc && o.trans_b;
  const index_t nc_step = one_row_block ? std::min(t.nc, N) : panel_width(t, N, kc_max);
  // Packed panels are padded to whole micro-tiles, whatever MC and NC are.
  const index_t nc_max = round_up(nc_step, t.nr);
  const index_t mc_max = round_up(std::min(t.mc, M), t.mr);
  float* bp = t_pack_b.get(kc_max * nc_max);
  const bool pack_a = packs_a(t, o, p.lda, false);
  float* ap = pack_a ? t_pack_a.get(kc_max * mc_max) : nullptr;  // A in place unless packed (macro_kernel)
  if ((pack_a && !ap) || !bp) {  // out of memory for a few MiB: the reference needs none (never throw here)
    run_reference(t, p);
    return;
  }
  for (index_t jc = 0; jc < N; jc += nc_step) {
    const index_t nc = std::min(nc_step, N - jc);
    for (index_t pc = 0; pc == 0 || pc < K; pc += kc_max) {
      const index_t kc = std::min(kc_max, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      if (!one_row_block) t.pack_b(bp, b_at(p, pc, jc), p.ldb, o.trans_b, kc, nc);
      for (index_t ic = 0; ic < M; ic += t.mc) {
        const index_t mc = std::min(t.mc, M - ic);
        macro_kernel(t, p, ap, bp, ic, mc, jc, nc, pc, kc, first, last, one_row_block);
      }
    }
  }
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


index_t thread_count(GemmShape s) {
  index_t nt = static_cast<index_t>(std::min<double>(get_num_threads(), std::max(1.0, mac_count(s) / kMacsPerThread)));
  if (in_parallel()) nt = 1;
  return nt;
}

// One block per thread, and fewer threads when the tile grid cannot give each one a block.
// Returns the grid; nt becomes the threads it uses.
Grid plan_grid(const GemmKernels& t, GemmShape s, bool direct, index_t& nt) {
  Grid g = choose_grid(t, s, nt, !direct);
  while (nt > 1 && g.tm * g.tn != nt) g = choose_grid(t, s, --nt, !direct);
  return g;
}

// Shared-B path (run_shared): the threads pack each kc x nc panel of B together into one of two
// shared buffers, then take row units of C against it from a counter, so that a core slowed by
// the hypervisor or another process does less of the work instead of holding up the product
// (threads = blocks: the product takes the slowest block's time). Every piece of work (a group
// of B slivers to pack, a row unit) is claimed from an atomic counter, and a thread waits only
// for pieces another thread has claimed and is running: the pieces of earlier panels (the row
// unit's previous K block, whose C it accumulates onto; the panel two back, whose buffer it
// packs over) and the slivers of the panel it is about to read. Waits point to earlier work, so
// they end, and a thread alone (the pool's worker asleep, or the pool busy) does everything.
struct alignas(64) SharedPanel {
  std::atomic<index_t> pack_next{0}, pack_done{0}, unit_next{0}, unit_done{0};
};

// Spins until v >= at_least, yielding the core now and then (more threads than cores).
void spin_until(const std::atomic<index_t>& v, index_t at_least) {
  for (unsigned k = 1; v.load(std::memory_order_acquire) < at_least; ++k) {
    cpu_relax();
    if ((k & 4095) == 0) std::this_thread::yield();
  }
}

// Row units of at most MC rows, and at least kSharedUnitsPerThread per thread where M allows.
index_t shared_unit_rows(const GemmKernels& t, index_t M, index_t nt) {
  const index_t rows = round_up((M + kSharedUnitsPerThread * nt - 1) / (kSharedUnitsPerThread * nt), t.mr);
  return std::min(t.mc, std::max(t.mr, rows));
}

bool use_shared(const GemmKernels& t, GemmShape s, index_t nt) {
  return nt > 1 && s.K > 0 && mac_count(s) >= t.shared_macs && (s.M + t.mr - 1) / t.mr >= 2 * nt;
}

// Returns false (nothing run) when the shared buffers cannot be had.
bool run_shared(const GemmKernels& t, const Problem& p, index_t nt) {
  const GemmOptions& o = *p.opt;
  const index_t M = p.s.M, N = p.s.N, K = p.s.K;
  const index_t kc_max = k_block(t, K), kblocks = (K + kc_max - 1) / kc_max;
  const index_t jblocks = (N + t.nc - 1) / t.nc;  // panels of equal width
  const index_t nc_max = round_up((N + jblocks - 1) / jblocks, t.nr);
  const index_t mc_u = shared_unit_rows(t, M, nt), units = (M + mc_u - 1) / mc_u;
  const index_t panels = jblocks * kblocks;
  const bool pack_a = packs_a(t, o, p.lda, true);
  const index_t a_floats = round_up(kc_max * round_up(mc_u, t.mr), 16);
  float* const bufs = t_shared.get(2 * kc_max * nc_max + (pack_a ? nt * a_floats : 0));
  if (!bufs) return false;
  std::vector<SharedPanel> st(static_cast<size_t>(panels));
  std::vector<std::atomic<index_t>> row_done(static_cast<size_t>(units));  // last panel done per unit
  for (auto& r : row_done) r.store(-1, std::memory_order_relaxed);
  parallel_for(0, nt, 1, [&](index_t lo, index_t) {
    float* const ap = pack_a ? bufs + 2 * kc_max * nc_max + lo * a_floats : nullptr;
    for (index_t q = 0; q < panels; ++q) {
      const index_t jb = q / kblocks, kb = q % kblocks;
      const index_t jc = jb * nc_max, pc = kb * kc_max;
      const index_t nc = std::min(nc_max, N - jc), kc = std::min(kc_max, K - pc);
      float* const bp = bufs + (q & 1) * kc_max * nc_max;
      SharedPanel& s = st[static_cast<size_t>(q)];
      const index_t slivers = (nc + t.nr - 1) / t.nr, items = (slivers + kSliversPerItem - 1) / kSliversPerItem;
      if (q >= 2) spin_until(st[static_cast<size_t>(q - 2)].unit_done, units);  // bp's last readers
      for (index_t i = s.pack_next.fetch_add(1); i < items; i = s.pack_next.fetch_add(1)) {
        const index_t j0 = i * kSliversPerItem * t.nr, j1 = std::min(nc, j0 + kSliversPerItem * t.nr);
        t.pack_b(bp + j0 * kc, b_at(p, pc, jc + j0), p.ldb, o.trans_b, kc, j1 - j0);
        s.pack_done.fetch_add(1, std::memory_order_acq_rel);
      }
      spin_until(s.pack_done, items);
      // The last panel splits its last 2 nt units into kTailSplit pieces each, so that the
      // threads finish within a small piece of each other.
      const bool tail = q == panels - 1;
      const index_t whole = tail ? std::max<index_t>(0, units - 2 * nt) : units;
      const index_t pieces = whole + (units - whole) * kTailSplit;
      for (index_t v = s.unit_next.fetch_add(1); v < pieces; v = s.unit_next.fetch_add(1)) {
        const index_t u = v < whole ? v : whole + (v - whole) / kTailSplit;
        if (kb > 0) spin_until(row_done[static_cast<size_t>(u)], q - 1);
        index_t i0 = u * mc_u, i1 = std::min(M, i0 + mc_u);
        if (v >= whole) {
          const index_t part = (v - whole) % kTailSplit, tiles = (i1 - i0 + t.mr - 1) / t.mr;
          const index_t r0 = i0 + split_at(part, kTailSplit, tiles, t.mr, i1 - i0);
          i1 = i0 + split_at(part + 1, kTailSplit, tiles, t.mr, i1 - i0);
          i0 = r0;
        }
        if (i0 < i1) macro_kernel(t, p, ap, bp, i0, i1 - i0, jc, nc, pc, kc, kb == 0, pc + kc >= K, false);
        // Raised, never lowered: unit u of the next NC panel's first K block (which waits for
        // nothing) may finish before this one.
        if (!tail) {
          std::atomic<index_t>& r = row_done[static_cast<size_t>(u)];
          for (index_t was = r.load(std::memory_order_relaxed);
               was < q && !r.compare_exchange_weak(was, q, std::memory_order_acq_rel);) {
          }
        }
        s.unit_done.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  });
  return true;
}

// Large packed products run on the shared-B path (run_shared); the others on a tm x tn grid of
// blocks of C, one per thread (choose_grid).
void run_problem(const GemmKernels& t, const Problem& p) {
  const GemmShape s = p.s;
  index_t nt = thread_count(s);
  if (use_dot(t, *p.opt, s)) {
    gemm_dot(t, p, nt);
    return;
  }
  const bool direct = use_direct(t, *p.opt, s, p.b_cold);
  if (!direct && use_shared(t, s, nt) && run_shared(t, p, nt)) return;
  const Grid g = plan_grid(t, s, direct, nt);
  const index_t mu = (s.M + t.mr - 1) / t.mr, nu = (s.N + kSplitN - 1) / kSplitN;
  auto run_block = [&](index_t id) {
    const index_t bi = id / g.tn, bj = id % g.tn;
    const index_t i0 = split_at(bi, g.tm, mu, t.mr, s.M), i1 = split_at(bi + 1, g.tm, mu, t.mr, s.M);
    const index_t j0 = split_at(bj, g.tn, nu, kSplitN, s.N), j1 = split_at(bj + 1, g.tn, nu, kSplitN, s.N);
    if (i0 >= i1 || j0 >= j1) return;
    const Problem q = sub_problem(p, i0, i1, j0, j1);
    if (use_direct(t, *p.opt, q.s, q.b_cold)) gemm_direct(t, q); else gemm_packed(t, q);
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
                     const GemmOptions& opt, bool b_cold) {
  Problem p{c, ldc, a, lda, b, ldb, s, &opt, nullptr, nullptr, b_cold};
  if (opt.ep.bias_mode == GemmBias::per_col) p.bias_col = opt.ep.bias;
  if (opt.ep.bias_mode == GemmBias::per_row) p.bias_row = opt.ep.bias;
  return p;
}

// The swapped product: C = A B^T with few rows of A and more rows of B (linear on a small
// batch: x (M, K) times weight (N, K) transposed) runs as C^T = B A^T, its tiles stored
// transposed (GemmTileEpilogue::trans_c). Packing op(B) = B^T means transposing all N x K of the
// weight at every call, more work than the product's M rows repay; swapped, B is the
// micro-kernel's A, read in place along its rows, and only A (M x K) is packed. Above kDotMaxM
// rows (the dot path's), up to the table's swap_max_m, with N >= kSwapMinRatio M and K >=
// kSwapMinK (the transposed stores are paid once per tile, over K steps). Xeon VM, linear + bias
// + relu, swapped against not, in-process interleaved over 7-11 rounds, 2 threads (1 thread):
// K = 784, N = 512: M = 16 1.29x (1.71x), 32 1.28x (1.54x), 64 1.08x (1.26x), 96 1.21x (1.26x),
// 128 1.06x (1.16x), 256 0.96x (1.00x); K = 4096, N = 1024: M = 16 1.67x, 128 1.06x; K = 512,
// N = 1000: M = 16 1.45x, 128 1.11x; K = 256, N = 128: M = 32 1.13x, 64 1.00x; K = 128, N = 256:
// M = 32 1.01x, 64 0.95x, 128 0.89x. AVX2, K = 784, N = 512: M = 16 1.31x, 64 1.03x, 128 1.01x.
constexpr index_t kSwapMinRatio = 4;
constexpr index_t kSwapMinK = 256;
bool use_swap(const GemmKernels& t, const GemmOptions& o, GemmShape s) {
  return o.trans_b && !o.trans_a && s.M > kDotMaxM && s.M <= t.swap_max_m && s.N >= kSwapMinRatio * s.M &&
         s.K >= kSwapMinK;
}

// The options of the swapped product: op(A') = B (rows along K), op(B') = A^T (A's rows along K,
// so trans_b), the bias per column of C now per row of C^T.
GemmOptions swapped_options(const GemmOptions& o) {
  GemmOptions w = o;
  w.trans_a = false;
  w.trans_b = true;
  if (o.ep.bias_mode == GemmBias::per_col) w.ep.bias_mode = GemmBias::per_row;
  else if (o.ep.bias_mode == GemmBias::per_row) w.ep.bias_mode = GemmBias::per_col;
  return w;
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
  if (use_swap(t, opt, s)) {
    const GemmOptions w = swapped_options(opt);
    Problem p = make_problem(c, ldc, b, ldb, a, lda, {s.N, s.M, s.K}, w, false);
    p.trans_c = true;
    run_problem(t, p);
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

namespace {
// sgemm_plan of a product as run_problem runs it (swapped: the path of C^T = B A^T).
GemmPlan plan_problem(const GemmKernels& t, GemmShape s, const GemmOptions& opt, bool swapped) {
  index_t nt = thread_count(s);
  if (use_dot(t, opt, s)) return {swapped ? "swapped-dot" : "dot", nt, nt};
  const bool direct = use_direct(t, opt, s);
  if (!direct && use_shared(t, s, nt)) {
    const index_t rows = shared_unit_rows(t, s.M, nt);
    return {swapped ? "swapped-shared" : "shared", nt, (s.M + rows - 1) / rows};
  }
  plan_grid(t, s, direct, nt);
  if (swapped) return {direct ? "swapped-direct" : "swapped-packed", nt, nt};
  return {direct ? "direct" : "packed", nt, nt};
}
}  // namespace

GemmPlan sgemm_plan(GemmShape s, const GemmOptions& opt) {
  const GemmKernels& t = g_gemm_kernels.current();
  if (!t.ukernel) return {"reference", 1, 1};
  if (use_swap(t, opt, s)) return plan_problem(t, {s.N, s.M, s.K}, swapped_options(opt), true);
  return plan_problem(t, s, opt, false);
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
