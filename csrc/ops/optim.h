// The optim family: fused optimizer updates, one pass over each parameter.
// Each kernel reads the gradient and its state once and writes the parameter and state
// once, where an unfused step (PyTorch's single-tensor CPU path) makes 4-7 passes.
//
// Semantics are PyTorch's torch.optim (non-foreach, non-capturable):
//   SGD   d = g + wd p;  buf = d (first step) or momentum buf + (1 - dampening) d;
//         d = nesterov ? d + momentum buf : buf (when momentum != 0);  p -= lr d
//   Adam  g += wd p (Adam) or p *= 1 - lr wd (AdamW, decoupled);  m += (1 - b1)(g - m);
//         v = b2 v + (1 - b2) g^2;  vmax = max(vmax, v) (amsgrad);
//         p -= step_size m / (sqrt(v or vmax) / bc2_sqrt + eps),
//         step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t) (computed by the caller in double)
#pragma once
#include <cmath>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct SgdHyper {
  float lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first_step;  // momentum buffer is initialised to d on the first step
};

struct AdamHyper {
  float beta1, beta2, eps, weight_decay;
  float decay_factor;  // AdamW: 1 - lr * weight_decay, applied to p first; Adam: 1
  float step_size;     // lr / (1 - beta1^t)
  float bc2_sqrt;      // sqrt(1 - beta2^t)
  bool decoupled;      // AdamW: weight decay on p, not added to g
};

// Contract: p, g (and buf, m, v, vmax when given) are n contiguous floats; any n >= 0, no
// alignment. buf == nullptr means momentum == 0. vmax == nullptr means amsgrad off.
using SgdUpdateFn = void (*)(float* p, float* buf, const float* g, index_t n, const SgdHyper& h);
using AdamUpdateFn = void (*)(float* p, float* m, float* v, float* vmax, const float* g, index_t n,
                              const AdamHyper& h);

struct OptimKernels {
  SgdUpdateFn sgd_update;
  AdamUpdateFn adam_update;
};

extern KernelTables<OptimKernels> g_optim_kernels;
void register_optim_ref(OptimKernels& t);
void register_optim_avx2(OptimKernels& t);
void register_optim_avx512(OptimKernels& t);

// ---- drivers: split one parameter's range over threads ----
void sgd_update(float* p, float* buf, const float* g, index_t n, const SgdHyper& h);
void adam_update(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const AdamHyper& h);

// The AdamHyper of step `step` (>= 1): bias corrections in double, as torch.optim computes them.
inline AdamHyper adam_hyper(double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                            long long step) {
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  return AdamHyper{static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(eps),
                   static_cast<float>(weight_decay), static_cast<float>(1.0 - lr * weight_decay),
                   static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), decoupled};
}

}  // namespace fl
