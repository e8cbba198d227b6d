// Convolution driver. At the scalar level it runs the reference kernels (threads over
// images). Otherwise:
//   - 1 x 1, stride 1, no padding: the image is already the GEMM's B matrix (C x HW).
//   - depthwise (groups == C == K): the ISA's vector kernels, threads over planes (forward)
//     or over channels (backward-weight).
//   - 3 x 3, stride 1, >= 8 channels per group, >= 14 x 14 outputs: Winograd F(2x2, 3x3),
//     forward and weight gradient.
//   - stride 1, short reductions (C R S <= 64): a direct kernel on a zero-padded copy.
//   - backward-input at stride 1: a forward convolution of dy with the flipped filters.
//   - everything else: im2col of one image (or of several small images side by side), one
//     group and one tile of output columns into a grow-only per-thread buffer (at most
//     kColFloats floats), then the packed SGEMM of cpu/gemm.h. The whole im2col matrix of a
//     batch never exists.
// Work is split into tasks (image block, group, column tile). With enough work for every
// thread, threads take tasks from a shared counter and run single-threaded GEMMs; otherwise
// tasks run one after another and the GEMM threads itself (its tiles of C).
// Backward-input turns the GEMM around (col = W^T dY, then col2im adds into dx); its tasks are
// whole (image, group) pairs because neighbouring tiles add into the same rows of dx.
// Backward-weight accumulates dY col^T into per-thread copies of dW, summed in a fixed order.
#include "ops/conv.h"

#include "core/scratch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "ops/gemm.h"
#include "ops/norm.h"

