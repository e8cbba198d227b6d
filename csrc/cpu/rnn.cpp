// RNN driver: one layer (one or two directions) forward and backward through time, on the
// GEMM family (ops/gemm.h) and the fused gate kernels of the current ISA (ops/rnn.h).
//
// Forward: the input projection of all T*B rows is one GEMM per direction with the folded bias
// (xw, T x B x G*H); then per timestep the recurrent product hw = h_prev w_hh^T and one gate
// kernel. Backward: per timestep, latest first, the product that carries the gradient of the
// later step's gates to h (dh = dG w_hh), then the gate-gradient kernel (and the step's share of
// the bias gradients, summed while it is in cache); at the end dX, dW_ih and dW_hh as one GEMM
// each over all T*B rows.
//
// The recurrent products multiply the same w_hh at every step, so it is packed once per call
// into the GEMM micro-kernel's B panels (contiguous kc x NR slivers) and each step calls the
// micro-kernel on them directly, with A (h_prev, or the gate gradients) read in place. Read in
// place instead, the rows of a B sliver lie G*H floats apart (4 KiB for an LSTM of H = 256): they
// fall into the same L1 sets and every row tile re-read its sliver from L2. (The scalar level
// has no micro-kernel: it runs sgemm's reference.)
//
// Threads (StepPlan): the sequences of a batch are independent, and so are the two directions
// of a bidirectional layer: each thread takes a direction, or a group of batch rows, and runs all
// of its steps with no synchronisation at all. A small batch of one direction instead splits
// every step by slices of hidden units, with one join per step.
#include "ops/rnn.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "ops/gemm.h"

namespace fl {

KernelTables<RnnKernels> g_rnn_kernels;
FL_REGISTER_KERNELS(rnn, g_rnn_kernels, register_rnn_ref, register_rnn_avx2, register_rnn_avx512)

namespace {

// A slice of hidden units is at least this wide (and its bounds multiples of kSliceAlign, so
// that the vector kernels run whole vectors inside a row): narrower slices make the recurrent
// GEMM's tiles too thin to pay for the step's join.
constexpr index_t kSliceMin = 32;
constexpr index_t kSliceAlign = 16;
// Below this many multiply-adds per step a second thread costs more than it saves.
constexpr double kSliceMacs = 64.0 * 1024;

struct Layer {
  RnnCell cell;
  RnnShape s;
  index_t dirs, G, GH, SH;
  const index_t* batch_sizes;

  // Rows active at time t: a prefix of the batch.
  index_t active(index_t t) const { return batch_sizes ? batch_sizes[t] : s.B; }
  // The time of direction d's step `step` (the reverse direction runs from T - 1 down).
  index_t time_of(index_t d, index_t step) const { return d == 1 ? s.T - 1 - step : step; }
  // Offsets (floats) into h_seq / c_seq of direction d's state before and after time t (see
  // rnn_layer_forward in ops/rnn.h: blocks in time order, the reverse direction's h0 last).
  index_t before(index_t d, index_t t) const { return (d * (s.T + 1) + t + d) * s.B * s.H; }
  index_t after(index_t d, index_t t) const { return (d * (s.T + 1) + t + 1 - d) * s.B * s.H; }
};

// Per-call buffers from one grow-only scratch area of the calling thread (kept between calls:
// fresh pages for the T x B x G*H projections cost more than filling them).
class Arena {
 public:
  explicit Arena(ScratchBuffer& buf) : buf_(buf) {}
  // Reserves `n` floats (rounded up to 16) and returns the offset; call before base().
  index_t reserve(index_t n) {
    const index_t at = used_;
    used_ += (n + 15) / 16 * 16;
    return at;
  }
  float* base() {
    float* p = buf_.get(used_);
    if (!p) throw std::bad_alloc();
    return p;
  }

