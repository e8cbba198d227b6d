// AVX2+FMA RNN gate kernels: the ISA-generic templates of rnn_impl.h on Vec8.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/tensor.h"
#include "ops/rnn.h"

// The ISA-generic headers are included inside an anonymous namespace so that this ISA's
// instantiations never merge with another ISA's at link time; their own includes above are
// already satisfied at global scope.

namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/vmath_impl.h"
#include "cpu/ukernels/rnn_impl.h"

// The approximate reciprocal rnn_impl.h refines (12 bits).
struct Rcp {
  static Vec8 rcp(Vec8 d) { return {_mm256_rcp_ps(d.v)}; }
};
}  // namespace

namespace fl {
void register_rnn_avx2(RnnKernels& t) { rnnk::register_all<Vec8, Rcp>(t); }
}  // namespace fl
