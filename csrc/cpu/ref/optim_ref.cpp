// Reference optimizer updates: plain loops, term by term in PyTorch's order (see optim.h).
// The scalar ISA level and the oracle the vector kernels are tested against.
#include <algorithm>
#include <cmath>

#include "ops/optim.h"

namespace fl {
namespace {

void sgd_ref(float* p, float* buf, const float* g, index_t n, const SgdHyper& h) {
  for (index_t i = 0; i < n; ++i) {
    float d = h.weight_decay != 0.0f ? g[i] + h.weight_decay * p[i] : g[i];
    if (buf) {
      const float b = h.first_step ? d : h.momentum * buf[i] + (1.0f - h.dampening) * d;
      buf[i] = b;
      d = h.nesterov ? d + h.momentum * b : b;
    }
    p[i] -= h.lr * d;
  }
}

void adam_ref(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const AdamHyper& h) {
  for (index_t i = 0; i < n; ++i) {
    float pi = p[i], gi = g[i];
    if (h.decoupled) pi *= h.decay_factor;
    else if (h.weight_decay != 0.0f) gi += h.weight_decay * pi;
    const float mi = m[i] + (1.0f - h.beta1) * (gi - m[i]);
    const float vi = h.beta2 * v[i] + (1.0f - h.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float vd = vi;
    if (vmax) vd = vmax[i] = std::max(vmax[i], vi);
    const float denom = std::sqrt(vd) / h.bc2_sqrt + h.eps;
    p[i] = pi - h.step_size * (mi / denom);
  }
}

}  // namespace

void register_optim_ref(OptimKernels& t) {
  t.sgd_update = sgd_ref;
  t.adam_update = adam_ref;
}

}  // namespace fl
