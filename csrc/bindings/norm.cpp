// Bindings of the norm family: validate views, release the GIL, call the driver.
// Per-channel arguments may be None where the driver accepts null (weight, bias, running
// statistics in training, gradients not wanted).
#include "bindings/array.h"
#include "ops/norm.h"

namespace fl {
namespace {

// A C-float per-channel array, or null for None.
float* channel_view(const py::object& o, index_t C, const char* name, bool writable) {
  if (o.is_none()) return nullptr;
  auto v = float_view(o.cast<py::array>(), name, writable);
  check_size(v, C, name);
  return v.data;
}

ChannelShape channel_shape(index_t N, index_t C, index_t L) {
  FL_CHECK_ARG(N >= 0 && C >= 0 && L >= 0, "batch_norm: negative shape (", N, ", ", C, ", ", L, ")");
  return {N, C, L};
}

}  // namespace

void init_norm(py::module_& m) {
  m.def("batch_norm_forward", [](py::array y, py::array save_mean, py::array save_invstd, py::object running_mean,
                                 py::object running_var, py::array x, py::object weight, py::object bias, index_t N,
                                 index_t C, index_t L, bool training, float momentum, float eps) {
    const ChannelShape s = channel_shape(N, C, L);
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    check_size(vx, N * C * L, "input");
    check_size(vy, vx.size, "out");
    float* sm = channel_view(save_mean, C, "save_mean", true);
    float* si = channel_view(save_invstd, C, "save_invstd", true);
    float* rm = channel_view(running_mean, C, "running_mean", true);
    float* rv = channel_view(running_var, C, "running_var", true);
    const float* w = channel_view(weight, C, "weight", false);
    const float* b = channel_view(bias, C, "bias", false);
    FL_CHECK_ARG(training || (rm && rv), "running_mean, running_var: required when training is False");
    FL_CHECK_ARG(!training || N * L > 1, "input: expected more than 1 value per channel when training, got input "
                 "of (N, C, L) = (", N, ", ", C, ", ", L, ")");
    if (C == 0) return;
    py::gil_scoped_release nogil;
    batch_norm_forward(vy.data, sm, si, rm, rv, vx.data, w, b, s, training, momentum, eps);
  });
  m.def("batch_norm_stats", [](py::array mean, py::array invstd, py::array x, index_t N, index_t C, index_t L,
                               float eps) {
    const ChannelShape s = channel_shape(N, C, L);
    auto vx = float_view(x, "input");
    check_size(vx, N * C * L, "input");
    float* pm = channel_view(mean, C, "mean", true);
    float* pi = channel_view(invstd, C, "invstd", true);
    FL_CHECK_ARG(N * L > 1, "input: expected more than 1 value per channel, got (N, C, L) = (", N, ", ", C, ", ",
                 L, ")");
    if (C == 0) return;
    py::gil_scoped_release nogil;
    batch_norm_stats(pm, pi, vx.data, s, eps);
  });
  m.def("batch_norm_backward", [](py::object dx, py::object dweight, py::object dbias, py::array dy, py::array x,
                                  py::object weight, py::array mean, py::array invstd, index_t N, index_t C, index_t L,
                                  bool training) {
    const ChannelShape s = channel_shape(N, C, L);
    auto vdy = float_view(dy, "grad_out"), vx = float_view(x, "input");
    check_size(vdy, N * C * L, "grad_out");
    check_size(vx, vdy.size, "input");
    float* pdx = nullptr;
    if (!dx.is_none()) {
      auto v = float_view(dx.cast<py::array>(), "grad_input", true);
      check_size(v, vdy.size, "grad_input");
      pdx = v.data;
    }
    float* dw = channel_view(dweight, C, "grad_weight", true);
    float* db = channel_view(dbias, C, "grad_bias", true);
    const float* w = channel_view(weight, C, "weight", false);
    const float* pm = channel_view(mean, C, "mean", false);
    const float* pi = channel_view(invstd, C, "invstd", false);
    if (C == 0) return;
    py::gil_scoped_release nogil;
    batch_norm_backward(pdx, dw, db, vdy.data, vx.data, w, pm, pi, s, training);
  });
}

}  // namespace fl
