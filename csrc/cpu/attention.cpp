// Fused attention driver (FlashAttention-2's algorithm on the CPU). Contracts in ops/attention.h.
//
// Forward: work items are (batch-head, group of up to 16 query blocks of BR rows). For each key
// block of BC keys, the item packs K_j^T and V_j into GEMM panels once, then for each of its
// query blocks makes the BR x BC scores with the GEMM micro-kernel (scale as alpha), runs the
// online softmax tile (mask, running max and sum, P = exp, rescaled output rows), and adds P V_j
// into the output rows with the micro-kernel (beta = 1). Only per-thread tiles exist: the packed
// key block, the scores of one block pair, the running max and sum of the group's rows; the
// output rows are the accumulator. lse = m + log(l). Causal: key blocks wholly after a query
// block are skipped, blocks wholly before it run unmasked, and the costliest groups go first.
//
// Backward: work items are (batch-head, key chunk); a chunk is every C-th key block (C = 1 when
// there are at least as many batch-heads as threads), so the items of one batch-head balance
// under a causal mask. For each key block, K_j^T and V_j^T are packed once, then every query block
// that attends to it recomputes S = scale Q_i K_j^T and dP = dO_i V_j^T (micro-kernel), the
// gradient tile turns them into P = exp(S + mask - lse) and dS = P (dP - delta), delta =
// rowsum(dO * O) computed once per row, and the micro-kernel accumulates dV_j += P^T dO_i,
// dK_j += scale dS^T Q_i (straight into dk, dv: the item owns those rows) and dQ_i += scale dS K_j
// (into dq when C = 1, else into a per-chunk partial summed at the end).
//
// Items are claimed from a counter (run_items), not split in fixed ranges. Scratch is a few
// tiles per thread (about 200 KiB at D = 64), whatever the sequence lengths.
//
// The micro-GEMMs are the GEMM family's (ops/gemm.h): its register tiles (6 x 16 AVX2; 8 x 48 and
// 6 x 64 AVX-512) on operands that stay in L1/L2 for the duration of a block pair. Products with
// B packed run the tiles' hand-scheduled k loops; the backward's products with B in place (dO_i,
// Q_i, K_j rows) take the direct path, where AVX-512 has the 6 x 64 tile for D = 64.
#include "ops/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "core/parallel.h"
#include "core/scratch.h"
#include "ops/gemm.h"

