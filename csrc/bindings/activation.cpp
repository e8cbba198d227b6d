// Bindings of the activation family: validate views, release the GIL, call the driver.
#include "bindings/array.h"
#include "ops/activation.h"

namespace fl {

void init_activation(py::module_& m) {
  m.def("act_forward", [](int op, py::array y, py::array x, float a) {
    FL_CHECK_ARG(op >= 0 && op < kActOpCount, "op: unknown activation ", op);
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    check_size(vy, vx.size, "out");
    py::gil_scoped_release nogil;
    activation_forward(static_cast<ActOp>(op), vy.data, vx.data, vx.size, a);
  });
  m.def("act_backward", [](int op, py::array dx, py::array dy, py::array s, float a) {
    FL_CHECK_ARG(op >= 0 && op < kActOpCount, "op: unknown activation ", op);
    auto vdx = float_view(dx, "out", true), vdy = float_view(dy, "grad_out"), vs = float_view(s, "saved");
    check_size(vdx, vdy.size, "out");
    check_size(vs, vdy.size, "saved tensor");
    py::gil_scoped_release nogil;
    activation_backward(static_cast<ActOp>(op), vdx.data, vdy.data, vs.data, vdy.size, a);
  });
  m.def("softmax_forward", [](py::array y, py::array x, index_t outer, index_t n, index_t inner, bool log) {
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "softmax: negative shape");
    check_size(vx, outer * n * inner, "input");
    check_size(vy, vx.size, "out");
    if (vx.size == 0) return;
    py::gil_scoped_release nogil;
    softmax_forward(vy.data, vx.data, {outer, n, inner}, log);
  });
  m.def("softmax_backward",
        [](py::array dx, py::array dy, py::array y, index_t outer, index_t n, index_t inner, bool log) {
          auto vdx = float_view(dx, "out", true), vdy = float_view(dy, "grad_out"), vy = float_view(y, "output");
          FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "softmax_backward: negative shape");
          check_size(vdy, outer * n * inner, "grad_out");
          check_size(vy, vdy.size, "output");
          check_size(vdx, vdy.size, "out");
          if (vdy.size == 0) return;
          py::gil_scoped_release nogil;
          softmax_backward(vdx.data, vdy.data, vy.data, {outer, n, inner}, log);
        });
  m.def("maxout_forward", [](py::array y, py::array x, index_t outer, index_t n, index_t inner, index_t pieces) {
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "maxout: negative shape");
    FL_CHECK_ARG(pieces >= 1 && n % pieces == 0, "pieces: ", pieces, " does not divide the channel count ", n);
    check_size(vx, outer * n * inner, "input");
    check_size(vy, outer * (n / pieces) * inner, "out");
    if (vy.size == 0) return;
    py::gil_scoped_release nogil;
    maxout_forward(vy.data, vx.data, {outer, n, inner}, pieces);
  });
  m.def("maxout_backward", [](py::array dx, py::array dy, py::array x, index_t outer, index_t n, index_t inner,
                              index_t pieces) {
    auto vdx = float_view(dx, "out", true), vdy = float_view(dy, "grad_out"), vx = float_view(x, "input");
    FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "maxout_backward: negative shape");
    FL_CHECK_ARG(pieces >= 1 && n % pieces == 0, "pieces: ", pieces, " does not divide the channel count ", n);
    check_size(vx, outer * n * inner, "input");
    check_size(vdx, vx.size, "out");
    check_size(vdy, outer * (n / pieces) * inner, "grad_out");
    if (vx.size == 0) return;
    py::gil_scoped_release nogil;
    maxout_backward(vdx.data, vdy.data, vx.data, {outer, n, inner}, pieces);
  });
}

}  // namespace fl
