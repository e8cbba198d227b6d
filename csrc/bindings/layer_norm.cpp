// Bindings of the layer-norm family (CPU): validate views against (M, N), release the GIL, call
// the driver. fastlayers.functional.layer_norm shapes the arguments.
#include "bindings/array.h"
#include "ops/layer_norm.h"

namespace fl {

namespace {

// The data of an optional float32 array of `n` elements (None: null).
float* optional_view(const py::object& a, index_t n, const char* name, bool writable = false) {
  if (a.is_none()) return nullptr;
  if (!py::isinstance<py::array>(a)) throw type_error(str_cat(name, ": expected a numpy array"));
  const FloatView v = float_view(py::reinterpret_borrow<py::array>(a), name, writable);
  check_size(v, n, name);
  return v.data;
}

LayerNormShape make_shape(index_t m, index_t n) {
  FL_CHECK_ARG(m >= 0 && n >= 1, "layer_norm: expected M >= 0 rows of N >= 1 elements, got (", m, ", ", n, ")");
  return {m, n};
}

}  // namespace

void init_layer_norm(py::module_& m) {
  m.def("layer_norm_forward", [](py::object y, py::array mean, py::array rstd, py::array x, py::object w,
                                 py::object b, index_t rows, index_t n, float eps) {
    const LayerNormShape s = make_shape(rows, n);
    auto vx = float_view(x, "input"), vm = float_view(mean, "mean", true), vr = float_view(rstd, "rstd", true);
    check_size(vx, rows * n, "input");
    check_size(vm, rows, "mean");
    check_size(vr, rows, "rstd");
    float* py_ = optional_view(y, rows * n, "out", true);
    const float* pw = optional_view(w, n, "weight");
    const float* pb = optional_view(b, n, "bias");
    if (rows == 0) return;
    py::gil_scoped_release nogil;
    layer_norm_forward(py_, vm.data, vr.data, vx.data, pw, pb, s, eps);
  });
  m.def("layer_norm_backward", [](py::array dx, py::object dw, py::object db, py::array dy, py::array x,
                                  py::array mean, py::array rstd, py::object w, index_t rows, index_t n) {
    const LayerNormShape s = make_shape(rows, n);
    auto vdx = float_view(dx, "grad_input", true), vdy = float_view(dy, "grad_out"), vx = float_view(x, "input"),
         vm = float_view(mean, "mean"), vr = float_view(rstd, "rstd");
    check_size(vx, rows * n, "input");
    check_size(vdy, rows * n, "grad_out");
    check_size(vdx, rows * n, "grad_input");
    check_size(vm, rows, "mean");
    check_size(vr, rows, "rstd");
    float* pdw = optional_view(dw, n, "grad_weight", true);
    float* pdb = optional_view(db, n, "grad_bias", true);
    const float* pw = optional_view(w, n, "weight");
    py::gil_scoped_release nogil;
    layer_norm_backward(vdx.data, pdw, pdb, vdy.data, vx.data, vm.data, vr.data, pw, s);
  });
}

}  // namespace fl
