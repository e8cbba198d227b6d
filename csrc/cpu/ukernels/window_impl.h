// Helpers shared by the sliding-window micro-kernels (pool_impl.h, conv_impl.h), written
// against the Vec interface. Include only inside an anonymous namespace, after the ISA's
// Vec header.
#pragma once
#include <algorithm>

#include "core/tensor.h"

namespace window {
using fl::index_t;

// Output columns [qa, qb) of Q whose taps q * stride - pad + t * dil (t < S) all lie in
// [0, W): the columns a vector kernel can run without bounds checks.
inline void interior_cols(index_t W, index_t Q, index_t S, index_t stride, index_t pad, index_t dil, index_t* qa,
                          index_t* qb) {
  const index_t last = W - 1 - (S - 1) * dil + pad;  // q * stride must be <= last
  *qa = (pad + stride - 1) / stride;
  *qb = last < 0 ? 0 : std::min(Q, last / stride + 1);
  if (*qb < *qa) *qb = *qa;
}

// The values p[j * stride] for j < c (c <= width), stride 1 or 2; `full`: reading
// 2 * width floats from p (stride 2) or width floats (stride 1) stays inside the array.
template <class V> V load_taps(const float* p, index_t stride, index_t c, bool full) {
  if (stride == 1) return full ? V::load(p) : V::load_n(p, c);
  if (full) return V::even(V::load(p), V::load(p + V::width));
  const index_t n = 2 * c - 1;  // floats that hold the c taps
  const index_t lo = std::min<index_t>(n, V::width), hi = n - lo;
  return V::even(V::load_n(p, lo), V::load_n(p + V::width, hi));
}

}  // namespace window