 private:
  ScratchBuffer& buf_;
  index_t used_ = 0;
};

thread_local ScratchBuffer t_forward_scratch;
thread_local ScratchBuffer t_backward_scratch;

// How the steps of a call run. Batch rows are independent sequences, so the rows split into
// groups that each run every step on their own, with no synchronisation at all: `chains`
// (direction, row group) pairs, one per thread, each over all H units. Where there are too few
// rows for that (fewer than two micro-kernel row tiles a thread), each step of one direction is
// split into `slices` unit slices instead, one parallel_for per step: a slice computes the
// recurrent product for its units' gate columns (forward) or its columns of dh (backward) and
// then the gate kernel of the same units, which needs nothing another slice writes in that step.
struct StepPlan {
  index_t row_groups;  // > 1 or dirs == 2: chains; then slices == 1
  index_t slices;
  std::vector<index_t> rows;  // row_groups + 1 bounds
};

// Where a step's work lies: direction d, batch rows [r0, r1) (row group g), units [j0, j1)
// (slice k).
struct Part {
  index_t d, g, r0, r1, k, j0, j1;
  // Rows of the part active at a step whose active rows are [0, nb).
  index_t active(index_t nb) const { return std::max<index_t>(0, std::min(nb, r1) - r0); }
};

// Row group bounds of about equal work (a row's work is its sequence length), multiples of mr.
std::vector<index_t> row_bounds(const Layer& L, index_t groups, index_t mr) {
  const index_t B = L.s.B;
  std::vector<double> work(B + 1, 0.0);  // work[r]: steps of rows < r
  std::vector<index_t> len(B, L.s.T);
  if (L.batch_sizes) {
    std::fill(len.begin(), len.end(), 0);
    for (index_t t = 0; t < L.s.T; ++t)
      for (index_t r = 0; r < L.batch_sizes[t]; ++r) ++len[r];
  }
  for (index_t r = 0; r < B; ++r) work[r + 1] = work[r] + double(len[r]) + 1.0;
  std::vector<index_t> b(groups + 1, B);
  b[0] = 0;
  for (index_t g = 1; g < groups; ++g) {
    const double target = work[B] * double(g) / double(groups);
    index_t r = static_cast<index_t>(std::lower_bound(work.begin(), work.end(), target) - work.begin());
    r = std::max(b[g - 1], std::min(B, (r + mr / 2) / mr * mr));
    b[g] = r;
  }
  return b;
}

StepPlan plan_steps(const Layer& L, index_t mr) {
  const index_t nt = in_parallel() ? 1 : get_num_threads();
  if (nt > 1) {
    const index_t per_dir = std::max<index_t>(1, nt / L.dirs);
    const index_t groups = std::min(per_dir, L.s.B / (2 * mr));
    if (L.dirs == 2 || groups > 1) {
      const index_t g = std::max<index_t>(1, groups);
      return {g, 1, row_bounds(L, g, mr)};
    }
  }
  const double macs = double(L.s.B) * double(L.GH) * double(L.s.H);
  const index_t slices = nt == 1 || macs < kSliceMacs ? 1 : std::max<index_t>(1, std::min(nt, L.s.H / kSliceMin));
  return {1, slices, {0, L.s.B}};
}

// Units [slice_bound(k), slice_bound(k + 1)) of slice k: bounds k * H / n rounded to kSliceAlign.
index_t slice_bound(index_t k, index_t n, index_t H) {
  if (k >= n) return H;
  return std::min(H, (k * H / n + kSliceAlign / 2) / kSliceAlign * kSliceAlign);
}

// Runs fn(part, i) for steps i < count of every direction and part of the batch and units, as
// the plan says: chains concurrently, each step after step; or step by step, the slices of one
// step in one parallel_for.
template <class Fn>
void run_steps(const Layer& L, const StepPlan& plan, index_t count, const Fn& fn) {
  const index_t H = L.s.H;
  if (plan.row_groups > 1 || L.dirs == 2) {
    const index_t chains = L.dirs * plan.row_groups;
    auto chain = [&](index_t c) {
      const index_t d = c / plan.row_groups, g = c % plan.row_groups;
      const Part p{d, g, plan.rows[g], plan.rows[g + 1], 0, 0, H};
      if (p.r0 < p.r1)
        for (index_t i = 0; i < count; ++i) fn(p, i);
    };
    parallel_for(0, chains, 1, [&](index_t lo, index_t hi) {
      for (index_t c = lo; c < hi; ++c) chain(c);
    });
    return;
  }
  const index_t n = plan.slices;
  for (index_t i = 0; i < count; ++i) {
    if (n == 1) {
      fn(Part{0, 0, 0, L.s.B, 0, 0, H}, i);
      continue;
    }
    parallel_for(0, n, 1, [&](index_t lo, index_t hi) {
      for (index_t k = lo; k < hi; ++k) {
        const index_t j0 = slice_bound(k, n, H), j1 = slice_bound(k + 1, n, H);
        if (j0 < j1) fn(Part{0, 0, 0, L.s.B, k, j0, j1}, i);
      }
    });
  }
}

// ---- recurrent products on B packed once per call ----
// One sliver of packed op(B): columns [col, col + nr) over K rows [pc, pc + kc), a kc x NR
// panel at `off` floats.
struct Sliver {
  index_t col, nr, pc, kc, off;
};

// The slivers of columns [col0, col0 + n) of op(B) (K rows), appended in the order they run
// (per sliver its K blocks in order): near-equal whole vectors per sliver, as sgemm's direct
// path splits, and K blocks of equal size (a multiple of 8) within the table's KC. `floats`
// grows by the panels' size.
void plan_slivers(const GemmKernels& t, index_t col0, index_t n, index_t K, std::vector<Sliver>& out,
                  index_t& floats) {
  if (n <= 0 || K <= 0) return;
  const index_t vecs = (n + t.vw - 1) / t.vw, count = (n + t.nr - 1) / t.nr;
  const index_t kblocks = (K + t.kc - 1) / t.kc;
  const index_t kb = ((K + kblocks - 1) / kblocks + 7) / 8 * 8;
  for (index_t sv = 0, j = 0; sv < count; ++sv) {
    const index_t nr = std::min(n - j, (vecs * (sv + 1) / count - vecs * sv / count) * t.vw);
    for (index_t pc = 0; pc < K; pc += kb) {
      const index_t kc = std::min(kb, K - pc);
      out.push_back({col0 + j, nr, pc, kc, floats});
      floats += kc * t.nr;
    }
    j += nr;
  }
}

// Rows of memory that the micro-kernel calls of a step bring into L2 while they compute
// (GemmTileEpilogue::prefetch): what the step's gate kernel reads next. Written (forward: the
// input projection) or saved (backward: gates and states) long before, it is past L2 by then,
// and a kernel that waited for it took as long as the product (LSTM H = 256: 37 us a step).
// region: `rows` rows of `lines` 64-byte lines, rows `ld` floats apart.
struct Region {
  const float* p;
  index_t rows, lines, ld;
};
// Up to kMax regions (more are dropped: a prefetch is only a hint).
struct Regions {
  static constexpr int kMax = 12;
  Region r[kMax];
  index_t n = 0;
  // rows rows of n floats, rows ld floats apart.
  void add(const float* p, index_t rows, index_t count, index_t ld) {
    if (n < kMax) r[n++] = {p, rows, count / 16 + 1, ld};
  }
};

// Hands out the regions' rows to successive tiles, at most `budget` lines each.
class Prefetcher {
 public:
  explicit Prefetcher(const Regions& g) : r_(g.r), n_(g.n) {}
  void next(GemmTileEpilogue& ep, index_t budget) {
    while (i_ < n_ && row_ >= r_[i_].rows) ++i_, row_ = 0;
    if (i_ == n_ || budget <= 0) {
      ep.prefetch = nullptr;
      ep.prefetch_lines = 0;
      return;
    }
    const Region& g = r_[i_];
    const index_t rows = std::max<index_t>(1, std::min(g.rows - row_, budget / g.lines));
    ep.prefetch = g.p + row_ * g.ld;
    ep.prefetch_lines = rows * g.lines;
    ep.prefetch_lines_per_row = g.lines;
    ep.prefetch_ld = g.ld;
    row_ += rows;
  }

