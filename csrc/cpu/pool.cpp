// Pooling driver: splits the planes over threads and calls the current ISA's kernels.
// Planes are independent in every pooling op (forward and backward), so a range of planes
// per thread needs no synchronisation; each range holds at least ~32K input floats.
#include "ops/pool.h"

#include <atomic>

#include "core/parallel.h"

namespace fl {

KernelTables<PoolKernels> g_pool_kernels;
FL_REGISTER_KERNELS(pool, g_pool_kernels, register_pool_ref, register_pool_avx2, register_pool_avx512)

namespace {
constexpr index_t kElementGrain = 1 << 16;  // ~15 us of memory traffic per thread

template <class Body>
void over_planes(index_t planes, const Pool2dShape& s, const Body& body) {
  const index_t per_plane = std::max<index_t>(1, s.H * s.W + s.P * s.Q);
  parallel_for(0, planes, std::max<index_t>(1, kElementGrain / per_plane), body);
}
}  // namespace

void max_pool2d_forward(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s) {
  const MaxPoolForwardFn f = g_pool_kernels.current().max_forward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  over_planes(planes, s, [&](index_t lo, index_t hi) {
    f(y + lo * pq, idx ? idx + lo * pq : nullptr, x + lo * hw, hi - lo, s);
  });
}

bool max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s) {
  const MaxPoolBackwardFn f = g_pool_kernels.current().max_backward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::atomic<bool> ok{true};
  over_planes(planes, s, [&](index_t lo, index_t hi) {
    if (!f(dx + lo * hw, dy + lo * pq, idx + lo * pq, hi - lo, s)) ok = false;
  });
  return ok;
}

void avg_pool2d_forward(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o) {
  const AvgPoolForwardFn f = g_pool_kernels.current().avg_forward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  over_planes(planes, s, [&](index_t lo, index_t hi) { f(y + lo * pq, x + lo * hw, hi - lo, s, o); });
}

void avg_pool2d_backward(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                         const AvgPoolOptions& o) {
  const AvgPoolBackwardFn f = g_pool_kernels.current().avg_backward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  over_planes(planes, s, [&](index_t lo, index_t hi) { f(dx + lo * hw, dy + lo * pq, hi - lo, s, o); });
}

void adaptive_avg_pool2d_forward(float* y, const float* x, index_t planes, const Pool2dShape& s) {
  const AdaptiveAvgForwardFn f = g_pool_kernels.current().adaptive_forward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  over_planes(planes, s, [&](index_t lo, index_t hi) { f(y + lo * pq, x + lo * hw, hi - lo, s); });
}

void adaptive_avg_pool2d_backward(float* dx, const float* dy, index_t planes, const Pool2dShape& s) {
  const AdaptiveAvgBackwardFn f = g_pool_kernels.current().adaptive_backward;
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  over_planes(planes, s, [&](index_t lo, index_t hi) { f(dx + lo * hw, dy + lo * pq, hi - lo, s); });
}

}  // namespace fl
