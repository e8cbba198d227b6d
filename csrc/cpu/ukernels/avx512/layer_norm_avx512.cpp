// AVX-512 layer-norm row kernels: the ISA-generic templates of layer_norm_impl.h on Vec16.
#include <immintrin.h>

#include <cmath>

#include "core/tensor.h"
#include "ops/layer_norm.h"

// The ISA-generic headers go inside an anonymous namespace, so that this ISA's instantiations
// never merge with another ISA's at link time; their own includes above are already satisfied.
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/layer_norm_impl.h"
}  // namespace

namespace fl {
void register_layer_norm_avx512(LayerNormKernels& t) { lnorm::register_all<Vec16>(t); }
}  // namespace fl