namespace fl {

KernelTables<AttentionKernels> g_attention_kernels;
FL_REGISTER_KERNELS(attention, g_attention_kernels, register_attention_ref, register_attention_avx2,
                    register_attention_avx512)

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Query rows per block: 8 row tiles of the micro-kernel (64 on AVX-512, 48 on AVX2): the scores
// tile (BR x BC) and the query block (BR x D) stay in L1/L2 while a key block passes. Keys per
// block: a multiple of NR (the packed K^T panels are NR wide).
index_t block_rows(const GemmKernels& g) { return 8 * g.mr; }
index_t block_cols(const GemmKernels& g) { return std::max<index_t>(1, 192 / g.nr) * g.nr; }

// A thread team costs a few microseconds to wake: each thread gets at least this many
// multiply-adds, else fewer threads run.
constexpr index_t kMacsPerThread = 1 << 20;
// Query blocks per forward item: K_j^T and V_j are packed once per key block for all of them
// (packing costs 1 / (4 x rows) of the products), and their query and output rows (256 KiB
// each at D = 64, 1024 rows on AVX-512) stay in L2 while the key blocks pass.
constexpr index_t kGroupBlocks = 16;

thread_local ScratchBuffer t_attn;

// C[m, n] = alpha * A B + beta * C over the micro-kernel's tiles, columns in near-equal slivers
// of whole vectors. A: a(i, p) = a[i * rs_a + p * cs_a]. B: packed (NR-wide panels, b(p, j) at
// b + (j / NR) * rs_b + p * NR + j % NR; needs cs_a == 1) or rows in place, rs_b apart (direct
// path, with the wide tile where N fits it).
void tile_gemm(const GemmKernels& g, index_t m, index_t n, index_t kc, const float* a, index_t rs_a, index_t cs_a,
               const float* b, index_t rs_b, bool packed, float* c, index_t ldc, float alpha, float beta) {
  GemmTileEpilogue ep{alpha, beta, nullptr, nullptr, false, false};
  if (packed) {
    for (index_t j = 0; j < n; j += g.nr) {
      const index_t nr = std::min(g.nr, n - j);
      const float* bj = b + (j / g.nr) * rs_b;
      for (index_t i = 0; i < m; i += g.mr)
        g.ukernel(std::min(g.mr, m - i), nr, kc, a + i * rs_a, rs_a, 1, bj, g.nr, GemmPacking::b_only,
                  c + i * ldc + j, ldc, ep);
    }
    return;
  }
  const bool wide = g.ukernel_wide && n > g.nr && n <= g.wide_nr;
  const GemmUkernelFn uk = wide ? g.ukernel_wide : g.ukernel;
  const index_t tile_m = wide ? g.wide_mr : g.mr, tile_n = wide ? g.wide_nr : g.nr;
  const index_t vecs = (n + g.vw - 1) / g.vw, slivers = (n + tile_n - 1) / tile_n;
  for (index_t s = 0, j = 0; s < slivers; ++s) {
    const index_t nr = std::min(n - j, (vecs * (s + 1) / slivers - vecs * s / slivers) * g.vw);
    for (index_t i = 0; i < m; i += tile_m)
      uk(std::min(tile_m, m - i), nr, kc, a + i * rs_a, rs_a, cs_a, b + j, rs_b, GemmPacking::none, c + i * ldc + j,
         ldc, ep);
    j += nr;
  }
}

// The tile description of scores [q0, q0 + rows) x [k0, k0 + cols) of batch-head b.
AttnTile make_tile(const AttnMaskView& mask, const AttentionShape& s, const AttentionOptions& opt, index_t b,
                   index_t q0, index_t rows, index_t k0, index_t cols) {
  AttnTile t{rows, cols, q0, k0, mask.kind, nullptr, mask.stride_q, mask.stride_k};
  if (opt.dropout.threshold != 0) {
    t.dropout = &opt.dropout;
    t.drop_index = (b * s.Tq + q0) * s.Tk + k0;
    t.drop_ld = s.Tk;
  }
  if (mask.kind == AttnMask::causal) {
    if (k0 + cols - 1 <= q0) t.kind = AttnMask::none;  // every key at or before every query
  } else if (mask.kind == AttnMask::boolean) {
    t.mask = static_cast<const std::uint8_t*>(mask.data) + mask.batch_offset[b] + q0 * mask.stride_q +
             k0 * mask.stride_k;
  } else if (mask.kind == AttnMask::additive) {
    t.mask = static_cast<const float*>(mask.data) + mask.batch_offset[b] + q0 * mask.stride_q + k0 * mask.stride_k;
  }
  return t;
}

index_t round_up(index_t x, index_t m) { return (x + m - 1) / m * m; }

// Runs body(item, scratch) for items [0, n), claimed one at a time from a counter by up to
// get_num_threads() workers, each with its own scratch of `floats` floats: a worker that the
// machine slows down takes fewer items (the VMs here run other guests' threads on the same
// cores). At most n / min_items workers. Returns false when a scratch allocation failed (the
// remaining items are then skipped; nothing is thrown inside the parallel region).
template <class Body>
bool run_items(index_t n, index_t min_items, index_t floats, const Body& body) {
  std::atomic<index_t> next{0};
  std::atomic<bool> failed{false};
  const index_t most = n / std::max<index_t>(min_items, 1);
  const index_t workers = std::max<index_t>(1, std::min<index_t>(get_num_threads(), most));
  parallel_for(0, workers, 1, [&](index_t, index_t) {
    float* buf = t_attn.get(floats);
    if (!buf) {
      failed = true;
      return;
    }
    for (index_t i = next++; i < n && !failed; i = next++) body(i, buf);
  });
  return !failed;
}

}  // namespace

