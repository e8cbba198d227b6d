// Bindings of the CUDA runtime: whether kernels were built, whether a GPU is usable and why
// not, device names and memory; device memory (CudaMemory from the caching allocator, or
// wrapped foreign memory), host <-> device copies, DLPack export and import, stream ordering
// and event timing. fastlayers queues all its work on the legacy default stream.
// Without CUDA kernels every entry point raises RuntimeError with the reason; nothing here
// can crash on a machine without a GPU or driver.
#include <string>
#include <vector>

#include "bindings/cuda_common.h"

#if defined(FL_WITH_CUDA)
#include <cuda_runtime.h>
#include <pybind11/stl.h>  // std::vector shapes for DLPack export

#include "bindings/dlpack.h"
#include "cuda/common.cuh"
#include "cuda/copy.cuh"
#endif

namespace fl {

void def_without_cuda(py::module_& m, std::initializer_list<const char*> names) {
  for (const char* name : names)
    m.def(name, [](py::args, py::kwargs) -> py::object { throw std::runtime_error(kNoCudaBuild); });
}

#if defined(FL_WITH_CUDA)
DeviceScratch::DeviceScratch(int device, std::size_t bytes) : device_(device) {
  const cuda::DeviceBlock b = cuda::device_alloc(device, bytes);
  ptr_ = b.ptr;
  capacity_ = b.capacity;
}
DeviceScratch::~DeviceScratch() { cuda::device_release(device_, {ptr_, capacity_}); }
void DeviceScratch::to_host(void* dst, std::size_t bytes) const {
  cuda::check(cudaMemcpy(dst, ptr_, bytes, cudaMemcpyDeviceToHost), "read back from the device");
}
void DeviceScratch::from_host(const void* src, std::size_t bytes) {
  cuda::check(cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice), "copy to the device");
}
#endif

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
  return {0, kNoCudaBuild};
#endif
}

#if defined(FL_WITH_CUDA)
using cuda::check;
using cuda::DeviceGuard;

CudaMemoryPtr alloc(std::size_t nbytes, int device) {
  auto mem = std::make_shared<CudaMemory>();
  mem->block = cuda::device_alloc(device, nbytes);
  mem->ptr = mem->block.ptr;
  mem->nbytes = nbytes;
  mem->device = device;
  return mem;
}

// Host buffer of a C-contiguous array, and its byte count.
std::pair<void*, std::size_t> host_bytes(const py::array& a, const char* name, bool writable) {
  if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(str_cat(name, ": expected a C-contiguous array"));
  if (writable && !a.writeable()) throw std::invalid_argument(str_cat(name, ": array is read-only"));
  return {const_cast<void*>(a.data()), static_cast<std::size_t>(a.nbytes())};
}

// ---- DLPack export: the manager context keeps the memory alive and owns the shape ----
struct ExportCtx {
  dlpack::DLManagedTensor managed{};
  std::vector<int64_t> shape;
  CudaMemoryPtr mem;
};

void export_deleter(dlpack::DLManagedTensor* self) {
  auto* ctx = static_cast<ExportCtx*>(self->manager_ctx);
  if (!Py_IsInitialized()) return;  // interpreter gone: leak rather than touch Python
  py::gil_scoped_acquire gil;       // the consumer may call this from any thread
  delete ctx;
}

void export_capsule_destructor(PyObject* cap) {
  // Called when the capsule dies; a consumer that took ownership renamed it first.
  if (PyCapsule_IsValid(cap, dlpack::kCapsuleName)) {
    auto* m = static_cast<dlpack::DLManagedTensor*>(PyCapsule_GetPointer(cap, dlpack::kCapsuleName));
    if (m != nullptr && m->deleter != nullptr) m->deleter(m);
  } else {
    PyErr_Clear();
  }
}