namespace fl {

KernelTables<ConvKernels> g_conv_kernels;
FL_REGISTER_KERNELS(conv, g_conv_kernels, register_conv_ref, register_conv_avx2, register_conv_avx512)

namespace {

// Column tile budget: 4 MB per thread. Measured on 3x3 layers: a tile of a whole 28x28 image
// (or half a 56x56 one) runs 15-25% faster than 512 KB tiles, because each GEMM call packs
// all of A (the filters) again and wide tiles amortise that.
constexpr index_t kColFloats = 1 << 20;
// Below this many outputs per image a forward GEMM per image is too narrow (measured, 16 -> 32
// channels 3x3, one thread: side by side 121 vs 176 us at 4x4, 299 vs 414 us at 8x8, but
// 764 vs 535 us at 14x14). The weight gradient gains nothing from it and keeps one image.
constexpr index_t kSmallImage = 100;

// Work is cut into column blocks: `tile` columns of one image, or, for small images in the
// forward, `nb` whole images side by side, so that the GEMM's N stays wide.
struct Geometry {
  index_t Cg, Kg, crs, hw, pq, tile, tiles, nb, image_blocks;
  bool pointwise;  // 1 x 1, stride 1, no padding: x is the column matrix
};

Geometry geometry(const Conv2dShape& s, bool batch_images = false) {
  Geometry g;
  g.Cg = s.C / s.groups;
  g.Kg = s.K / s.groups;
  g.crs = g.Cg * s.R * s.S;
  g.hw = s.H * s.W;
  g.pq = s.P * s.Q;
  g.pointwise = s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
                s.P == s.H && s.Q == s.W;
  index_t t = kColFloats / std::max<index_t>(g.crs, 1);
  t = std::max<index_t>(64, t / 64 * 64);
  g.tile = std::max<index_t>(1, std::min(t, g.pq));
  g.tiles = (g.pq + g.tile - 1) / g.tile;
  // Images of fewer than kSmallImage outputs go side by side, as many as the tile holds while
  // leaving a block per thread.
  const index_t per_thread = (s.N + get_num_threads() - 1) / get_num_threads();
  g.nb = batch_images && g.pq > 0 && g.pq < kSmallImage ? std::max<index_t>(1, std::min({per_thread, t / g.pq})) : 1;
  g.image_blocks = (s.N + g.nb - 1) / g.nb;
  return g;
}

// The input columns iw = q * stride + off, for q in [q0, q1), that fall inside [0, W):
// [*qa, *qb) with q0 <= qa <= qb <= q1.
inline void valid_cols(index_t q0, index_t q1, index_t off, index_t stride, index_t W, index_t* qa, index_t* qb) {
  index_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  index_t b = W - off <= 0 ? 0 : (W - off + stride - 1) / stride;
  *qa = std::min(std::max(a, q0), q1);
  *qb = std::max(std::min(b, q1), *qa);
}

// Calls f(dst_row, p, q0, q1, h, off) for every row segment of column tile [j0, j1) of the
// im2col matrix of Cg input planes, whose rows are ld floats apart: dst_row points at col
// element (row (c, r, t), j = p Q + q0); h is the input row (or -1 when outside), off the
// input column of q = 0.
template <class F>
void for_each_segment(float* col, index_t ld, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1, const F& f) {
  for (index_t c = 0; c < Cg; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * ld;
        const index_t off = t * s.dil_w - s.pad_w;
        for (index_t j = j0; j < j1;) {
          const index_t p = j / s.Q, q0 = j % s.Q, q1 = std::min(s.Q, q0 + (j1 - j));
          const index_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
          f(row + (j - j0), c, p, q0, q1, h >= 0 && h < s.H ? h : -1, off);
          j += q1 - q0;
        }
      }
}

// col (crs x (j1 - j0), rows ld apart) = the im2col tile of xg, the Cg planes of one image
// and group.
void im2col(float* col, index_t ld, const float* xg, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1) {
  for_each_segment(col, ld, s, Cg, j0, j1, [&](float* dst, index_t c, index_t, index_t q0, index_t q1, index_t h,
                                           index_t off) {
    if (h < 0) {
      std::memset(dst, 0, sizeof(float) * static_cast<size_t>(q1 - q0));
      return;
    }
    index_t qa, qb;
    valid_cols(q0, q1, off, s.stride_w, s.W, &qa, &qb);
    const float* src = xg + c * s.H * s.W + h * s.W + off;
    for (index_t q = q0; q < qa; ++q) dst[q - q0] = 0.0f;
    if (s.stride_w == 1) {
      std::memcpy(dst + (qa - q0), src + qa, sizeof(float) * static_cast<size_t>(qb - qa));
    } else {
      for (index_t q = qa; q < qb; ++q) dst[q - q0] = src[q * s.stride_w];
    }
    for (index_t q = qb; q < q1; ++q) dst[q - q0] = 0.0f;
  });
}

// dxg += col2im(col): the adjoint of im2col.
void col2im(float* dxg, const float* col, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1) {
  for_each_segment(const_cast<float*>(col), j1 - j0, s, Cg, j0, j1,
                   [&](float* src, index_t c, index_t, index_t q0, index_t q1, index_t h, index_t off) {
                     if (h < 0) return;
                     index_t qa, qb;
                     valid_cols(q0, q1, off, s.stride_w, s.W, &qa, &qb);
                     float* dst = dxg + c * s.H * s.W + h * s.W + off;
                     for (index_t q = qa; q < qb; ++q) dst[q * s.stride_w] += src[q - q0];
                   });
}

// Per-thread im2col / accumulator buffers (core/scratch.h). An allocation failure throws
// std::bad_alloc (MemoryError in Python); inside a parallel region the exception is caught
// by run_tasks / run_reduce_tasks (Guard), the other threads stop taking tasks, and it is
// rethrown once the region has ended (an exception escaping a parallel range would end the
// process).
struct ThreadBuffer {
  ScratchBuffer buf;
  float* get(index_t n) {
    float* p = buf.get(n);
    if (!p) throw std::bad_alloc();
    return p;
  }
};
thread_local ThreadBuffer t_col, t_acc, t_tmp;

// Carries the first exception out of a parallel region: run(f) calls f unless a thread has
// already failed, catching what it throws; rethrow() throws it after the region.
class Guard {
 public:
  template <class F> void run(const F& f) {
    if (failed_) return;
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> hold(lock_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
  bool failed() const { return failed_; }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex lock_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// A thread team costs a few microseconds to wake, far more on a busy machine: each thread
// gets at least this many multiply-adds (about 8 us of work), else fewer threads run.
constexpr index_t kMacsPerThread = 1 << 20;

index_t task_grain(index_t macs_per_task) {
  return std::max<index_t>(1, kMacsPerThread / std::max<index_t>(macs_per_task, 1));
}

// Task t of a GEMM path: images [n0, n0 + nn), columns [j0, j0 + tq) of each; tasks run
// over (image block, group, column tile).
struct ColumnBlock {
  index_t n0, nn, j0, tq;
};

ColumnBlock column_block(const Geometry& g, const Conv2dShape& s, index_t task) {
  const index_t per_block = s.groups * g.tiles, ib = task / per_block, ti = task % g.tiles;
  ColumnBlock cb;
  cb.n0 = ib * g.nb;
  cb.nn = std::min(g.nb, s.N - cb.n0);
  cb.j0 = ti * g.tile;
  cb.tq = std::min(g.pq, cb.j0 + g.tile) - cb.j0;
  return cb;
}

// Runs body(task, col) over [0, tasks) of macs_per_task multiply-adds each, with a column
// buffer of col_floats per thread: in parallel with single-threaded GEMMs when there is
// enough work for every thread, else in order with GEMMs that thread themselves when large
// enough. Parallel tasks are handed out one at a time from a shared counter, so a thread
// whose core is taken by another process delays only the task it holds.
template <class Body>
void run_tasks(index_t tasks, index_t macs_per_task, index_t col_floats, const Body& body) {
  const index_t grain = task_grain(macs_per_task);
  if (tasks < get_num_threads() * grain) {
    float* col = t_col.get(col_floats);
    for (index_t i = 0; i < tasks; ++i) body(i, col);
    return;
  }
  std::atomic<index_t> next{0};
  Guard guard;
  parallel_for(0, std::min<index_t>(get_num_threads(), tasks / grain), 1, [&](index_t, index_t) {
    guard.run([&] {
      float* col = t_col.get(col_floats);
      for (index_t i = next++; i < tasks && !guard.failed(); i = next++) body(i, col);
    });
  });
  guard.rethrow();
}

// As run_tasks, for tasks that accumulate: body(task, col, acc) adds into a zeroed per-range
// buffer of acc_floats. Threads take fixed ranges of tasks and the buffers are returned in
// range order, so the caller's sum of them does not depend on timing.
template <class Body>
std::vector<const float*> run_reduce_tasks(index_t tasks, index_t macs_per_task, index_t col_floats,
                                           index_t acc_floats, const Body& body) {
  // Fixed ranges, each with its own accumulator in the calling thread's buffer (ranges are not
  // tied to threads: one thread may run several, core/parallel.h), returned in range order.
  const index_t grain = task_grain(macs_per_task);
  const index_t threads = get_num_threads();
  const index_t ranges = tasks >= threads * grain ? threads : 1;
  const index_t chunk = (tasks + ranges - 1) / ranges;
  float* const accs = t_acc.get(ranges * acc_floats);
  Guard guard;
  auto run_range = [&](index_t r) {
    guard.run([&] {
      float* col = t_col.get(col_floats);
      float* acc = accs + r * acc_floats;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(acc_floats));
      for (index_t i = r * chunk; i < std::min(tasks, (r + 1) * chunk) && !guard.failed(); ++i) body(i, col, acc);
    });
  };
  parallel_for(0, ranges, 1, [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r) run_range(r);
  });
  guard.rethrow();
  std::vector<const float*> out;
  for (index_t r = 0; r < ranges && r * chunk < tasks; ++r) out.push_back(accs + r * acc_floats);
  return out;
}

void depthwise(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
               const Conv2dShape& s) {
  Conv2dShape one = s;
  one.N = one.C = one.K = one.groups = 1;
  const index_t hw = s.H * s.W, pq = s.P * s.Q, rs = s.R * s.S;
  parallel_for(0, s.N * s.C, task_grain(pq * rs),
               [&](index_t lo, index_t hi) {
                 for (index_t i = lo; i < hi; ++i) {
                   const index_t c = i % s.C;
                   k.depthwise_forward(y + i * pq, x + i * hw, w + c * rs, bias ? bias + c : nullptr, one);
                 }
               });
}

bool is_depthwise(const ConvKernels& k, const Conv2dShape& s) {
  return k.depthwise_forward && s.groups == s.C && s.K == s.C;
}

// Winograd F(2x2, 3x3) for 3 x 3 stride-1 undilated layers with enough channels for the
// transforms to pay and images large enough for wide GEMMs (measured with K = 32 or 64:
// im2col wins at C = 3, 4 and Winograd from 8; below 14 x 14 outputs the batched im2col
// wins). 16 GEMMs of (K/G x C/G) by (C/G x T tiles) replace one of (K/G x 9 C/G) by
// (9 C/G x 4 T outputs), 2.25x fewer multiply-adds. Transformed filters U[g][e] (K/G x C/G) are computed once per call.
bool winograd_applies(const ConvKernels& k, const Conv2dShape& s) {
  return k.winograd_input && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 &&
         s.dil_w == 1 && s.C / s.groups >= 8 && s.K / s.groups >= 8 && s.P * s.Q >= 196;
}

// Direct convolution (cpu/conv.h, ConvDirectFn) for stride-1, ungrouped layers whose
// reduction C R S is short (a first layer on 1 or 3 channels): there a GEMM spends more on
// its C tiles than on its C R S-long dot products. 1 x 1 layers stay on GEMM. Measured on (64, 1, 28, 28) with 32 5x5
// filters: faster than im2col + GEMM.
constexpr index_t kDirectMaxReduction = 64;

bool direct_applies(const ConvKernels& k, const Conv2dShape& s) {
  // the padded copy of one image stays within 16 MB per thread
  const index_t padded = s.C * (s.P + (s.R - 1) * s.dil_h) * (s.Q + 32 + (s.S - 1) * s.dil_w);
  return k.direct_forward && s.groups == 1 && s.stride_h == 1 && s.stride_w == 1 && s.R * s.S > 1 &&
         s.C * s.R * s.S <= kDirectMaxReduction && padded <= (1 << 22);
}

// The zero-padded copy of image x (C planes) the direct kernels read (cpu/conv.h).
struct DirectPad {
  index_t rows, ldx, plane;
  explicit DirectPad(const Conv2dShape& s)
      : rows(s.P + (s.R - 1) * s.dil_h), ldx((s.Q + 31) / 32 * 32 + (s.S - 1) * s.dil_w), plane(rows * ldx) {}
  void fill(float* xp, const float* x, const Conv2dShape& s) const {
    for (index_t c = 0; c < s.C; ++c)
      for (index_t h = 0; h < rows; ++h) {
        float* dst = xp + c * plane + h * ldx;
        const index_t src_h = h - s.pad_h;
        std::memset(dst, 0, sizeof(float) * static_cast<size_t>(ldx));
        if (src_h < 0 || src_h >= s.H) continue;
        const index_t w0 = std::max<index_t>(0, -s.pad_w), w1 = std::min(s.W, ldx - s.pad_w);
        if (w1 > w0)
          std::memcpy(dst + s.pad_w + w0, x + c * s.H * s.W + src_h * s.W + w0,
                      sizeof(float) * static_cast<size_t>(w1 - w0));
      }
  }
};

void direct_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                    const Conv2dShape& s) {
  const index_t crs = s.C * s.R * s.S, hw = s.H * s.W;
  std::vector<float> wt(static_cast<size_t>(crs * s.K));  // (C R S, K)
  for (index_t kk = 0; kk < s.K; ++kk)
    for (index_t j = 0; j < crs; ++j) wt[j * s.K + kk] = w[kk * crs + j];
  const DirectPad pad(s);
  run_tasks(s.N, s.K * crs * s.P * s.Q, s.C * pad.plane, [&](index_t n, float* xp) {
    pad.fill(xp, x + n * s.C * hw, s);
    k.direct_forward(y + n * s.K * s.P * s.Q, xp, pad.ldx, pad.plane, wt.data(), bias, s);
  });
}

// The weight gradient on the same padded copies: threads over images, per-thread dW.
void direct_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                            const Conv2dShape& s) {
  const index_t wsize = s.K * s.C * s.R * s.S, hw = s.H * s.W, pq = s.P * s.Q;
  const DirectPad pad(s);
  const std::vector<const float*> parts =
      run_reduce_tasks(s.N, wsize * pq, s.C * pad.plane, wsize, [&](index_t n, float* xp, float* acc) {
        pad.fill(xp, x + n * s.C * hw, s);
        k.direct_backward_weight(acc, dy + n * s.K * pq, xp, pad.ldx, pad.plane, s);
      });
  for (const float* part : parts)
    for (index_t i = 0; i < wsize; ++i) dw[i] += part[i];
}

// Stride-1 backward-input as a forward convolution: dx[c, h] = sum_{k, r} dy[k, h + pad - r dil] w[k, c, r]
// is a correlation of dy with the filters flipped and transposed to (C, K/G, R, S), with
// padding dil (R - 1) - pad. It runs on im2col (a copy) instead of col2im (a scatter-add), or
// on the depthwise kernel. Returns false where it does not apply.
bool backward_input_as_forward(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const index_t ph = s.dil_h * (s.R - 1) - s.pad_h, pw = s.dil_w * (s.S - 1) - s.pad_w;
  if (s.stride_h != 1 || s.stride_w != 1 || ph < 0 || pw < 0) return false;
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, rs = s.R * s.S;
  // Its im2col has K/G R S rows where col2im has C/G R S: worth it when K is not much larger
  // than C, or when the flipped convolution runs on Winograd or the depthwise kernel.
  Conv2dShape t = s;
  t.C = s.K;
  t.K = s.C;
  t.H = s.P;
  t.W = s.Q;
  t.P = s.H;
  t.Q = s.W;
  t.pad_h = ph;
  t.pad_w = pw;
  const ConvKernels& k = g_conv_kernels.current();
  if (Kg > 2 * Cg && !winograd_applies(k, t) && !is_depthwise(k, t)) return false;
  std::vector<float> flipped(static_cast<size_t>(s.K * Cg * rs));
  for (index_t g = 0; g < s.groups; ++g)
    for (index_t k = 0; k < Kg; ++k)
      for (index_t c = 0; c < Cg; ++c) {
        const float* src = w + ((g * Kg + k) * Cg + c) * rs;
        float* dst = flipped.data() + ((g * Cg + c) * Kg + k) * rs;
        for (index_t i = 0; i < rs; ++i) dst[i] = src[rs - 1 - i];
      }
  conv2d_forward(dx, dy, flipped.data(), nullptr, t);
  return true;
}

void winograd_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                      const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, hw = s.H * s.W, pq = s.P * s.Q;
  const index_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2);
  // U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  std::vector<float> U(static_cast<size_t>(s.groups * 16 * Kg * Cg));
  parallel_for(0, s.K, task_grain(Cg * 64), [&](index_t lo, index_t hi) {
    for (index_t kk = lo; kk < hi; ++kk)
      for (index_t c = 0; c < Cg; ++c) {
        const float* g = w + (kk * Cg + c) * 9;
        float gg[4][3];  // G g
        for (index_t j = 0; j < 3; ++j) {
          gg[0][j] = g[j];
          gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          gg[3][j] = g[6 + j];
        }
        const index_t grp = kk / Kg, kl = kk % Kg;
        for (index_t u = 0; u < 4; ++u) {
          const float row[4] = {gg[u][0], 0.5f * (gg[u][0] + gg[u][1] + gg[u][2]),
                                0.5f * (gg[u][0] - gg[u][1] + gg[u][2]), gg[u][2]};
          for (index_t v = 0; v < 4; ++v) U[((grp * 16 + u * 4 + v) * Kg + kl) * Cg + c] = row[v];
        }
      }
  });
  const index_t T = std::min(tiles, std::max<index_t>(64, kColFloats / (16 * (Cg + Kg)) / 16 * 16));
  const index_t blocks = (tiles + T - 1) / T, per_image = s.groups * blocks;
  run_tasks(
      s.N * per_image, 16 * Kg * Cg * T, 16 * (Cg + Kg) * T + winograd_pad_floats(s), [&](index_t task, float* buf) {
        const index_t n = task / per_image, grp = task % per_image / blocks, t0 = task % blocks * T;
        const index_t tb = std::min(T, tiles - t0);
        float* v = buf;
        float* m = buf + 16 * Cg * tb;
        k.winograd_input(v, buf + 16 * (Cg + Kg) * tb, x + (n * s.C + grp * Cg) * hw, s, Cg, t0, tb);
        sgemm_batched(16, m, tb, Kg * tb, U.data() + grp * 16 * Kg * Cg, Cg, Kg * Cg, v, tb, Cg * tb,
                      {Kg, tb, Cg});
        k.winograd_output(y + (n * s.K + grp * Kg) * pq, m, bias ? bias + grp * Kg : nullptr, s, Kg, t0, tb);
      });
}

