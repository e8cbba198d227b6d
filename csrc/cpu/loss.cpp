// Loss driver: validates targets, splits rows (cross-entropy, NLL: ranges of images, or blocks
// of positions of (N, C, d1, ..., dk) logits) or fixed element blocks (point-wise losses) over
// threads, and reduces partial sums in a fixed order so that the result does not depend on the
// thread count.
#include "ops/loss.h"

#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace fl {

KernelTables<LossKernels> g_loss_kernels;
FL_REGISTER_KERNELS(loss, g_loss_kernels, register_loss_ref, register_loss_avx2, register_loss_avx512)

namespace {
constexpr index_t kElementGrain = 1 << 15;  // below this a thread team costs more than it saves
constexpr index_t kBlock = 1 << 14;         // point-wise partial-sum block (fixed: deterministic sums)
constexpr index_t kCols = 256;              // positions per task of (N, C, D > 1) logits (a multiple of every width)

// The non-ignored rows of the targets and the sum of their class weights (the mean's divisor);
// throws on a target outside [0, C).
CeSum count_targets(const std::int64_t* target, index_t rows, index_t C, std::int64_t ignore_index,
                    const float* weight) {
  CeSum r{0.0, 0, 0.0};
  for (index_t i = 0; i < rows; ++i) {
    const std::int64_t t = target[i];
    if (t == ignore_index) continue;
    FL_CHECK_ARG(t >= 0 && t < C, "target: class index ", t, " at position ", i, " is out of range [0, ", C,
                 ") (ignore_index=", ignore_index, ")");
    ++r.count;
    r.weight += weight ? weight[t] : 1.0;
  }
  return r;
}

// Runs body(n0, n1, j0, j1) -- images [n0, n1), positions [j0, j1) of each -- over all rows of s
// in parallel: ranges of whole images, or blocks of kCols positions of one image when an image
// has more positions than that (a large segmentation map in a small batch).
template <class Body>
void over_rows(CeShape s, const Body& body) {
  const index_t per = (s.D + kCols - 1) / kCols;
  if (per <= 1) {
    const index_t grain = std::max<index_t>(1, kElementGrain / std::max<index_t>(1, s.C * s.D));
    parallel_for(0, s.N, grain, [&](index_t lo, index_t hi) { body(lo, hi, 0, s.D); });
    return;
  }
  parallel_for(0, s.N * per, std::max<index_t>(1, kElementGrain / (kCols * s.C)), [&](index_t lo, index_t hi) {
    for (index_t task = lo; task < hi; ++task) {
      const index_t n = task / per, j0 = task % per * kCols;
      body(n, n + 1, j0, std::min(s.D, j0 + kCols));
    }
  });
}

// The kernel block of images [n0, n1), positions [j0, j1), and its offsets into x-shaped and
// row-shaped arrays.
struct Rows {
  CeBlock b;
  index_t xoff, roff;
};
Rows rows_of(CeShape s, index_t n0, index_t n1, index_t j0, index_t j1) {
  return {{n1 - n0, s.C, s.D, j1 - j0}, n0 * s.C * s.D + j0, n0 * s.D + j0};
}

double sum_rows(const float* loss, index_t rows) {
  double sum = 0.0;
  for (index_t r = 0; r < rows; ++r) sum += loss[r];
  return sum;
}
}  // namespace

CeSum nll_loss_forward(float* loss, const float* x, const std::int64_t* target, CeShape s, std::int64_t ignore_index,
                       const float* weight) {
  const index_t rows = s.N * s.D;
  CeSum r = count_targets(target, rows, s.C, ignore_index, weight);
  for (index_t i = 0; i < rows; ++i) {  // one gather per row: memory-bound, not worth threads
    const std::int64_t t = target[i];
    const index_t n = i / s.D, j = i % s.D;
    loss[i] = t == ignore_index ? 0.0f : -(weight ? weight[t] : 1.0f) * x[(n * s.C + t) * s.D + j];
    r.sum += loss[i];
  }
  return r;
}