void attention_forward(float* o, float* lse, const float* q, const float* k, const float* v, const AttentionShape& s,
                       const AttnMaskView& mask, const AttentionOptions& opt) {
  const AttentionKernels& t = g_attention_kernels.current();
  const GemmKernels& g = g_gemm_kernels.current();
  if (s.BH == 0 || s.Tq == 0) return;
  if (!t.softmax_tile || !g.ukernel || s.Tk == 0 || s.D == 0 || s.Dv == 0) {
    t.forward_ref(o, lse, q, k, v, s, mask, opt);
    return;
  }
  const bool causal = mask.kind == AttnMask::causal;
  const index_t br = block_rows(g), bc = block_cols(g);
  const index_t nqb = (s.Tq + br - 1) / br;
  // Items: a group of up to kGroupBlocks query blocks of one batch-head, at least 4 items a
  // thread where there are enough blocks.
  const index_t group = std::clamp<index_t>(s.BH * nqb / (4 * get_num_threads()), 1, kGroupBlocks);
  const index_t ngroups = (nqb + group - 1) / group, grows = group * br;
  const index_t kt_size = round_up(bc, g.nr) * s.D, vp_size = bc * round_up(s.Dv, g.nr);
  const index_t scratch = kt_size + vp_size + br * bc + 2 * grows;
  const index_t macs = grows * s.Tk * (s.D + s.Dv) / (causal ? 2 : 1);
  const bool ok = run_items(s.BH * ngroups, kMacsPerThread / macs, scratch, [&](index_t item, float* buf) {
    float *kt = buf, *vp = kt + kt_size, *sc = vp + vp_size, *m = sc + br * bc, *l = m + grows;
    const index_t b = item / ngroups;
    // Causal: the costliest groups (the last queries) first, so that the last items are short.
    const index_t gi = causal ? ngroups - 1 - item % ngroups : item % ngroups;
    const index_t q0 = gi * grows, q1 = std::min(s.Tq, q0 + grows);
    const float* kb = k + b * s.Tk * s.D;
    const float* vb = v + b * s.Tk * s.Dv;
    float* ob = o + b * s.Tq * s.Dv;
    std::fill(ob + q0 * s.Dv, ob + q1 * s.Dv, 0.0f);
    std::fill(m, m + (q1 - q0), -kInf);
    std::fill(l, l + (q1 - q0), 0.0f);
    const index_t kend = causal ? std::min(s.Tk, q1) : s.Tk;  // later keys are masked for every query
    for (index_t k0 = 0; k0 < kend; k0 += bc) {
      const index_t cols = std::min(bc, kend - k0);
      g.pack_b(kt, kb + k0 * s.D, s.D, true, s.D, cols);      // K_j^T: NR-wide panels of D rows
      g.pack_b(vp, vb + k0 * s.Dv, s.Dv, false, cols, s.Dv);  // V_j: NR-wide panels of cols rows
      for (index_t qi = q0; qi < q1; qi += br) {
        const index_t rows = std::min(br, q1 - qi);
        // Causal: keys after the block's last query are masked for all of its rows, so the key
        // block is cut there (T = 2048, 1 thread: forward 1.05x against the whole key block).
        const index_t ci = causal ? std::min(cols, qi + rows - k0) : cols;
        if (ci <= 0) continue;
        float* op = ob + qi * s.Dv;
        tile_gemm(g, rows, ci, s.D, q + (b * s.Tq + qi) * s.D, s.D, 1, kt, g.nr * s.D, true, sc, bc, opt.scale, 0.0f);
        const AttnTile tile = make_tile(mask, s, opt, b, qi, rows, k0, ci);
        t.softmax_tile(sc, bc, op, s.Dv, s.Dv, m + (qi - q0), l + (qi - q0), tile);
        tile_gemm(g, rows, s.Dv, ci, sc, bc, 1, vp, g.nr * cols, true, op, s.Dv, 1.0f, 1.0f);
      }
    }
    for (index_t r = 0; r < q1 - q0; ++r) {
      const bool none = l[r] == 0.0f;  // no key attended: O = 0 (already), lse = +inf
      if (!none) {
        const float inv = 1.0f / l[r];
        float* orow = ob + (q0 + r) * s.Dv;
        for (index_t d = 0; d < s.Dv; ++d) orow[d] *= inv;
      }
      if (lse) lse[b * s.Tq + q0 + r] = none ? kInf : m[r] + std::log(l[r]);
    }
  });
  if (!ok) throw std::bad_alloc();
}

