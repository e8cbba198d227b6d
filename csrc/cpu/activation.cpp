// Activation driver: splits tensors over threads and calls the current ISA's kernels.
// Element-wise ops split the flat range; softmax and maxout split the outer dimension,
// or the inner one when there are fewer outer slices than threads.
#include "ops/activation.h"

#include "core/parallel.h"

namespace fl {

KernelTables<ActivationKernels> g_activation_kernels;
FL_REGISTER_KERNELS(activation, g_activation_kernels, register_activation_ref, register_activation_avx2, register_activation_avx512)

namespace {
// Below ~32K elements a thread team costs more than it saves.
constexpr index_t kElementGrain = 1 << 15;
// Outputs from this size up (32 MB) are written with non-temporal stores where a kernel offers
// them: they cannot stay in the caches (32 MB L3 here) for the next op anyway, and skipping the
// read-for-ownership saves a third of the memory traffic.
constexpr index_t kStreamElements = index_t(1) << 23;
}  // namespace

void activation_forward(ActOp op, float* y, const float* x, index_t n, float a) {
  const ActForwardFn f = g_activation_kernels.current().forward[static_cast<int>(op)];
  parallel_for(0, n, kElementGrain, [&](index_t lo, index_t hi) { f(y + lo, x + lo, hi - lo, a); });
}

void activation_backward(ActOp op, float* dx, const float* dy, const float* s, index_t n, float a) {
  const ActBackwardFn f = g_activation_kernels.current().backward[static_cast<int>(op)];
  parallel_for(0, n, kElementGrain, [&](index_t lo, index_t hi) { f(dx + lo, dy + lo, s + lo, hi - lo, a); });
}

namespace {
// Calls body(o, j0, j1) over outer slices o and inner column ranges [j0, j1), in parallel.
template <class Body>
void over_slabs(AxisShape s, const Body& body) {
  const index_t per_slab = s.n * s.inner;
  if (s.outer >= get_num_threads() || s.inner < 64) {
    const index_t grain = std::max<index_t>(1, kElementGrain / std::max<index_t>(per_slab, 1));
    parallel_for(0, s.outer, grain, [&](index_t lo, index_t hi) {
      for (index_t o = lo; o < hi; ++o) body(o, 0, s.inner);
    });
    return;
  }
  for (index_t o = 0; o < s.outer; ++o) {
    const index_t grain = std::max<index_t>(64, kElementGrain / std::max<index_t>(s.n, 1));
    parallel_for(0, s.inner, grain, [&](index_t lo, index_t hi) {
      lo = lo / 16 * 16;  // keep column blocks vector-aligned within a row
      hi = hi == s.inner ? hi : hi / 16 * 16;
      if (lo < hi) body(o, lo, hi);
    });
  }
}
}  // namespace

void softmax_forward(float* y, const float* x, AxisShape s, bool log) {
  if (s.inner == 1) {  // along the last axis: contiguous rows
    const SoftmaxRowsFn rows = g_activation_kernels.current().softmax_rows;
    const index_t grain = std::max<index_t>(1, kElementGrain / std::max<index_t>(s.n, 1));
    const bool stream = s.outer * s.n >= kStreamElements;
    parallel_for(0, s.outer, grain,
                 [&](index_t lo, index_t hi) { rows(y + lo * s.n, x + lo * s.n, hi - lo, s.n, log, stream); });
    return;
  }
  const SoftmaxForwardFn f = g_activation_kernels.current().softmax_forward;
  over_slabs(s, [&](index_t o, index_t j0, index_t j1) {
    const index_t off = o * s.n * s.inner + j0;
    f(y + off, x + off, s.n, s.inner, j1 - j0, log);
  });
}

void softmax_backward(float* dx, const float* dy, const float* y, AxisShape s, bool log) {
  const SoftmaxBackwardFn f = g_activation_kernels.current().softmax_backward;
  over_slabs(s, [&](index_t o, index_t j0, index_t j1) {
    const index_t off = o * s.n * s.inner + j0;
    f(dx + off, dy + off, y + off, s.n, s.inner, j1 - j0, log);
  });
}

void maxout_forward(float* y, const float* x, AxisShape s, index_t pieces) {
  const MaxoutForwardFn f = g_activation_kernels.current().maxout_forward;
  const index_t cout = s.n / pieces;
  parallel_for(0, s.outer * cout, std::max<index_t>(1, kElementGrain / (pieces * s.inner + 1)),
               [&](index_t lo, index_t hi) {
                 for (index_t r = lo; r < hi;) {
                   // rows r = o * cout + c; run over the c's of one outer slice at once
                   const index_t o = r / cout, c0 = r % cout, c1 = std::min(cout, c0 + (hi - r));
                   f(y + (o * cout + c0) * s.inner, x + (o * s.n + c0 * pieces) * s.inner, c1 - c0, pieces,
                     s.inner);
                   r += c1 - c0;
                 }
               });
}

void maxout_backward(float* dx, const float* dy, const float* x, AxisShape s, index_t pieces) {
  const MaxoutBackwardFn f = g_activation_kernels.current().maxout_backward;
  const index_t cout = s.n / pieces;
  parallel_for(0, s.outer * cout, std::max<index_t>(1, kElementGrain / (pieces * s.inner + 1)),
               [&](index_t lo, index_t hi) {
                 for (index_t r = lo; r < hi;) {
                   const index_t o = r / cout, c0 = r % cout, c1 = std::min(cout, c0 + (hi - r));
                   const index_t xoff = (o * s.n + c0 * pieces) * s.inner;
                   f(dx + xoff, dy + (o * cout + c0) * s.inner, x + xoff, c1 - c0, pieces, s.inner);
                   r += c1 - c0;
                 }
               });
}

}  // namespace fl