 private:
  const Region* r_;
  index_t n_, i_ = 0, row_ = 0;
};

// The packed recurrent weight of every (direction, slice): the slivers of slice k of direction
// d are v[index[d * slices + k]] .. v[index[d * slices + k + 1]], packed from B = w[d].
struct PackedRecurrent {
  std::vector<Sliver> v;
  std::vector<index_t> index;
  index_t floats = 0;
  index_t slices = 1;

  // cols(j0, n, add) calls add(col0, count) for each column range of op(B) that the units
  // [j0, j0 + n) of a slice own.
  template <class Cols>
  void plan(const GemmKernels& t, const Layer& L, const StepPlan& sp, index_t K, const Cols& cols) {
    slices = sp.slices;
    index.push_back(0);
    for (index_t d = 0; d < L.dirs; ++d) {
      for (index_t k = 0; k < sp.slices; ++k) {
        const index_t j0 = slice_bound(k, sp.slices, L.s.H), j1 = slice_bound(k + 1, sp.slices, L.s.H);
        cols(j0, j1 - j0, [&](index_t col0, index_t n) { plan_slivers(t, col0, n, K, v, floats); });
        index.push_back(static_cast<index_t>(v.size()));
      }
    }
  }
  // Packs direction d's slivers from b (op(B) = B^T when trans: b(p, j) = b[j * ldb + p]).
  void pack(const GemmKernels& t, float* panels, index_t d, const float* b, index_t ldb, bool trans) const {
    for (index_t i = index[d * slices]; i < index[(d + 1) * slices]; ++i) {
      const Sliver& s = v[i];
      t.pack_b(panels + s.off, trans ? b + s.col * ldb + s.pc : b + s.pc * ldb + s.col, ldb, trans, s.kc, s.nr);
    }
  }
  // C[0:rows, slice k's columns] = A[0:rows, 0:K] op(B) (+ beta0 * C) for direction d, the
  // tiles prefetching pf's regions.
  void run(const GemmKernels& t, const float* panels, index_t d, index_t k, const float* a, index_t lda,
           index_t rows, float* c, index_t ldc, float beta0, Prefetcher& pf) const {
    GemmTileEpilogue ep{1.0f, beta0, nullptr, nullptr, true, false};
    for (index_t i = index[d * slices + k]; i < index[d * slices + k + 1]; ++i) {
      const Sliver& s = v[i];
      ep.beta = s.pc == 0 ? beta0 : 1.0f;
      for (index_t r = 0; r < rows; r += t.mr) {
        pf.next(ep, s.kc / 4);
        t.ukernel(std::min(t.mr, rows - r), s.nr, s.kc, a + r * lda + s.pc, lda, 1, panels + s.off, t.nr,
                  GemmPacking::b_only, c + r * ldc + s.col, ldc, ep);
      }
    }
  }
};

// Zeroes columns k * H + [j0, j1) of rows [r0, r1) of a gate-layout matrix (rows ld apart).
void zero_gate_rows(float* m, index_t ld, index_t r0, index_t r1, index_t gates, index_t H, index_t j0,
                    index_t j1) {
  for (index_t r = r0; r < r1; ++r)
    for (index_t k = 0; k < gates; ++k) std::memset(m + r * ld + k * H + j0, 0, sizeof(float) * (j1 - j0));
}

// acc[k * H + j] += m[r * ld + k * H + j] for rows r < rows, gates k, units [j0, j1): one
// step's share of a bias gradient, summed while the step's gate gradients are in cache.
void add_gate_rows(float* acc, const float* m, index_t ld, index_t rows, index_t gates, index_t H, index_t j0,
                   index_t j1) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < gates; ++k) {
      float* a = acc + k * H;
      const float* row = m + r * ld + k * H;
      for (index_t j = j0; j < j1; ++j) a[j] += row[j];
    }
}

