// Cross-entropy micro-kernels written once against the Vec interface, instantiated per ISA
// (ukernels/avx2/loss_avx2.cpp, ukernels/avx512/loss_avx512.cpp). Include only inside an
// anonymous namespace, after vmath_impl.h and the ISA's Vec header.
//
// Contract (see ops/loss.h): a block of rows of the (N, C, D) layout, any C >= 1.
// - D == 1 (logits (N, C)): one row of C contiguous logits at a time, vectorised along the row;
//   the row tail is one masked step.
// - D > 1 (logits (N, C, d1, ..., dk)): a row's logits are D floats apart, so the kernels run
//   across the positions instead: V::width neighbouring rows at once, walking the C classes,
//   each step one contiguous load per class (as softmax over a middle axis); the last block of
//   positions is masked. Only the target logit of each row is read lane by lane.
// Sums are float vector accumulators (the reference sums in double; rows of up to ~1e5
// classes stay within 1e-6 relative).
#pragma once
#include <cmath>
#include <limits>

#include "ops/loss.h"
#include "cpu/ukernels/vmath_impl.h"

namespace loss {
using fl::index_t;

// Loads and stores of c <= width neighbouring positions.
template <class V> struct Cols {
  index_t c;
  V ld(const float* p) const { return c == V::width ? V::load(p) : V::load_n(p, c); }
  void st(float* p, V v) const {
    if (c == V::width) V::store(p, v);
    else V::store_n(p, v, c);
  }
};

inline float class_weight_sum(const float* w, index_t C) {
  double W = 0.0;
  for (index_t c = 0; c < C; ++c) W += w[c];
  return static_cast<float>(W);
}

// The loss of a row (see ops/loss.h) from its max m, sum of exp(x - m), smoothing sum (sum x
// without weights, sum w (m - x) with them), target logit xt and target t; writes its lse.
inline float row_loss(float m, float sum_e, float smooth_sum, float xt, std::int64_t t, float W, index_t C,
                      const fl::CeOptions& o, float* lse) {
  const float eps = o.label_smoothing, ls = std::log(sum_e);
  *lse = m + ls;
  if (!o.weight) {
    const float smooth = eps != 0.0f ? eps * (m - smooth_sum / static_cast<float>(C)) : 0.0f;
    return ls + (1.0f - eps) * (m - xt) + smooth;
  }
  const float smooth = eps != 0.0f ? eps / static_cast<float>(C) * (W * ls + smooth_sum) : 0.0f;
  return (1.0f - eps) * o.weight[t] * (ls + (m - xt)) + smooth;
}

// ---- class-index targets, D == 1 ----
template <class V>
void ce_forward_rows(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows, index_t C,
                     const fl::CeOptions& o) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float eps = o.label_smoothing, *w = o.weight;
  const float W = w && eps != 0.0f ? class_weight_sum(w, C) : 0.0f;
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
      if (eps != 0.0f) vx = w ? V::fmadd(V::load(w + c), vmax - xv, vx) : vx + xv;
    }
    if (tail) {
      vs = vs + v_exp(V::load_fill(xr + body, tail, ninf) - vmax);
      if (eps != 0.0f)
        vx = w ? V::fmadd(V::load_n(w + body, tail), vmax - V::load_fill(xr + body, tail, m), vx)
               : vx + V::load_n(xr + body, tail);
    }
    loss[r] = row_loss(m, V::hsum(vs), V::hsum(vx), xr[target[r]], target[r], W, C, o, lse + r);
  }
}

template <class V>
void ce_backward_rows(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                      float scale, index_t rows, index_t C, const fl::CeOptions& o) {
  const float eps = o.label_smoothing, *w = o.weight, e = eps / static_cast<float>(C);
  const float W = w && eps != 0.0f ? class_weight_sum(w, C) : 0.0f;
  for (index_t r = 0; r < rows; ++r) {
    float* d = dx + r * C;
    const std::int64_t t = target[r];
    if (t == o.ignore_index) {
      map1<V>(d, x + r * C, C, [](V) { return V::zero(); });
      continue;
    }
    const float s = grad ? scale * grad[r] : scale;
    const V vs = V::set1(s), vl = V::set1(lse[r]);
    if (!w) {
      const V off = V::set1(s * e);
      map1<V>(d, x + r * C, C, [=](V v) { return vs * v_exp(v - vl) - off; });
      d[t] -= s * (1.0f - eps);
      continue;
    }
    const V va = V::set1((1.0f - eps) * w[t] + e * W), ve = V::set1(e);
    map2<V>(d, x + r * C, w, C, [=](V v, V wv) { return vs * V::fnmadd(ve, wv, va * v_exp(v - vl)); });
    d[t] -= s * (1.0f - eps) * w[t];
  }
}

