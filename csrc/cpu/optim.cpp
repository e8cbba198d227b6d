// Optimizer driver: splits one parameter's flat range over threads and calls the current
// ISA's fused update. Small parameters (below one grain) run inline on the calling thread.
#include "ops/optim.h"

#include "core/parallel.h"

namespace fl {

KernelTables<OptimKernels> g_optim_kernels;
FL_REGISTER_KERNELS(optim, g_optim_kernels, register_optim_ref, register_optim_avx2, register_optim_avx512)

namespace {
// An update streams 5-7 floats per element; below ~64K elements a thread team costs more
// than it saves.
constexpr index_t kOptimGrain = 1 << 16;
}  // namespace

void sgd_update(float* p, float* buf, const float* g, index_t n, const SgdHyper& h) {
  const SgdUpdateFn f = g_optim_kernels.current().sgd_update;
  parallel_for(0, n, kOptimGrain,
               [&](index_t lo, index_t hi) { f(p + lo, buf ? buf + lo : nullptr, g + lo, hi - lo, h); });
}

void adam_update(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const AdamHyper& h) {
  const AdamUpdateFn f = g_optim_kernels.current().adam_update;
  parallel_for(0, n, kOptimGrain, [&](index_t lo, index_t hi) {
    f(p + lo, m + lo, v + lo, vmax ? vmax + lo : nullptr, g + lo, hi - lo, h);
  });
}

}  // namespace fl
