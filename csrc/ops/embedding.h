// The embedding family: y[i] = weight[idx[i]] (a gather of rows) and its backward, the
// scatter-add of the output gradient's rows into the weight gradient. The backward is exact
// and deterministic under repeated indices and any thread count: the driver (cpu/embedding.cpp)
// groups the positions of each weight row with a counting sort, and each weight row is summed
// by one thread, in increasing position order, so no two threads ever add into the same row.
//
// Legend: N indices (the input's elements), V rows of the weight (num_embeddings), D columns
// (embedding_dim). Indices are int64 and must lie in [0, V): the drivers check every one before
// touching memory and throw std::out_of_range (IndexError in Python) otherwise.
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct EmbeddingShape {
  index_t N, V, D;
};

// Copies rows: y[r * D + j] = w[idx[r] * D + j] for r < n, j < D (indices already checked).
using EmbeddingGatherFn = void (*)(float* y, const float* w, const index_t* idx, index_t n, index_t D);
// One weight row's gradient: dst[j] = (accumulate ? dst[j] : 0) + g[pos[0] * D + j] + ... +
// g[pos[count - 1] * D + j], added in that order (the driver passes positions increasing).
using EmbeddingRowSumFn = void (*)(float* dst, const float* g, const index_t* pos, index_t count, index_t D,
                                   bool accumulate);

struct EmbeddingKernels {
  EmbeddingGatherFn gather;
  EmbeddingRowSumFn row_sum;
};

extern KernelTables<EmbeddingKernels> g_embedding_kernels;
void register_embedding_ref(EmbeddingKernels& t);
void register_embedding_avx2(EmbeddingKernels& t);
void register_embedding_avx512(EmbeddingKernels& t);

// ---- drivers (threads over rows; every index checked first) ----
// y (N, D) = w (V, D) rows at idx (N).
void embedding_forward(float* y, const float* w, const index_t* idx, EmbeddingShape s);
// dw (V, D) (+)= scatter-add of dy (N, D) rows at idx; row padding_idx (when in [0, V)) gets
// no gradient (left as is when accumulating, else zero).
void embedding_backward(float* dw, const float* dy, const index_t* idx, EmbeddingShape s, index_t padding_idx,
                        bool accumulate);

}  // namespace fl
