// Gather and dtype-conversion kernels (launcher contracts in copy.cuh): one thread per
// destination item, grid-stride over 64-bit indices. The gather computes each item's source
// offset from its coordinates, last dimension fastest, so consecutive threads write
// consecutive items.
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

// IEEE binary16 bits -> float (exact: every half is a float).
struct Half {
  std::uint16_t bits;
};
__device__ __forceinline__ float to_float(Half h) {
  const unsigned sign = (h.bits >> 15) & 1u, exp = (h.bits >> 10) & 0x1fu, mant = h.bits & 0x3ffu;
  float v;
  if (exp == 0)
    v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // subnormal: mant * 2^-24
  else if (exp == 31)
    v = __uint_as_float(0x7f800000u | (mant << 13));  // inf or NaN
  else
    v = __uint_as_float(((exp + 112u) << 23) | (mant << 13));
  return sign ? -v : v;
}
template <class T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}

template <class T>
__global__ void convert_to_f32_kernel(float* dst, const T* src, index_t n) {
  for (index_t i = global_index(); i < n; i += grid_stride()) dst[i] = to_float(src[i]);
}

template <class T>
void launch_convert(float* dst, const void* src, index_t n, cudaStream_t stream) {
  convert_to_f32_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(dst, static_cast<const T*>(src), n);
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

void convert_to_f32_cuda(float* dst, const void* src, index_t n, char kind, int itemsize, cudaStream_t stream) {
  using namespace cuda;
  const int code = kind * 16 + itemsize;
  if (n > 0) {
    switch (code) {
      case 'b' * 16 + 1: launch_convert<std::uint8_t>(dst, src, n, stream); break;  // bool: 0 or 1
      case 'i' * 16 + 1: launch_convert<std::int8_t>(dst, src, n, stream); break;
      case 'i' * 16 + 2: launch_convert<std::int16_t>(dst, src, n, stream); break;
      case 'i' * 16 + 4: launch_convert<std::int32_t>(dst, src, n, stream); break;
      case 'i' * 16 + 8: launch_convert<std::int64_t>(dst, src, n, stream); break;
      case 'u' * 16 + 1: launch_convert<std::uint8_t>(dst, src, n, stream); break;
      case 'u' * 16 + 2: launch_convert<std::uint16_t>(dst, src, n, stream); break;
      case 'u' * 16 + 4: launch_convert<std::uint32_t>(dst, src, n, stream); break;
      case 'u' * 16 + 8: launch_convert<std::uint64_t>(dst, src, n, stream); break;
      case 'f' * 16 + 2: launch_convert<Half>(dst, src, n, stream); break;
      case 'f' * 16 + 4: launch_convert<float>(dst, src, n, stream); break;
      case 'f' * 16 + 8: launch_convert<double>(dst, src, n, stream); break;
      default: throw std::invalid_argument(str_cat("convert: no float32 conversion from kind '", kind, "' of ",
                                                    itemsize, " bytes"));
    }
    check_launch("convert_to_f32_kernel");
  }
}

}  // namespace fl
