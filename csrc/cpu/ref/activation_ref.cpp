// Reference activation kernels: plain loops over the C library's float functions.
// They are the algorithmic reference the vector kernels are tested against, and the
// scalar ISA level (FASTLAYERS_ISA=scalar) and non-x86 fallback.
#include <cmath>
#include <limits>

#include "ops/activation.h"

namespace fl {
namespace {

constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluK0 = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluK1 = 0.044715f;

float sigmoid1(float x) {
  const float e = std::exp(-std::fabs(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}
float gelu1(float x) { return 0.5f * x * std::erfc(-x * kSqrt1_2); }
// 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation in the negative tail.
float gelu_tanh1(float x) { return x * sigmoid1(2.0f * kGeluK0 * (x + kGeluK1 * x * x * x)); }

void sigmoid_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = sigmoid1(x[i]);
}
void tanh_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void relu_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = (x[i] > 0.0f || std::isnan(x[i])) ? x[i] : 0.0f;
}
void leaky_fwd(float* y, const float* x, index_t n, float a) {
  for (index_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
}
void elu_fwd(float* y, const float* x, index_t n, float a) {
  for (index_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : a * std::expm1(x[i]);
}
void gelu_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = gelu1(x[i]);
}
void gelu_tanh_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = gelu_tanh1(x[i]);
}
void silu_fwd(float* y, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid1(x[i]);
}

void sigmoid_bwd(float* dx, const float* dy, const float* y, index_t n, float) {
  for (index_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
void tanh_bwd(float* dx, const float* dy, const float* y, index_t n, float) {
  for (index_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
void relu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}
void leaky_bwd(float* dx, const float* dy, const float* x, index_t n, float a) {
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : a * dy[i];
}
void elu_bwd(float* dx, const float* dy, const float* x, index_t n, float a) {
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * a * std::exp(x[i]);
}
void gelu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) {
    const float cdf = 0.5f * std::erfc(-x[i] * kSqrt1_2);
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}
void gelu_tanh_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) {
    const float v = x[i];
    // d/dx x s(2u) = s + 2 x s (1 - s) u',  u' = k0 (1 + 3 k1 x^2)
    const float s = sigmoid1(2.0f * kGeluK0 * (v + kGeluK1 * v * v * v));
    const float du = kGeluK0 * (1.0f + 3.0f * kGeluK1 * v * v);
    dx[i] = dy[i] * (s + 2.0f * v * s * (1.0f - s) * du);
  }
}

// d/dx x s(x) = s (1 + x (1 - s))
void silu_bwd(float* dx, const float* dy, const float* x, index_t n, float) {
  for (index_t i = 0; i < n; ++i) {
    const float s = sigmoid1(x[i]);
    dx[i] = dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
  }
}

void softmax_fwd(float* y, const float* x, index_t n, index_t stride, index_t width, bool log) {
  for (index_t j = 0; j < width; ++j) {
    float m = -std::numeric_limits<float>::infinity();
    for (index_t i = 0; i < n; ++i) m = std::fmax(m, x[i * stride + j]);
    double sum = 0.0;
    for (index_t i = 0; i < n; ++i) sum += std::exp(x[i * stride + j] - m);
    bool any_nan = false;
    for (index_t i = 0; i < n; ++i) any_nan |= std::isnan(x[i * stride + j]);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    if (log) {
      const float ls = static_cast<float>(std::log(sum));
      for (index_t i = 0; i < n; ++i) y[i * stride + j] = any_nan ? nan : (x[i * stride + j] - m) - ls;
    } else {
      const float inv = static_cast<float>(1.0 / sum);
      for (index_t i = 0; i < n; ++i) y[i * stride + j] = any_nan ? nan : std::exp(x[i * stride + j] - m) * inv;
    }
  }
}
void softmax_rows(float* y, const float* x, index_t rows, index_t n, bool log, bool) {
  for (index_t r = 0; r < rows; ++r) softmax_fwd(y + r * n, x + r * n, n, 1, 1, log);
}
void softmax_bwd(float* dx, const float* dy, const float* y, index_t n, index_t stride, index_t width, bool log) {
  for (index_t j = 0; j < width; ++j) {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) s += log ? dy[i * stride + j] : dy[i * stride + j] * y[i * stride + j];
    const float sf = static_cast<float>(s);
    for (index_t i = 0; i < n; ++i) {
      const index_t k = i * stride + j;
      dx[k] = log ? dy[k] - std::exp(y[k]) * sf : y[k] * (dy[k] - sf);
    }
  }
}

// Index of the first maximum of x[0], x[step], ... (pieces values); NaN wins.
index_t maxout_winner(const float* x, index_t pieces, index_t step) {
  index_t w = 0;
  float m = x[0];
  for (index_t k = 1; k < pieces; ++k) {
    const float v = x[k * step];
    if (std::isnan(m)) break;
    if (v > m || std::isnan(v)) { m = v; w = k; }
  }
  return w;
}
}  // namespace

void maxout_forward_ref(float* y, const float* x, index_t cout, index_t pieces, index_t inner) {
  for (index_t c = 0; c < cout; ++c)
    for (index_t j = 0; j < inner; ++j) {
      const float* xc = x + c * pieces * inner + j;
      y[c * inner + j] = xc[maxout_winner(xc, pieces, inner) * inner];
    }
}
void maxout_backward_ref(float* dx, const float* dy, const float* x, index_t cout, index_t pieces, index_t inner) {
  for (index_t c = 0; c < cout; ++c)
    for (index_t j = 0; j < inner; ++j) {
      const float* xc = x + c * pieces * inner + j;
      const index_t w = maxout_winner(xc, pieces, inner);
      for (index_t k = 0; k < pieces; ++k) dx[(c * pieces + k) * inner + j] = k == w ? dy[c * inner + j] : 0.0f;
    }
}

void register_activation_ref(ActivationKernels& t) {
  t.forward[int(ActOp::sigmoid)] = sigmoid_fwd;
  t.forward[int(ActOp::tanh)] = tanh_fwd;
  t.forward[int(ActOp::relu)] = relu_fwd;
  t.forward[int(ActOp::leaky_relu)] = leaky_fwd;
  t.forward[int(ActOp::elu)] = elu_fwd;
  t.forward[int(ActOp::gelu)] = gelu_fwd;
  t.forward[int(ActOp::gelu_tanh)] = gelu_tanh_fwd;
  t.forward[int(ActOp::silu)] = silu_fwd;
  t.backward[int(ActOp::sigmoid)] = sigmoid_bwd;
  t.backward[int(ActOp::tanh)] = tanh_bwd;
  t.backward[int(ActOp::relu)] = relu_bwd;
  t.backward[int(ActOp::leaky_relu)] = leaky_bwd;
  t.backward[int(ActOp::elu)] = elu_bwd;
  t.backward[int(ActOp::gelu)] = gelu_bwd;
  t.backward[int(ActOp::gelu_tanh)] = gelu_tanh_bwd;
  t.backward[int(ActOp::silu)] = silu_bwd;
  t.softmax_forward = softmax_fwd;
  t.softmax_rows = softmax_rows;
  t.softmax_backward = softmax_bwd;
  t.maxout_forward = maxout_forward_ref;
  t.maxout_backward = maxout_backward_ref;
}

}  // namespace fl
