// AVX-512 conv2d kernels (depthwise; the rest runs on GEMM): the ISA-generic templates of conv_impl.h on Vec16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/scratch.h"
#include "core/tensor.h"
#include "ops/conv.h"

// Included inside an anonymous namespace so that this ISA's instantiations never merge with
// another ISA's at link time (see activation_avx512.cpp).
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/conv_impl.h"
}  // namespace

namespace fl {
void register_conv_avx512(ConvKernels& t) { conv::register_all<Vec16>(t); }
}  // namespace fl
