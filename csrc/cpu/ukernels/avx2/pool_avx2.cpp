// AVX2+FMA pooling kernels: the ISA-generic templates of pool_impl.h on Vec8.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "cpu/pool.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx2.cpp).
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/pool_impl.h"
}  // namespace

namespace fl {
void register_pool_avx2(PoolKernels& t) { pool::register_all<Vec8>(t); }
}  // namespace fl