// Winograd weight gradient (same layers as winograd_forward): y = A^T (U . V) A is linear in
// U, so dU[e] = sum over tiles of (A dy A^T)[e] V[e] (16 GEMMs per block, accumulated), and
// dw = G^T dU G. Per-thread dU copies are summed at the end, in a fixed order.
void winograd_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                              const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, hw = s.H * s.W, pq = s.P * s.Q;
  const index_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2), usize = s.groups * 16 * Kg * Cg;
  const index_t T = std::min(tiles, std::max<index_t>(64, kColFloats / (16 * (Cg + Kg)) / 16 * 16));
  const index_t blocks = (tiles + T - 1) / T, per_image = s.groups * blocks, tasks = s.N * per_image;
  GemmOptions opt;
  opt.trans_b = true;
  opt.beta = 1.0f;
  const std::vector<const float*> parts = run_reduce_tasks(
      tasks, 16 * Kg * Cg * T, 16 * (Cg + Kg) * T + winograd_pad_floats(s), usize, [&](index_t task, float* buf, float* part) {
        const index_t n = task / per_image, grp = task % per_image / blocks, t0 = task % blocks * T;
        const index_t tb = std::min(T, tiles - t0);
        float* v = buf;
        float* g = buf + 16 * Cg * tb;
        k.winograd_input(v, buf + 16 * (Cg + Kg) * tb, x + (n * s.C + grp * Cg) * hw, s, Cg, t0, tb);
        k.winograd_grad_output(g, dy + (n * s.K + grp * Kg) * pq, s, Kg, t0, tb);
        sgemm_batched(16, part + grp * 16 * Kg * Cg, Cg, Kg * Cg, g, tb, Kg * tb, v, tb, Cg * tb, {Kg, Cg, tb},
                      opt);
      });
  std::vector<float> dU(static_cast<size_t>(usize), 0.0f);
  for (const float* part : parts)
    for (index_t i = 0; i < usize; ++i) dU[i] += part[i];
  // dw = G^T dU G, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  for (index_t kk = 0; kk < s.K; ++kk)
    for (index_t c = 0; c < Cg; ++c) {
      const index_t grp = kk / Kg, kl = kk % Kg;
      float d[4][4], z[3][4];
      for (index_t e = 0; e < 16; ++e) d[e / 4][e % 4] = dU[((grp * 16 + e) * Kg + kl) * Cg + c];
      for (index_t v = 0; v < 4; ++v) {
        z[0][v] = d[0][v] + 0.5f * (d[1][v] + d[2][v]);
        z[1][v] = 0.5f * (d[1][v] - d[2][v]);
        z[2][v] = 0.5f * (d[1][v] + d[2][v]) + d[3][v];
      }
      float* out = dw + (kk * Cg + c) * 9;
      for (index_t r = 0; r < 3; ++r) {
        out[r * 3 + 0] = z[r][0] + 0.5f * (z[r][1] + z[r][2]);
        out[r * 3 + 1] = 0.5f * (z[r][1] - z[r][2]);
        out[r * 3 + 2] = 0.5f * (z[r][1] + z[r][2]) + z[r][3];
      }
    }
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const index_t image_macs = s.K * (s.C / s.groups) * s.R * s.S * s.P * s.Q;
  if (!k.use_gemm) {
    parallel_for(0, s.N, task_grain(image_macs), [&](index_t lo, index_t hi) {
      Conv2dShape part = s;
      part.N = hi - lo;
      k.forward_ref(y + lo * s.K * s.P * s.Q, x + lo * s.C * s.H * s.W, w, bias, part);
    });
    return;
  }
  if (is_depthwise(k, s)) return depthwise(k, y, x, w, bias, s);
  if (winograd_applies(k, s)) return winograd_forward(k, y, x, w, bias, s);
  if (direct_applies(k, s)) return direct_forward(k, y, x, w, bias, s);
  const Geometry g = geometry(s, true);
  const index_t per_block = s.groups * g.tiles, cols_max = g.nb * g.tile;
  run_tasks(
      g.image_blocks * per_block, g.Kg * g.crs * cols_max, g.pointwise && g.nb == 1 ? 0 : g.crs * cols_max,
      [&](index_t task, float* col) {
        const ColumnBlock cb = column_block(g, s, task);
        const index_t grp = task % per_block / g.tiles, cols = cb.nn * cb.tq;
        GemmOptions opt;
        if (bias) {
          opt.ep.bias_mode = GemmBias::per_row;
          opt.ep.bias = bias + grp * g.Kg;
        }
        const float* wg = w + grp * g.Kg * g.crs;
        const float* x0 = x + (cb.n0 * s.C + grp * g.Cg) * g.hw;
        if (cb.nn == 1) {
          const float* b = x0 + cb.j0;
          index_t ldb = g.hw;
          if (!g.pointwise) {
            im2col(col, cb.tq, x0, s, g.Cg, cb.j0, cb.j0 + cb.tq);
            b = col;
            ldb = cb.tq;
          }
          sgemm(y + (cb.n0 * s.K + grp * g.Kg) * g.pq + cb.j0, g.pq, wg, g.crs, b, ldb, {g.Kg, cb.tq, g.crs}, opt);
          return;
        }
        for (index_t i = 0; i < cb.nn; ++i) im2col(col + i * g.pq, cols, x0 + i * s.C * g.hw, s, g.Cg, 0, g.pq);
        float* out = t_tmp.get(g.Kg * cols);
        sgemm(out, cols, wg, g.crs, col, cols, {g.Kg, cols, g.crs}, opt);
        for (index_t i = 0; i < cb.nn; ++i)
          for (index_t k = 0; k < g.Kg; ++k)
            std::memcpy(y + ((cb.n0 + i) * s.K + grp * g.Kg + k) * g.pq, out + k * cols + i * g.pq,
                        sizeof(float) * static_cast<size_t>(g.pq));
      });
}

