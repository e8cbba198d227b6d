// The two backends a family binding is written for, behind one interface, so that each op is
// bound once (one shape parser, one set of size checks) and instantiated for both:
//
//   template <class B> void bind_<family>(py::module_& m) {
//     m.def(B::name("act_forward").c_str(), [](ActOp op, typename B::Buf y, typename B::Buf x, float a) {
//       auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
//       check_size(vy, vx.size, "out");
//       typename B::Scope scope(B::device(x, {&y}));  // releases the GIL (and sets the GPU)
//       if constexpr (B::kCudaKernels) act_forward_cuda(op, vy.data, vx.data, vx.size, a, B::stream());
//       else activation_forward(op, vy.data, vx.data, vx.size, a);
//     });
//   }
//   init_<family>(m): bind_<family><HostBackend>(m); bind_<family><CudaBackend>(m);
//
// HostBackend: buffers are NumPy arrays (float32 or int64, C-contiguous), entry points keep the
// op's name. CudaBackend: buffers are CudaMemory handles, entry points are named cuda_<op>, and
// a buffer's element count is its byte count / item size (every fastlayers.cuda.Array spans its
// whole allocation), so the same exact-size checks hold on both. In a build without CUDA
// kernels, CudaBackend is a stand-in whose entry points raise RuntimeError (kNoCudaBuild) at
// their first buffer: its kCudaKernels is false, so no launcher call is instantiated there (the
// launchers are declared in every build, cuda/stream.h, and defined only in CUDA builds).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "bindings/array.h"
#include "bindings/cuda_common.h"
#include "cuda/stream.h"

#if defined(FL_WITH_CUDA)
#include "cuda/common.cuh"  // cuda::DeviceGuard
#endif

