// Driver of the FMA peak measurement: every thread runs the current ISA's loop at once.
#include "ops/peak.h"

#include <chrono>
#include <vector>

#include "core/parallel.h"

namespace fl {

KernelTables<PeakKernels> g_peak_kernels;
FL_REGISTER_KERNELS(peak, g_peak_kernels, register_peak_ref, register_peak_avx2, register_peak_avx512)

double measure_fma_peak_gflops(double seconds) {
  const FmaLoopFn f = g_peak_kernels.current().fma_loop;
  const int nt = get_num_threads();
  std::vector<float> sink(nt * 16);
  index_t iters = 1 << 16;
  for (;;) {
    std::vector<double> flops(nt, 0.0);
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(0, nt, 1, [&](index_t lo, index_t hi) {
      for (index_t t = lo; t < hi; ++t) flops[t] = f(iters, &sink[t * 16]);
    });
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt >= seconds || iters > (index_t(1) << 40)) {
      double total = 0;
      for (double v : flops) total += v;
      return total / dt * 1e-9;
    }
    iters *= 2;
  }
}

}  // namespace fl
