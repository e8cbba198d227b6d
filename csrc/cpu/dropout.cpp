// Dropout driver: splits the flat range over threads; each range passes its global offset so
// the mask does not depend on the split (see dropout.h).
#include "ops/dropout.h"

#include "core/parallel.h"

namespace fl {

KernelTables<DropoutKernels> g_dropout_kernels;
FL_REGISTER_KERNELS(dropout, g_dropout_kernels, register_dropout_ref, register_dropout_avx2, register_dropout_avx512)

void dropout_apply(float* y, const float* x, index_t n, const DropoutParams& p) {
  const DropoutApplyFn f = g_dropout_kernels.current().apply;
  parallel_for(0, n, 1 << 15, [&](index_t lo, index_t hi) { f(y + lo, x + lo, lo, hi - lo, p); });
}

}  // namespace fl
