// Threads: one process-wide thread count and a pool of worker threads (core/parallel.cpp).
// The count lives in one atomic (Python may call us from many threads). parallel_for hands
// out its ranges to the caller and the pool's workers, which spin for a while after a job and
// then sleep; ranges are claimed, not assigned, so the caller never waits for a worker that
// has not woken up (on a VM that took milliseconds with OpenMP's fork-join: a 2-thread 256^3
// matmul after a 50 ms pause ran 5.7 ms instead of 0.09). A second Python thread calling while
// the pool is busy runs its ranges itself. The default count is OMP_NUM_THREADS where it is
// a positive integer, else the CPUs the process may run on; no OpenMP runtime is linked.
// A range that throws (std::bad_alloc from a scratch buffer) does not end the process: the
// first exception is rethrown on the caller once every range has returned, the ranges not yet
// started are skipped, and the pool stays usable. Kernels must not wait for another range:
// ranges may run one after another on one thread. (They may wait for work that another range
// has claimed and is running, as cpu/gemm.cpp's run_shared does.)
#pragma once
#include <algorithm>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "core/tensor.h"

namespace fl {

// One iteration of a spin-wait: a pause hint to the core where there is one.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#endif
}

int get_num_threads();
void set_num_threads(int n);  // n >= 1
// True inside a range that parallel_for runs on the pool (nested calls then run inline).
bool in_parallel();

namespace detail {
using RangeFn = void (*)(const void* ctx, index_t lo, index_t hi);
// Runs fn(ctx, lo, hi) over `parts` contiguous ranges of [begin, end) of ceil(n / parts) items
// on the caller and the pool; false (nothing run) when another caller holds the pool.
bool run_on_pool(index_t begin, index_t end, index_t parts, RangeFn fn, const void* ctx);
}  // namespace detail

// Splits [begin, end) into at most get_num_threads() contiguous ranges of at least `grain`
// items each and calls f(lo, hi) once per range, in parallel where threads are free. Runs
// inline when one range suffices or when already inside a parallel range.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, const F& f) {
  const index_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<index_t>(grain, 1);
  const index_t nt = std::min<index_t>(get_num_threads(), (n + grain - 1) / grain);
  if (nt > 1 && !in_parallel()) {
    auto call = [](const void* c, index_t lo, index_t hi) { (*static_cast<const F*>(c))(lo, hi); };
    if (detail::run_on_pool(begin, end, nt, call, &f)) return;
  }
  f(begin, end);
}

}  // namespace fl