py::object to_dlpack(const CudaMemoryPtr& mem, const std::vector<int64_t>& shape, int code, int bits) {
  auto* ctx = new ExportCtx();
  ctx->shape = shape;
  ctx->mem = mem;
  dlpack::DLTensor& t = ctx->managed.dl_tensor;
  t.data = mem->ptr;
  t.device = {dlpack::kDLCUDA, mem->device};
  t.ndim = static_cast<int32_t>(shape.size());
  t.dtype = {static_cast<uint8_t>(code), static_cast<uint8_t>(bits), 1};
  t.shape = ctx->shape.data();
  t.strides = nullptr;
  t.byte_offset = 0;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = export_deleter;
  PyObject* cap = PyCapsule_New(&ctx->managed, dlpack::kCapsuleName, export_capsule_destructor);
  if (cap == nullptr) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

// ---- DLPack import: wraps the producer's memory without a copy ----
py::tuple from_dlpack(const py::capsule& cap) {
  if (!PyCapsule_IsValid(cap.ptr(), dlpack::kCapsuleName))
    throw std::invalid_argument("from_dlpack: expected an unconsumed 'dltensor' capsule");
  auto* m = static_cast<dlpack::DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), dlpack::kCapsuleName));
  const dlpack::DLTensor& t = m->dl_tensor;
  if (t.device.device_type != dlpack::kDLCUDA)
    throw type_error(str_cat("from_dlpack: expected a CUDA tensor, got DLPack device type ", t.device.device_type));
  if (t.dtype.lanes != 1 || t.dtype.bits % 8 != 0)
    throw type_error(str_cat("from_dlpack: unsupported dtype (code ", int(t.dtype.code), ", bits ", int(t.dtype.bits),
                             ", lanes ", t.dtype.lanes, ")"));
  // shape, and strides in elements when the tensor is not C-contiguous (None otherwise); the
  // memory then spans the strided extent, for the caller to gather into a contiguous copy.
  py::tuple shape(t.ndim), strides(t.ndim);
  int64_t count = 1, expected = 1, extent = 1;
  bool compact = true;
  for (int i = t.ndim - 1; i >= 0; --i) {
    const int64_t st = t.strides != nullptr ? t.strides[i] : expected;
    shape[i] = t.shape[i];
    strides[i] = st;
    count *= t.shape[i];
    if (t.shape[i] != 1 && st != expected) compact = false;
    if (st < 0 && t.shape[i] > 1) throw std::invalid_argument("from_dlpack: negative strides are not supported");
    extent += (t.shape[i] - 1) * st;
    expected *= t.shape[i];
  }
  if (count == 0) compact = true;
  auto mem = std::make_shared<CudaMemory>();
  mem->ptr = static_cast<char*>(t.data) + t.byte_offset;
  mem->nbytes = static_cast<std::size_t>(compact ? count : extent) * (t.dtype.bits / 8);
  mem->device = t.device.device_id;
  // Take ownership: rename the capsule, and call the producer's deleter when mem dies.
  PyCapsule_SetName(cap.ptr(), dlpack::kUsedCapsuleName);
  mem->owner = py::capsule(m, [](void* p) {
    auto* mt = static_cast<dlpack::DLManagedTensor*>(p);
    if (mt->deleter != nullptr) mt->deleter(mt);
  });
  return py::make_tuple(mem, shape, int(t.dtype.code), int(t.dtype.bits),
                        compact ? py::object(py::none()) : py::object(strides));
}

// Converts a __cuda_array_interface__ / DLPack stream number to a handle:
// 1 is the legacy default stream, 2 the per-thread default stream, other values are handles.
cudaStream_t stream_handle(std::uintptr_t s) {
  if (s == 1) return cudaStreamLegacy;
  if (s == 2) return cudaStreamPerThread;
  return reinterpret_cast<cudaStream_t>(s);
}

// Orders `waiter` after the work queued so far on `producer`.
void stream_order(cudaStream_t waiter, cudaStream_t producer, int device) {
  if (waiter == producer) return;
  DeviceGuard guard(device);
  cudaEvent_t ev;
  check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
  cudaError_t err = cudaEventRecord(ev, producer);
  if (err == cudaSuccess) err = cudaStreamWaitEvent(waiter, ev, 0);
  cudaEventDestroy(ev);
  check(err, "stream ordering");
}
#endif
}  // namespace

