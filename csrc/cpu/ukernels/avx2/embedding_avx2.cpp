// AVX2+FMA embedding kernels: the ISA-generic templates of embedding_impl.h on Vec8.
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/embedding.h"

// The ISA-generic headers are included inside an anonymous namespace so that this ISA's
// instantiations never merge with another ISA's at link time.
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/embedding_impl.h"
}  // namespace

namespace fl {
void register_embedding_avx2(EmbeddingKernels& t) { embk::register_all<Vec8>(t); }
}  // namespace fl
