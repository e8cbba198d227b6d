// Cross-entropy micro-kernels written once against the Vec interface, instantiated per ISA
// (ukernels/avx2/loss_avx2.cpp, ukernels/avx512/loss_avx512.cpp). Include only inside an
// anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract (see ops/loss.h): one row of C contiguous logits at a time, vectorised along the
// row; any C >= 1, the row tail is one masked step. Sums are float vector accumulators
// (the reference sums in double; rows of up to ~1e5 classes stay within 1e-6 relative).
#pragma once
#include <cmath>
#include <limits>

#include "ops/loss.h"
#include "cpu/ukernels/vmath_impl.h"

namespace loss {
using fl::index_t;

template <class V>
void ce_forward(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows, index_t C,
                const fl::CeOptions& o) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float eps = o.label_smoothing;
  const index_t tail = C % V::width, body = C - tail;
  for (index_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    if (target[r] == o.ignore_index) {
      loss[r] = lse[r] = 0.0f;
      continue;
    }
    V vm = V::set1(ninf);
    for (index_t c = 0; c < body; c += V::width) vm = V::max(vm, V::load(xr + c));
    if (tail) vm = V::max(vm, V::load_fill(xr + body, tail, ninf));
    const float m = V::hmax(vm);
    const V vmax = V::set1(m);
    V vs = V::zero(), vx = V::zero();
    for (index_t c = 0; c < body; c += V::width) {
      const V xv = V::load(xr + c);
      vs = vs + v_exp(xv - vmax);
      vx = vx + xv;
    }
    if (tail) {
      vs = vs + v_exp(V::load_fill(xr + body, tail, ninf) - vmax);
      vx = vx + V::load_n(xr + body, tail);
    }
    const float ls = std::log(V::hsum(vs));
    lse[r] = m + ls;
    const float smooth = eps != 0.0f ? eps * (m - V::hsum(vx) / static_cast<float>(C)) : 0.0f;
    loss[r] = ls + (1.0f - eps) * (m - xr[target[r]]) + smooth;
  }
}

template <class V>
void ce_backward(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                 float scale, index_t rows, index_t C, const fl::CeOptions& o) {
  const float eps = o.label_smoothing;
  for (index_t r = 0; r < rows; ++r) {
    float* d = dx + r * C;
    if (target[r] == o.ignore_index) {
      map1<V>(d, x + r * C, C, [](V) { return V::zero(); });
      continue;
    }
    const float s = grad ? scale * grad[r] : scale;
    const V vs = V::set1(s), vl = V::set1(lse[r]), off = V::set1(s * eps / static_cast<float>(C));
    map1<V>(d, x + r * C, C, [=](V v) { return vs * v_exp(v - vl) - off; });
    d[target[r]] -= s * (1.0f - eps);
  }
}

template <class V> void register_all(fl::LossKernels& t) {
  t.ce_forward = ce_forward<V>;
  t.ce_backward = ce_backward<V>;
}

}  // namespace loss
