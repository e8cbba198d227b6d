// Bindings of the RNN family (CPU): one shape parser for forward and backward, which checks
// every array against the layer's shape (so a direct call into _core can never read or write
// out of bounds), then the GIL is released and the driver runs. fastlayers.functional.rnn
// validates user input first and builds the arrays these calls take.
#include <cstdint>
#include <vector>

#include "bindings/array.h"
#include "ops/rnn.h"

namespace fl {

namespace {

// A 2-D float32 view of exactly (rows, cols).
float* matrix_view(const py::array& a, index_t rows, index_t cols, const char* name, bool writable = false) {
  auto v = float_view(a, name, writable);
  FL_CHECK_ARG(a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols, name, ": expected shape (", rows, ", ",
               cols, ")");
  return v.data;
}

// A float32 view of exactly n elements, or null for None.
float* optional_view(const py::object& o, index_t n, const char* name, bool writable = false) {
  if (o.is_none()) return nullptr;
  auto v = float_view(o.cast<py::array>(), name, writable);
  check_size(v, n, name);
  return v.data;
}

float* required_view(const py::object& o, index_t n, const char* name, bool writable = false) {
  FL_CHECK_ARG(!o.is_none(), name, ": required for this cell");
  return optional_view(o, n, name, writable);
}

struct Parsed {
  RnnShape s;
  index_t dirs, GH, SH;
  RnnWeights w[2];
  std::vector<index_t> batch_sizes;
  const index_t* bs() const { return batch_sizes.empty() ? nullptr : batch_sizes.data(); }
};

// x (T, B, I); weights: one (w_ih, w_hh, b_ih, b_hh) tuple per direction, biases both None or
// both given; batch_sizes: None or T integers.
Parsed parse_layer(RnnCell cell, const py::array& x, const py::sequence& weights, const py::object& batch_sizes) {
  Parsed p{};
  float_view(x, "input");
  FL_CHECK_ARG(x.ndim() == 3, "input: expected a 3-D (T, B, I) array, got ", x.ndim(), " dimensions");
  p.s.T = x.shape(0), p.s.B = x.shape(1), p.s.I = x.shape(2);
  p.dirs = static_cast<index_t>(py::len(weights));
  FL_CHECK_ARG(p.dirs == 1 || p.dirs == 2, "weights: expected 1 or 2 directions, got ", p.dirs);
  const index_t G = rnn_gates(cell);
  for (index_t d = 0; d < p.dirs; ++d) {
    py::sequence wd = weights[d];
    FL_CHECK_ARG(py::len(wd) == 4, "weights[", d, "]: expected (w_ih, w_hh, b_ih, b_hh)");
    py::array w_hh = wd[1];
    float_view(w_hh, "w_hh");
    FL_CHECK_ARG(w_hh.ndim() == 2 && w_hh.shape(0) == G * w_hh.shape(1), "w_hh: expected shape (", G,
                 " * H, H)");
    const index_t H = w_hh.shape(1);
    FL_CHECK_ARG(d == 0 || H == p.s.H, "w_hh: the directions' hidden sizes differ");
    p.s.H = H;
    p.w[d].w_hh = matrix_view(w_hh, G * H, H, "w_hh");
    p.w[d].w_ih = matrix_view(wd[0].cast<py::array>(), G * H, p.s.I, "w_ih");
    FL_CHECK_ARG(wd[2].is_none() == wd[3].is_none(), "b_ih, b_hh: give both or neither");
    p.w[d].b_ih = optional_view(wd[2], G * H, "b_ih");
    p.w[d].b_hh = optional_view(wd[3], G * H, "b_hh");
  }
  p.GH = G * p.s.H;
  p.SH = rnn_saved_parts(cell) * p.s.H;
  if (!batch_sizes.is_none()) {
    auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(batch_sizes);
    FL_CHECK_ARG(a && a.ndim() == 1 && a.shape(0) == p.s.T, "batch_sizes: expected ", p.s.T, " integers");
    p.batch_sizes.assign(a.data(), a.data() + p.s.T);
    for (index_t t = 0; t < p.s.T; ++t) {
      FL_CHECK_ARG(p.batch_sizes[t] >= 0 && p.batch_sizes[t] <= p.s.B, "batch_sizes[", t, "] = ",
                   p.batch_sizes[t], " is outside [0, ", p.s.B, "]");
      FL_CHECK_ARG(t == 0 || p.batch_sizes[t] <= p.batch_sizes[t - 1], "batch_sizes: must be nonincreasing");
    }
  }
  return p;
}

index_t state_size(const Parsed& p) { return p.dirs * (p.s.T + 1) * p.s.B * p.s.H; }

}  // namespace

void init_rnn(py::module_& m) {
  py::enum_<RnnCell>(m, "RnnCell", "The recurrent cells of fastlayers.functional.rnn (ops/rnn.h)")
      .value("rnn_tanh", RnnCell::rnn_tanh)
      .value("rnn_relu", RnnCell::rnn_relu)
      .value("lstm", RnnCell::lstm)
      .value("gru", RnnCell::gru);
  m.def("rnn_gates", [](RnnCell c) { return rnn_gates(c); });
  m.def("rnn_saved_parts", [](RnnCell c) { return rnn_saved_parts(c); });

  // Shapes: see rnn_layer_forward in ops/rnn.h. y (T, B, dirs*H); h_seq, c_seq dirs x (T+1, B, H)
  // (h0 in place on entry); gates None or dirs x (T, B, S*H).
  m.def("rnn_layer_forward", [](RnnCell cell, py::array y, py::array h_seq, py::object c_seq, py::object gates,
                                py::array x, py::sequence weights, py::object batch_sizes) {
    Parsed p = parse_layer(cell, x, weights, batch_sizes);
    const RnnShape s = p.s;
    auto vy = float_view(y, "out", true);
    check_size(vy, s.T * s.B * p.dirs * s.H, "out");
    auto vh = float_view(h_seq, "h_seq", true);
    check_size(vh, state_size(p), "h_seq");
    float* pc = cell == RnnCell::lstm ? required_view(c_seq, state_size(p), "c_seq", true) : nullptr;
    FL_CHECK_ARG(cell == RnnCell::lstm || c_seq.is_none(), "c_seq: only an lstm has a cell state");
    float* pg = optional_view(gates, p.dirs * s.T * s.B * p.SH, "gates", true);
    const float* px = float_view(x, "input").data;
    py::gil_scoped_release nogil;
    rnn_layer_forward(cell, s, p.dirs, vy.data, vh.data, pc, pg, px, p.w, p.bs());
  });

  // grads: one (d_w_ih, d_w_hh, d_b_ih, d_b_hh) tuple per direction, entries None when not
  // wanted; dh, dc dirs x (B, H) in: gradients of h_n, c_n, out: of h0, c0.
  m.def("rnn_layer_backward", [](RnnCell cell, py::object dx, py::array dh, py::object dc, py::sequence grads,
                                 bool accumulate, py::object dy, py::array x, py::sequence weights,
                                 py::array h_seq, py::object c_seq, py::object gates, py::object batch_sizes) {
    Parsed p = parse_layer(cell, x, weights, batch_sizes);
    const RnnShape s = p.s;
    const bool lstm = cell == RnnCell::lstm;
    float* pdx = optional_view(dx, s.T * s.B * s.I, "grad_input", true);
    auto vdh = float_view(dh, "grad_h", true);
    check_size(vdh, p.dirs * s.B * s.H, "grad_h");
    float* pdc = lstm ? required_view(dc, p.dirs * s.B * s.H, "grad_c", true) : nullptr;
    FL_CHECK_ARG(lstm || dc.is_none(), "grad_c: only an lstm has a cell state");
    FL_CHECK_ARG(static_cast<index_t>(py::len(grads)) == p.dirs, "grads: expected one entry per direction");
    RnnWeightGrads g[2] = {};
    for (index_t d = 0; d < p.dirs; ++d) {
      py::sequence gd = grads[d];
      FL_CHECK_ARG(py::len(gd) == 4, "grads[", d, "]: expected (d_w_ih, d_w_hh, d_b_ih, d_b_hh)");
      g[d].w_ih = optional_view(gd[0], p.GH * s.I, "grad_w_ih", true);
      g[d].w_hh = optional_view(gd[1], p.GH * s.H, "grad_w_hh", true);
      g[d].b_ih = optional_view(gd[2], p.GH, "grad_b_ih", true);
      g[d].b_hh = optional_view(gd[3], p.GH, "grad_b_hh", true);
      FL_CHECK_ARG((g[d].b_ih == nullptr || p.w[d].b_ih) && (g[d].b_hh == nullptr || p.w[d].b_hh),
                   "grads: bias gradients for a layer without biases");
    }
    const float* pdy = optional_view(dy, s.T * s.B * p.dirs * s.H, "grad_out");
    const float* ph = float_view(h_seq, "h_seq").data;
    check_size(float_view(h_seq, "h_seq"), state_size(p), "h_seq");
    const float* pc = lstm ? required_view(c_seq, state_size(p), "c_seq") : nullptr;
    const float* pg = p.SH ? required_view(gates, p.dirs * s.T * s.B * p.SH, "gates") : nullptr;
    const float* px = float_view(x, "input").data;
    py::gil_scoped_release nogil;
    rnn_layer_backward(cell, s, p.dirs, pdx, vdh.data, pdc, g, accumulate, pdy, px, p.w, ph, pc, pg, p.bs());
  });
}

}  // namespace fl