void nll_loss_backward(float* dx, const std::int64_t* target, const float* grad, float scale, CeShape s,
                       std::int64_t ignore_index, const float* weight) {
  count_targets(target, s.N * s.D, s.C, ignore_index, weight);
  over_rows(s, [&](index_t n0, index_t n1, index_t j0, index_t j1) {
    for (index_t n = n0; n < n1; ++n) {
      float* dn = dx + n * s.C * s.D;
      for (index_t c = 0; c < s.C; ++c)
        for (index_t j = j0; j < j1; ++j) dn[c * s.D + j] = 0.0f;
      for (index_t j = j0; j < j1; ++j) {
        const index_t r = n * s.D + j;
        const std::int64_t t = target[r];
        if (t != ignore_index) dn[t * s.D + j] = -scale * (grad ? grad[r] : 1.0f) * (weight ? weight[t] : 1.0f);
      }
    }
  });
}

CeSum cross_entropy_forward(float* loss, float* lse, const float* x, const std::int64_t* target, CeShape s,
                            const CeOptions& o) {
  CeSum r = count_targets(target, s.N * s.D, s.C, o.ignore_index, o.weight);
  const CeForwardFn f = g_loss_kernels.current().ce_forward;
  over_rows(s, [&](index_t n0, index_t n1, index_t j0, index_t j1) {
    const Rows w = rows_of(s, n0, n1, j0, j1);
    f(loss + w.roff, lse + w.roff, x + w.xoff, target + w.roff, w.b, o);
  });
  r.sum = sum_rows(loss, s.N * s.D);
  return r;
}

void cross_entropy_backward(float* dx, const float* x, const float* lse, const std::int64_t* target,
                            const float* grad, float scale, CeShape s, const CeOptions& o) {
  count_targets(target, s.N * s.D, s.C, o.ignore_index, o.weight);
  const CeBackwardFn f = g_loss_kernels.current().ce_backward;
  over_rows(s, [&](index_t n0, index_t n1, index_t j0, index_t j1) {
    const Rows w = rows_of(s, n0, n1, j0, j1);
    f(dx + w.xoff, x + w.xoff, lse + w.roff, target + w.roff, grad ? grad + w.roff : nullptr, scale, w.b, o);
  });
}

CeSum cross_entropy_soft_forward(float* loss, float* lse, const float* x, const float* t, CeShape s,
                                 const CeOptions& o) {
  const CeSoftForwardFn f = g_loss_kernels.current().ce_soft_forward;
  over_rows(s, [&](index_t n0, index_t n1, index_t j0, index_t j1) {
    const Rows w = rows_of(s, n0, n1, j0, j1);
    f(loss + w.roff, lse + w.roff, x + w.xoff, t + w.xoff, w.b, o);
  });
  const index_t rows = s.N * s.D;
  return {sum_rows(loss, rows), rows, static_cast<double>(rows)};
}

void cross_entropy_soft_backward(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                 float scale, CeShape s, const CeOptions& o) {
  const CeSoftBackwardFn f = g_loss_kernels.current().ce_soft_backward;
  over_rows(s, [&](index_t n0, index_t n1, index_t j0, index_t j1) {
    const Rows w = rows_of(s, n0, n1, j0, j1);
    f(dx + w.xoff, x + w.xoff, lse + w.roff, t + w.xoff, grad ? grad + w.roff : nullptr, scale, w.b, o);
  });
}

double point_loss_forward(PointLoss op, float* loss, const float* x, const float* y, const PointWeights& w,
                          index_t n) {
  const LossKernels& k = g_loss_kernels.current();
  const PointForwardFn f = op == PointLoss::mse ? k.mse_forward : k.bce_forward;
  const index_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, std::max<index_t>(1, kElementGrain / kBlock), [&](index_t lo, index_t hi) {
    for (index_t b = lo; b < hi; ++b) {
      const index_t i0 = b * kBlock, len = std::min(kBlock, n - i0);
      const PointWeights wb{w.weight ? w.weight + i0 : nullptr, w.pos_weight ? w.pos_weight + i0 : nullptr};
      partial[b] = f(loss ? loss + i0 : nullptr, x + i0, y + i0, wb, len);
    }
  });
  double sum = 0.0;
  for (double p : partial) sum += p;
  return sum;
}

void point_loss_backward(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                         const PointWeights& w, index_t n) {
  const LossKernels& k = g_loss_kernels.current();
  const PointBackwardFn f = op == PointLoss::mse ? k.mse_backward : k.bce_backward;
  parallel_for(0, n, kElementGrain, [&](index_t lo, index_t hi) {
    const PointWeights wb{w.weight ? w.weight + lo : nullptr, w.pos_weight ? w.pos_weight + lo : nullptr};
    f(dx + lo, x + lo, y + lo, grad ? grad + lo : nullptr, scale, wb, hi - lo);
  });
}

}  // namespace fl
