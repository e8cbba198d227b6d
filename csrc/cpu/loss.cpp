// Loss driver: validates targets, splits rows (cross-entropy) or fixed element blocks
// (point-wise losses) over threads, and reduces partial sums in a fixed order so that the
// result does not depend on the thread count.
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
}  // namespace

namespace {
// The number of rows whose target is not ignore_index; throws on a target outside [0, C).
index_t count_targets(const std::int64_t* target, index_t rows, index_t C, std::int64_t ignore_index) {
  index_t count = 0;
  for (index_t r = 0; r < rows; ++r) {
    const std::int64_t t = target[r];
    if (t == ignore_index) continue;
    FL_CHECK_ARG(t >= 0 && t < C, "target: class index ", t, " at position ", r, " is out of range [0, ", C,
                 ") (ignore_index=", ignore_index, ")");
    ++count;
  }
  return count;
}
}  // namespace

CeSum nll_loss_forward(float* loss, const float* x, const std::int64_t* target, index_t rows, index_t C,
                       std::int64_t ignore_index) {
  const index_t count = count_targets(target, rows, C, ignore_index);
  double sum = 0.0;
  for (index_t r = 0; r < rows; ++r) {  // one gather per row: memory-bound, not worth threads
    const std::int64_t t = target[r];
    loss[r] = t == ignore_index ? 0.0f : -x[r * C + t];
    sum += loss[r];
  }
  return {sum, count};
}

void nll_loss_backward(float* dx, const std::int64_t* target, const float* grad, float scale, index_t rows,
                       index_t C, std::int64_t ignore_index) {
  count_targets(target, rows, C, ignore_index);
  parallel_for(0, rows, std::max<index_t>(1, kElementGrain / C), [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r) {
      float* row = dx + r * C;
      for (index_t c = 0; c < C; ++c) row[c] = 0.0f;
      const std::int64_t t = target[r];
      if (t != ignore_index) row[t] = -scale * (grad ? grad[r] : 1.0f);
    }
  });
}

CeSum cross_entropy_forward(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows,
                            index_t C, const CeOptions& o) {
  const index_t count = count_targets(target, rows, C, o.ignore_index);
  const CeForwardFn f = g_loss_kernels.current().ce_forward;
  parallel_for(0, rows, std::max<index_t>(1, kElementGrain / C),
               [&](index_t lo, index_t hi) { f(loss + lo, lse + lo, x + lo * C, target + lo, hi - lo, C, o); });
  double sum = 0.0;
  for (index_t r = 0; r < rows; ++r) sum += loss[r];
  return {sum, count};
}

void cross_entropy_backward(float* dx, const float* x, const float* lse, const std::int64_t* target,
                            const float* grad, float scale, index_t rows, index_t C, const CeOptions& o) {
  count_targets(target, rows, C, o.ignore_index);
  const CeBackwardFn f = g_loss_kernels.current().ce_backward;
  parallel_for(0, rows, std::max<index_t>(1, kElementGrain / C), [&](index_t lo, index_t hi) {
    f(dx + lo * C, x + lo * C, lse + lo, target + lo, grad ? grad + lo : nullptr, scale, hi - lo, C, o);
  });
}

double point_loss_forward(PointLoss op, float* loss, const float* x, const float* y, index_t n) {
  const LossKernels& k = g_loss_kernels.current();
  const PointForwardFn f = op == PointLoss::mse ? k.mse_forward : k.bce_forward;
  const index_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, std::max<index_t>(1, kElementGrain / kBlock), [&](index_t lo, index_t hi) {
    for (index_t b = lo; b < hi; ++b) {
      const index_t i0 = b * kBlock, len = std::min(kBlock, n - i0);
      partial[b] = f(loss ? loss + i0 : nullptr, x + i0, y + i0, len);
    }
  });
  double sum = 0.0;
  for (double p : partial) sum += p;
  return sum;
}

void point_loss_backward(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                         index_t n) {
  const LossKernels& k = g_loss_kernels.current();
  const PointBackwardFn f = op == PointLoss::mse ? k.mse_backward : k.bce_backward;
  parallel_for(0, n, kElementGrain, [&](index_t lo, index_t hi) {
    f(dx + lo, x + lo, y + lo, grad ? grad + lo : nullptr, scale, hi - lo);
  });
}

}  // namespace fl
