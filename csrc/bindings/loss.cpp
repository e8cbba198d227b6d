// Bindings of the loss family: validate views, release the GIL, call the driver. The Python
// layer (functional/loss.py) shapes arguments and applies the reduction's scale.
#include <cstdint>

#include "bindings/array.h"
#include "ops/loss.h"

namespace fl {
namespace {

const std::int64_t* int64_view(const py::array& a, const char* name, index_t expected) {
  if (!py::isinstance<py::array_t<std::int64_t>>(a) || a.dtype().kind() != 'i' || a.itemsize() != 8)
    throw type_error(str_cat(name, ": expected an int64 array, got dtype ", std::string(py::str(a.dtype()))));
  FL_CHECK_ARG(a.flags() & py::array::c_style, name, ": expected a C-contiguous array");
  FL_CHECK_ARG(static_cast<index_t>(a.size()) == expected, name, ": expected ", expected, " elements, got ",
               a.size());
  return static_cast<const std::int64_t*>(a.data());
}

const float* optional_view(const py::object& o, const char* name, index_t expected) {
  if (o.is_none()) return nullptr;
  auto v = float_view(o.cast<py::array>(), name);
  check_size(v, expected, name);
  return v.data;
}

}  // namespace

void init_loss(py::module_& m) {
  // Returns (sum of row losses, number of non-ignored rows); fills loss_rows and lse.
  m.def("ce_forward", [](py::array loss, py::array lse, py::array x, py::array target, index_t rows, index_t C,
                         std::int64_t ignore_index, float smoothing) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "cross_entropy: bad shape (", rows, ", ", C, ")");
    auto vx = float_view(x, "input");
    check_size(vx, rows * C, "input");
    auto vl = float_view(loss, "loss", true), vlse = float_view(lse, "lse", true);
    check_size(vl, rows, "loss");
    check_size(vlse, rows, "lse");
    const std::int64_t* t = int64_view(target, "target", rows);
    CeSum r;
    {
      py::gil_scoped_release nogil;
      r = cross_entropy_forward(vl.data, vlse.data, vx.data, t, rows, C, {ignore_index, smoothing});
    }
    return py::make_tuple(r.sum, r.count);
  });
  m.def("ce_backward", [](py::array dx, py::array x, py::array lse, py::array target, py::object grad, float scale,
                          index_t rows, index_t C, std::int64_t ignore_index, float smoothing) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "cross_entropy_backward: bad shape (", rows, ", ", C, ")");
    auto vx = float_view(x, "input"), vdx = float_view(dx, "out", true), vlse = float_view(lse, "lse");
    check_size(vx, rows * C, "input");
    check_size(vdx, rows * C, "out");
    check_size(vlse, rows, "lse");
    const std::int64_t* t = int64_view(target, "target", rows);
    const float* g = optional_view(grad, "grad_out", rows);
    py::gil_scoped_release nogil;
    cross_entropy_backward(vdx.data, vx.data, vlse.data, t, g, scale, rows, C, {ignore_index, smoothing});
  });
  // op: 0 mse, 1 bce_with_logits (PointLoss). loss may be None (sum only). Returns the sum.
  m.def("point_loss_forward", [](int op, py::object loss, py::array x, py::array y) {
    FL_CHECK_ARG(op == 0 || op == 1, "op: unknown point-wise loss ", op);
    auto vx = float_view(x, "input"), vy = float_view(y, "target");
    check_size(vy, vx.size, "target");
    float* l = nullptr;
    if (!loss.is_none()) {
      auto vl = float_view(loss.cast<py::array>(), "loss", true);
      check_size(vl, vx.size, "loss");
      l = vl.data;
    }
    py::gil_scoped_release nogil;
    return point_loss_forward(static_cast<PointLoss>(op), l, vx.data, vy.data, vx.size);
  });
  m.def("point_loss_backward", [](int op, py::array dx, py::array x, py::array y, py::object grad, float scale) {
    FL_CHECK_ARG(op == 0 || op == 1, "op: unknown point-wise loss ", op);
    auto vx = float_view(x, "input"), vy = float_view(y, "target"), vdx = float_view(dx, "out", true);
    check_size(vy, vx.size, "target");
    check_size(vdx, vx.size, "out");
    const float* g = optional_view(grad, "grad_out", vx.size);
    py::gil_scoped_release nogil;
    point_loss_backward(static_cast<PointLoss>(op), vdx.data, vx.data, vy.data, g, scale, vx.size);
  });
}

}  // namespace fl
