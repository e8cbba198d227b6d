// RNN gate kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/rnn_avx2.cpp, ukernels/avx512/rnn_avx512.cpp). Include only inside an
// anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract: ops/rnn.h (RnnForwardArgs, RnnBackwardArgs): `rows` rows of n hidden units, each row
// run along its units in whole vectors and one masked tail (no scalar loop, nothing read or
// written past unit n). Each kernel makes a single pass: per vector of units it loads the
// gates' projections, applies the activations and the cell update, and stores the state, the
// output copy and what backward needs, so every operand crosses the memory once. The
// activations (v_sigmoid, v_tanh) are vmath_impl.h's, within 2.4 ulp; the independent gates of
// one vector (lstm: 3 sigmoids and a tanh) interleave their dependency chains by themselves.
// NaN propagates (relu keeps a NaN pre-activation, as PyTorch does).
#pragma once
#include "ops/rnn.h"
#include "cpu/ukernels/vmath_impl.h"

namespace rnnk {

using fl::index_t;

// Loads and stores of `m` units at p + j: a whole vector when m == V::width, else masked.
template <class V>
struct Units {
  index_t m;
  V load(const float* p, index_t j) const { return m == V::width ? V::load(p + j) : V::load_n(p + j, m); }
  V load_or_zero(const float* p, index_t j) const { return p ? load(p, j) : V::zero(); }
  void store(float* p, index_t j, V v) const {
    if (m == V::width) V::store(p + j, v);
    else V::store_n(p + j, v, m);
  }
};

// Calls body(u, j) for each vector of units j of [0, n) (u says how many units it holds).
template <class V, class Body>
inline void for_units(index_t n, const Body& body) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) body(Units<V>{V::width}, j);
  if (j < n) body(Units<V>{n - j}, j);
}

// ---- rnn: h = act(xw + hw) ----
template <class V, bool kRelu>
void rnn_forward(const fl::RnnForwardArgs& a) {
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * a.H;
    const float* hw = a.hw + r * a.H;
    float* h = a.h + r * a.H;
    float* y = a.y ? a.y + r * a.ld_y : nullptr;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V v = u.load(xw, j) + u.load(hw, j);
      const V hv = kRelu ? V::max(V::zero(), v) : v_tanh(v);
      u.store(h, j, hv);
      if (y) u.store(y, j, hv);
    });
  }
}

template <class V, bool kRelu>
void rnn_backward(const fl::RnnBackwardArgs& a) {
  const V one = V::set1(1.0f);
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    const float* dh = a.dh + r * a.H;
    const float* h = a.h + r * a.H;
    float* dg = a.dgx + r * a.H;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V g = u.load_or_zero(dy, j) + u.load(dh, j);
      const V hv = u.load(h, j);
      u.store(dg, j, kRelu ? V::select(V::gt(hv, V::zero()), g, V::zero()) : g * V::fnmadd(hv, hv, one));
    });
  }
}

// ---- lstm: i, f, o = sigmoid, g = tanh, c = f c_prev + i g, h = o tanh(c) ----
template <class V, bool kSave>
void lstm_forward_rows(const fl::RnnForwardArgs& a) {
  const index_t H = a.H, GH = 4 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    const float* cp = a.c_prev + r * H;
    float* c = a.c + r * H;
    float* h = a.h + r * H;
    float* y = a.y ? a.y + r * a.ld_y : nullptr;
    float* s = kSave ? a.gates + r * GH : nullptr;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V i = v_sigmoid(u.load(xw, j) + u.load(hw, j));
      const V f = v_sigmoid(u.load(xw, H + j) + u.load(hw, H + j));
      const V g = v_tanh(u.load(xw, 2 * H + j) + u.load(hw, 2 * H + j));
      const V o = v_sigmoid(u.load(xw, 3 * H + j) + u.load(hw, 3 * H + j));
      const V cv = V::fmadd(f, u.load(cp, j), i * g);
      const V hv = o * v_tanh(cv);
      u.store(c, j, cv);
      u.store(h, j, hv);
      if (y) u.store(y, j, hv);
      if (kSave) {
        u.store(s, j, i);
        u.store(s, H + j, f);
        u.store(s, 2 * H + j, g);
        u.store(s, 3 * H + j, o);
      }
    });
  }
}
template <class V>
void lstm_forward(const fl::RnnForwardArgs& a) {
  if (a.gates) lstm_forward_rows<V, true>(a);
  else lstm_forward_rows<V, false>(a);
}