void check_layer(RnnCell cell, RnnShape s, index_t dirs, const index_t* batch_sizes) {
  FL_CHECK_ARG(static_cast<int>(cell) >= 0 && static_cast<int>(cell) < kRnnCellCount, "rnn: unknown cell ",
               static_cast<int>(cell));
  FL_CHECK_ARG(dirs == 1 || dirs == 2, "rnn: dirs must be 1 or 2, got ", dirs);
  FL_CHECK_ARG(s.T >= 0 && s.B >= 0 && s.I >= 0 && s.H >= 0, "rnn: negative shape T=", s.T, " B=", s.B,
               " I=", s.I, " H=", s.H);
  if (!batch_sizes) return;
  for (index_t t = 0; t < s.T; ++t) {
    FL_CHECK_ARG(batch_sizes[t] >= 0 && batch_sizes[t] <= s.B, "batch_sizes[", t, "] = ", batch_sizes[t],
                 " is outside [0, ", s.B, "]");
    FL_CHECK_ARG(t == 0 || batch_sizes[t] <= batch_sizes[t - 1], "batch_sizes must be nonincreasing");
  }
}

Layer make_layer(RnnCell cell, RnnShape s, index_t dirs, const index_t* batch_sizes) {
  const index_t G = rnn_gates(cell);
  return {cell, s, dirs, G, G * s.H, rnn_saved_parts(cell) * s.H, batch_sizes};
}

}  // namespace

