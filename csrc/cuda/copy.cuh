// Copies on the device that turn a foreign GPU array into the input every kernel expects:
// strided -> C-contiguous (a transposed or sliced PyTorch / CuPy view), and any real dtype ->
// float32 (the compute type), each done once. Plain C++ declarations; the launchers queue work
// on `stream` and never synchronise.
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

// dst[i] = float(src[i]) for i < n; src holds contiguous items of NumPy kind `kind` ('b' bool,
// 'i' signed, 'u' unsigned integers, 'f' floats) and `itemsize` bytes (float: 2, 4 or 8).
// Throws std::invalid_argument for other types.
void convert_to_f32_cuda(float* dst, const void* src, index_t n, char kind, int itemsize, cudaStream_t stream);

}  // namespace fl
