// AVX2+FMA activation kernels: the ISA-generic templates of activation_impl.h on Vec8.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/tensor.h"
#include "ops/activation.h"

// The ISA-generic headers are included inside an anonymous namespace so that this ISA's
// instantiations never merge with another ISA's at link time; their own includes above are
// already satisfied at global scope.

namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/activation_impl.h"
}  // namespace

namespace fl {
void register_activation_avx2(ActivationKernels& t) { act::register_all<Vec8>(t); }
}  // namespace fl
