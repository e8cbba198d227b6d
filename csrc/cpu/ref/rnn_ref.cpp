// Reference RNN gate kernels: plain loops over rows and units with the C library's math, the
// oracle the vector kernels (ukernels/rnn_impl.h) are tested against and the scalar level.
// Contract: ops/rnn.h (RnnForwardArgs, RnnBackwardArgs). Equations (PyTorch's):
//   rnn:  h = act(a), a = xw + hw                        (act: tanh or relu)
//   lstm: i, f, o = sigmoid(.), g = tanh(.), c = f c_prev + i g, h = o tanh(c)
//   gru:  r, z = sigmoid(xw + hw), hn = hw_n + b_hn, n = tanh(xw_n + r hn), h = (1 - z) n + z h_prev
#include <cmath>

#include "ops/rnn.h"

namespace fl {

namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

template <bool kRelu>
void rnn_forward_ref(const RnnForwardArgs& a) {
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * a.H;
    const float* hw = a.hw + r * a.H;
    for (index_t j = 0; j < a.n; ++j) {
      const float v = xw[j] + hw[j];
      const float h = kRelu ? (v > 0.0f ? v : (v == v ? 0.0f : v)) : std::tanh(v);
      a.h[r * a.H + j] = h;
      if (a.y) a.y[r * a.ld_y + j] = h;
    }
  }
}

template <bool kRelu>
void rnn_backward_ref(const RnnBackwardArgs& a) {
  for (index_t r = 0; r < a.rows; ++r) {
    for (index_t j = 0; j < a.n; ++j) {
      const float g = (a.dy ? a.dy[r * a.ld_dy + j] : 0.0f) + a.dh[r * a.H + j];
      const float h = a.h[r * a.H + j];
      a.dgx[r * a.H + j] = kRelu ? (h > 0.0f ? g : 0.0f) : g * (1.0f - h * h);
    }
  }
}

void lstm_forward_ref(const RnnForwardArgs& a) {
  const index_t H = a.H, GH = 4 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    for (index_t j = 0; j < a.n; ++j) {
      const float i = sigmoid(xw[j] + hw[j]);
      const float f = sigmoid(xw[H + j] + hw[H + j]);
      const float g = std::tanh(xw[2 * H + j] + hw[2 * H + j]);
      const float o = sigmoid(xw[3 * H + j] + hw[3 * H + j]);
      const float c = f * a.c_prev[r * H + j] + i * g;
      const float h = o * std::tanh(c);
      a.c[r * H + j] = c;
      a.h[r * H + j] = h;
      if (a.y) a.y[r * a.ld_y + j] = h;
      if (a.gates) {
        float* s = a.gates + r * GH + j;
        s[0] = i, s[H] = f, s[2 * H] = g, s[3 * H] = o;
      }
    }
  }
}

void lstm_backward_ref(const RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 4 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* s = a.gates + r * GH;
    float* dg = a.dgx + r * GH;
    for (index_t j = 0; j < a.n; ++j) {
      const float i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];
      const float dh = (a.dy ? a.dy[r * a.ld_dy + j] : 0.0f) + a.dh[r * H + j];
      const float tc = std::tanh(a.c[r * H + j]);
      const float dc = a.dc[r * H + j] + dh * o * (1.0f - tc * tc);
      dg[j] = dc * g * i * (1.0f - i);
      dg[H + j] = dc * a.c_prev[r * H + j] * f * (1.0f - f);
      dg[2 * H + j] = dc * i * (1.0f - g * g);
      dg[3 * H + j] = dh * tc * o * (1.0f - o);
      a.dc[r * H + j] = dc * f;
    }
  }
}

void gru_forward_ref(const RnnForwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    for (index_t j = 0; j < a.n; ++j) {
      const float rg = sigmoid(xw[j] + hw[j]);
      const float z = sigmoid(xw[H + j] + hw[H + j]);
      const float hn = hw[2 * H + j] + (a.b_hn ? a.b_hn[j] : 0.0f);
      const float n = std::tanh(xw[2 * H + j] + rg * hn);
      const float h = (1.0f - z) * n + z * a.h_prev[r * H + j];
      a.h[r * H + j] = h;
      if (a.y) a.y[r * a.ld_y + j] = h;
      if (a.gates) {
        float* s = a.gates + r * 4 * H + j;
        s[0] = rg, s[H] = z, s[2 * H] = n, s[3 * H] = hn;
      }
    }
  }
}

void gru_backward_ref(const RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* s = a.gates + r * 4 * H;
    float* dgx = a.dgx + r * GH;
    float* dgh = a.dgh + r * GH;
    for (index_t j = 0; j < a.n; ++j) {
      const float rg = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j];
      const float dh = (a.dy ? a.dy[r * a.ld_dy + j] : 0.0f) + a.dh[r * H + j];
      const float dn = dh * (1.0f - z) * (1.0f - n * n);
      const float dz = dh * (a.h_prev[r * H + j] - n) * z * (1.0f - z);
      const float dr = dn * hn * rg * (1.0f - rg);
      dgx[j] = dgh[j] = dr;
      dgx[H + j] = dgh[H + j] = dz;
      dgx[2 * H + j] = dn;
      dgh[2 * H + j] = dn * rg;
      a.dh[r * H + j] = dh * z;
    }
  }
}

}  // namespace

void register_rnn_ref(RnnKernels& t) {
  t.forward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_forward_ref<false>;
  t.forward[static_cast<int>(RnnCell::rnn_relu)] = rnn_forward_ref<true>;
  t.forward[static_cast<int>(RnnCell::lstm)] = lstm_forward_ref;
  t.forward[static_cast<int>(RnnCell::gru)] = gru_forward_ref;
  t.backward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_backward_ref<false>;
  t.backward[static_cast<int>(RnnCell::rnn_relu)] = rnn_backward_ref<true>;
  t.backward[static_cast<int>(RnnCell::lstm)] = lstm_backward_ref;
  t.backward[static_cast<int>(RnnCell::gru)] = gru_backward_ref;
}

}  // namespace fl
