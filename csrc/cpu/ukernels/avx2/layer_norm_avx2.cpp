// AVX2+FMA layer-norm row kernels: the ISA-generic templates of layer_norm_impl.h on Vec8.
#include <immintrin.h>

#include <cmath>

#include "core/tensor.h"
#include "ops/layer_norm.h"

// The ISA-generic headers go inside an anonymous namespace, so that this ISA's instantiations
// never merge with another ISA's at link time; their own includes above are already satisfied.
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/layer_norm_impl.h"
}  // namespace

namespace fl {
void register_layer_norm_avx2(LayerNormKernels& t) { lnorm::register_all<Vec8>(t); }
}  // namespace fl