void conv2d_backward_input(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const Geometry g = geometry(s);
  auto add_bias = [&](index_t n, index_t c0, index_t c1) {
    if (!bias) return;
    for (index_t c = c0; c < c1; ++c) {
      float* plane = dx + (n * s.C + c) * g.hw;
      for (index_t i = 0; i < g.hw; ++i) plane[i] += bias[c];
    }
  };
  if (!k.use_gemm) {
    parallel_for(0, s.N, task_grain(g.Kg * g.crs * g.pq * s.groups), [&](index_t lo, index_t hi) {
      Conv2dShape part = s;
      part.N = hi - lo;
      k.backward_input_ref(dx + lo * s.C * g.hw, dy + lo * s.K * g.pq, w, part);
      for (index_t n = lo; n < hi; ++n) add_bias(n, 0, s.C);
    });
    return;
  }
  if (!g.pointwise && backward_input_as_forward(dx, dy, w, s)) {
    if (!bias) return;
    parallel_for(0, s.N, task_grain(s.C * g.hw), [&](index_t lo, index_t hi) {
      for (index_t n = lo; n < hi; ++n) add_bias(n, 0, s.C);
    });
    return;
  }
  // Depthwise at column stride 2, or where the flipped forward does not apply (row stride 2,
  // pads past the filter), plane by plane; a plane whose buffer cannot be had runs the
  // reference. Xeon VM, 2 threads, against col2im (alternating processes, 6 rounds): 3 x 3
  // stride 2 pad 1 on (4, 256, 28, 28) 4.60x, (8, 32, 112, 112) 5.15x, (4, 128, 56, 56) 3.73x;
  // 5 x 5 stride 2 pad 2 on (4, 64, 28, 28) 6.59x.
  if (is_depthwise(k, s) && k.depthwise_backward_input && s.stride_w <= 2 && s.S <= kDepthwiseMaxTaps) {
    Conv2dShape one = s;
    one.N = one.C = one.K = one.groups = 1;
    const index_t pq = s.P * s.Q, rs = s.R * s.S;
    parallel_for(0, s.N * s.C, task_grain(g.hw * rs), [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        const index_t c = i % s.C;
        if (!k.depthwise_backward_input(dx + i * g.hw, dy + i * pq, w + c * rs, one))
          k.backward_input_ref(dx + i * g.hw, dy + i * pq, w + c * rs, one);
        add_bias(i / s.C, c, c + 1);
      }
    });
    return;
  }
  GemmOptions tr;
  tr.trans_a = true;
  run_tasks(
      s.N * s.groups, g.Kg * g.crs * g.pq, g.pointwise ? 0 : g.crs * g.tile, [&](index_t task, float* col) {
        const index_t n = task / s.groups, grp = task % s.groups;
        float* dxg = dx + (n * s.C + grp * g.Cg) * g.hw;
        const float* dyg = dy + (n * s.K + grp * g.Kg) * g.pq;
        const float* wg = w + grp * g.Kg * g.crs;
        if (g.pointwise) {
          sgemm(dxg, g.hw, wg, g.crs, dyg, g.pq, {g.Cg, g.pq, g.Kg}, tr);
        } else {
          std::memset(dxg, 0, sizeof(float) * static_cast<size_t>(g.Cg * g.hw));
          for (index_t j0 = 0; j0 < g.pq; j0 += g.tile) {
            const index_t j1 = std::min(g.pq, j0 + g.tile);
            sgemm(col, j1 - j0, wg, g.crs, dyg + j0, g.pq, {g.crs, j1 - j0, g.Kg}, tr);
            col2im(dxg, col, s, g.Cg, j0, j1);
          }
        }
        add_bias(n, grp * g.Cg, (grp + 1) * g.Cg);
      });
}

