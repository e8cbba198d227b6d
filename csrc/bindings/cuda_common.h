// What the CUDA bindings share: the reason CUDA entry points fail in a build without CUDA
// kernels, and (in CUDA builds) CudaMemory, the Python-visible handle of one device
// allocation -- either a block of the caching allocator or foreign memory (CuPy, PyTorch)
// kept alive through its owner object.
#pragma once
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
