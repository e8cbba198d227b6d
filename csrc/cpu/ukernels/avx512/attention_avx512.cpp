// AVX-512 attention tile kernels: the ISA-generic templates of attention_impl.h on Vec16.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/tensor.h"
#include "ops/attention.h"
#include "ops/dropout.h"

// The ISA-generic headers go inside an anonymous namespace, so that this ISA's instantiations
// never merge with another ISA's at link time; their own includes above are already satisfied.
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/attention_impl.h"
}  // namespace

namespace fl {
void register_attention_avx512(AttentionKernels& t) { attn::register_all<Vec16>(t); }
}  // namespace fl
