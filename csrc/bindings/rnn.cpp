// Bindings of the RNN family, both backends (bindings/backend.h): rnn_layer_forward,
// rnn_layer_backward and rnn_sequence_copy, and cuda_<op> of each on device memory, with the same
// arguments (the layer's shape T, B, I, H passed explicitly: a device buffer has none) and one
// shape parser for forward and backward, which checks every buffer against the layer's shape (a
// direct call can never read or write out of bounds). batch_sizes is host data on both backends
// (the drivers size each step by it). Releases the GIL and calls the CPU driver (ops/rnn.h) or
// the CUDA driver (cuda/rnn.cuh; unverified on a GPU at the time of writing, checked by host
// emulation). fastlayers.functional.rnn validates user input first and builds these arguments.
#include <cstdint>
#include <vector>

#include "bindings/backend.h"
#include "cuda/rnn.cuh"
#include "ops/rnn.h"

namespace fl {

namespace {

// Element i of a sequence (a weight or gradient entry): n floats on `device`, or null for None
// when optional.
template <class B>
float* entry(const py::sequence& seq, size_t i, index_t n, const char* name, int device, bool optional,
             bool writable = false) {
  const py::object o = seq[i];
  if (o.is_none()) {
    FL_CHECK_ARG(optional, name, ": required");
    return nullptr;
  }
  FloatView v = B::floats_at(o, name, writable);
  check_size(v, n, name);
  if (B::device_at(o) != device) throw type_error(str_cat(name, ": on another device than the input"));
  return v.data;
}

struct Parsed {
  RnnShape s;
  index_t dirs, GH, SH;
  int device;
  RnnWeights w[2];
  std::vector<index_t> batch_sizes;
  const index_t* bs() const { return batch_sizes.empty() ? nullptr : batch_sizes.data(); }
  index_t state_size() const { return dirs * (s.T + 1) * s.B * s.H; }
};

// x (T, B, I); weights: one (w_ih, w_hh, b_ih, b_hh) sequence per direction, biases both None or
// both given; batch_sizes: None or T nonincreasing integers in [0, B].
template <class B>
Parsed parse_layer(RnnCell cell, index_t T, index_t Bn, index_t I, index_t H, typename B::Buf x,
                   const py::sequence& weights, const py::object& batch_sizes) {
  FL_CHECK_ARG(static_cast<int>(cell) >= 0 && static_cast<int>(cell) < kRnnCellCount, "cell: unknown");
  FL_CHECK_ARG(T >= 0 && Bn >= 0 && I >= 0 && H >= 0, "rnn: negative shape T=", T, " B=", Bn, " I=", I, " H=", H);
  Parsed p{};
  p.s = {T, Bn, I, H};
  check_size(B::floats(x, "input"), T * Bn * I, "input");
  p.device = B::device(x);
  p.dirs = static_cast<index_t>(py::len(weights));
  FL_CHECK_ARG(p.dirs == 1 || p.dirs == 2, "weights: expected 1 or 2 directions, got ", p.dirs);
  const index_t G = rnn_gates(cell);
  p.GH = G * H;
  p.SH = rnn_saved_parts(cell) * H;
  for (index_t d = 0; d < p.dirs; ++d) {
    const py::sequence wd = weights[d];
    FL_CHECK_ARG(py::len(wd) == 4, "weights[", d, "]: expected (w_ih, w_hh, b_ih, b_hh)");
    p.w[d].w_ih = entry<B>(wd, 0, p.GH * I, "w_ih", p.device, false);
    p.w[d].w_hh = entry<B>(wd, 1, p.GH * H, "w_hh", p.device, false);
    p.w[d].b_ih = entry<B>(wd, 2, p.GH, "b_ih", p.device, true);
    p.w[d].b_hh = entry<B>(wd, 3, p.GH, "b_hh", p.device, true);
    FL_CHECK_ARG((p.w[d].b_ih == nullptr) == (p.w[d].b_hh == nullptr), "b_ih, b_hh: give both or neither");
  }
  if (!batch_sizes.is_none()) {
    auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(batch_sizes);
    FL_CHECK_ARG(a && a.ndim() == 1 && a.shape(0) == T, "batch_sizes: expected ", T, " integers");
    p.batch_sizes.assign(a.data(), a.data() + T);
    for (index_t t = 0; t < T; ++t) {
      FL_CHECK_ARG(p.batch_sizes[t] >= 0 && p.batch_sizes[t] <= Bn, "batch_sizes[", t, "] = ", p.batch_sizes[t],
                   " is outside [0, ", Bn, "]");
      FL_CHECK_ARG(t == 0 || p.batch_sizes[t] <= p.batch_sizes[t - 1], "batch_sizes: must be nonincreasing");
    }
  }
  return p;
}

template <class B>
void bind_rnn(py::module_& m) {
  using Buf = typename B::Buf;
  // Shapes: see rnn_layer_forward in ops/rnn.h. y (T, B, dirs*H); h_seq, c_seq dirs x (T+1, B, H)
  // (h0 in place on entry); gates None or dirs x (T, B, S*H).
  m.def(B::name("rnn_layer_forward").c_str(), [](RnnCell cell, index_t T, index_t Bn, index_t I, index_t H, Buf y,
                                                 Buf h_seq, py::object c_seq, py::object gates, Buf x,
                                                 py::sequence weights, py::object batch_sizes) {
    const Parsed p = parse_layer<B>(cell, T, Bn, I, H, x, weights, batch_sizes);
    auto vy = B::floats(y, "out", true), vh = B::floats(h_seq, "h_seq", true);
    check_size(vy, T * Bn * p.dirs * H, "out");
    check_size(vh, p.state_size(), "h_seq");
    const int dev = B::device(x, {&y, &h_seq});
    const bool lstm = cell == RnnCell::lstm;
    FL_CHECK_ARG(lstm != c_seq.is_none(), "c_seq: ", lstm ? "required for an lstm" : "only an lstm has a cell state");
    float* pc = B::opt_floats(c_seq, p.state_size(), "c_seq", dev, true).data;
    float* pg = B::opt_floats(gates, p.dirs * T * Bn * p.SH, "gates", dev, true).data;
    const float* px = B::floats(x, "input").data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      rnn_layer_forward_cuda(cell, p.s, p.dirs, vy.data, vh.data, pc, pg, px, p.w, p.bs(), B::stream());
    else
      rnn_layer_forward(cell, p.s, p.dirs, vy.data, vh.data, pc, pg, px, p.w, p.bs());
  });

  // grads: one (d_w_ih, d_w_hh, d_b_ih, d_b_hh) sequence per direction, entries None when not
  // wanted; dh, dc dirs x (B, H) in: gradients of h_n, c_n, out: of h0, c0.
  m.def(B::name("rnn_layer_backward").c_str(), [](RnnCell cell, index_t T, index_t Bn, index_t I, index_t H,
                                                  py::object dx, Buf dh, py::object dc, py::sequence grads,
                                                  bool accumulate, py::object dy, Buf x, py::sequence weights,
                                                  Buf h_seq, py::object c_seq, py::object gates,
                                                  py::object batch_sizes) {
    const Parsed p = parse_layer<B>(cell, T, Bn, I, H, x, weights, batch_sizes);
    const bool lstm = cell == RnnCell::lstm;
    const int dev = B::device(x, {&dh, &h_seq});
    float* pdx = B::opt_floats(dx, T * Bn * I, "grad_input", dev, true).data;
    auto vdh = B::floats(dh, "grad_h", true);
    check_size(vdh, p.dirs * Bn * H, "grad_h");
    FL_CHECK_ARG(lstm != dc.is_none(), "grad_c: ", lstm ? "required for an lstm" : "only an lstm has a cell state");
    float* pdc = B::opt_floats(dc, p.dirs * Bn * H, "grad_c", dev, true).data;
    FL_CHECK_ARG(static_cast<index_t>(py::len(grads)) == p.dirs, "grads: expected one entry per direction");
    RnnWeightGrads g[2] = {};
    for (index_t d = 0; d < p.dirs; ++d) {
      const py::sequence gd = grads[d];
      FL_CHECK_ARG(py::len(gd) == 4, "grads[", d, "]: expected (d_w_ih, d_w_hh, d_b_ih, d_b_hh)");
      g[d].w_ih = entry<B>(gd, 0, p.GH * I, "grad_w_ih", dev, true, true);
      g[d].w_hh = entry<B>(gd, 1, p.GH * H, "grad_w_hh", dev, true, true);
      g[d].b_ih = entry<B>(gd, 2, p.GH, "grad_b_ih", dev, true, true);
      g[d].b_hh = entry<B>(gd, 3, p.GH, "grad_b_hh", dev, true, true);
      FL_CHECK_ARG((g[d].b_ih == nullptr || p.w[d].b_ih) && (g[d].b_hh == nullptr || p.w[d].b_hh),
                   "grads: bias gradients for a layer without biases");
    }
    const float* pdy = B::opt_floats(dy, T * Bn * p.dirs * H, "grad_out", dev).data;
    auto vh = B::floats(h_seq, "h_seq");
    check_size(vh, p.state_size(), "h_seq");
    FL_CHECK_ARG(lstm != c_seq.is_none(), "c_seq: ", lstm ? "required for an lstm" : "only an lstm has a cell state");
    const float* pc = B::opt_floats(c_seq, p.state_size(), "c_seq", dev).data;
    FL_CHECK_ARG(p.SH == 0 || !gates.is_none(), "gates: required for this cell");
    const float* pg = B::opt_floats(gates, p.dirs * T * Bn * p.SH, "gates", dev).data;
    const float* px = B::floats(x, "input").data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      rnn_layer_backward_cuda(cell, p.s, p.dirs, pdx, vdh.data, pdc, g, accumulate, pdy, px, p.w, vh.data, pc, pg,
                              p.bs(), B::stream());
    else
      rnn_layer_backward(cell, p.s, p.dirs, pdx, vdh.data, pdc, g, accumulate, pdy, px, p.w, vh.data, pc, pg, p.bs());
  });

  // dst (T, B, C) <- src (None: zeros) in the layouts given, batch rows through perm (None or B
  // int64 of the backend), rows past batch_sizes (None or T int64 of the backend) zeroed.
  m.def(B::name("rnn_sequence_copy").c_str(), [](Buf dst, py::object src, index_t T, index_t Bn, index_t C,
                                                 bool src_batch_first, bool dst_batch_first, py::object perm,
                                                 py::object batch_sizes) {
    FL_CHECK_ARG(T >= 0 && Bn >= 0 && C >= 0, "rnn_sequence_copy: negative shape");
    const RnnSequenceCopy c{T, Bn, C, src_batch_first, dst_batch_first};
    auto vd = B::floats(dst, "out", true);
    check_size(vd, T * Bn * C, "out");
    const int dev = B::device(dst);
    const float* ps = B::opt_floats(src, T * Bn * C, "input", dev).data;
    FL_CHECK_ARG(!ps || ps + T * Bn * C <= vd.data || vd.data + T * Bn * C <= ps || T * Bn * C == 0,
                 "out: overlaps the input");
    const index_t* pp = B::opt_indices(perm, Bn, "perm", dev).data;
    const index_t* pb = B::opt_indices(batch_sizes, T, "batch_sizes", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) rnn_sequence_copy_cuda(vd.data, ps, c, pp, pb, B::stream());
    else rnn_sequence_copy(vd.data, ps, c, pp, pb);
  });
}

}  // namespace

void init_rnn(py::module_& m) {
  py::enum_<RnnCell>(m, "RnnCell", "The recurrent cells of fastlayers.functional.rnn (ops/rnn.h)")
      .value("rnn_tanh", RnnCell::rnn_tanh)
      .value("rnn_relu", RnnCell::rnn_relu)
      .value("lstm", RnnCell::lstm)
      .value("gru", RnnCell::gru);
  m.def("rnn_gates", [](RnnCell c) { return rnn_gates(c); });
  m.def("rnn_saved_parts", [](RnnCell c) { return rnn_saved_parts(c); });
  FL_BIND_BOTH_BACKENDS(bind_rnn, m);
}

}  // namespace fl
