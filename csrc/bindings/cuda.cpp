// Bindings of the CUDA runtime facts: whether kernels were built, whether a GPU is usable
// and why not, device names and memory. Without CUDA kernels every query answers "no" with
// the reason; nothing here can crash on a machine without a GPU or driver.
#include <string>

#include "bindings/array.h"

#if defined(FL_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace fl {

namespace {
// (count, reason): count of usable devices, or 0 and the CUDA error text.
std::pair<int, std::string> probe_devices() {
#if defined(FL_WITH_CUDA)
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return {0, str_cat(cudaGetErrorName(err), ": ", cudaGetErrorString(err))};
  }
  if (n == 0) return {0, "no CUDA device found"};
  return {n, ""};
#else
  return {0, "fastlayers was built without CUDA kernels (FASTLAYERS_CUDA=OFF or no nvcc at build time)"};
#endif
}
}  // namespace

void init_cuda(py::module_& m) {
  m.def("cuda_probe", [] { return probe_devices(); });
  m.def("cuda_device_info", [](int device) {
    py::dict d;
#if defined(FL_WITH_CUDA)
    cudaDeviceProp p;
    const cudaError_t err = cudaGetDeviceProperties(&p, device);
    if (err != cudaSuccess) throw std::runtime_error(str_cat("cuda device ", device, ": ", cudaGetErrorString(err)));
    d["name"] = std::string(p.name);
    d["total_memory"] = static_cast<long long>(p.totalGlobalMem);
    d["capability"] = py::make_tuple(p.major, p.minor);
    d["multiprocessors"] = p.multiProcessorCount;
#else
    throw std::runtime_error("fastlayers was built without CUDA kernels");
#endif
    return d;
  });
}

}  // namespace fl
