// Reference loss kernels: plain loops with double accumulators over the (N, C, D) layout of
// ops/loss.h. The scalar ISA level, the oracle of the vector cross-entropy kernels, and the
// kernels of MSE and BCE-with-logits at every level (memory-bound loops the compiler
// vectorises; see loss.h for the formulas).
#include <cmath>
#include <limits>

#include "ops/loss.h"

namespace fl {
namespace {

// max, log(sum exp(x - max)) of the C logits x[c * D] of one row.
struct RowStats {
  float m;
  double ls;
};
RowStats row_stats(const float* xr, index_t C, index_t D) {
  float m = -std::numeric_limits<float>::infinity();
  for (index_t c = 0; c < C; ++c) m = std::fmax(m, xr[c * D]);
  double s = 0.0;
  for (index_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(xr[c * D]) - m);
  return {m, std::log(s)};
}

double weight_sum(const float* w, index_t C) {
  double W = 0.0;
  for (index_t c = 0; c < C; ++c) W += w ? w[c] : 1.0;
  return W;
}

void ce_forward_ref(float* loss, float* lse, const float* x, const std::int64_t* target, const CeBlock& b,
                    const CeOptions& o) {
  const double eps = o.label_smoothing;
  const index_t C = b.C, D = b.D;
  const float* w = o.weight;
  for (index_t n = 0; n < b.N; ++n)
    for (index_t j = 0; j < b.width; ++j) {
      const index_t r = n * D + j;
      const float* xr = x + n * C * D + j;
      const std::int64_t t = target[r];
      if (t == o.ignore_index) {
        loss[r] = lse[r] = 0.0f;
        continue;
      }
      const RowStats st = row_stats(xr, C, D);
      lse[r] = static_cast<float>(st.m + st.ls);
      if (!w) {
        // without smoothing the sum of x is left out: a -inf logit would make it 0 * inf = NaN
        double sx = 0.0;
        for (index_t c = 0; eps != 0.0 && c < C; ++c) sx += xr[c * D];
        const double smooth = eps != 0.0 ? eps * (st.m - sx / C) : 0.0;
        loss[r] = static_cast<float>(st.ls + (1.0 - eps) * (st.m - xr[t * D]) + smooth);
        continue;
      }
      double smooth = 0.0;
      if (eps != 0.0) {  // (eps / C) sum_c w_c (lse - x_c) = (eps / C) (W ls + sum_c w_c (m - x_c))
        double sw = 0.0, W = 0.0;
        for (index_t c = 0; c < C; ++c) {
          sw += static_cast<double>(w[c]) * (st.m - xr[c * D]);
          W += w[c];
        }
        smooth = eps / C * (W * st.ls + sw);
      }
      loss[r] = static_cast<float>((1.0 - eps) * w[t] * (st.ls + (st.m - xr[t * D])) + smooth);
    }
}

void ce_backward_ref(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                     float scale, const CeBlock& b, const CeOptions& o) {
  const float eps = o.label_smoothing;
  const index_t C = b.C, D = b.D;
  const float* w = o.weight;
  const float W = w && eps != 0.0f ? static_cast<float>(weight_sum(w, C)) : 0.0f;
  for (index_t n = 0; n < b.N; ++n)
    for (index_t j = 0; j < b.width; ++j) {
      const index_t r = n * D + j;
      float* d = dx + n * C * D + j;
      const float* xr = x + n * C * D + j;
      const std::int64_t t = target[r];
      if (t == o.ignore_index) {
        for (index_t c = 0; c < C; ++c) d[c * D] = 0.0f;
        continue;
      }
      const float s = grad ? scale * grad[r] : scale;
      if (!w) {
        for (index_t c = 0; c < C; ++c) d[c * D] = s * (std::exp(xr[c * D] - lse[r]) - eps / C);
        d[t * D] -= s * (1.0f - eps);
        continue;
      }
      const float a = (1.0f - eps) * w[t] + eps / C * W;
      for (index_t c = 0; c < C; ++c) d[c * D] = s * (a * std::exp(xr[c * D] - lse[r]) - eps / C * w[c]);
      d[t * D] -= s * (1.0f - eps) * w[t];
    }
}

// t'_c of a probability target with smoothing eps.
inline double smoothed(float t, double eps, index_t C) { return eps != 0.0 ? (1.0 - eps) * t + eps / C : t; }

void ce_soft_forward_ref(float* loss, float* lse, const float* x, const float* t, const CeBlock& b,
                         const CeOptions& o) {
  const double eps = o.label_smoothing;
  const index_t C = b.C, D = b.D;
  for (index_t n = 0; n < b.N; ++n)
    for (index_t j = 0; j < b.width; ++j) {
      const index_t r = n * D + j, off = n * C * D + j;
      const RowStats st = row_stats(x + off, C, D);
      lse[r] = static_cast<float>(st.m + st.ls);
      // sum_c w_c t'_c (lse - x_c) = sum_c w_c t'_c (m - x_c) + ls sum_c w_c t'_c: two sums of
      // non-negative terms (no cancellation for large logits)
      double s1 = 0.0, s2 = 0.0;
      for (index_t c = 0; c < C; ++c) {
        const double wt = (o.weight ? o.weight[c] : 1.0) * smoothed(t[off + c * D], eps, C);
        s1 += wt * (st.m - x[off + c * D]);
        s2 += wt;
      }
      loss[r] = static_cast<float>(s1 + st.ls * s2);
    }
}

void ce_soft_backward_ref(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                          float scale, const CeBlock& b, const CeOptions& o) {
  const double eps = o.label_smoothing;
  const index_t C = b.C, D = b.D;
  for (index_t n = 0; n < b.N; ++n)
    for (index_t j = 0; j < b.width; ++j) {
      const index_t r = n * D + j, off = n * C * D + j;
      double S = 0.0;
      for (index_t c = 0; c < C; ++c) S += (o.weight ? o.weight[c] : 1.0) * smoothed(t[off + c * D], eps, C);
      const float s = grad ? scale * grad[r] : scale, Sf = static_cast<float>(S);
      for (index_t c = 0; c < C; ++c) {
        const float wt = static_cast<float>((o.weight ? o.weight[c] : 1.0) * smoothed(t[off + c * D], eps, C));
        dx[off + c * D] = s * (std::exp(x[off + c * D] - lse[r]) * Sf - wt);
      }
    }
}

double mse_forward_ref(float* loss, const float* x, const float* y, const PointWeights&, index_t n) {
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const float d = x[i] - y[i];
    if (loss) loss[i] = d * d;
    sum += d * d;
  }
  return sum;
}

void mse_backward_ref(float* dx, const float* x, const float* y, const float* grad, float scale, const PointWeights&,
                      index_t n) {
  for (index_t i = 0; i < n; ++i) dx[i] = (grad ? scale * grad[i] : scale) * (2.0f * (x[i] - y[i]));
}

// log(1 + exp(x)) - x y written as max(x, 0) - x y + log1p(exp(-|x|)): no overflow for any x.
// With pos_weight p (PyTorch's form): (1 - y) x + (1 + (p - 1) y) (log1p(exp(-|x|)) + max(-x, 0)).
double bce_forward_ref(float* loss, const float* x, const float* y, const PointWeights& w, index_t n) {
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const float sp = std::log1p(std::exp(-std::fabs(x[i])));
    float l;
    if (w.pos_weight) {
      const float lw = 1.0f + (w.pos_weight[i] - 1.0f) * y[i];
      l = (1.0f - y[i]) * x[i] + lw * (sp + std::fmax(-x[i], 0.0f));
    } else {
      l = std::fmax(x[i], 0.0f) - x[i] * y[i] + sp;
    }
    if (w.weight) l *= w.weight[i];
    if (loss) loss[i] = l;
    sum += l;
  }
  return sum;
}

void bce_backward_ref(float* dx, const float* x, const float* y, const float* grad, float scale,
                      const PointWeights& w, index_t n) {
  for (index_t i = 0; i < n; ++i) {
    const float e = std::exp(-std::fabs(x[i]));
    const float sig = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    float d;
    if (w.pos_weight) {
      const float py = w.pos_weight[i] * y[i];
      d = (py + 1.0f - y[i]) * sig - py;
    } else {
      d = sig - y[i];
    }
    if (w.weight) d *= w.weight[i];
    dx[i] = (grad ? scale * grad[i] : scale) * d;
  }
}

}  // namespace

void register_loss_ref(LossKernels& t) {
  t.ce_forward = ce_forward_ref;
  t.ce_backward = ce_backward_ref;
  t.ce_soft_forward = ce_soft_forward_ref;
  t.ce_soft_backward = ce_soft_backward_ref;
  t.mse_forward = mse_forward_ref;
  t.mse_backward = mse_backward_ref;
  t.bce_forward = bce_forward_ref;
  t.bce_backward = bce_backward_ref;
}

}  // namespace fl