// ---- class-index targets, D > 1: V::width positions (rows) at a time ----
template <class V>
void ce_forward_cols(float* loss, float* lse, const float* x, const std::int64_t* target, const fl::CeBlock& b,
                     const fl::CeOptions& o) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float eps = o.label_smoothing, *w = o.weight;
  const index_t C = b.C, D = b.D;
  const float W = w && eps != 0.0f ? class_weight_sum(w, C) : 0.0f;
  alignas(64) float lm[V::width], le[V::width], lx[V::width];
  for (index_t n = 0; n < b.N; ++n) {
    const float* xn = x + n * C * D;
    for (index_t j = 0; j < b.width; j += V::width) {
      const Cols<V> io{b.width - j < V::width ? b.width - j : V::width};
      V vm = V::set1(ninf);
      for (index_t c = 0; c < C; ++c) vm = V::max(vm, io.ld(xn + c * D + j));
      V vs = V::zero(), vx = V::zero();
      for (index_t c = 0; c < C; ++c) {
        const V v = io.ld(xn + c * D + j);
        vs = vs + v_exp(v - vm);
        if (eps != 0.0f) vx = w ? V::fmadd(V::set1(w[c]), vm - v, vx) : vx + v;
      }
      V::store(lm, vm);
      V::store(le, vs);
      V::store(lx, vx);
      for (index_t l = 0; l < io.c; ++l) {
        const index_t r = n * D + j + l;
        const std::int64_t t = target[r];
        if (t == o.ignore_index) {
          loss[r] = lse[r] = 0.0f;
          continue;
        }
        loss[r] = row_loss(lm[l], le[l], lx[l], xn[t * D + j + l], t, W, C, o, lse + r);
      }
    }
  }
}

template <class V>
void ce_backward_cols(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                      float scale, const fl::CeBlock& b, const fl::CeOptions& o) {
  const float eps = o.label_smoothing, *w = o.weight, e = eps / static_cast<float>(b.C);
  const index_t C = b.C, D = b.D;
  const float W = w && eps != 0.0f ? class_weight_sum(w, C) : 0.0f;
  alignas(64) float keep[V::width], coef[V::width];
  for (index_t n = 0; n < b.N; ++n) {
    const float* xn = x + n * C * D;
    float* dn = dx + n * C * D;
    for (index_t j = 0; j < b.width; j += V::width) {
      const Cols<V> io{b.width - j < V::width ? b.width - j : V::width};
      const index_t r0 = n * D + j;
      for (index_t l = 0; l < V::width; ++l) {  // per row: kept (not ignored) and p's coefficient
        const bool live = l < io.c && target[r0 + l] != o.ignore_index;
        keep[l] = live ? 1.0f : 0.0f;
        coef[l] = !live || !w ? 1.0f : (1.0f - eps) * w[target[r0 + l]] + e * W;
      }
      const auto kept = V::gt(V::load(keep), V::zero());
      const V vl = io.ld(lse + r0), va = V::load(coef);
      const V vs = V::select(kept, grad ? io.ld(grad + r0) * V::set1(scale) : V::set1(scale), V::zero());
      for (index_t c = 0; c < C; ++c) {
        const V p = v_exp(io.ld(xn + c * D + j) - vl);
        const V d = vs * (va * p - V::set1(w ? e * w[c] : e));
        io.st(dn + c * D + j, V::select(kept, d, V::zero()));
      }
      for (index_t l = 0; l < io.c; ++l) {
        const std::int64_t t = target[r0 + l];
        if (t == o.ignore_index) continue;
        const float s = grad ? scale * grad[r0 + l] : scale;
        dn[t * D + j + l] -= s * (1.0f - eps) * (w ? w[t] : 1.0f);
      }
    }
  }
}

// ---- probability targets ----
// With t'_c = (1 - eps) t_c + eps / C and wt_c = w_c t'_c (w_c = 1 without weights):
//   sum_c wt_c (m - x_c) = (1 - eps) A + (eps / C) Q,   sum_c wt_c = (1 - eps) B + (eps / C) W,
//   A = sum w t (m - x), B = sum w t, Q = sum w (m - x),
// accumulated from terms that vanish on masked lanes (t and w loaded as 0, x filled with m).
template <class V> struct SoftSums {
  V A = V::zero(), B = V::zero(), Q = V::zero();
  void add(V m, V xv, V tv, V wv, bool smooth) {
    const V d = m - xv, wtv = wv * tv;
    A = V::fmadd(wtv, d, A);
    B = B + wtv;
    if (smooth) Q = V::fmadd(wv, d, Q);
  }
};

