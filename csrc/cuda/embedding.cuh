// CUDA launchers of the embedding family (ops/embedding.h): the gather forward and the exact,
// deterministic scatter-add backward (each weight row summed by one block, its positions added
// in increasing order: the CPU reference's order, so the result is bit for bit the CPU's), and
// the index check that must precede them (a kernel cannot throw: the binding reads the result
// back and raises the CPU driver's IndexError).
//
// Legend as ops/embedding.h: N indices (int64), V weight rows, D columns. Plain C++
// declarations: raw device pointers; launchers never synchronise; a bad launch throws
// std::runtime_error. Unverified on a GPU at the time of writing (checked by host emulation
// against the CPU reference kernels, tools/cuda_emu/emu_embedding.cpp).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/embedding.h"

namespace fl {

// bad (two index_t of device memory) = {the first position i with idx[i] outside [0, V), idx[i]},
// or {-1, 0} when every index is in range.
void embedding_check_cuda(index_t* bad, const index_t* idx, EmbeddingShape s, cudaStream_t stream);
// y (N, D) = w (V, D) rows at idx (checked first: an index outside [0, V) gives a NaN row,
// never a read outside w).
void embedding_forward_cuda(float* y, const float* w, const index_t* idx, EmbeddingShape s, cudaStream_t stream);
// dw (V, D) (+)= the scatter-add of dy (N, D) rows at idx; row padding_idx (when in [0, V)) gets
// no gradient (left as is when accumulating, else zero); indices outside [0, V) are skipped.
// Scratch (about 8 (2 V + N) bytes) comes from the caching allocator of the current device.
void embedding_backward_cuda(float* dw, const float* dy, const index_t* idx, EmbeddingShape s, index_t padding_idx,
                             bool accumulate, cudaStream_t stream);

}  // namespace fl