void conv2d_backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const index_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  std::memset(dw, 0, sizeof(float) * static_cast<size_t>(wsize));
  if (!k.use_gemm) return k.backward_weight_ref(dw, dy, x, s);
  if (is_depthwise(k, s) && k.depthwise_backward_weight) {
    Conv2dShape one = s;
    one.N = one.C = one.K = one.groups = 1;
    const index_t hw = s.H * s.W, pq = s.P * s.Q, rs = s.R * s.S;
    parallel_for(0, s.C, task_grain(s.N * pq * rs), [&](index_t lo, index_t hi) {
      for (index_t c = lo; c < hi; ++c)
        for (index_t n = 0; n < s.N; ++n)
          k.depthwise_backward_weight(dw + c * rs, dy + (n * s.C + c) * pq, x + (n * s.C + c) * hw, one);
    });
    return;
  }
  if (winograd_applies(k, s)) return winograd_backward_weight(k, dw, dy, x, s);
  if (direct_applies(k, s) && k.direct_backward_weight) return direct_backward_weight(k, dw, dy, x, s);
  const Geometry g = geometry(s);
  const index_t per_block = s.groups * g.tiles, tasks = g.image_blocks * per_block;
  const std::vector<const float*> parts = run_reduce_tasks(
      tasks, g.Kg * g.crs * g.tile, g.pointwise ? 0 : g.crs * g.tile, wsize, [&](index_t task, float* buf, float* acc) {
        const ColumnBlock cb = column_block(g, s, task);
        const index_t grp = task % per_block / g.tiles;
        const float* x0 = x + (cb.n0 * s.C + grp * g.Cg) * g.hw;
        const float* dy0 = dy + (cb.n0 * s.K + grp * g.Kg) * g.pq;
        const float* b = x0 + cb.j0;
        index_t ldb = g.hw;
        if (!g.pointwise) {
          im2col(buf, cb.tq, x0, s, g.Cg, cb.j0, cb.j0 + cb.tq);
          b = buf;
          ldb = cb.tq;
        }
        GemmOptions opt;
        opt.trans_b = true;
        opt.beta = 1.0f;
        sgemm(acc + grp * g.Kg * g.crs, g.crs, dy0 + cb.j0, g.pq, b, ldb, {g.Kg, g.crs, cb.tq}, opt);
      });
  for (const float* part : parts)
    for (index_t i = 0; i < wsize; ++i) dw[i] += part[i];
}

void conv_bias_backward(float* db, const float* t, index_t N, index_t K, index_t L) {
  const NormReduceFn reduce = g_norm_kernels.current().reduce;
  const ChannelShape cs{N, K, L};
  std::vector<double> sums(static_cast<size_t>(K));
  parallel_for(0, K, std::max<index_t>(1, (1 << 15) / std::max<index_t>(N * L, 1)), [&](index_t c0, index_t c1) {
    reduce(sums.data(), nullptr, t, nullptr, nullptr, nullptr, cs, c0, c1);
    for (index_t c = c0; c < c1; ++c) db[c] = static_cast<float>(sums[c]);
  });
}

}  // namespace fl
