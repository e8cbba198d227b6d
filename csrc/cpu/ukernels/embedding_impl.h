// Embedding kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/embedding_avx2.cpp, ukernels/avx512/embedding_avx512.cpp). Include only inside
// an anonymous namespace, after the ISA's Vec header.
//
// Contract: ops/embedding.h. Rows of any D, no alignment; whole vectors then one masked tail.
// (The gather stays the reference's row memcpy, which the C library already vectorises.)
// row_sum keeps kLanes vectors of the row in registers across all of its positions, so each
// gradient row is read once per kLanes vectors and the destination once: the additions into
// each element happen in position order, as the reference's.
#pragma once
#include "ops/embedding.h"

namespace embk {

using fl::index_t;

constexpr int kLanes = 4;

// Columns [j, j + kLanes * V::width) of the row (or fewer, the last vector masked to m floats).
template <class V>
inline void row_block(float* dst, const float* g, const index_t* pos, index_t count, index_t D, index_t j,
                      int nv, index_t m, bool accumulate) {
  V acc[kLanes];
  for (int v = 0; v < nv; ++v) {
    const index_t w = v + 1 == nv ? m : V::width;
    acc[v] = !accumulate ? V::zero() : w == V::width ? V::load(dst + j + v * V::width)
                                                    : V::load_n(dst + j + v * V::width, w);
  }
  for (index_t k = 0; k < count; ++k) {
    const float* src = g + pos[k] * D + j;
    for (int v = 0; v < nv; ++v) {
      const index_t w = v + 1 == nv ? m : V::width;
      acc[v] = acc[v] + (w == V::width ? V::load(src + v * V::width) : V::load_n(src + v * V::width, w));
    }
  }
  for (int v = 0; v < nv; ++v) {
    const index_t w = v + 1 == nv ? m : V::width;
    if (w == V::width) V::store(dst + j + v * V::width, acc[v]);
    else V::store_n(dst + j + v * V::width, acc[v], w);
  }
}

template <class V>
void row_sum(float* dst, const float* g, const index_t* pos, index_t count, index_t D, bool accumulate) {
  constexpr index_t step = kLanes * V::width;
  index_t j = 0;
  for (; j + step <= D; j += step) row_block<V>(dst, g, pos, count, D, j, kLanes, V::width, accumulate);
  if (j < D) {
    const index_t rest = D - j;
    const int nv = static_cast<int>((rest + V::width - 1) / V::width);
    row_block<V>(dst, g, pos, count, D, j, nv, rest - (nv - 1) * V::width, accumulate);
  }
}

template <class V>
void register_all(fl::EmbeddingKernels& t) {
  t.row_sum = row_sum<V>;
}

}  // namespace embk
