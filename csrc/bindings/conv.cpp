// Bindings of the conv family: validate views and shapes, release the GIL, call the driver.
// The Python layer (functional/conv.py) derives output sizes and padding and reports shape
// errors with PyTorch's vocabulary; here we check what memory safety needs.
#include <pybind11/stl.h>

#include <array>

#include "bindings/array.h"
#include "ops/conv.h"

namespace fl {
namespace {

// (N, C, H, W, K, R, S, P, Q, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups)
Conv2dShape conv_shape(const std::array<index_t, 16>& a) {
  const Conv2dShape s{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
                      a[14], a[15]};
  FL_CHECK_ARG(s.N >= 0 && s.C >= 1 && s.H >= 0 && s.W >= 0 && s.K >= 1 && s.P >= 0 && s.Q >= 0,
               "conv: bad shape");
  FL_CHECK_ARG(s.R >= 1 && s.S >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1,
               "conv: kernel size, stride and dilation must be >= 1");
  FL_CHECK_ARG(s.groups >= 1 && s.C % s.groups == 0 && s.K % s.groups == 0, "groups: ", s.groups,
               " must divide the input channels ", s.C, " and the output channels ", s.K);
  return s;
}

struct Views {
  FloatView x, y, w;
};

// x-sized, y-sized and weight-sized arrays of one call, checked against the shape.
Views conv_views(const Conv2dShape& s, const py::array& x, const char* xn, bool xw, const py::array& y,
                 const char* yn, bool yw, const py::array& w, const char* wn, bool ww) {
  Views v{float_view(x, xn, xw), float_view(y, yn, yw), float_view(w, wn, ww)};
  check_size(v.x, s.N * s.C * s.H * s.W, xn);
  check_size(v.y, s.N * s.K * s.P * s.Q, yn);
  check_size(v.w, s.K * (s.C / s.groups) * s.R * s.S, wn);
  return v;
}

const float* bias_view(const py::object& b, index_t n) {
  if (b.is_none()) return nullptr;
  auto v = float_view(b.cast<py::array>(), "bias");
  check_size(v, n, "bias");
  return v.data;
}

}  // namespace

void init_conv(py::module_& m) {
  m.def("conv2d_forward", [](py::array y, py::array x, py::array w, py::object bias, std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    const Views v = conv_views(s, x, "input", false, y, "out", true, w, "weight", false);
    const float* b = bias_view(bias, s.K);
    if (v.y.size == 0) return;
    py::gil_scoped_release nogil;
    conv2d_forward(v.y.data, v.x.data, v.w.data, b, s);
  });
  m.def("conv2d_backward_input", [](py::array dx, py::array dy, py::array w, py::object bias,
                                    std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    const Views v = conv_views(s, dx, "out", true, dy, "grad_out", false, w, "weight", false);
    const float* b = bias_view(bias, s.C);
    if (v.x.size == 0) return;
    py::gil_scoped_release nogil;
    conv2d_backward_input(v.x.data, v.y.data, v.w.data, b, s);
  });
  m.def("conv2d_backward_weight", [](py::array dw, py::array dy, py::array x, std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    const Views v = conv_views(s, x, "input", false, dy, "grad_out", false, dw, "out", true);
    py::gil_scoped_release nogil;
    conv2d_backward_weight(v.w.data, v.y.data, v.x.data, s);
  });
  m.def("conv_bias_backward", [](py::array db, py::array t, index_t N, index_t K, index_t L) {
    FL_CHECK_ARG(N >= 0 && K >= 0 && L >= 0, "conv_bias_backward: negative shape");
    auto vdb = float_view(db, "out", true), vt = float_view(t, "grad_out");
    check_size(vt, N * K * L, "grad_out");
    check_size(vdb, K, "out");
    py::gil_scoped_release nogil;
    conv_bias_backward(vdb.data, vt.data, N, K, L);
  });
}

}  // namespace fl
