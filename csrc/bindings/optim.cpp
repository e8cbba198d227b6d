// Bindings of the optim family. One call updates every parameter of a group (lists of
// arrays), so a training step pays one Python -> C++ crossing, not one per parameter; each
// parameter still gets its own fused single-pass kernel. Views are checked with the GIL
// held, then the updates run without it.
#include <cmath>
#include <vector>

#include "bindings/array.h"
#include "ops/optim.h"

namespace fl {
namespace {

// One parameter's update: p and its gradient g, and up to three state arrays
// (SGD: a = momentum buffer or null; Adam: a = exp_avg, b = exp_avg_sq, c = max_exp_avg_sq or null).
struct Slot {
  float *p, *a, *b, *c;
  const float* g;
  index_t n;
  long long step;
  bool first;
};

FloatView state_view(const py::handle& h, const char* name, index_t n) {
  auto v = float_view(py::reinterpret_borrow<py::array>(h), name, true);
  check_size(v, n, name);
  return v;
}

void check_lengths(const py::list& params, std::initializer_list<const py::list*> others) {
  for (const py::list* l : others)
    FL_CHECK_ARG(l->size() == params.size(), "optimizer state: expected ", params.size(), " entries, got ",
                 l->size());
}

}  // namespace

void init_optim(py::module_& m) {
  m.def("sgd_step", [](py::list params, py::list grads, py::list bufs, py::list first, float lr, float momentum,
                       float dampening, float weight_decay, bool nesterov) {
    check_lengths(params, {&grads, &bufs, &first});
    std::vector<Slot> slots;
    for (size_t i = 0; i < params.size(); ++i) {
      auto p = float_view(params[i].cast<py::array>(), "param", true);
      auto g = float_view(grads[i].cast<py::array>(), "grad");
      check_size(g, p.size, "grad");
      float* buf = bufs[i].is_none() ? nullptr : state_view(bufs[i], "momentum_buffer", p.size).data;
      slots.push_back({p.data, buf, nullptr, nullptr, g.data, p.size, 0, first[i].cast<bool>()});
    }
    py::gil_scoped_release nogil;
    for (const Slot& s : slots) {
      const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, s.first};
      sgd_update(s.p, s.a, s.g, s.n, h);
    }
  });
  m.def("adam_step", [](py::list params, py::list grads, py::list ms, py::list vs, py::list vmaxs, py::list steps,
                        double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
    check_lengths(params, {&grads, &ms, &vs, &vmaxs, &steps});
    std::vector<Slot> slots;
    for (size_t i = 0; i < params.size(); ++i) {
      auto p = float_view(params[i].cast<py::array>(), "param", true);
      auto g = float_view(grads[i].cast<py::array>(), "grad");
      check_size(g, p.size, "grad");
      float* mv = state_view(ms[i], "exp_avg", p.size).data;
      float* vv = state_view(vs[i], "exp_avg_sq", p.size).data;
      float* vmax = vmaxs[i].is_none() ? nullptr : state_view(vmaxs[i], "max_exp_avg_sq", p.size).data;
      const long long step = steps[i].cast<long long>();
      FL_CHECK_ARG(step >= 1, "step: expected >= 1, got ", step);
      slots.push_back({p.data, mv, vv, vmax, g.data, p.size, step, false});
    }
    py::gil_scoped_release nogil;
    for (const Slot& s : slots) {
      // Bias corrections in double, as torch.optim computes them in Python.
      const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(s.step));
      const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(s.step));
      const AdamHyper h{static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(eps),
                        static_cast<float>(weight_decay), static_cast<float>(1.0 - lr * weight_decay),
                        static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), decoupled};
      adam_update(s.p, s.a, s.b, s.c, s.g, s.n, h);
    }
  });
}

}  // namespace fl
