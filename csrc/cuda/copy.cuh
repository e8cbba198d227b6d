// Strided -> C-contiguous copies on the device: how a non-contiguous GPU array (a transposed
// or sliced PyTorch / CuPy view) becomes the contiguous input every kernel expects, copied
// once. Plain C++ declarations; the launcher queues work on `stream` and never synchronises.
#pragma once
#include <cuda_runtime_api.h>

#include "core/tensor.h"

namespace fl {

constexpr int kMaxCopyDims = 8;

// Element (i0, ..., i_{ndim-1}) lives at byte offset sum_d i_d * strides[d] from the base.
struct StridedLayout {
  int ndim = 0;
  index_t shape[kMaxCopyDims] = {};
  index_t strides[kMaxCopyDims] = {};  // in bytes, >= 0, multiples of the item size
};

// dst (prod(shape) contiguous items of `itemsize` bytes: 1, 2, 4 or 8) <- src laid out by
// `layout`. src must be aligned to itemsize.
void gather_strided_cuda(void* dst, const void* src, const StridedLayout& layout, int itemsize, cudaStream_t stream);

}  // namespace fl
