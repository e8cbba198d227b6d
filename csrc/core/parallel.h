// Threads: OpenMP with one process-wide thread count.
// omp_set_num_threads() only affects the calling thread, and Python may call us from many
// threads, so the count lives in one atomic that every parallel region passes explicitly.
// Kernels called inside parallel_for must not throw.
#pragma once
#include <algorithm>

#include "core/tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fl {

int get_num_threads();
void set_num_threads(int n);  // n >= 1

// Splits [begin, end) into at most get_num_threads() contiguous ranges of at least `grain`
// items each and calls f(lo, hi) once per range, in parallel. Runs inline when one range
// suffices or when already inside a parallel region.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, const F& f) {
  const index_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<index_t>(grain, 1);
  index_t nt = std::min<index_t>(get_num_threads(), (n + grain - 1) / grain);
#ifdef _OPENMP
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(nt))
    {
      const index_t t = omp_get_thread_num(), team = omp_get_num_threads();
      const index_t chunk = (n + team - 1) / team;
      const index_t lo = begin + std::min(n, t * chunk), hi = begin + std::min(n, (t + 1) * chunk);
      if (lo < hi) f(lo, hi);
    }
    return;
  }
#endif
  (void)nt;
  f(begin, end);
}

}  // namespace fl