// dh = dy + dh_carried, tc = tanh(c), dc = dc_carried + dh o (1 - tc^2);
// dG = (dc g i (1-i), dc c_prev f (1-f), dc i (1-g^2), dh tc o (1-o)); dc_prev = dc f.
template <class V>
void lstm_backward(const fl::RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 4 * H;
  const V one = V::set1(1.0f);
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    const float* dh = a.dh + r * H;
    const float* s = a.gates + r * GH;
    const float* cp = a.c_prev + r * H;
    const float* c = a.c + r * H;
    float* dc = a.dc + r * H;
    float* dg = a.dgx + r * GH;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V i = u.load(s, j), f = u.load(s, H + j), g = u.load(s, 2 * H + j), o = u.load(s, 3 * H + j);
      const V dhv = u.load_or_zero(dy, j) + u.load(dh, j);
      const V tc = v_tanh(u.load(c, j));
      const V dct = V::fmadd(dhv * o, V::fnmadd(tc, tc, one), u.load(dc, j));
      u.store(dg, j, dct * g * (i - i * i));
      u.store(dg, H + j, dct * u.load(cp, j) * (f - f * f));
      u.store(dg, 2 * H + j, dct * i * V::fnmadd(g, g, one));
      u.store(dg, 3 * H + j, dhv * tc * (o - o * o));
      u.store(dc, j, dct * f);
    });
  }
}

// ---- gru: r, z = sigmoid, hn = hw_n + b_hn, n = tanh(xw_n + r hn), h = n + z (h_prev - n) ----
template <class V, bool kSave>
void gru_forward_rows(const fl::RnnForwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    const float* hp = a.h_prev + r * H;
    float* h = a.h + r * H;
    float* y = a.y ? a.y + r * a.ld_y : nullptr;
    float* s = kSave ? a.gates + r * 4 * H : nullptr;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V rg = v_sigmoid(u.load(xw, j) + u.load(hw, j));
      const V z = v_sigmoid(u.load(xw, H + j) + u.load(hw, H + j));
      const V hn = u.load(hw, 2 * H + j) + u.load_or_zero(a.b_hn, j);
      const V n = v_tanh(V::fmadd(rg, hn, u.load(xw, 2 * H + j)));
      const V hv = V::fmadd(z, u.load(hp, j) - n, n);
      u.store(h, j, hv);
      if (y) u.store(y, j, hv);
      if (kSave) {
        u.store(s, j, rg);
        u.store(s, H + j, z);
        u.store(s, 2 * H + j, n);
        u.store(s, 3 * H + j, hn);
      }
    });
  }
}
template <class V>
void gru_forward(const fl::RnnForwardArgs& a) {
  if (a.gates) gru_forward_rows<V, true>(a);
  else gru_forward_rows<V, false>(a);
}

// dh = dy + dh_carried; dn = dh (1-z) (1-n^2); dz = dh (h_prev - n) z (1-z); dr = dn hn r (1-r);
// dgx = (dr, dz, dn), dgh = (dr, dz, dn r), dh_carried = dh z.
template <class V>
void gru_backward(const fl::RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  const V one = V::set1(1.0f);
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    float* dh = a.dh + r * H;
    const float* s = a.gates + r * 4 * H;
    const float* hp = a.h_prev + r * H;
    float* dgx = a.dgx + r * GH;
    float* dgh = a.dgh + r * GH;
    for_units<V>(a.n, [&](Units<V> u, index_t j) {
      const V rg = u.load(s, j), z = u.load(s, H + j), n = u.load(s, 2 * H + j), hn = u.load(s, 3 * H + j);
      const V dhv = u.load_or_zero(dy, j) + u.load(dh, j);
      const V dn = dhv * (one - z) * V::fnmadd(n, n, one);
      const V dz = dhv * (u.load(hp, j) - n) * (z - z * z);
      const V dr = dn * hn * (rg - rg * rg);
      u.store(dgx, j, dr);
      u.store(dgh, j, dr);
      u.store(dgx, H + j, dz);
      u.store(dgh, H + j, dz);
      u.store(dgx, 2 * H + j, dn);
      u.store(dgh, 2 * H + j, dn * rg);
      u.store(dh, j, dhv * z);
    });
  }
}

template <class V>
void register_all(fl::RnnKernels& t) {
  using fl::RnnCell;
  t.forward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_forward<V, false>;
  t.forward[static_cast<int>(RnnCell::rnn_relu)] = rnn_forward<V, true>;
  t.forward[static_cast<int>(RnnCell::lstm)] = lstm_forward<V>;
  t.forward[static_cast<int>(RnnCell::gru)] = gru_forward<V>;
  t.backward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_backward<V, false>;
  t.backward[static_cast<int>(RnnCell::rnn_relu)] = rnn_backward<V, true>;
  t.backward[static_cast<int>(RnnCell::lstm)] = lstm_backward<V>;
  t.backward[static_cast<int>(RnnCell::gru)] = gru_backward<V>;
}

}  // namespace rnnk
