// Shape structs shared by the kernels, and the dimension legend every family uses.
//
// Legend (fixed across the code base):
//   elementwise: n = element count
//   GEMM:        M, N, K           C[M,N] = A[M,K] * B[K,N]
//   conv:        N batch, C input channels, H, W input size, K output channels, R x S filter,
//                P, Q output size
//   sequences:   B batch, T time steps
//   attention:   B batch, H heads, T sequence length, D head dimension
// Sizes and offsets are 64-bit everywhere: tensors past 2^31 elements work.
#pragma once
#include <cstdint>

namespace fl {

using index_t = std::int64_t;

// A reduction over one axis of a C-contiguous tensor seen as (outer, n, inner):
// element (o, i, j) lives at o * n * inner + i * inner + j.
struct AxisShape {
  index_t outer;
  index_t n;
  index_t inner;
};

}  // namespace fl
