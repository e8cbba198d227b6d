// Bindings of the optim family, both backends (bindings/backend.h): sgd_step and adam_step,
// and cuda_<op> of each. One call updates every parameter of a group (lists of buffers), so a
// training step pays one Python -> C++ crossing, not one per parameter; each parameter still
// gets its own fused single-pass kernel. Views are checked with the GIL held, then the updates
// run without it (on the GPU, queued on the stream of the group's device).
#include <vector>

#include "bindings/backend.h"
#include "cuda/optim.cuh"
#include "ops/optim.h"

namespace fl {
namespace {

// One parameter's update: p and its gradient g, and up to three state buffers
// (SGD: a = momentum buffer or null; Adam: a = exp_avg, b = exp_avg_sq, c = max_exp_avg_sq or null).
struct Slot {
  float *p, *a, *b, *c;
  const float* g;
  index_t n;
  long long step;
  bool first;
};

void check_lengths(const py::list& params, std::initializer_list<const py::list*> others) {
  for (const py::list* l : others)
    FL_CHECK_ARG(l->size() == params.size(), "optimizer state: expected ", params.size(), " entries, got ",
                 l->size());
}

// Buffer i of a list: n floats on `device` (null for None when optional).
template <class B>
float* state_at(const py::list& l, size_t i, const char* name, index_t n, int device, bool optional) {
  if (optional && l[i].is_none()) return nullptr;
  FloatView v = B::floats_at(l[i], name, true);
  check_size(v, n, name);
  if (B::device_at(l[i]) != device) throw type_error(str_cat(name, ": on another device than its parameter"));
  return v.data;
}

// The group's parameter and gradient views; all parameters on one device (returned in *device).
template <class B>
Slot param_slot(const py::list& params, const py::list& grads, size_t i, int* device) {
  FloatView p = B::floats_at(params[i], "param", true), g = B::floats_at(grads[i], "grad");
  check_size(g, p.size, "grad");
  const int dev = B::device_at(params[i]);
  if (i == 0) *device = dev;
  if (dev != *device || B::device_at(grads[i]) != dev)
    throw type_error("params: a parameter group spans several devices");
  return {p.data, nullptr, nullptr, nullptr, g.data, p.size, 0, false};
}

template <class B>
void bind_optim(py::module_& m) {
  m.def(B::name("sgd_step").c_str(), [](py::list params, py::list grads, py::list bufs, py::list first, float lr,
                                        float momentum, float dampening, float weight_decay, bool nesterov) {
    check_lengths(params, {&grads, &bufs, &first});
    std::vector<Slot> slots;
    int dev = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      Slot s = param_slot<B>(params, grads, i, &dev);
      s.a = state_at<B>(bufs, i, "momentum_buffer", s.n, dev, true);
      s.first = first[i].cast<bool>();
      slots.push_back(s);
    }
    if (slots.empty()) return;
    typename B::Scope scope(dev);
    for (const Slot& s : slots) {
      const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, s.first};
      if constexpr (B::kCudaKernels) sgd_update_cuda(s.p, s.a, s.g, s.n, h, B::stream());
      else sgd_update(s.p, s.a, s.g, s.n, h);
    }
  });
  m.def(B::name("adam_step").c_str(), [](py::list params, py::list grads, py::list ms, py::list vs, py::list vmaxs,
                                         py::list steps, double lr, double beta1, double beta2, double eps,
                                         double weight_decay, bool decoupled) {
    check_lengths(params, {&grads, &ms, &vs, &vmaxs, &steps});
    std::vector<Slot> slots;
    int dev = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      Slot s = param_slot<B>(params, grads, i, &dev);
      s.a = state_at<B>(ms, i, "exp_avg", s.n, dev, false);
      s.b = state_at<B>(vs, i, "exp_avg_sq", s.n, dev, false);
      s.c = state_at<B>(vmaxs, i, "max_exp_avg_sq", s.n, dev, true);
      s.step = steps[i].cast<long long>();
      FL_CHECK_ARG(s.step >= 1, "step: expected >= 1, got ", s.step);
      slots.push_back(s);
    }
    if (slots.empty()) return;
    typename B::Scope scope(dev);
    for (const Slot& s : slots) {
      const AdamHyper h = adam_hyper(lr, beta1, beta2, eps, weight_decay, decoupled, s.step);
      if constexpr (B::kCudaKernels) adam_update_cuda(s.p, s.a, s.b, s.c, s.g, s.n, h, B::stream());
      else adam_update(s.p, s.a, s.b, s.c, s.g, s.n, h);
    }
  });
}

}  // namespace

void init_optim(py::module_& m) { FL_BIND_BOTH_BACKENDS(bind_optim, m); }

}  // namespace fl
