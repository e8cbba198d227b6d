// AVX-512 RNN gate kernels: the ISA-generic templates of rnn_impl.h on Vec16.
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
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/vmath_impl.h"
#include "cpu/ukernels/rnn_impl.h"

// The approximate reciprocal rnn_impl.h refines (14 bits).
struct Rcp {
  static Vec16 rcp(Vec16 d) { return {_mm512_rcp14_ps(d.v)}; }
};
}  // namespace

namespace fl {
void register_rnn_avx512(RnnKernels& t) { rnnk::register_all<Vec16, Rcp>(t); }
}  // namespace fl
