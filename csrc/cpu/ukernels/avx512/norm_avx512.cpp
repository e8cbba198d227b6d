// AVX-512 batch-norm kernels: the ISA-generic templates of norm_impl.h on Vec16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/tensor.h"
#include "ops/norm.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx512.cpp).
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/norm_impl.h"
}  // namespace

namespace fl {
void register_norm_avx512(NormKernels& t) { norm::register_all<Vec16>(t); }
}  // namespace fl
