// Bindings of the pool family, both backends (bindings/backend.h): max_pool2d_forward /
// _backward (int64 flat indices into each input plane), avg_pool2d_forward / _backward,
// adaptive_avg_pool2d_forward / _backward, and cuda_<op> of each on device memory. The shape
// is the exported Pool2dShape struct (ops/pool.h), checked once here for both backends. The
// Python layer (functional/pool.py) computes output sizes and checks parameters with
// PyTorch's messages; here we check what memory safety needs (sizes agree, indices in range).
#include "bindings/backend.h"
#include "cuda/pool.cuh"
#include "ops/pool.h"

namespace fl {
namespace {

void check_pool_shape(const Pool2dShape& s, index_t planes) {
  FL_CHECK_ARG(planes >= 0 && s.H >= 0 && s.W >= 0 && s.P >= 0 && s.Q >= 0, "pool: negative plane size");
  FL_CHECK_ARG(s.R >= 1 && s.S >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1,
               "pool: kernel size, stride and dilation must be >= 1");
  FL_CHECK_ARG(s.pad_h >= 0 && s.pad_w >= 0, "pool: padding must be >= 0");
}

enum class AvgKind { windowed, adaptive };

// Average pooling (windowed or adaptive), forward (out = y, in = x) or backward (out = dx,
// in = dy): checks sizes, releases the GIL, runs the driver or the launcher.
template <class B>
void avg_call(typename B::Buf out, typename B::Buf in, index_t planes, const Pool2dShape& s, AvgKind kind,
              bool backward, AvgPoolOptions o) {
  check_pool_shape(s, planes);
  if (kind == AvgKind::adaptive) {
    FL_CHECK_ARG(s.P >= 1 && s.Q >= 1 && s.H >= 1 && s.W >= 1, "adaptive_avg_pool: empty plane or output");
  } else {
    FL_CHECK_ARG(s.dil_h == 1 && s.dil_w == 1, "avg_pool: dilation must be 1");
    // any non-zero divisor_override, negative included, as PyTorch (0: none)
  }
  auto vo = B::floats(out, "out", true), vi = B::floats(in, backward ? "grad_out" : "input");
  const index_t big = planes * s.H * s.W, small = planes * s.P * s.Q;
  check_size(vi, backward ? small : big, backward ? "grad_out" : "input");
  check_size(vo, backward ? big : small, "out");
  if (vo.size == 0 || vi.size == 0) return;
  typename B::Scope scope(B::device(in, {&out}));
  const bool adaptive = kind == AvgKind::adaptive;
  if constexpr (B::kCudaKernels) {
    if (adaptive && backward) adaptive_avg_pool2d_backward_cuda(vo.data, vi.data, planes, s, B::stream());
    else if (adaptive) adaptive_avg_pool2d_forward_cuda(vo.data, vi.data, planes, s, B::stream());
    else if (backward) avg_pool2d_backward_cuda(vo.data, vi.data, planes, s, o, B::stream());
    else avg_pool2d_forward_cuda(vo.data, vi.data, planes, s, o, B::stream());
  } else {
    if (adaptive && backward) adaptive_avg_pool2d_backward(vo.data, vi.data, planes, s);
    else if (adaptive) adaptive_avg_pool2d_forward(vo.data, vi.data, planes, s);
    else if (backward) avg_pool2d_backward(vo.data, vi.data, planes, s, o);
    else avg_pool2d_forward(vo.data, vi.data, planes, s, o);
  }
}

template <class B>
void bind_pool(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("max_pool2d_forward").c_str(), [](Buf y, py::object idx, Buf x, index_t planes, Pool2dShape s) {
    check_pool_shape(s, planes);
    auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
    check_size(vx, planes * s.H * s.W, "input");
    check_size(vy, planes * s.P * s.Q, "out");
    const int dev = B::device(x, {&y});
    IndexView vi = B::opt_indices(idx, vy.size, "indices", dev, true);
    if (vy.size == 0) return;
    FL_CHECK_ARG(vx.size > 0, "input: empty plane with a non-empty output");
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) max_pool2d_forward_cuda(vy.data, vi.data, vx.data, planes, s, B::stream());
    else max_pool2d_forward(vy.data, vi.data, vx.data, planes, s);
  });
  m.def(B::name("max_pool2d_backward").c_str(), [](Buf dx, Buf dy, Buf idx, index_t planes, Pool2dShape s) {
    check_pool_shape(s, planes);
    auto vdx = B::floats(dx, "out", true), vdy = B::floats(dy, "grad_out");
    check_size(vdx, planes * s.H * s.W, "out");
    check_size(vdy, planes * s.P * s.Q, "grad_out");
    IndexView vi = B::indices(idx, "indices");
    FL_CHECK_ARG(vi.size == vdy.size, "indices: expected ", vdy.size, " elements, got ", vi.size);
    if (vdx.size == 0) return;
    typename B::Scope scope(B::device(dy, {&dx, &idx}));
    if constexpr (B::kCudaKernels) {
      max_pool2d_backward_cuda(vdx.data, vdy.data, vi.data, planes, s, B::stream());  // skips indices out of range
    } else {
      FL_CHECK_ARG(max_pool2d_backward(vdx.data, vdy.data, vi.data, planes, s),
                   "indices: a value lies outside the input plane of ", s.H, " x ", s.W,
                   " (expected flat positions in [0, ", s.H * s.W, "))");
    }
  });
  m.def(B::name("avg_pool2d_forward").c_str(), [](Buf y, Buf x, index_t planes, Pool2dShape s,
                                                  bool count_include_pad, index_t divisor_override) {
    avg_call<B>(y, x, planes, s, AvgKind::windowed, false, {count_include_pad, divisor_override});
  });
  m.def(B::name("avg_pool2d_backward").c_str(), [](Buf dx, Buf dy, index_t planes, Pool2dShape s,
                                                   bool count_include_pad, index_t divisor_override) {
    avg_call<B>(dx, dy, planes, s, AvgKind::windowed, true, {count_include_pad, divisor_override});
  });
  m.def(B::name("adaptive_avg_pool2d_forward").c_str(), [](Buf y, Buf x, index_t planes, Pool2dShape s) {
    avg_call<B>(y, x, planes, s, AvgKind::adaptive, false, {});
  });
  m.def(B::name("adaptive_avg_pool2d_backward").c_str(), [](Buf dx, Buf dy, index_t planes, Pool2dShape s) {
    avg_call<B>(dx, dy, planes, s, AvgKind::adaptive, true, {});
  });
}

}  // namespace

