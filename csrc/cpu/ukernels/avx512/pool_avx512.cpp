// AVX-512 pooling kernels: the ISA-generic templates of pool_impl.h on Vec16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "cpu/pool.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx512.cpp).
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/pool_impl.h"
}  // namespace

namespace fl {
void register_pool_avx512(PoolKernels& t) { pool::register_all<Vec16>(t); }
}  // namespace fl