inline float soft_weight(float B, float W, float eps, index_t C) {
  return eps != 0.0f ? (1.0f - eps) * B + eps / static_cast<float>(C) * W : B;
}

// loss = sum wt (m - x) + ls sum wt (both non-negative: no cancellation for large logits).
inline float soft_loss(float m, float sum_e, float A, float B, float Q, float W, float eps, index_t C, float* lse) {
  const float ls = std::log(sum_e);
  *lse = m + ls;
  const float s1 = eps != 0.0f ? (1.0f - eps) * A + eps / static_cast<float>(C) * Q : A;
  return s1 + ls * soft_weight(B, W, eps, C);
}

template <class V>
void ce_soft_forward_rows(float* loss, float* lse, const float* x, const float* t, index_t rows, index_t C,
                          const fl::CeOptions& o) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float eps = o.label_smoothing, *w = o.weight;
  const float W = w ? class_weight_sum(w, C) : static_cast<float>(C);
  const index_t tail = C % V::width, body = C - tail;
  for (index_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *tr = t + r * C;
    V vm = V::set1(ninf);
    for (index_t c = 0; c < body; c += V::width) vm = V::max(vm, V::load(xr + c));
    if (tail) vm = V::max(vm, V::load_fill(xr + body, tail, ninf));
    const float m = V::hmax(vm);
    const V vmax = V::set1(m);
    V vs = V::zero();
    SoftSums<V> acc;
    for (index_t c = 0; c < body; c += V::width) {
      const V xv = V::load(xr + c);
      vs = vs + v_exp(xv - vmax);
      acc.add(vmax, xv, V::load(tr + c), w ? V::load(w + c) : V::set1(1.0f), eps != 0.0f);
    }
    if (tail) {
      vs = vs + v_exp(V::load_fill(xr + body, tail, ninf) - vmax);
      acc.add(vmax, V::load_fill(xr + body, tail, m), V::load_n(tr + body, tail),
              w ? V::load_n(w + body, tail) : V::set1(1.0f), eps != 0.0f);
    }
    loss[r] = soft_loss(m, V::hsum(vs), V::hsum(acc.A), V::hsum(acc.B), V::hsum(acc.Q), W, eps, C, lse + r);
  }
}

template <class V>
void ce_soft_backward_rows(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                           float scale, index_t rows, index_t C, const fl::CeOptions& o) {
  const float eps = o.label_smoothing, *w = o.weight, e = eps / static_cast<float>(C);
  const float W = w ? class_weight_sum(w, C) : static_cast<float>(C);
  const index_t tail = C % V::width, body = C - tail;
  const V k1 = V::set1(1.0f - eps), ke = V::set1(e);
  for (index_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *tr = t + r * C;
    V vb = V::zero();  // B = sum w t
    for (index_t c = 0; c < body; c += V::width) vb = V::fmadd(w ? V::load(w + c) : V::set1(1.0f), V::load(tr + c), vb);
    if (tail) vb = V::fmadd(w ? V::load_n(w + body, tail) : V::set1(1.0f), V::load_n(tr + body, tail), vb);
    const float s = grad ? scale * grad[r] : scale;
    const V vs = V::set1(s), vS = V::set1(soft_weight(V::hsum(vb), W, eps, C)), vl = V::set1(lse[r]);
    // dx = s (p S - w t'), t' = (1 - eps) t + eps / C
    if (w)
      map_n<V, 1>(dx + r * C, C, [=](V v, V tv, V wv) { return vs * V::fnmadd(wv, V::fmadd(tv, k1, ke), v_exp(v - vl) * vS); },
                  xr, tr, w);
    else
      map_n<V, 1>(dx + r * C, C, [=](V v, V tv) { return vs * (v_exp(v - vl) * vS - V::fmadd(tv, k1, ke)); }, xr, tr);
  }
}

