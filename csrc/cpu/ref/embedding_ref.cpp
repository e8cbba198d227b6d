// Reference embedding kernels: plain loops (contract: ops/embedding.h), the oracle of the
// vector kernels and the scalar level.
#include <cstring>

#include "ops/embedding.h"

namespace fl {

namespace {

void gather_ref(float* y, const float* w, const index_t* idx, index_t n, index_t D) {
  for (index_t r = 0; r < n; ++r) std::memcpy(y + r * D, w + idx[r] * D, sizeof(float) * D);
}

void row_sum_ref(float* dst, const float* g, const index_t* pos, index_t count, index_t D, bool accumulate) {
  for (index_t j = 0; j < D; ++j) {
    float acc = accumulate ? dst[j] : 0.0f;
    for (index_t k = 0; k < count; ++k) acc += g[pos[k] * D + j];
    dst[j] = acc;
  }
}

}  // namespace

void register_embedding_ref(EmbeddingKernels& t) {
  t.gather = gather_ref;
  t.row_sum = row_sum_ref;
}

}  // namespace fl
