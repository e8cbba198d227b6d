// RNN gate kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/rnn_avx2.cpp, ukernels/avx512/rnn_avx512.cpp). Include only inside an
// anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract: ops/rnn.h (RnnForwardArgs, RnnBackwardArgs): `rows` rows of n hidden units, each row
// run along its units in whole vectors and one masked tail (no scalar loop, nothing read or
// written past unit n). Each kernel makes a single pass: per vector of units it loads the
// gates' projections, applies the activations and the cell update, and stores the state, the
// output copy and what backward needs, so every operand crosses the memory once. The
// independent gates of one vector (lstm: 3 sigmoids and a tanh) interleave their dependency
// chains by themselves. NaN propagates (relu keeps a NaN pre-activation, as PyTorch does).
//
// Activations: vmath_impl.h's v_sigmoid and v_tanh with the final division replaced by the ISA's
// approximate reciprocal and one Newton step (R::rcp: 12 bits on AVX2, 14 on AVX-512; after the
// step about 2^-23 and 2^-28 relative), a few ulp in all. A division is one long-latency
// operation on a single port (512-bit vdivps: 16-18 cycles, one every 10-16), and an LSTM step
// takes five per vector of units: they were the kernel's bottleneck.
#pragma once
#include "ops/rnn.h"
#include "cpu/ukernels/vmath_impl.h"

namespace rnnk {

using fl::index_t;

// 1 / d from R::rcp(d) and one Newton step: x + x (1 - d x). d is finite and positive here.
template <class V, class R>
inline V recip(V d) {
  const V x = R::rcp(d);
  return V::fmadd(x, V::fnmadd(d, x, V::set1(1.0f)), x);
}

// v_sigmoid of vmath_impl.h: e = exp(-|x|), (x >= 0 ? 1 : e) / (1 + e).
template <class V, class R>
inline V fast_sigmoid(V x) {
  const V e = exp_core(V::max(V::set1(-104.0f), V::zero() - V::abs(x)));
  return V::select(V::ge(x, V::zero()), V::set1(1.0f), e) * recip<V, R>(V::set1(1.0f) + e);
}

// v_tanh of vmath_impl.h: tanh|x| = m / (m + 2), m = expm1(2|x|) (2|x| capped at 40), x's sign.
template <class V, class R>
inline V fast_tanh(V x) {
  const V m = expm1_core(V::min(V::set1(40.0f), V::abs(x) + V::abs(x)));
  return V::copysign(m * recip<V, R>(m + V::set1(2.0f)), x);
}

// Loads and stores of W::width units at p + j, or of the first m of them (kMasked).
template <class W, bool kMasked>
struct Units {
  using Vec = W;
  index_t m;
  W load(const float* p, index_t j) const {
    if constexpr (kMasked) return W::load_n(p + j, m);
    else return W::load(p + j);
  }
  W load_or_zero(const float* p, index_t j) const { return p ? load(p, j) : W::zero(); }
  void store(float* p, index_t j, W v) const {
    if constexpr (kMasked) W::store_n(p + j, v, m);
    else W::store(p + j, v);
  }
};

// Calls body(u, j) over the units [0, n): whole vectors, then one masked tail (u holds the
// vector type). (Pairs of vectors in lock step, Lanes<V, 2>, ran 8% slower on AVX-512: an LSTM
// vector already has four independent gate chains, and the pair spilled registers.)
template <class V, class Body>
inline void for_units(index_t n, const Body& body) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) body(Units<V, false>{V::width}, j);
  if (j < n) body(Units<V, true>{n - j}, j);
}

// ---- rnn: h = act(xw + hw) ----
template <class V, class R, bool kRelu>
void rnn_forward(const fl::RnnForwardArgs& a) {
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * a.H;
    const float* hw = a.hw + r * a.H;
    float* h = a.h + r * a.H;
    float* y = a.y ? a.y + r * a.ld_y : nullptr;
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W v = u.load(xw, j) + u.load(hw, j);
      const W hv = kRelu ? W::max(W::zero(), v) : fast_tanh<W, R>(v);
      u.store(h, j, hv);
      if (y) u.store(y, j, hv);
    });
  }
}

template <class V, class R, bool kRelu>
void rnn_backward(const fl::RnnBackwardArgs& a) {
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    const float* dh = a.dh + r * a.H;
    const float* h = a.h + r * a.H;
    float* dg = a.dgx + r * a.H;
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W g = u.load_or_zero(dy, j) + u.load(dh, j);
      const W hv = u.load(h, j);
      u.store(dg, j, kRelu ? W::select(W::gt(hv, W::zero()), g, W::zero()) : g * W::fnmadd(hv, hv, W::set1(1.0f)));
    });
  }
}

// ---- lstm: i, f, o = sigmoid, g = tanh, c = f c_prev + i g, h = o tanh(c) ----
template <class V, class R, bool kSave>
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
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W i = fast_sigmoid<W, R>(u.load(xw, j) + u.load(hw, j));
      const W f = fast_sigmoid<W, R>(u.load(xw, H + j) + u.load(hw, H + j));
      const W g = fast_tanh<W, R>(u.load(xw, 2 * H + j) + u.load(hw, 2 * H + j));
      const W o = fast_sigmoid<W, R>(u.load(xw, 3 * H + j) + u.load(hw, 3 * H + j));
      const W cv = W::fmadd(f, u.load(cp, j), i * g);
      const W hv = o * fast_tanh<W, R>(cv);
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
template <class V, class R>
void lstm_forward(const fl::RnnForwardArgs& a) {
  if (a.gates) lstm_forward_rows<V, R, true>(a);
  else lstm_forward_rows<V, R, false>(a);
}

