// Bindings of the conv family, both backends (bindings/backend.h): conv2d_forward,
// conv2d_backward_input (also the forward of conv_transpose2d), conv2d_backward_weight,
// conv_bias_backward, and cuda_<op> of each on device memory. The shape is the exported
// Conv2dShape struct (ops/conv.h), checked once here for both backends. The Python layer
// (functional/conv.py) derives output sizes and padding and reports shape errors with
// PyTorch's vocabulary; here we check what memory safety needs.
#include "bindings/backend.h"
#include "cuda/conv.cuh"
#include "ops/conv.h"

namespace fl {
namespace {

void check_conv_shape(const Conv2dShape& s) {
  FL_CHECK_ARG(s.N >= 0 && s.C >= 1 && s.H >= 0 && s.W >= 0 && s.K >= 1 && s.P >= 0 && s.Q >= 0,
               "conv: bad shape");
  FL_CHECK_ARG(s.R >= 1 && s.S >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1,
               "conv: kernel size, stride and dilation must be >= 1");
  FL_CHECK_ARG(s.groups >= 1 && s.C % s.groups == 0 && s.K % s.groups == 0, "groups: ", s.groups,
               " must divide the input channels ", s.C, " and the output channels ", s.K);
}

// The x-sized, y-sized and weight-sized views of one call, checked against the shape.
struct Views {
  FloatView x, y, w;
};

void check_views(const Conv2dShape& s, const Views& v, const char* xn, const char* yn, const char* wn) {
  check_size(v.x, s.N * s.C * s.H * s.W, xn);
  check_size(v.y, s.N * s.K * s.P * s.Q, yn);
  check_size(v.w, s.K * (s.C / s.groups) * s.R * s.S, wn);
}

template <class B>
void bind_conv(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("conv2d_forward").c_str(), [](Buf y, Buf x, Buf w, py::object bias, Conv2dShape s) {
    check_conv_shape(s);
    const Views v{B::floats(x, "input"), B::floats(y, "out", true), B::floats(w, "weight")};
    check_views(s, v, "input", "out", "weight");
    const int dev = B::device(x, {&y, &w});
    const float* b = B::opt_floats(bias, s.K, "bias", dev).data;
    if (v.y.size == 0) return;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) conv2d_forward_cuda(v.y.data, v.x.data, v.w.data, b, s, B::stream());
    else conv2d_forward(v.y.data, v.x.data, v.w.data, b, s);
  });
  m.def(B::name("conv2d_backward_input").c_str(), [](Buf dx, Buf dy, Buf w, py::object bias, Conv2dShape s) {
    check_conv_shape(s);
    const Views v{B::floats(dx, "out", true), B::floats(dy, "grad_out"), B::floats(w, "weight")};
    check_views(s, v, "out", "grad_out", "weight");
    const int dev = B::device(dy, {&dx, &w});
    const float* b = B::opt_floats(bias, s.C, "bias", dev).data;
    if (v.x.size == 0) return;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) conv2d_backward_input_cuda(v.x.data, v.y.data, v.w.data, b, s, B::stream());
    else conv2d_backward_input(v.x.data, v.y.data, v.w.data, b, s);
  });
  m.def(B::name("conv2d_backward_weight").c_str(), [](Buf dw, Buf dy, Buf x, Conv2dShape s) {
    check_conv_shape(s);
    const Views v{B::floats(x, "input"), B::floats(dy, "grad_out"), B::floats(dw, "out", true)};
    check_views(s, v, "input", "grad_out", "out");
    typename B::Scope scope(B::device(dy, {&dw, &x}));
    if constexpr (B::kCudaKernels) conv2d_backward_weight_cuda(v.w.data, v.y.data, v.x.data, s, B::stream());
    else conv2d_backward_weight(v.w.data, v.y.data, v.x.data, s);
  });
  m.def(B::name("conv_bias_backward").c_str(), [](Buf db, Buf t, index_t N, index_t K, index_t L) {
    FL_CHECK_ARG(N >= 0 && K >= 0 && L >= 0, "conv_bias_backward: negative shape");
    auto vdb = B::floats(db, "out", true), vt = B::floats(t, "grad_out");
    check_size(vt, N * K * L, "grad_out");
    check_size(vdb, K, "out");
    typename B::Scope scope(B::device(t, {&db}));
    if constexpr (B::kCudaKernels) conv_bias_backward_cuda(vdb.data, vt.data, N, K, L, B::stream());
    else conv_bias_backward(vdb.data, vt.data, N, K, L);
  });
}

}  // namespace

void init_conv(py::module_& m) {
  py::class_<Conv2dShape>(m, "Conv2dShape",
                          "Input N x C x H x W, K output channels, R x S filter, output P x Q, stride, padding, "
                          "dilation, groups")
      .def(py::init([](index_t N, index_t C, index_t H, index_t W, index_t K, index_t R, index_t S, index_t P,
                       index_t Q, index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w, index_t dil_h,
                       index_t dil_w, index_t groups) {
             return Conv2dShape{N, C, H, W, K, R, S, P, Q, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups};
           }),
           py::arg("N"), py::arg("C"), py::arg("H"), py::arg("W"), py::arg("K"), py::arg("R"), py::arg("S"),
           py::arg("P"), py::arg("Q"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"),
           py::arg("dil_h"), py::arg("dil_w"), py::arg("groups"))
      .def_readonly("N", &Conv2dShape::N)
      .def_readonly("C", &Conv2dShape::C)
      .def_readonly("H", &Conv2dShape::H)
      .def_readonly("W", &Conv2dShape::W)
      .def_readonly("K", &Conv2dShape::K)
      .def_readonly("R", &Conv2dShape::R)
      .def_readonly("S", &Conv2dShape::S)
      .def_readonly("P", &Conv2dShape::P)
      .def_readonly("Q", &Conv2dShape::Q)
      .def_readonly("stride_h", &Conv2dShape::stride_h)
      .def_readonly("stride_w", &Conv2dShape::stride_w)
      .def_readonly("pad_h", &Conv2dShape::pad_h)
      .def_readonly("pad_w", &Conv2dShape::pad_w)
      .def_readonly("dil_h", &Conv2dShape::dil_h)
      .def_readonly("dil_w", &Conv2dShape::dil_w)
      .def_readonly("groups", &Conv2dShape::groups);
  FL_BIND_BOTH_BACKENDS(bind_conv, m);
}

}  // namespace fl
