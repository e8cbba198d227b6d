// What the CUDA bindings share: the reason CUDA entry points fail in a build without CUDA
// kernels, and (in CUDA builds) CudaMemory, the Python-visible handle of one device
// allocation -- either a block of the caching allocator or foreign memory (CuPy, PyTorch)
// kept alive through its owner object.
#pragma once
#include <cstddef>
#include <initializer_list>
#include <memory>

#include "bindings/array.h"

#if defined(FL_WITH_CUDA)
#include "cuda/memory.cuh"
#endif

namespace fl {

constexpr const char* kNoCudaBuild =
    "fastlayers was built without CUDA kernels (FASTLAYERS_CUDA=OFF or no nvcc at build time)";

// Registers each name as a function that raises RuntimeError(kNoCudaBuild) whatever its
// arguments: the entry points exist in every build, and fail clearly where CUDA is absent.
void def_without_cuda(py::module_& m, std::initializer_list<const char*> names);

// A block of device memory for the span of one binding call -- a flag or result the kernels
// write and the binding reads back, or a small host array the kernels read -- from the caching
// allocator, released at scope exit (ordered after the queued work: cuda/memory.cuh). Declared
// in every build so that a binding template can name it; defined in CUDA builds only
// (bindings/cuda.cpp), where alone a binding reaches it (bindings/backend.h: kCudaKernels).
class DeviceScratch {
 public:
  DeviceScratch(int device, std::size_t bytes);
  ~DeviceScratch();
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  void* get() const { return ptr_; }
  // Copies `bytes` to the host, after the work queued before (cudaMemcpy waits for it).
  void to_host(void* dst, std::size_t bytes) const;
  // Copies `bytes` from the host (ordered before the work queued after).
  void from_host(const void* src, std::size_t bytes);

 private:
  int device_;
  void* ptr_;
  std::size_t capacity_;
};

#if defined(FL_WITH_CUDA)
struct CudaMemory {
  void* ptr = nullptr;
  std::size_t nbytes = 0;
  int device = 0;
  cuda::DeviceBlock block;  // non-empty when the memory belongs to the caching allocator
  py::object owner;         // foreign memory: the object that keeps it alive

  CudaMemory() = default;
  CudaMemory(const CudaMemory&) = delete;
  CudaMemory& operator=(const CudaMemory&) = delete;
  ~CudaMemory() { cuda::device_release(device, block); }
};
using CudaMemoryPtr = std::shared_ptr<CudaMemory>;

// mem's pointer as float*, after checking that it holds at least n floats.
inline float* device_floats(const CudaMemory& mem, index_t n, const char* name) {
  FL_CHECK_ARG(n >= 0 && static_cast<std::size_t>(n) * sizeof(float) <= mem.nbytes, name, ": device buffer of ",
               mem.nbytes, " bytes is too small for ", n, " floats");
  return static_cast<float*>(mem.ptr);
}

// Throws TypeError unless every buffer lives on `device`.
inline void check_same_device(int device, std::initializer_list<const CudaMemory*> mems) {
  for (const CudaMemory* m : mems)
    if (m->device != device)
      throw type_error(str_cat("device arrays on different devices (", device, " and ", m->device, ")"));
}
#endif

}  // namespace fl
