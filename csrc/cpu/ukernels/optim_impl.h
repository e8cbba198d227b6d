// Fused optimizer updates written once against the Vec interface, instantiated per ISA
// (ukernels/avx2/optim_avx2.cpp, ukernels/avx512/optim_avx512.cpp). Include only inside an
// anonymous namespace, after the ISA's Vec header and a v_sqrt(V) overload for it.
//
// Contract (see ops/optim.h): contiguous float ranges, any n >= 0, no alignment; the tail is
// one masked vector step. Operation order matches the reference kernel term by term, so
// results differ from it only by FMA contraction (<= 1 ulp per term).
#pragma once
#include "ops/optim.h"

namespace optim {
using fl::index_t;

// Runs body(i, count) over [0, n) in full vectors, then one masked tail.
template <class V, class Body>
inline void for_vectors(index_t n, const Body& body) {
  index_t i = 0;
  for (; i + V::width <= n; i += V::width) body(i, V::width);
  if (i < n) body(i, n - i);
}

template <class V> V ld(const float* p, index_t c) { return c == V::width ? V::load(p) : V::load_n(p, c); }
template <class V> void st(float* p, V a, index_t c) {
  if (c == V::width) V::store(p, a); else V::store_n(p, a, c);
}

template <class V> void sgd(float* p, float* buf, const float* g, index_t n, const fl::SgdHyper& h) {
  const V lr = V::set1(h.lr), wd = V::set1(h.weight_decay), mom = V::set1(h.momentum);
  const V damp1 = V::set1(1.0f - h.dampening);
  const bool decay = h.weight_decay != 0.0f;
  for_vectors<V>(n, [&](index_t i, index_t c) {
    const V pi = ld<V>(p + i, c);
    V d = ld<V>(g + i, c);
    if (decay) d = V::fmadd(wd, pi, d);
    if (buf) {
      const V b = h.first_step ? d : V::fmadd(mom, ld<V>(buf + i, c), damp1 * d);
      st<V>(buf + i, b, c);
      d = h.nesterov ? V::fmadd(mom, b, d) : b;
    }
    st<V>(p + i, V::fnmadd(lr, d, pi), c);
  });
}

template <class V>
void adam(float* p, float* m, float* v, float* vmax, const float* g, index_t n, const fl::AdamHyper& h) {
  const V b1c = V::set1(1.0f - h.beta1), b2 = V::set1(h.beta2), b2c = V::set1(1.0f - h.beta2);
  const V eps = V::set1(h.eps), wd = V::set1(h.weight_decay), decay = V::set1(h.decay_factor);
  const V step = V::set1(h.step_size), bc2 = V::set1(h.bc2_sqrt);
  const bool l2 = !h.decoupled && h.weight_decay != 0.0f;
  for_vectors<V>(n, [&](index_t i, index_t c) {
    V pi = ld<V>(p + i, c), gi = ld<V>(g + i, c);
    if (h.decoupled) pi = pi * decay;
    else if (l2) gi = V::fmadd(wd, pi, gi);
    const V mo = ld<V>(m + i, c);
    const V mi = V::fmadd(b1c, gi - mo, mo);
    const V vi = V::fmadd(b2c, gi * gi, b2 * ld<V>(v + i, c));
    st<V>(m + i, mi, c);
    st<V>(v + i, vi, c);
    V vd = vi;
    if (vmax) {
      vd = V::max(ld<V>(vmax + i, c), vi);
      st<V>(vmax + i, vd, c);
    }
    const V denom = v_sqrt(vd) / bc2 + eps;
    st<V>(p + i, V::fnmadd(step, mi / denom, pi), c);
  });
}

template <class V> void register_all(fl::OptimKernels& t) {
  t.sgd_update = sgd<V>;
  t.adam_update = adam<V>;
}

}  // namespace optim
