// Reference loss kernels: plain loops with double accumulators. The scalar ISA level, the
// oracle of the vector cross-entropy kernels, and the kernels of MSE and BCE-with-logits at
// every level (memory-bound loops the compiler vectorises; see loss.h for the formulas).
#include <cmath>
#include <limits>

#include "ops/loss.h"

namespace fl {
namespace {

void ce_forward_ref(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows, index_t C,
                    const CeOptions& o) {
  const double eps = o.label_smoothing;
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    if (target[r] == o.ignore_index) {
      loss[r] = lse[r] = 0.0f;
      continue;
    }
    float m = -std::numeric_limits<float>::infinity();
    for (index_t c = 0; c < C; ++c) m = std::fmax(m, xr[c]);
    double s = 0.0, sx = 0.0;
    for (index_t c = 0; c < C; ++c) {
      s += std::exp(static_cast<double>(xr[c]) - m);
      sx += xr[c];
    }
    const double ls = std::log(s);
    lse[r] = static_cast<float>(m + ls);
    // without smoothing the sum of x is left out: a -inf logit would make it 0 * inf = NaN
    const double smooth = eps != 0.0 ? eps * (m - sx / C) : 0.0;
    loss[r] = static_cast<float>(ls + (1.0 - eps) * (m - xr[target[r]]) + smooth);
  }
}

void ce_backward_ref(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                     float scale, index_t rows, index_t C, const CeOptions& o) {
  const float eps = o.label_smoothing;
  for (index_t r = 0; r < rows; ++r) {
    float* d = dx + r * C;
    const float* xr = x + r * C;
    if (target[r] == o.ignore_index) {
      for (index_t c = 0; c < C; ++c) d[c] = 0.0f;
      continue;
    }
    const float s = grad ? scale * grad[r] : scale;
    for (index_t c = 0; c < C; ++c) d[c] = s * (std::exp(xr[c] - lse[r]) - eps / C);
    d[target[r]] -= s * (1.0f - eps);
  }
}

double mse_forward_ref(float* loss, const float* x, const float* y, index_t n) {
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const float d = x[i] - y[i];
    if (loss) loss[i] = d * d;
    sum += d * d;
  }
  return sum;
}

void mse_backward_ref(float* dx, const float* x, const float* y, const float* grad, float scale, index_t n) {
  for (index_t i = 0; i < n; ++i) dx[i] = (grad ? scale * grad[i] : scale) * (2.0f * (x[i] - y[i]));
}

// log(1 + exp(x)) - x y written as max(x, 0) - x y + log1p(exp(-|x|)): no overflow for any x.
double bce_forward_ref(float* loss, const float* x, const float* y, index_t n) {
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const float l = std::fmax(x[i], 0.0f) - x[i] * y[i] + std::log1p(std::exp(-std::fabs(x[i])));
    if (loss) loss[i] = l;
    sum += l;
  }
  return sum;
}

void bce_backward_ref(float* dx, const float* x, const float* y, const float* grad, float scale, index_t n) {
  for (index_t i = 0; i < n; ++i) {
    const float e = std::exp(-std::fabs(x[i]));
    const float sig = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    dx[i] = (grad ? scale * grad[i] : scale) * (sig - y[i]);
  }
}

}  // namespace

void register_loss_ref(LossKernels& t) {
  t.ce_forward = ce_forward_ref;
  t.ce_backward = ce_backward_ref;
  t.mse_forward = mse_forward_ref;
  t.mse_backward = mse_backward_ref;
  t.bce_forward = bce_forward_ref;
  t.bce_backward = bce_backward_ref;
}

}  // namespace fl