namespace fl {

struct IndexView {
  int64_t* data;
  index_t size;
};

// Elements of one byte (boolean masks: bool or uint8 arrays).
struct ByteView {
  const std::uint8_t* data;
  index_t size;
};

inline IndexView index_view(const py::array& a, const char* name, bool writable = false) {
  if (!py::isinstance<py::array_t<int64_t>>(a) || a.dtype().kind() != 'i' || a.itemsize() != 8)
    throw type_error(str_cat(name, ": expected an int64 array, got dtype ", std::string(py::str(a.dtype()))));
  FL_CHECK_ARG(a.flags() & py::array::c_style, name, ": expected a C-contiguous array");
  FL_CHECK_ARG(!writable || a.writeable(), name, ": array is read-only");
  return {static_cast<int64_t*>(const_cast<void*>(a.data())), static_cast<index_t>(a.size())};
}

struct HostBackend {
  static constexpr bool kCudaKernels = false;
  using Buf = const py::array&;
  static std::string name(const char* op) { return op; }
  static FloatView floats(const py::array& a, const char* what, bool writable = false) {
    return float_view(a, what, writable);
  }
  static IndexView indices(const py::array& a, const char* what, bool writable = false) {
    return index_view(a, what, writable);
  }
  // A list element (optimizer groups pass lists of buffers).
  static FloatView floats_at(const py::handle& h, const char* what, bool writable = false) {
    return float_view(py::reinterpret_borrow<py::array>(h), what, writable);  // float_view checks the type
  }
  static int device_at(const py::handle&) { return 0; }
  // A buffer of one-byte elements, of any size (the caller checks it): bool or uint8.
  static ByteView bytes_at(const py::handle& h, const char* what) {
    if (!py::isinstance<py::array>(h)) throw type_error(str_cat(what, ": expected a numpy array"));
    const auto a = py::reinterpret_borrow<py::array>(h);
    if (a.itemsize() != 1 || (a.dtype().kind() != 'u' && a.dtype().kind() != 'b'))
      throw type_error(str_cat(what, ": expected a bool or uint8 array, got dtype ", std::string(py::str(a.dtype()))));
    FL_CHECK_ARG(a.flags() & py::array::c_style, what, ": expected a C-contiguous array");
    return {static_cast<const std::uint8_t*>(a.data()), static_cast<index_t>(a.size())};
  }
  // An optional float buffer (None -> a null view); n: the size it must have.
  static FloatView opt_floats(const py::object& o, index_t n, const char* what, int /*device*/, bool writable = false) {
    if (o.is_none()) return {nullptr, 0};
    FloatView v = float_view(o.cast<py::array>(), what, writable);
    check_size(v, n, what);
    return v;
  }
  static IndexView opt_indices(const py::object& o, index_t n, const char* what, int /*device*/,
                               bool writable = false) {
    if (o.is_none()) return {nullptr, 0};
    IndexView v = index_view(o.cast<py::array>(), what, writable);
    FL_CHECK_ARG(v.size == n, what, ": expected ", n, " elements, got ", v.size);
    return v;
  }
  static int device(const py::array&, std::initializer_list<const py::array*> = {}) { return 0; }
  struct Scope {
    explicit Scope(int) {}
    py::gil_scoped_release nogil;
  };
};

#if defined(FL_WITH_CUDA)
struct CudaBackend {
  static constexpr bool kCudaKernels = true;
  using Buf = const CudaMemory&;
  static std::string name(const char* op) { return std::string("cuda_") + op; }
  static FloatView floats(const CudaMemory& m, const char* what, bool /*writable*/ = false) {
    FL_CHECK_ARG(m.nbytes % sizeof(float) == 0, what, ": device buffer of ", m.nbytes, " bytes is not whole floats");
    return {static_cast<float*>(m.ptr), static_cast<index_t>(m.nbytes / sizeof(float))};
  }
  static FloatView floats_at(const py::handle& h, const char* what, bool writable = false) {
    return floats(h.cast<const CudaMemory&>(), what, writable);
  }
  static int device_at(const py::handle& h) { return h.cast<const CudaMemory&>().device; }
  static ByteView bytes_at(const py::handle& h, const char*) {
    const auto& m = h.cast<const CudaMemory&>();
    return {static_cast<const std::uint8_t*>(m.ptr), static_cast<index_t>(m.nbytes)};
  }
  static IndexView indices(const CudaMemory& m, const char* what, bool /*writable*/ = false) {
    FL_CHECK_ARG(m.nbytes % sizeof(int64_t) == 0, what, ": device buffer of ", m.nbytes, " bytes is not whole int64s");
    return {static_cast<int64_t*>(m.ptr), static_cast<index_t>(m.nbytes / sizeof(int64_t))};
  }
  static FloatView opt_floats(const py::object& o, index_t n, const char* what, int device, bool writable = false) {
    if (o.is_none()) return {nullptr, 0};
    const auto& m = o.cast<const CudaMemory&>();
    check_same_device(device, {&m});
    FloatView v = floats(m, what, writable);
    check_size(v, n, what);
    return v;
  }
  static IndexView opt_indices(const py::object& o, index_t n, const char* what, int device, bool writable = false) {
    if (o.is_none()) return {nullptr, 0};
    const auto& m = o.cast<const CudaMemory&>();
    check_same_device(device, {&m});
    IndexView v = indices(m, what, writable);
    FL_CHECK_ARG(v.size == n, what, ": expected ", n, " elements, got ", v.size);
    return v;
  }
  // The device of `first`, after checking that every other buffer lives there (TypeError).
  static int device(const CudaMemory& first, std::initializer_list<const CudaMemory*> others = {}) {
    check_same_device(first.device, others);
    return first.device;
  }
  struct Scope {
    explicit Scope(int device) : guard(device) {}
    py::gil_scoped_release nogil;  // released first, so the guard runs without the GIL
    cuda::DeviceGuard guard;
  };
  static cudaStream_t stream() { return 0; }  // fastlayers queues all work on the legacy stream
};
#else
// No CUDA kernels in this build: the cuda_<op> entry points exist and raise RuntimeError.
struct CudaBackend {
  static constexpr bool kCudaKernels = false;  // no kernel is ever reached: every buffer access raises
  using Buf = const py::object&;
  static std::string name(const char* op) { return std::string("cuda_") + op; }
  [[noreturn]] static FloatView floats(const py::object&, const char*, bool = false) {
    throw std::runtime_error(kNoCudaBuild);
  }
  [[noreturn]] static FloatView floats_at(const py::handle&, const char*, bool = false) {
    throw std::runtime_error(kNoCudaBuild);
  }
  [[noreturn]] static int device_at(const py::handle&) { throw std::runtime_error(kNoCudaBuild); }
  [[noreturn]] static ByteView bytes_at(const py::handle&, const char*) { throw std::runtime_error(kNoCudaBuild); }
  [[noreturn]] static IndexView indices(const py::object&, const char*, bool = false) {
    throw std::runtime_error(kNoCudaBuild);
  }
  [[noreturn]] static FloatView opt_floats(const py::object&, index_t, const char*, int, bool = false) {
    throw std::runtime_error(kNoCudaBuild);
  }
  [[noreturn]] static IndexView opt_indices(const py::object&, index_t, const char*, int, bool = false) {
    throw std::runtime_error(kNoCudaBuild);
  }
  [[noreturn]] static int device(const py::object&, std::initializer_list<const py::object*> = {}) {
    throw std::runtime_error(kNoCudaBuild);
  }
  struct Scope {
    explicit Scope(int) {}
  };
  static cudaStream_t stream() { return nullptr; }
};
#endif

// Registers bind<HostBackend> and bind<CudaBackend> (the usual body of init_<family>).
#define FL_BIND_BOTH_BACKENDS(bind, m) \
  do {                                 \
    bind<::fl::HostBackend>(m);        \
    bind<::fl::CudaBackend>(m);        \
  } while (0)

}  // namespace fl