void init_cuda(py::module_& m) {
  m.def("cuda_probe", [] { return probe_devices(); });
#if defined(FL_WITH_CUDA)
  m.def("cuda_device_info", [](int device) {
    py::dict d;
    cudaDeviceProp p;
    const cudaError_t err = cudaGetDeviceProperties(&p, device);
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error(str_cat("cuda device ", device, ": ", cudaGetErrorString(err)));
    }
    d["name"] = std::string(p.name);
    d["total_memory"] = static_cast<long long>(p.totalGlobalMem);
    d["capability"] = py::make_tuple(p.major, p.minor);
    d["multiprocessors"] = p.multiProcessorCount;
    return d;
  });

  py::class_<CudaMemory, CudaMemoryPtr>(m, "CudaMemory", "One device allocation (private; see fastlayers.cuda)")
      .def_property_readonly("ptr", [](const CudaMemory& s) { return reinterpret_cast<std::uintptr_t>(s.ptr); })
      .def_readonly("nbytes", &CudaMemory::nbytes)
      .def_readonly("device", &CudaMemory::device)
      .def_property_readonly("cached", [](const CudaMemory& s) { return s.block.ptr != nullptr; });

  m.def("cuda_alloc", [](std::size_t nbytes, int device) { return alloc(nbytes, device); },
        py::arg("nbytes"), py::arg("device"));
  m.def("cuda_wrap", [](std::uintptr_t ptr, std::size_t nbytes, int device, py::object owner) {
    auto mem = std::make_shared<CudaMemory>();
    mem->ptr = reinterpret_cast<void*>(ptr);
    mem->nbytes = nbytes;
    mem->device = device;
    mem->owner = std::move(owner);
    return mem;
  });
  m.def("cuda_copy_from_host", [](const CudaMemory& dst, py::array src) {
    auto [p, n] = host_bytes(src, "array", false);
    FL_CHECK_ARG(n <= dst.nbytes, "device buffer of ", dst.nbytes, " bytes is too small for ", n, " bytes");
    if (n == 0) return;
    py::gil_scoped_release nogil;
    DeviceGuard guard(dst.device);
    check(cudaMemcpy(dst.ptr, p, n, cudaMemcpyHostToDevice), "copy to the device");
  });
  m.def("cuda_copy_to_host", [](py::array dst, const CudaMemory& src) {
    auto [p, n] = host_bytes(dst, "out", true);
    FL_CHECK_ARG(n <= src.nbytes, "device buffer of ", src.nbytes, " bytes is smaller than ", n, " bytes");
    if (n == 0) return;
    py::gil_scoped_release nogil;
    DeviceGuard guard(src.device);
    check(cudaMemcpy(p, src.ptr, n, cudaMemcpyDeviceToHost), "copy to the host");
  });
  m.def("cuda_copy", [](const CudaMemory& dst, const CudaMemory& src, std::size_t nbytes) {
    FL_CHECK_ARG(nbytes <= dst.nbytes && nbytes <= src.nbytes, "copy of ", nbytes, " bytes exceeds a buffer");
    if (nbytes == 0) return;
    py::gil_scoped_release nogil;
    DeviceGuard guard(dst.device);
    check(cudaMemcpyAsync(dst.ptr, src.ptr, nbytes, cudaMemcpyDefault, 0), "device copy");
  });
  m.def("cuda_pointer_device", [](std::uintptr_t ptr) {
    cudaPointerAttributes attr;
    check(cudaPointerGetAttributes(&attr, reinterpret_cast<void*>(ptr)), "cudaPointerGetAttributes");
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
      throw type_error("expected a pointer to CUDA device memory");
    return attr.device;
  });
  m.def("cuda_gather_strided", [](const CudaMemory& dst, const CudaMemory& src, const std::vector<index_t>& shape,
                                  const std::vector<index_t>& strides, int itemsize) {
    // dst <- the C-contiguous copy of src seen with `shape` and byte `strides`.
    FL_CHECK_ARG(shape.size() == strides.size() && shape.size() <= std::size_t(kMaxCopyDims),
                 "gather: expected matching shape and strides of at most ", kMaxCopyDims, " dimensions");
    FL_CHECK_ARG(itemsize == 1 || itemsize == 2 || itemsize == 4 || itemsize == 8, "gather: bad itemsize ", itemsize);
    StridedLayout layout;
    layout.ndim = static_cast<int>(shape.size());
    index_t count = 1, extent = itemsize;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      FL_CHECK_ARG(shape[d] >= 0 && strides[d] >= 0 && strides[d] % itemsize == 0,
                   "gather: expected non-negative shapes and strides that are multiples of the item size");
      layout.shape[d] = shape[d];
      layout.strides[d] = strides[d];
      count *= shape[d];
      if (shape[d] > 0) extent += (shape[d] - 1) * strides[d];
    }
    if (count == 0) return;
    FL_CHECK_ARG(static_cast<std::size_t>(count * itemsize) <= dst.nbytes, "gather: destination too small");
    FL_CHECK_ARG(static_cast<std::size_t>(extent) <= src.nbytes, "gather: source extent exceeds its buffer");
    FL_CHECK_ARG(reinterpret_cast<std::uintptr_t>(src.ptr) % itemsize == 0, "gather: misaligned source");
    check_same_device(dst.device, {&src});
    py::gil_scoped_release nogil;
    DeviceGuard guard(dst.device);
    gather_strided_cuda(dst.ptr, src.ptr, layout, itemsize, 0);
  });
  m.def("cuda_convert_f32", [](const CudaMemory& dst, const CudaMemory& src, index_t n, char kind, int itemsize) {
    // dst <- float32(src) for n contiguous items of NumPy kind `kind` and `itemsize` bytes.
    FL_CHECK_ARG(n >= 0 && itemsize > 0, "convert: bad size");
    device_floats(dst, n, "convert: destination");
    FL_CHECK_ARG(static_cast<std::size_t>(n) * itemsize <= src.nbytes, "convert: source buffer too small");
    check_same_device(dst.device, {&src});
    py::gil_scoped_release nogil;
    DeviceGuard guard(dst.device);
    convert_to_f32_cuda(static_cast<float*>(dst.ptr), src.ptr, n, kind, itemsize, 0);
  });
  m.def("cuda_to_dlpack", &to_dlpack);
  m.def("cuda_from_dlpack", &from_dlpack);
  m.def("cuda_wait_for", [](std::uintptr_t producer, int device) {
    // fastlayers' stream (legacy default) waits for the work queued on `producer`.
    stream_order(cudaStreamLegacy, stream_handle(producer), device);
  });
  m.def("cuda_make_wait", [](std::uintptr_t consumer, int device) {
    // `consumer` waits for the work fastlayers queued so far.
    stream_order(stream_handle(consumer), cudaStreamLegacy, device);
  });
  m.def("cuda_synchronize", [](int device) {
    py::gil_scoped_release nogil;
    DeviceGuard guard(device);
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  });
  m.def("cuda_empty_cache", [] { cuda::empty_cache(); });
  m.def("cuda_memory_stats", [](int device) {
    const cuda::MemoryStats s = cuda::memory_stats(device);
    py::dict d;
    d["in_use"] = s.in_use;
    d["cached"] = s.cached;
    d["peak"] = s.peak;
    d["mallocs"] = s.mallocs;
    return d;
  });
  m.def("cuda_time_ms", [](py::function fn, int repeat, int device) {
    // Milliseconds per call of fn, between two events on the legacy default stream.
    FL_CHECK_ARG(repeat >= 1, "repeat: expected >= 1, got ", repeat);
    DeviceGuard guard(device);
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    float ms = 0.0f;
    cudaError_t err = cudaEventRecord(start, 0);
    try {
      for (int i = 0; i < repeat; ++i) fn();
    } catch (...) {
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      throw;
    }
    if (err == cudaSuccess) err = cudaEventRecord(stop, 0);
    if (err == cudaSuccess) {
      py::gil_scoped_release nogil;
      err = cudaEventSynchronize(stop);
    }
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, start, stop);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    check(err, "event timing");
    return static_cast<double>(ms) / repeat;
  });
#else
  def_without_cuda(m, {"cuda_device_info", "cuda_alloc", "cuda_wrap", "cuda_copy_from_host", "cuda_copy_to_host",
                       "cuda_copy", "cuda_gather_strided", "cuda_convert_f32", "cuda_pointer_device", "cuda_to_dlpack", "cuda_from_dlpack", "cuda_wait_for",
                       "cuda_make_wait", "cuda_synchronize", "cuda_empty_cache", "cuda_memory_stats",
                       "cuda_time_ms"});
#endif
}

}  // namespace fl
