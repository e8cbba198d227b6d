// Strided gather kernel (launcher contract in copy.cuh): one thread per destination item,
// grid-stride over 64-bit indices; the source offset comes from the item's coordinates, last
// dimension fastest, so consecutive threads write consecutive items.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/copy.cuh"

namespace fl {
namespace cuda {
namespace {

template <class T>
__global__ void gather_strided_kernel(T* dst, const char* src, StridedLayout layout, index_t total) {
  for (index_t i = global_index(); i < total; i += grid_stride()) {
    index_t rem = i, off = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const index_t c = rem % layout.shape[d];
      rem /= layout.shape[d];
      off += c * layout.strides[d];
    }
    dst[i] = *reinterpret_cast<const T*>(src + off);
  }
}

template <class T>
void launch_gather(void* dst, const char* src, const StridedLayout& layout, index_t total, cudaStream_t stream) {
  gather_strided_kernel<T><<<grid_for(total), kBlock, 0, stream>>>(static_cast<T*>(dst), src, layout, total);
}

}  // namespace
}  // namespace cuda

void gather_strided_cuda(void* dst, const void* src, const StridedLayout& layout, int itemsize, cudaStream_t stream) {
  using namespace cuda;
  index_t total = 1;
  for (int d = 0; d < layout.ndim; ++d) total *= layout.shape[d];
  if (total <= 0) return;
  const char* s = static_cast<const char*>(src);
  switch (itemsize) {
    case 1: launch_gather<std::uint8_t>(dst, s, layout, total, stream); break;
    case 2: launch_gather<std::uint16_t>(dst, s, layout, total, stream); break;
    case 4: launch_gather<std::uint32_t>(dst, s, layout, total, stream); break;
    case 8: launch_gather<std::uint64_t>(dst, s, layout, total, stream); break;
    default: throw std::invalid_argument(str_cat("itemsize: expected 1, 2, 4 or 8 bytes, got ", itemsize));
  }
  check_launch("gather_strided_kernel");
}

}  // namespace fl