void rnn_layer_forward(RnnCell cell, RnnShape s, index_t dirs, float* y, float* h_seq, float* c_seq, float* gates,
                       const float* x, const RnnWeights* w, const index_t* batch_sizes) {
  check_layer(cell, s, dirs, batch_sizes);
  if (s.T == 0 || s.B == 0 || s.H == 0) return;
  const Layer L = make_layer(cell, s, dirs, batch_sizes);
  const index_t T = s.T, B = s.B, H = s.H, GH = L.GH, TB = T * B;
  const bool lstm = cell == RnnCell::lstm, gru = cell == RnnCell::gru;

  const GemmKernels& gk = g_gemm_kernels.current();
  const bool packed = gk.ukernel != nullptr;
  const StepPlan plan = plan_steps(L, packed ? gk.mr : 8);
  PackedRecurrent pr;  // op(B) = w_hh^T: slice k owns columns k * H + [j0, j1) of every gate
  if (packed)
    pr.plan(gk, L, plan, H, [&](index_t j0, index_t n, const auto& add) {
      for (index_t k = 0; k < L.G; ++k) add(k * H + j0, n);
    });

  Arena arena(t_forward_scratch);
  index_t o_xw[2], o_hw[2], o_bias[2];
  for (index_t d = 0; d < dirs; ++d) {
    o_xw[d] = arena.reserve(TB * GH);
    o_hw[d] = arena.reserve(B * GH);
    o_bias[d] = arena.reserve(GH);
  }
  const index_t o_panels = arena.reserve(pr.floats);
  float* base = arena.base();

  // The input projection of every row, and w_hh packed, per direction.
  for (index_t d = 0; d < dirs; ++d) {
    const RnnWeights& wd = w[d];
    float* bias = base + o_bias[d];
    GemmOptions opt;
    opt.trans_b = true;
    if (wd.b_ih) {
      for (index_t k = 0; k < GH; ++k) bias[k] = wd.b_ih[k] + (wd.b_hh && (!gru || k < 2 * H) ? wd.b_hh[k] : 0.0f);
      opt.ep.bias_mode = GemmBias::per_col;
      opt.ep.bias = bias;
    }
    sgemm(base + o_xw[d], GH, x, s.I, wd.w_ih, s.I, {TB, GH, s.I}, opt);
    if (packed) pr.pack(gk, base + o_panels, d, wd.w_hh, H, true);
  }

  const RnnForwardFn kernel = g_rnn_kernels.current().forward[static_cast<int>(cell)];
  const index_t ldy = dirs * H;
  run_steps(L, plan, T, [&](const Part& p, index_t step) {
    const index_t d = p.d, j0 = p.j0, n = p.j1 - p.j0, r0 = p.r0;
    const index_t t = L.time_of(d, step), nb = p.active(L.active(t));
    // Row r0 of everything this part touches (rows are B apart in time, G*H or H wide).
    const float* hp = h_seq + L.before(d, t) + r0 * H;
    float* hn = h_seq + L.after(d, t) + r0 * H;
    const float* cp = lstm ? c_seq + L.before(d, t) + r0 * H : nullptr;
    float* cn = lstm ? c_seq + L.after(d, t) + r0 * H : nullptr;
    float* yt = y + (t * B + r0) * ldy + d * H;
    const float* xw = base + o_xw[d] + (t * B + r0) * GH + j0;
    float* sg = gates ? gates + ((d * T + t) * B + r0) * L.SH + j0 : nullptr;
    float* hw = base + o_hw[d] + r0 * GH;
    if (nb > 0) {
      if (packed) {
        // The tiles bring in the gate kernel's inputs, then the lines it will write (the stores
        // then find them in L2 instead of reading them from memory first).
        Regions rg;
        for (index_t g = 0; g < L.G; ++g) rg.add(xw + g * H, nb, n, GH);
        rg.add(hn + j0, nb, n, H);
        rg.add(yt + j0, nb, n, ldy);
        if (lstm) rg.add(cn + j0, nb, n, H);
        for (index_t q = 0; sg && q < L.SH / H; ++q) rg.add(sg + q * H, nb, n, L.SH);
        Prefetcher pf(rg);
        pr.run(gk, base + o_panels, d, p.k, hp, H, nb, hw, GH, 0.0f, pf);
      } else {
        GemmOptions ot;
        ot.trans_b = true;
        for (index_t g = 0; g < L.G; ++g)
          sgemm(hw + g * H + j0, GH, hp, H, w[d].w_hh + (g * H + j0) * H, H, {nb, n, H}, ot);
      }
      RnnForwardArgs a{};
      a.rows = nb, a.n = n, a.H = H;
      a.xw = xw;
      a.hw = hw + j0;
      a.b_hn = gru && w[d].b_hh ? w[d].b_hh + 2 * H + j0 : nullptr;
      a.h_prev = hp + j0;
      a.c_prev = lstm ? cp + j0 : nullptr;
      a.h = hn + j0;
      a.c = lstm ? cn + j0 : nullptr;
      a.y = yt + j0;
      a.ld_y = ldy;
      a.gates = sg;
      kernel(a);
    }
    // Rows not active at this step: state carried, output zero.
    for (index_t r = nb; r < p.r1 - r0; ++r) {
      std::memcpy(hn + r * H + j0, hp + r * H + j0, sizeof(float) * n);
      if (lstm) std::memcpy(cn + r * H + j0, cp + r * H + j0, sizeof(float) * n);
      std::memset(yt + r * ldy + j0, 0, sizeof(float) * n);
    }
  });
}