void attention_backward(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                        const float* v, const float* o, const float* lse, const AttentionShape& s,
                        const AttnMaskView& mask, const AttentionOptions& opt) {
  const AttentionKernels& t = g_attention_kernels.current();
  const GemmKernels& g = g_gemm_kernels.current();
  if (s.BH == 0) return;
  if (!t.grad_tile || !g.ukernel || s.Tq == 0 || s.Tk == 0 || s.D == 0 || s.Dv == 0) {
    t.backward_ref(dq, dk, dv, do_, q, k, v, o, lse, s, mask, opt);
    return;
  }
  const bool causal = mask.kind == AttnMask::causal;
  const index_t br = block_rows(g), bc = block_cols(g);
  const index_t nkb = (s.Tk + bc - 1) / bc;
  const index_t threads = get_num_threads();
  const index_t chunks = s.BH >= threads ? 1 : std::min(nkb, (threads + s.BH - 1) / s.BH);
  const index_t rows_total = s.BH * s.Tq;
  std::vector<float> delta(static_cast<size_t>(rows_total));  // rowsum(dO * O)
  std::vector<float> partial(chunks > 1 ? static_cast<size_t>(chunks * rows_total * s.D) : 0);
  parallel_for(0, rows_total, std::max<index_t>(1, kMacsPerThread / s.Dv), [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r) {
      float acc = 0.0f;
      for (index_t d = 0; d < s.Dv; ++d) acc += do_[r * s.Dv + d] * o[r * s.Dv + d];
      delta[r] = acc;
    }
  });
  const index_t kt_size = bc * s.D, vt_size = bc * s.Dv;
  const index_t scratch = kt_size + vt_size + 2 * br * bc;
  const index_t macs = bc * s.Tq * (2 * s.D + 2 * s.Dv) * nkb / chunks;
  const bool ok = run_items(s.BH * chunks, kMacsPerThread / std::max<index_t>(macs, 1), scratch,
                            [&](index_t item, float* buf) {
    float *kt = buf, *vt = kt + kt_size, *sc = vt + vt_size, *dp = sc + br * bc;
    const index_t b = item / chunks, c = item % chunks;
    const float* qb = q + b * s.Tq * s.D;
    const float* kb = k + b * s.Tk * s.D;
    const float* vb = v + b * s.Tk * s.Dv;
    const float* dob = do_ + b * s.Tq * s.Dv;
    float* dqb = chunks > 1 ? partial.data() + (c * s.BH + b) * s.Tq * s.D : dq + b * s.Tq * s.D;
    std::fill(dqb, dqb + s.Tq * s.D, 0.0f);
    for (index_t j = c; j < nkb; j += chunks) {
      const index_t k0 = j * bc, cols = std::min(bc, s.Tk - k0);
      float* dkj = dk + (b * s.Tk + k0) * s.D;
      float* dvj = dv + (b * s.Tk + k0) * s.Dv;
      std::fill(dkj, dkj + cols * s.D, 0.0f);
      std::fill(dvj, dvj + cols * s.Dv, 0.0f);
      g.pack_b(kt, kb + k0 * s.D, s.D, true, s.D, cols);     // K_j^T
      g.pack_b(vt, vb + k0 * s.Dv, s.Dv, true, s.Dv, cols);  // V_j^T
      for (index_t q0 = causal ? k0 / br * br : 0; q0 < s.Tq; q0 += br) {  // causal: queries from k0 on
        const index_t rows = std::min(br, s.Tq - q0);
        const index_t ci = causal ? std::min(cols, q0 + rows - k0) : cols;  // keys some row attends
        const float* qi = qb + q0 * s.D;
        const float* doi = dob + q0 * s.Dv;
        tile_gemm(g, rows, ci, s.D, qi, s.D, 1, kt, g.nr * s.D, true, sc, bc, opt.scale, 0.0f);
        tile_gemm(g, rows, ci, s.Dv, doi, s.Dv, 1, vt, g.nr * s.Dv, true, dp, bc, 1.0f, 0.0f);
        const AttnTile tile = make_tile(mask, s, opt, b, q0, rows, k0, ci);
        t.grad_tile(sc, dp, bc, lse + b * s.Tq + q0, delta.data() + b * s.Tq + q0, tile);
        tile_gemm(g, ci, s.Dv, rows, sc, 1, bc, doi, s.Dv, false, dvj, s.Dv, 1.0f, 1.0f);
        tile_gemm(g, ci, s.D, rows, dp, 1, bc, qi, s.D, false, dkj, s.D, opt.scale, 1.0f);
        tile_gemm(g, rows, s.D, ci, dp, bc, 1, kb + k0 * s.D, s.D, false, dqb + q0 * s.D, s.D, opt.scale, 1.0f);
      }
    }
  });
  if (!ok) throw std::bad_alloc();
  if (chunks > 1) {
    parallel_for(0, rows_total * s.D, 1 << 15, [&](index_t lo, index_t hi) {
      for (index_t e = lo; e < hi; ++e) {
        float acc = 0.0f;
        for (index_t c = 0; c < chunks; ++c) acc += partial[c * rows_total * s.D + e];
        dq[e] = acc;
      }
    });
  }
}

}  // namespace fl