// dh = dy + dh_carried, tc = tanh(c), dc = dc_carried + dh o (1 - tc^2);
// dG = (dc g i (1-i), dc c_prev f (1-f), dc i (1-g^2), dh tc o (1-o)); dc_prev = dc f.
template <class V, class R>
void lstm_backward(const fl::RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 4 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    const float* dh = a.dh + r * H;
    const float* s = a.gates + r * GH;
    const float* cp = a.c_prev + r * H;
    const float* c = a.c + r * H;
    float* dc = a.dc + r * H;
    float* dg = a.dgx + r * GH;
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W i = u.load(s, j), f = u.load(s, H + j), g = u.load(s, 2 * H + j), o = u.load(s, 3 * H + j);
      const W dhv = u.load_or_zero(dy, j) + u.load(dh, j);
      const W tc = fast_tanh<W, R>(u.load(c, j));
      const W dct = W::fmadd(dhv * o, W::fnmadd(tc, tc, W::set1(1.0f)), u.load(dc, j));
      u.store(dg, j, dct * g * (i - i * i));
      u.store(dg, H + j, dct * u.load(cp, j) * (f - f * f));
      u.store(dg, 2 * H + j, dct * i * W::fnmadd(g, g, W::set1(1.0f)));
      u.store(dg, 3 * H + j, dhv * tc * (o - o * o));
      u.store(dc, j, dct * f);
    });
  }
}

// ---- gru: r, z = sigmoid, hn = hw_n + b_hn, n = tanh(xw_n + r hn), h = n + z (h_prev - n) ----
template <class V, class R, bool kSave>
void gru_forward_rows(const fl::RnnForwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    const float* hp = a.h_prev + r * H;
    float* h = a.h + r * H;
    float* y = a.y ? a.y + r * a.ld_y : nullptr;
    float* s = kSave ? a.gates + r * 4 * H : nullptr;
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W rg = fast_sigmoid<W, R>(u.load(xw, j) + u.load(hw, j));
      const W z = fast_sigmoid<W, R>(u.load(xw, H + j) + u.load(hw, H + j));
      const W hn = u.load(hw, 2 * H + j) + u.load_or_zero(a.b_hn, j);
      const W n = fast_tanh<W, R>(W::fmadd(rg, hn, u.load(xw, 2 * H + j)));
      const W hv = W::fmadd(z, u.load(hp, j) - n, n);
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
template <class V, class R>
void gru_forward(const fl::RnnForwardArgs& a) {
  if (a.gates) gru_forward_rows<V, R, true>(a);
  else gru_forward_rows<V, R, false>(a);
}

// dh = dy + dh_carried; dn = dh (1-z) (1-n^2); dz = dh (h_prev - n) z (1-z); dr = dn hn r (1-r);
// dgx = (dr, dz, dn), dgh = (dr, dz, dn r), dh_carried = dh z.
template <class V, class R>
void gru_backward(const fl::RnnBackwardArgs& a) {
  const index_t H = a.H, GH = 3 * H;
  for (index_t r = 0; r < a.rows; ++r) {
    const float* dy = a.dy ? a.dy + r * a.ld_dy : nullptr;
    float* dh = a.dh + r * H;
    const float* s = a.gates + r * 4 * H;
    const float* hp = a.h_prev + r * H;
    float* dgx = a.dgx + r * GH;
    float* dgh = a.dgh + r * GH;
    for_units<V>(a.n, [&](auto u, index_t j) {
      using W = typename decltype(u)::Vec;
      const W rg = u.load(s, j), z = u.load(s, H + j), n = u.load(s, 2 * H + j), hn = u.load(s, 3 * H + j);
      const W dhv = u.load_or_zero(dy, j) + u.load(dh, j);
      const W dn = dhv * (W::set1(1.0f) - z) * W::fnmadd(n, n, W::set1(1.0f));
      const W dz = dhv * (u.load(hp, j) - n) * (z - z * z);
      const W dr = dn * hn * (rg - rg * rg);
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

template <class V, class R>
void register_all(fl::RnnKernels& t) {
  using fl::RnnCell;
  t.forward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_forward<V, R, false>;
  t.forward[static_cast<int>(RnnCell::rnn_relu)] = rnn_forward<V, R, true>;
  t.forward[static_cast<int>(RnnCell::lstm)] = lstm_forward<V, R>;
  t.forward[static_cast<int>(RnnCell::gru)] = gru_forward<V, R>;
  t.backward[static_cast<int>(RnnCell::rnn_tanh)] = rnn_backward<V, R, false>;
  t.backward[static_cast<int>(RnnCell::rnn_relu)] = rnn_backward<V, R, true>;
  t.backward[static_cast<int>(RnnCell::lstm)] = lstm_backward<V, R>;
  t.backward[static_cast<int>(RnnCell::gru)] = gru_backward<V, R>;
}

}  // namespace rnnk
