// The process-wide thread count (see parallel.h).
#include "core/parallel.h"

#include <atomic>

namespace fl {
namespace {
int initial_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}
std::atomic<int> g_threads{initial_threads()};
}  // namespace

int get_num_threads() { return g_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_threads.store(std::max(1, n)); }

}  // namespace fl
