// AVX-512 embedding kernels: the ISA-generic templates of embedding_impl.h on Vec16.
#include <immintrin.h>

#include "core/tensor.h"
#include "ops/embedding.h"

// The ISA-generic headers are included inside an anonymous namespace so that this ISA's
// instantiations never merge with another ISA's at link time.
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/embedding_impl.h"
}  // namespace

namespace fl {
void register_embedding_avx512(EmbeddingKernels& t) { embk::register_all<Vec16>(t); }
}  // namespace fl
