// AVX2+FMA GEMM kernels (registration only until the blocked micro-kernels land; the
// reference kernel serves this level meanwhile).
#include "cpu/gemm.h"

namespace fl {
void register_gemm_avx2(GemmKernels&) {}
}  // namespace fl