void init_pool(py::module_& m) {
  py::class_<Pool2dShape>(m, "Pool2dShape", "Input plane H x W, output P x Q, window R x S, stride, padding, dilation")
      .def(py::init([](index_t H, index_t W, index_t P, index_t Q, index_t R, index_t S, index_t stride_h,
                       index_t stride_w, index_t pad_h, index_t pad_w, index_t dil_h, index_t dil_w) {
             return Pool2dShape{H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w};
           }),
           py::arg("H"), py::arg("W"), py::arg("P"), py::arg("Q"), py::arg("R"), py::arg("S"), py::arg("stride_h"),
           py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"), py::arg("dil_h"), py::arg("dil_w"))
      .def_readonly("H", &Pool2dShape::H)
      .def_readonly("W", &Pool2dShape::W)
      .def_readonly("P", &Pool2dShape::P)
      .def_readonly("Q", &Pool2dShape::Q)
      .def_readonly("R", &Pool2dShape::R)
      .def_readonly("S", &Pool2dShape::S)
      .def_readonly("stride_h", &Pool2dShape::stride_h)
      .def_readonly("stride_w", &Pool2dShape::stride_w)
      .def_readonly("pad_h", &Pool2dShape::pad_h)
      .def_readonly("pad_w", &Pool2dShape::pad_w)
      .def_readonly("dil_h", &Pool2dShape::dil_h)
      .def_readonly("dil_w", &Pool2dShape::dil_w);
  FL_BIND_BOTH_BACKENDS(bind_pool, m);
}

}  // namespace fl
