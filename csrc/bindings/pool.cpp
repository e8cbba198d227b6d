// Bindings of the pool family: validate views and shapes, release the GIL, call the driver.
// The Python layer (functional/pool.py) computes output sizes and checks parameters with
// PyTorch's messages; here we check what memory safety needs (sizes agree, indices in range).
#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "bindings/array.h"
#include "ops/pool.h"

namespace fl {
namespace {

// (H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
Pool2dShape pool_shape(const std::array<index_t, 12>& a) {
  const Pool2dShape s{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]};
  FL_CHECK_ARG(s.H >= 0 && s.W >= 0 && s.P >= 0 && s.Q >= 0, "pool: negative plane size");
  FL_CHECK_ARG(s.R >= 1 && s.S >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1,
               "pool: kernel size, stride and dilation must be >= 1");
  FL_CHECK_ARG(s.pad_h >= 0 && s.pad_w >= 0, "pool: padding must be >= 0");
  return s;
}

int64_t* index_view(const py::array& a, index_t expected, const char* name, bool writable) {
  if (!py::isinstance<py::array_t<int64_t>>(a) || a.dtype().kind() != 'i' || a.itemsize() != 8)
    throw type_error(str_cat(name, ": expected an int64 array, got dtype ", std::string(py::str(a.dtype()))));
  FL_CHECK_ARG(a.flags() & py::array::c_style, name, ": expected a C-contiguous array");
  FL_CHECK_ARG(!writable || a.writeable(), name, ": array is read-only");
  FL_CHECK_ARG(a.size() == expected, name, ": expected ", expected, " elements, got ", a.size());
  return static_cast<int64_t*>(const_cast<void*>(a.data()));
}

// Average pooling (adaptive or windowed), forward (out = y, in = x) or backward (out = dx,
// in = dy): checks sizes, releases the GIL, runs the driver.
void avg_call(py::array out, py::array in, index_t planes, const std::array<index_t, 12>& shape, bool adaptive,
              bool backward, AvgPoolOptions o) {
  const Pool2dShape s = pool_shape(shape);
  if (adaptive) {
    FL_CHECK_ARG(s.P >= 1 && s.Q >= 1 && s.H >= 1 && s.W >= 1, "adaptive_avg_pool: empty plane or output");
  } else {
    FL_CHECK_ARG(s.dil_h == 1 && s.dil_w == 1, "avg_pool: dilation must be 1");
    FL_CHECK_ARG(o.divisor_override >= 0, "divisor_override: must be positive");
  }
  auto vo = float_view(out, "out", true), vi = float_view(in, backward ? "grad_out" : "input");
  const index_t big = planes * s.H * s.W, small = planes * s.P * s.Q;
  check_size(vi, backward ? small : big, backward ? "grad_out" : "input");
  check_size(vo, backward ? big : small, "out");
  if (vo.size == 0 || vi.size == 0) return;
  py::gil_scoped_release nogil;
  if (adaptive && backward) adaptive_avg_pool2d_backward(vo.data, vi.data, planes, s);
  else if (adaptive) adaptive_avg_pool2d_forward(vo.data, vi.data, planes, s);
  else if (backward) avg_pool2d_backward(vo.data, vi.data, planes, s, o);
  else avg_pool2d_forward(vo.data, vi.data, planes, s, o);
}

}  // namespace

void init_pool(py::module_& m) {
  m.def("max_pool2d_forward", [](py::array y, py::object idx, py::array x, index_t planes,
                                 std::array<index_t, 12> shape) {
    const Pool2dShape s = pool_shape(shape);
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    check_size(vx, planes * s.H * s.W, "input");
    check_size(vy, planes * s.P * s.Q, "out");
    int64_t* pi = idx.is_none() ? nullptr : index_view(idx.cast<py::array>(), vy.size, "indices", true);
    if (vy.size == 0) return;
    FL_CHECK_ARG(vx.size > 0, "input: empty plane with a non-empty output");
    py::gil_scoped_release nogil;
    max_pool2d_forward(vy.data, pi, vx.data, planes, s);
  });
  m.def("max_pool2d_backward", [](py::array dx, py::array dy, py::array idx, index_t planes,
                                  std::array<index_t, 12> shape) {
    const Pool2dShape s = pool_shape(shape);
    auto vdx = float_view(dx, "out", true), vdy = float_view(dy, "grad_out");
    check_size(vdx, planes * s.H * s.W, "out");
    check_size(vdy, planes * s.P * s.Q, "grad_out");
    const int64_t* pi = index_view(idx, vdy.size, "indices", false);
    if (vdx.size == 0) return;
    py::gil_scoped_release nogil;
    FL_CHECK_ARG(max_pool2d_backward(vdx.data, vdy.data, pi, planes, s), "indices: a value lies outside the input plane of ",
                 s.H, " x ", s.W, " (expected flat positions in [0, ", s.H * s.W, "))");
  });
  m.def("avg_pool2d_forward", [](py::array y, py::array x, index_t planes, std::array<index_t, 12> shape,
                                 bool count_include_pad, index_t divisor_override) {
    avg_call(y, x, planes, shape, false, false, {count_include_pad, divisor_override});
  });
  m.def("avg_pool2d_backward", [](py::array dx, py::array dy, index_t planes, std::array<index_t, 12> shape,
                                  bool count_include_pad, index_t divisor_override) {
    avg_call(dx, dy, planes, shape, false, true, {count_include_pad, divisor_override});
  });
  m.def("adaptive_avg_pool2d_forward", [](py::array y, py::array x, index_t planes, std::array<index_t, 12> shape) {
    avg_call(y, x, planes, shape, true, false, {});
  });
  m.def("adaptive_avg_pool2d_backward", [](py::array dx, py::array dy, index_t planes,
                                           std::array<index_t, 12> shape) {
    avg_call(dx, dy, planes, shape, true, true, {});
  });
}

}  // namespace fl