template <class V>
void ce_soft_forward_cols(float* loss, float* lse, const float* x, const float* t, const fl::CeBlock& b,
                          const fl::CeOptions& o) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float eps = o.label_smoothing, *w = o.weight;
  const index_t C = b.C, D = b.D;
  const float W = w ? class_weight_sum(w, C) : static_cast<float>(C);
  alignas(64) float lm[V::width], le[V::width], la[V::width], lb[V::width], lq[V::width];
  for (index_t n = 0; n < b.N; ++n) {
    const float *xn = x + n * C * D, *tn = t + n * C * D;
    for (index_t j = 0; j < b.width; j += V::width) {
      const Cols<V> io{b.width - j < V::width ? b.width - j : V::width};
      V vm = V::set1(ninf);
      for (index_t c = 0; c < C; ++c) vm = V::max(vm, io.ld(xn + c * D + j));
      V vs = V::zero();
      SoftSums<V> acc;
      for (index_t c = 0; c < C; ++c) {
        const V v = io.ld(xn + c * D + j);
        vs = vs + v_exp(v - vm);
        acc.add(vm, v, io.ld(tn + c * D + j), V::set1(w ? w[c] : 1.0f), eps != 0.0f);
      }
      V::store(lm, vm);
      V::store(le, vs);
      V::store(la, acc.A);
      V::store(lb, acc.B);
      V::store(lq, acc.Q);
      for (index_t l = 0; l < io.c; ++l) {
        const index_t r = n * D + j + l;
        loss[r] = soft_loss(lm[l], le[l], la[l], lb[l], lq[l], W, eps, C, lse + r);
      }
    }
  }
}

template <class V>
void ce_soft_backward_cols(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                           float scale, const fl::CeBlock& b, const fl::CeOptions& o) {
  const float eps = o.label_smoothing, *w = o.weight, e = eps / static_cast<float>(b.C);
  const index_t C = b.C, D = b.D;
  const float W = w ? class_weight_sum(w, C) : static_cast<float>(C);
  const V k1 = V::set1(1.0f - eps), ke = V::set1(e);
  for (index_t n = 0; n < b.N; ++n) {
    const float *xn = x + n * C * D, *tn = t + n * C * D;
    float* dn = dx + n * C * D;
    for (index_t j = 0; j < b.width; j += V::width) {
      const Cols<V> io{b.width - j < V::width ? b.width - j : V::width};
      const index_t r0 = n * D + j;
      V vb = V::zero();
      for (index_t c = 0; c < C; ++c) vb = V::fmadd(V::set1(w ? w[c] : 1.0f), io.ld(tn + c * D + j), vb);
      const V vS = eps != 0.0f ? V::fmadd(k1, vb, V::set1(e * W)) : vb;
      const V vl = io.ld(lse + r0), vs = grad ? io.ld(grad + r0) * V::set1(scale) : V::set1(scale);
      for (index_t c = 0; c < C; ++c) {
        const V wt = V::set1(w ? w[c] : 1.0f) * V::fmadd(io.ld(tn + c * D + j), k1, ke);
        io.st(dn + c * D + j, vs * (v_exp(io.ld(xn + c * D + j) - vl) * vS - wt));
      }
    }
  }
}

// ---- the table entries: rows or columns by the block's layout ----
template <class V>
void ce_forward(float* loss, float* lse, const float* x, const std::int64_t* target, const fl::CeBlock& b,
                const fl::CeOptions& o) {
  if (b.D == 1) ce_forward_rows<V>(loss, lse, x, target, b.N, b.C, o);
  else ce_forward_cols<V>(loss, lse, x, target, b, o);
}
template <class V>
void ce_backward(float* dx, const float* x, const float* lse, const std::int64_t* target, const float* grad,
                 float scale, const fl::CeBlock& b, const fl::CeOptions& o) {
  if (b.D == 1) ce_backward_rows<V>(dx, x, lse, target, grad, scale, b.N, b.C, o);
  else ce_backward_cols<V>(dx, x, lse, target, grad, scale, b, o);
}
template <class V>
void ce_soft_forward(float* loss, float* lse, const float* x, const float* t, const fl::CeBlock& b,
                     const fl::CeOptions& o) {
  if (b.D == 1) ce_soft_forward_rows<V>(loss, lse, x, t, b.N, b.C, o);
  else ce_soft_forward_cols<V>(loss, lse, x, t, b, o);
}
template <class V>
void ce_soft_backward(float* dx, const float* x, const float* lse, const float* t, const float* grad, float scale,
                      const fl::CeBlock& b, const fl::CeOptions& o) {
  if (b.D == 1) ce_soft_backward_rows<V>(dx, x, lse, t, grad, scale, b.N, b.C, o);
  else ce_soft_backward_cols<V>(dx, x, lse, t, grad, scale, b, o);
}

template <class V> void register_all(fl::LossKernels& t) {
  t.ce_forward = ce_forward<V>;
  t.ce_backward = ce_backward<V>;
  t.ce_soft_forward = ce_soft_forward<V>;
  t.ce_soft_backward = ce_soft_backward<V>;
}

}  // namespace loss