void rnn_layer_backward(RnnCell cell, RnnShape s, index_t dirs, float* dx, float* dh, float* dc,
                        const RnnWeightGrads* g, bool accumulate, const float* dy, const float* x,
                        const RnnWeights* w, const float* h_seq, const float* c_seq, const float* gates,
                        const index_t* batch_sizes) {
  check_layer(cell, s, dirs, batch_sizes);
  const index_t T = s.T, B = s.B, H = s.H, I = s.I, TB = T * B;
  const Layer L = make_layer(cell, s, dirs, batch_sizes);
  const index_t GH = L.GH;
  const bool lstm = cell == RnnCell::lstm, gru = cell == RnnCell::gru;
  const float beta_acc = accumulate ? 1.0f : 0.0f;
  auto clear = [&](float* p, index_t n) {
    if (p && !accumulate) std::memset(p, 0, sizeof(float) * n);
  };
  if (TB == 0 || H == 0) {  // no step: dh0 = dh_n, dc0 = dc_n (in place); nothing else flows
    if (dx) std::memset(dx, 0, sizeof(float) * TB * I);
    for (index_t d = 0; d < dirs; ++d) {
      clear(g[d].w_ih, GH * I), clear(g[d].w_hh, GH * H), clear(g[d].b_ih, GH), clear(g[d].b_hh, GH);
    }
    return;
  }

  const GemmKernels& gk = g_gemm_kernels.current();
  const bool packed = gk.ukernel != nullptr;
  const StepPlan plan = plan_steps(L, packed ? gk.mr : 8);
  PackedRecurrent pr;  // op(B) = w_hh (G*H x H): slice k owns columns [j0, j1) of dh
  if (packed) pr.plan(gk, L, plan, GH, [&](index_t j0, index_t n, const auto& add) { add(j0, n); });

  Arena arena(t_backward_scratch);
  index_t o_dg[2], o_dgh[2];
  for (index_t d = 0; d < dirs; ++d) {
    o_dg[d] = arena.reserve(TB * GH);
    o_dgh[d] = gru ? arena.reserve(TB * GH) : o_dg[d];
  }
  // Bias gradients, summed step by step (each slice its own columns, each row group its own
  // copy): direction d's, row group q's at o_db + (d * groups + q) * 2 * GH (of dgx), + GH (of
  // dgh); the groups are added in order at the end, so the sums do not depend on the threads.
  const index_t groups = plan.row_groups, db_floats = dirs * groups * 2 * GH;
  const index_t o_db = arena.reserve(db_floats);
  const index_t o_panels = arena.reserve(pr.floats);
  float* base = arena.base();
  if (packed)
    for (index_t d = 0; d < dirs; ++d) pr.pack(gk, base + o_panels, d, w[d].w_hh, H, false);
  std::fill(base + o_db, base + o_db + db_floats, 0.0f);

  const RnnBackwardFn kernel = g_rnn_kernels.current().backward[static_cast<int>(cell)];
  const index_t ldy = dirs * H;
  // Call i runs the product of the direction's previous step (`step + 1` in its order, into dh),
  // then the kernel of step = T - 1 - i; the last call (step = -1) runs only step 0's product.
  // dG rows are in time order for both directions.
  run_steps(L, plan, T + 1, [&](const Part& p, index_t i) {
    const index_t d = p.d, j0 = p.j0, j1 = p.j1, n = j1 - j0, r0 = p.r0;
    const index_t step = T - 1 - i;
    float* dhd = dh + (d * B + r0) * H;
    float* dg = base + o_dg[d] + r0 * GH;   // + t * B * GH: row r0 at time t
    float* dgh = base + o_dgh[d] + r0 * GH;
    if (step + 1 < T) {
      const index_t t1 = L.time_of(d, step + 1), nb1 = p.active(L.active(t1));
      const float beta = gru ? 1.0f : 0.0f;
      if (packed) {
        // The tiles bring in what this step's gate kernel reads: the saved gates and states, dy.
        Regions rg;
        if (step >= 0) {
          const index_t t = L.time_of(d, step), nb = p.active(L.active(t));
          const float* sg = gates ? gates + ((d * T + t) * B + r0) * L.SH + j0 : nullptr;
          for (index_t q = 0; sg && q < L.SH / H; ++q) rg.add(sg + q * H, nb, n, L.SH);
          rg.add(h_seq + L.before(d, t) + r0 * H + j0, nb, n, H);
          if (lstm) rg.add(c_seq + L.before(d, t) + r0 * H + j0, nb, n, H);
          if (lstm) rg.add(c_seq + L.after(d, t) + r0 * H + j0, nb, n, H);
          if (!lstm && !gru) rg.add(h_seq + L.after(d, t) + r0 * H + j0, nb, n, H);
          if (dy) rg.add(dy + (t * B + r0) * ldy + d * H + j0, nb, n, ldy);
        }
        Prefetcher pf(rg);
        pr.run(gk, base + o_panels, d, p.k, dgh + t1 * B * GH, GH, nb1, dhd, H, beta, pf);
      } else {
        GemmOptions opt;
        opt.beta = beta;
        sgemm(dhd + j0, H, dgh + t1 * B * GH, GH, w[d].w_hh + j0, H, {nb1, n, GH}, opt);
      }
    }
    if (step < 0) return;
    const index_t t = L.time_of(d, step), nb = p.active(L.active(t));
    if (nb > 0) {
      RnnBackwardArgs a{};
      a.rows = nb, a.n = n, a.H = H;
      a.dy = dy ? dy + (t * B + r0) * ldy + d * H + j0 : nullptr;
      a.ld_dy = ldy;
      a.dh = dhd + j0;
      a.dc = lstm ? dc + (d * B + r0) * H + j0 : nullptr;
      a.gates = gates ? gates + ((d * T + t) * B + r0) * L.SH + j0 : nullptr;
      a.h = h_seq + L.after(d, t) + r0 * H + j0;
      a.h_prev = h_seq + L.before(d, t) + r0 * H + j0;
      a.c_prev = lstm ? c_seq + L.before(d, t) + r0 * H + j0 : nullptr;
      a.c = lstm ? c_seq + L.after(d, t) + r0 * H + j0 : nullptr;
      a.dgx = dg + t * B * GH + j0;
      a.dgh = dgh + t * B * GH + j0;
      kernel(a);
      float* db = base + o_db + (d * groups + p.g) * 2 * GH;
      if (g[d].b_ih || (g[d].b_hh && !gru)) add_gate_rows(db, dg + t * B * GH, GH, nb, L.G, H, j0, j1);
      if (g[d].b_hh && gru) add_gate_rows(db + GH, dgh + t * B * GH, GH, nb, L.G, H, j0, j1);
    }
    zero_gate_rows(dg + t * B * GH, GH, nb, p.r1 - r0, L.G, H, j0, j1);
    if (gru) zero_gate_rows(dgh + t * B * GH, GH, nb, p.r1 - r0, L.G, H, j0, j1);
  });

  // dX = sum over directions of dG w_ih; dW_ih = dG^T X; dW_hh = dGh^T H_prev: one GEMM each
  // over all T*B rows. H_prev of times 0..T-1 are T consecutive blocks of h_seq (from the
  // direction's `before` block of time 0).
  for (index_t d = 0; d < dirs; ++d) {
    const float* dg = base + o_dg[d];
    const float* dgh = base + o_dgh[d];
    if (dx) {
      GemmOptions opt;
      opt.beta = d > 0 ? 1.0f : 0.0f;
      sgemm(dx, I, dg, GH, w[d].w_ih, I, {TB, I, GH}, opt);
    }
    GemmOptions ot;
    ot.trans_a = true;
    ot.beta = beta_acc;
    if (g[d].w_ih) sgemm(g[d].w_ih, I, dg, GH, x, I, {GH, I, TB}, ot);
    if (g[d].w_hh) sgemm(g[d].w_hh, H, dgh, GH, h_seq + L.before(d, 0), H, {GH, H, TB}, ot);
    for (index_t k = 0; k < GH; ++k) {
      float sx = 0.0f, sh = 0.0f;
      for (index_t q = 0; q < groups; ++q) {
        const float* db = base + o_db + (d * groups + q) * 2 * GH;
        sx += db[k];
        sh += gru ? db[GH + k] : db[k];  // the recurrent bias's gradient is dgx's but for gru
      }
      if (g[d].b_ih) g[d].b_ih[k] = (accumulate ? g[d].b_ih[k] : 0.0f) + sx;
      if (g[d].b_hh) g[d].b_hh[k] = (accumulate ? g[d].b_hh[k] : 0.0f) + sh;
    }
  }
}

}  // namespace fl
