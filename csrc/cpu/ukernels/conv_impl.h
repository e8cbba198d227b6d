// Convolution micro-kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/conv_avx2.cpp, ukernels/avx512/conv_avx512.cpp). Include only inside an
// anonymous namespace, after the ISA's Vec header.
//
// Holds the depthwise forward and weight-gradient kernels and the Winograd transforms.
#pragma once
#include <algorithm>

#include "ops/conv.h"
#include "cpu/ukernels/window_impl.h"

namespace conv {
using fl::Conv2dShape;
using fl::index_t;

// Depthwise forward, contract (ops/conv.h): one plane, s.N = s.C = s.K = 1; y is P x Q, x is
// H x W, w is R x S, bias one float or null. Depthwise layers have R * S multiply-adds per
// output and no reuse across channels, so they are bound by loads (one per multiply-add), which
// is why this is not a GEMM.
//
// The plane is first copied into a zero-padded buffer (padded_plane, below: in L1 for planes
// up to ~90 x 90), so that every output column runs in vectors without bounds checks. Register
// tile: PB output rows x NV vectors of output columns (4 x 2, or 8 x 1 when Q fits one vector),
// 8 independent accumulators, so the multiply-add latency is hidden; per tap one broadcast of
// the weight and PB NV loads (stride 2: two loads deinterleaved). Rows past P and lanes past Q
// are computed on the buffer's zeros and never stored. Against one accumulator per vector of
// one row with scalar edge columns (depthwise_fwd_rows, the kernel before), Xeon VM, AVX-512, 2
// threads, alternating processes over 6 rounds, forward (forward + weight gradient through
// conv2d_backward): 3 x 3 pad 1 on (4, 128, 56, 56) 1.94x (1.89x), (8, 32, 112, 112) 1.46x
// (1.56x), (4, 512, 14, 14) 2.55x (2.12x), stride 2 on (4, 256, 28, 28) 1.26x; 5 x 5 pad 2 on
// (4, 64, 28, 28) 3.99x (2.89x). Strides above 2, filters above kMaxTaps taps, or no buffer, run
// depthwise_fwd_rows.
constexpr index_t kMaxTaps = fl::kDepthwiseMaxTaps;

template <class V> void depthwise_fwd_rows(float* y, const float* x, const float* w, const float* bias,
                                           const Conv2dShape& s) {
  index_t qa = 0, qb = 0;
  if (s.stride_w <= 2) window::interior_cols(s.W, s.Q, s.S, s.stride_w, s.pad_w, s.dil_w, &qa, &qb);
  const float b = bias ? *bias : 0.0f;
  const index_t span = (s.S - 1) * s.dil_w;
  for (index_t p = 0; p < s.P; ++p) {
    float* yr = y + p * s.Q;
    const index_t h0 = p * s.stride_h - s.pad_h;
    for (index_t q = 0; q < std::min(qa, s.Q); ++q) yr[q] = fl::depthwise_at(x, w, s, p, q) + b;
    for (index_t q = qa; q < qb; q += V::width) {
      const index_t c = std::min<index_t>(V::width, qb - q);
      const index_t w0 = q * s.stride_w - s.pad_w;
      const bool full = c == V::width && w0 + span + s.stride_w * V::width - 1 < s.W;
      V acc = V::zero();
      for (index_t r = 0; r < s.R; ++r) {
        const index_t h = h0 + r * s.dil_h;
        if (h < 0 || h >= s.H) continue;
        const float* row = x + h * s.W + w0;
        for (index_t t = 0; t < s.S; ++t)
          acc = V::fmadd(window::load_taps<V>(row + t * s.dil_w, s.stride_w, c, full), V::set1(w[r * s.S + t]), acc);
      }
      acc = acc + V::set1(b);
      if (c == V::width) V::store(yr + q, acc); else V::store_n(yr + q, acc, c);
    }
    for (index_t q = std::max(qa, qb); q < s.Q; ++q) yr[q] = fl::depthwise_at(x, w, s, p, q) + b;
  }
}

// The zero-padded copy of one input plane for the vector kernels: row h + pad_h, column j + pad_w
// holds x(h, j), zeros elsewhere, ld floats a row, `rows` rows; wide and tall enough for whole
// vectors over rows_out x vecs * width outputs (tile rounding included). Null when the buffer
// cannot be had.
struct PaddedPlane {
  const float* p;
  index_t ld;
};

thread_local fl::ScratchBuffer t_dw_plane;  // core/scratch.h, included by the ISA's file

template <class V> PaddedPlane padded_plane(const float* x, const Conv2dShape& s, index_t rows_out, index_t vecs) {
  const index_t cols_read = vecs * V::width * s.stride_w + (s.S - 1) * s.dil_w;  // the last vector's taps, + 1
  const index_t ld = (std::max(cols_read, s.W + s.pad_w) + 15) / 16 * 16;
  const index_t rows = std::max((rows_out - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1, s.H + s.pad_h);
  float* buf = t_dw_plane.get(rows * ld);
  if (!buf) return {nullptr, 0};
  std::fill(buf, buf + s.pad_h * ld, 0.0f);
  for (index_t h = 0; h < s.H; ++h) {
    float* d = buf + (h + s.pad_h) * ld;
    std::fill(d, d + s.pad_w, 0.0f);
    std::copy(x + h * s.W, x + (h + 1) * s.W, d + s.pad_w);
    std::fill(d + s.pad_w + s.W, d + ld, 0.0f);
  }
  std::fill(buf + (s.H + s.pad_h) * ld, buf + rows * ld, 0.0f);
  return {buf, ld};
}

// Output rows p0.. (PB of them, those below P stored) x vectors q0.. (NV) of a padded plane.
template <class V, int PB, int NV>
void depthwise_tile(float* y, const PaddedPlane& xp, const float* w, float b, const Conv2dShape& s, index_t p0,
                    index_t q0) {
  V acc[PB][NV];
  for (int i = 0; i < PB; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = V::set1(b);
  const float* base = xp.p + p0 * s.stride_h * xp.ld + q0 * s.stride_w;
  for (index_t r = 0; r < s.R; ++r)
    for (index_t t = 0; t < s.S; ++t) {
      const V wt = V::set1(w[r * s.S + t]);
      const float* tap = base + r * s.dil_h * xp.ld + t * s.dil_w;
      for (int i = 0; i < PB; ++i)
        for (int v = 0; v < NV; ++v) {
          const float* at = tap + i * s.stride_h * xp.ld + v * V::width * s.stride_w;
          const V xv = s.stride_w == 1 ? V::load(at) : V::even(V::load(at), V::load(at + V::width));
          acc[i][v] = V::fmadd(xv, wt, acc[i][v]);
        }
    }
  for (int i = 0; i < PB && p0 + i < s.P; ++i)
    for (int v = 0; v < NV; ++v) {
      const index_t q = q0 + v * V::width;
      if (q + V::width <= s.Q) V::store(y + (p0 + i) * s.Q + q, acc[i][v]);
      else if (q < s.Q) V::store_n(y + (p0 + i) * s.Q + q, acc[i][v], s.Q - q);
    }
}

template <class V, int PB, int NV>
bool depthwise_padded(float* y, const float* x, const float* w, float b, const Conv2dShape& s) {
  const index_t vecs = (s.Q + NV * V::width - 1) / (NV * V::width) * NV;
  const PaddedPlane xp = padded_plane<V>(x, s, (s.P + PB - 1) / PB * PB, vecs);
  if (!xp.p) return false;
  for (index_t p0 = 0; p0 < s.P; p0 += PB)
    for (index_t q0 = 0; q0 < s.Q; q0 += NV * V::width) depthwise_tile<V, PB, NV>(y, xp, w, b, s, p0, q0);
  return true;
}

template <class V> void depthwise_fwd(float* y, const float* x, const float* w, const float* bias,
                                      const Conv2dShape& s) {
  if (s.stride_w <= 2 && s.R * s.S <= kMaxTaps && s.P > 0 && s.Q > 0) {
    const float b = bias ? *bias : 0.0f;
    if (s.Q <= V::width ? depthwise_padded<V, 8, 1>(y, x, w, b, s) : depthwise_padded<V, 4, 2>(y, x, w, b, s)) return;
  }
  depthwise_fwd_rows<V>(y, x, w, bias, s);
}

// Depthwise weight gradient of one plane pair on the padded plane: every output column in
// vectors (the last one's lanes past Q load dy as zeros), one accumulator per tap (R x S of
// them: in registers when the filter size is a template argument, 3 x 3), summed across lanes at
// the end. RT, ST = 0: R and S from s, the accumulators in memory.
template <class V, int RT, int ST>
void depthwise_bwd_w_padded(float* dw, const float* dy, const PaddedPlane& xp, const Conv2dShape& s) {
  const index_t R = RT ? RT : s.R, S = ST ? ST : s.S;
  V acc[RT ? RT * ST : kMaxTaps];
  for (index_t i = 0; i < R * S; ++i) acc[i] = V::zero();
  for (index_t p = 0; p < s.P; ++p) {
    const float* gr = dy + p * s.Q;
    const float* base = xp.p + p * s.stride_h * xp.ld;
    for (index_t q = 0; q < s.Q; q += V::width) {
      const V g = q + V::width <= s.Q ? V::load(gr + q) : V::load_n(gr + q, s.Q - q);
      const float* at0 = base + q * s.stride_w;
      for (index_t r = 0; r < R; ++r)
        for (index_t t = 0; t < S; ++t) {
          const float* at = at0 + r * s.dil_h * xp.ld + t * s.dil_w;
          const V xv = s.stride_w == 1 ? V::load(at) : V::even(V::load(at), V::load(at + V::width));
          acc[r * S + t] = V::fmadd(g, xv, acc[r * S + t]);
        }
    }
  }
  for (index_t i = 0; i < R * S; ++i) dw[i] += V::hsum(acc[i]);
}

// The kernel before the padded plane (and its fallback: strides above 2, filters above kMaxTaps
// taps, no buffer): per output row and tap row, the interior columns by vectors, edge columns by
// depthwise_dw_at; above kMaxTaps taps the scalar loop throughout.
template <class V> void depthwise_bwd_w_rows(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  index_t qa = 0, qb = 0;
  const index_t taps = s.R * s.S;
  if (s.stride_w <= 2 && taps <= kMaxTaps)
    window::interior_cols(s.W, s.Q, s.S, s.stride_w, s.pad_w, s.dil_w, &qa, &qb);
  const index_t span = (s.S - 1) * s.dil_w;
  V acc[kMaxTaps];
  for (index_t i = 0; i < std::min(taps, kMaxTaps); ++i) acc[i] = V::zero();
  for (index_t p = 0; p < s.P; ++p) {
    const float* gr = dy + p * s.Q;
    for (index_t q = 0; q < std::min(qa, s.Q); ++q) fl::depthwise_dw_at(dw, gr[q], x, s, p, q);
    for (index_t q = std::max(qa, qb); q < s.Q; ++q) fl::depthwise_dw_at(dw, gr[q], x, s, p, q);
    const index_t h0 = p * s.stride_h - s.pad_h;
    for (index_t q = qa; q < qb; q += V::width) {
      const index_t c = std::min<index_t>(V::width, qb - q);
      const index_t w0 = q * s.stride_w - s.pad_w;
      const bool full = c == V::width && w0 + span + s.stride_w * V::width - 1 < s.W;
      const V g = c == V::width ? V::load(gr + q) : V::load_n(gr + q, c);
      for (index_t r = 0; r < s.R; ++r) {
        const index_t h = h0 + r * s.dil_h;
        if (h < 0 || h >= s.H) continue;
        const float* row = x + h * s.W + w0;
        for (index_t t = 0; t < s.S; ++t)
          acc[r * s.S + t] = V::fmadd(g, window::load_taps<V>(row + t * s.dil_w, s.stride_w, c, full),
                                      acc[r * s.S + t]);
      }
    }
  }
  if (qa < qb)
    for (index_t i = 0; i < taps; ++i) dw[i] += V::hsum(acc[i]);
}

template <class V> void depthwise_bwd_w(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  if (s.stride_w <= 2 && s.R * s.S <= kMaxTaps && s.P > 0 && s.Q > 0) {
    const PaddedPlane xp = padded_plane<V>(x, s, s.P, (s.Q + V::width - 1) / V::width);
    if (xp.p) {
      if (s.R == 3 && s.S == 3) depthwise_bwd_w_padded<V, 3, 3>(dw, dy, xp, s);
      else depthwise_bwd_w_padded<V, 0, 0>(dw, dy, xp, s);
      return;
    }
  }
  depthwise_bwd_w_rows<V>(dw, dy, x, s);
}

// Depthwise input gradient of one plane pair, for column strides 1 and 2 (any row stride):
// dx (H x W) = the taps of dy (P x Q) scattered through w (R x S). Gathered instead, per dx row
// and column phase b (the columns j = sw q' + b): each tap t feeds exactly one phase, from dy's
// row p = (h + pad_h - r dil_h) / stride_h (where that divides) at column q' + o_t, so a phase
// is a stride-1 sum of shifted dy rows, read from a zero-padded copy of dy. NV vectors of q'
// per phase (2 NV accumulators at stride 2), the two phases interleaved by V::zip at the store.
// Returns false (nothing written) where it does not apply or the buffer cannot be had.
thread_local fl::ScratchBuffer t_dw_grad;
constexpr int kGradVecs = 4;  // NV: vectors of q' a phase per step of depthwise_bwd_x_rows

template <class V, int SW>
void depthwise_bwd_x_rows(float* dx, const float* buf, index_t ld, index_t lp, const float* w, const Conv2dShape& s,
                          const index_t* phase_taps, const index_t* phase_count, const index_t* offset) {
  constexpr int NV = kGradVecs;
  const index_t wq = (s.W + SW - 1) / SW;  // columns per phase
  for (index_t h = 0; h < s.H; ++h) {
    float* out = dx + h * s.W;
    for (index_t q0 = 0; q0 < wq; q0 += NV * V::width) {
      V acc[SW][NV];
      for (int b = 0; b < SW; ++b)
        for (int v = 0; v < NV; ++v) acc[b][v] = V::zero();
      for (index_t r = 0; r < s.R; ++r) {
        const index_t num = h + s.pad_h - r * s.dil_h;
        if (num < 0 || num % s.stride_h) continue;
        const index_t p = num / s.stride_h;
        if (p >= s.P) continue;
        const float* row = buf + p * ld + lp + q0;
        for (int b = 0; b < SW; ++b)
          for (index_t i = 0; i < phase_count[b]; ++i) {
            const index_t t = phase_taps[b * kMaxTaps + i];
            const V wt = V::set1(w[r * s.S + t]);
            const float* at = row + offset[t];
            for (int v = 0; v < NV; ++v) acc[b][v] = V::fmadd(V::load(at + v * V::width), wt, acc[b][v]);
          }
      }
      for (int v = 0; v < NV; ++v) {
        const index_t j = (q0 + v * V::width) * SW;  // first dx column of this vector pair
        if (j >= s.W) break;
        if constexpr (SW == 1) {
          if (j + V::width <= s.W) V::store(out + j, acc[0][v]); else V::store_n(out + j, acc[0][v], s.W - j);
        } else {
          V lo, hi;
          V::zip(acc[0][v], acc[1][v], lo, hi);
          if (j + V::width <= s.W) V::store(out + j, lo); else V::store_n(out + j, lo, s.W - j);
          if (j + V::width < s.W) {
            const index_t j2 = j + V::width;
            if (j2 + V::width <= s.W) V::store(out + j2, hi); else V::store_n(out + j2, hi, s.W - j2);
          }
        }
      }
    }
  }
}

template <class V> bool depthwise_bwd_x(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const index_t sw = s.stride_w;
  if ((sw != 1 && sw != 2) || s.S > kMaxTaps || s.H <= 0 || s.W <= 0) return false;
  if (s.P <= 0 || s.Q <= 0) {
    std::fill(dx, dx + s.H * s.W, 0.0f);
    return true;
  }
  // Tap t feeds phase b_t = (t dil - pad) mod sw from dy column q' + o_t, o_t = (b_t + pad - t dil) / sw.
  index_t phase_taps[2 * kMaxTaps], phase_count[2] = {0, 0}, offset[kMaxTaps];
  index_t omin = 0, omax = 0;
  for (index_t t = 0; t < s.S; ++t) {
    const index_t b = ((t * s.dil_w - s.pad_w) % sw + sw) % sw;
    offset[t] = (b + s.pad_w - t * s.dil_w) / sw;
    phase_taps[b * kMaxTaps + phase_count[b]++] = t;
    omin = t == 0 ? offset[t] : std::min(omin, offset[t]);
    omax = t == 0 ? offset[t] : std::max(omax, offset[t]);
  }
  const index_t step = kGradVecs * V::width;  // columns of q' a step of the rows kernel covers
  const index_t wq = (s.W + sw - 1) / sw, span = (wq + step - 1) / step * step;
  const index_t lp = std::max<index_t>(0, -omin);                      // zeros left of dy column 0
  const index_t ld = (lp + std::max(s.Q, span + std::max<index_t>(0, omax)) + 15) / 16 * 16;  // and right of Q
  float* buf = t_dw_grad.get(s.P * ld);
  if (!buf) return false;
  for (index_t p = 0; p < s.P; ++p) {
    float* d = buf + p * ld;
    std::fill(d, d + lp, 0.0f);
    std::copy(dy + p * s.Q, dy + (p + 1) * s.Q, d + lp);
    std::fill(d + lp + s.Q, d + ld, 0.0f);
  }
  if (sw == 1) depthwise_bwd_x_rows<V, 1>(dx, buf, ld, lp, w, s, phase_taps, phase_count, offset);
  else depthwise_bwd_x_rows<V, 2>(dx, buf, ld, lp, w, s, phase_taps, phase_count, offset);
  return true;
}

// ---- direct convolution for small C R S (contract in ops/conv.h) ----
// Register tile: KB output channels x PB output rows x 2 vectors of output columns, 2 KB PB
// accumulators (16 of 32 registers at KB = 8 on AVX-512; 12 of 16 at KB = 6 on AVX2, leaving
// room for the two input vectors and a broadcast). Per tap: 2 PB unmasked loads from the
// padded copy, KB broadcasts of wt[tap][k], 2 KB PB multiply-adds. The padded copy makes
// every load in bounds and every lane beyond Q harmless (it is masked at the store).
// Channels left over from the KB blocks (all of them when K < KB, e.g. the one output
// channel of a first layer's input gradient) run with KB = 1 on PB = 4 rows, so that 8
// independent accumulators hide the multiply-add latency.
template <class V, int KB, int PB>
void direct_block(float* y, const float* xp, index_t ldx, index_t plane, const float* wt, const float* bias,
                  const Conv2dShape& s, index_t k0, index_t p0) {
  const index_t pq = s.P * s.Q;
  for (index_t q = 0; q < s.Q; q += 2 * V::width) {
    V acc[KB][PB][2];
    for (int kk = 0; kk < KB; ++kk)
      for (int pb = 0; pb < PB; ++pb) acc[kk][pb][0] = acc[kk][pb][1] = V::zero();
    const float* wj = wt + k0;
    for (index_t c = 0; c < s.C; ++c)
      for (index_t r = 0; r < s.R; ++r) {
        const float* row = xp + c * plane + (p0 + r * s.dil_h) * ldx + q;
        for (index_t t = 0; t < s.S; ++t, wj += s.K) {
          for (int pb = 0; pb < PB; ++pb) {
            const V x0 = V::load(row + pb * ldx + t * s.dil_w), x1 = V::load(row + pb * ldx + t * s.dil_w + V::width);
            for (int kk = 0; kk < KB; ++kk) {
              const V wk = V::set1(wj[kk]);
              acc[kk][pb][0] = V::fmadd(wk, x0, acc[kk][pb][0]);
              acc[kk][pb][1] = V::fmadd(wk, x1, acc[kk][pb][1]);
            }
          }
        }
      }
    const index_t n = std::min<index_t>(2 * V::width, s.Q - q);
#pragma GCC unroll 16
    for (int kk = 0; kk < KB; ++kk) {
      const V b = V::set1(bias ? bias[k0 + kk] : 0.0f);
#pragma GCC unroll 16
      for (int pb = 0; pb < PB; ++pb) {
        float* dst = y + (k0 + kk) * pq + (p0 + pb) * s.Q + q;
        if (n >= V::width) {
          V::store(dst, acc[kk][pb][0] + b);
          V::store_n(dst + V::width, acc[kk][pb][1] + b, n - V::width);
        } else {
          V::store_n(dst, acc[kk][pb][0] + b, n);
        }
      }
    }
  }
}

template <class V> void direct_fwd(float* y, const float* xp, index_t ldx, index_t plane, const float* wt,
                                   const float* bias, const Conv2dShape& s) {
  constexpr int kb = V::width == 16 ? 8 : 6, pb = 4;
  index_t k0 = 0;
  for (; k0 + kb <= s.K; k0 += kb)
    for (index_t p = 0; p < s.P; ++p) direct_block<V, kb, 1>(y, xp, ldx, plane, wt, bias, s, k0, p);
  for (; k0 < s.K; ++k0) {
    index_t p = 0;
    for (; p + pb <= s.P; p += pb) direct_block<V, 1, pb>(y, xp, ldx, plane, wt, bias, s, k0, p);
    for (; p < s.P; ++p) direct_block<V, 1, 1>(y, xp, ldx, plane, wt, bias, s, k0, p);
  }
}

// ---- direct weight gradient for small C R S (contract in ops/conv.h) ----
// A GEMM of dy (K x PQ) by the patch matrix (PQ x C R S) has only C R S columns (25 for a
// first 5 x 5 layer on one channel), too few for its tiles. Here the reduction runs over
// (p, q) along vectors of output columns instead, with a register tile of KB filters x TB
// taps: per vector of dy positions, KB loads of dy, TB loads of the padded input (whole
// vectors, in bounds by the padding of the copy; lanes past Q carry dy = 0), KB TB
// multiply-adds. The KB TB accumulators are summed across lanes once per image.
// AVX-512: 4 x 6 (24 of 32 registers); AVX2: 2 x 6 (12 of 16).
constexpr index_t kDirectMaxTaps = 64;

template <class V, int KB, int TB>
[[gnu::noinline]] void direct_bw_block(float* dw, const float* dy, const float* xp, index_t ldx, const index_t* offs,
                     const Conv2dShape& s, index_t k0, index_t j0) {
  const index_t pq = s.P * s.Q, crs = s.C * s.R * s.S;
  V acc[KB][TB];
  for (int kk = 0; kk < KB; ++kk)
    for (int tb = 0; tb < TB; ++tb) acc[kk][tb] = V::zero();
  index_t off[TB];
  for (int tb = 0; tb < TB; ++tb) off[tb] = offs[j0 + tb];
  // One flat loop over the vectors of (p, q): with the row loop nested, GCC keeps the
  // accumulators in memory and stores all of them on every iteration.
  const float* gr = dy + k0 * pq;
  const float* xr = xp;
  for (index_t q = 0, p = 0; p < s.P;) {
    const index_t n = std::min<index_t>(V::width, s.Q - q);
    V g[KB];
    for (int kk = 0; kk < KB; ++kk) g[kk] = V::load_n(gr + kk * pq + q, n);
    for (int tb = 0; tb < TB; ++tb) {
      const V xv = V::load(xr + off[tb] + q);
      for (int kk = 0; kk < KB; ++kk) acc[kk][tb] = V::fmadd(g[kk], xv, acc[kk][tb]);
    }
    q += V::width;
    if (q >= s.Q) {
      q = 0;
      ++p;
      gr += s.Q;
      xr += ldx;
    }
  }
  // Unrolled, so that acc stays in registers (a loop here makes GCC keep acc in memory and
  // store all of it on every iteration of the loop above).
#pragma GCC unroll 32
  for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 32
    for (int tb = 0; tb < TB; ++tb) dw[(k0 + kk) * crs + j0 + tb] += V::hsum(acc[kk][tb]);
}

template <class V, int KB>
void direct_bw_taps(index_t tb, float* dw, const float* dy, const float* xp, index_t ldx, const index_t* offs,
                    const Conv2dShape& s, index_t k0, index_t j0) {
  switch (tb) {
    case 1: return direct_bw_block<V, KB, 1>(dw, dy, xp, ldx, offs, s, k0, j0);
    case 2: return direct_bw_block<V, KB, 2>(dw, dy, xp, ldx, offs, s, k0, j0);
    case 3: return direct_bw_block<V, KB, 3>(dw, dy, xp, ldx, offs, s, k0, j0);
    case 4: return direct_bw_block<V, KB, 4>(dw, dy, xp, ldx, offs, s, k0, j0);
    case 5: return direct_bw_block<V, KB, 5>(dw, dy, xp, ldx, offs, s, k0, j0);
    default: return direct_bw_block<V, KB, 6>(dw, dy, xp, ldx, offs, s, k0, j0);
  }
}

template <class V> void direct_bwd_w(float* dw, const float* dy, const float* xp, index_t ldx, index_t plane,
                                     const Conv2dShape& s) {
  constexpr int kb = V::width == 16 ? 4 : 2, tbmax = 6;
  const index_t crs = s.C * s.R * s.S;
  index_t offs[kDirectMaxTaps];
  for (index_t c = 0, j = 0; c < s.C; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t t = 0; t < s.S; ++t) offs[j++] = c * plane + r * s.dil_h * ldx + t * s.dil_w;
  // taps in equal blocks of at most tbmax (25 taps: 5 blocks of 5)
  const index_t blocks = (crs + tbmax - 1) / tbmax, tb = (crs + blocks - 1) / blocks;
  // filters outer: the KB planes of dy (12.5 KB for 28 x 28 at KB = 4) stay in L1 across taps
  for (index_t k0 = 0; k0 < s.K;) {
    const index_t kn = k0 + kb <= s.K ? kb : 1;
    for (index_t j0 = 0; j0 < crs; j0 += tb) {
      const index_t n = std::min(tb, crs - j0);
      if (kn == kb) direct_bw_taps<V, kb>(n, dw, dy, xp, ldx, offs, s, k0, j0);
      else direct_bw_taps<V, 1>(n, dw, dy, xp, ldx, offs, s, k0, j0);
    }
    k0 += kn;
  }
}

// ---- Winograd F(2x2, 3x3) transforms (contracts in ops/conv.h) ----
// Vectorised across V::width consecutive tiles of one tile row: lane l holds tile j + l, whose
// input columns start at 2 (j + l) - pad_w, so each of the 4 column phases of the 4 x 4 patch
// is one stride-2 load (window::load_taps). The rows of the block are first copied into a
// zero-padded plane (padded column 2 j + b holds input column 2 j + b - pad_w), wide enough
// that every such load is whole and in bounds: no edge cases, and no gathers, whose scalar
// stores followed by a vector load stall on store forwarding.
// B^T d B and A^T m A are adds only, so the transforms are exact on small integers, as the
// filter transform's halves are.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]     A^T = [1 1 1 0; 0 1 -1 -1]

// Tiles [t, t + n) of one tile row of a block starting at t0 with T tiles: n <= width.
inline index_t tile_chunk(index_t t, index_t t0, index_t T, index_t TQ, index_t width) {
  return std::min(std::min(width, TQ - t % TQ), t0 + T - t);
}

// Rows [h0, h0 + rows) of plane x (H x W), zero outside it, into pad (rows ld floats apart),
// input column w at padded column w + pad_w.
template <class V> void pad_rows(float* pad, index_t ld, const float* x, const Conv2dShape& s, index_t h0,
                                 index_t rows) {
  const index_t w1 = std::min(s.W, ld - s.pad_w);  // input columns that fit
  for (index_t r = 0; r < rows; ++r) {
    float* dst = pad + r * ld;
    for (index_t i = 0; i < ld; i += V::width) V::store(dst + i, V::zero());
    const index_t h = h0 + r;
    if (h < 0 || h >= s.H) continue;
    const float* src = x + h * s.W;
    float* d = dst + s.pad_w;
    index_t w = std::max<index_t>(0, -s.pad_w);
    for (; w + V::width <= w1; w += V::width) V::store(d + w, V::load(src + w));
    if (w < w1) V::store_n(d + w, V::load_n(src + w, w1 - w), w1 - w);
  }
}

template <class V> void wino_input(float* v, float* pad, const float* x, const Conv2dShape& s, index_t Cg,
                                   index_t t0, index_t T) {
  const index_t TQ = (s.Q + 1) / 2, ld = fl::winograd_pad_ld(s);
  const index_t i0 = t0 / TQ, i1 = (t0 + T - 1) / TQ;  // tile rows of the block
  const index_t rows = 2 * (i1 - i0) + 4;
  for (index_t c = 0; c < Cg; ++c) {
    pad_rows<V>(pad, ld, x + c * s.H * s.W, s, 2 * i0 - s.pad_h, rows);
    for (index_t t = t0; t < t0 + T;) {
      const index_t i = t / TQ, j = t % TQ, n = tile_chunk(t, t0, T, TQ, V::width);
      V d[4][4];
      for (index_t a = 0; a < 4; ++a) {
        const float* row = pad + (2 * (i - i0) + a) * ld + 2 * j;
        for (index_t b = 0; b < 4; ++b) d[a][b] = V::even(V::load(row + b), V::load(row + b + V::width));
      }
      V r[4][4];  // B^T d, then (B^T d) B in place per row
      for (index_t b = 0; b < 4; ++b) {
        r[0][b] = d[0][b] - d[2][b];
        r[1][b] = d[1][b] + d[2][b];
        r[2][b] = d[2][b] - d[1][b];
        r[3][b] = d[1][b] - d[3][b];
      }
      for (index_t u = 0; u < 4; ++u) {
        const V e[4] = {r[u][0] - r[u][2], r[u][1] + r[u][2], r[u][2] - r[u][1], r[u][1] - r[u][3]};
        for (index_t k = 0; k < 4; ++k) {
          float* dst = v + ((u * 4 + k) * Cg + c) * T + (t - t0);
          if (n == V::width) V::store(dst, e[k]); else V::store_n(dst, e[k], n);
        }
      }
      t += n;
    }
  }
}

template <class V> void wino_output(float* y, const float* m, const float* bias, const Conv2dShape& s, index_t Kg,
                                    index_t t0, index_t T) {
  const index_t TQ = (s.Q + 1) / 2;
  for (index_t k = 0; k < Kg; ++k) {
    const V b = V::set1(bias ? bias[k] : 0.0f);
    float* yk = y + k * s.P * s.Q;
    for (index_t t = t0; t < t0 + T;) {
      const index_t i = t / TQ, j = t % TQ, n = tile_chunk(t, t0, T, TQ, V::width);
      V q[4][4];
      for (index_t e = 0; e < 16; ++e) {
        const float* src = m + (e * Kg + k) * T + (t - t0);
        q[e / 4][e % 4] = n == V::width ? V::load(src) : V::load_n(src, n);
      }
      const index_t cols = std::min(2 * n, s.Q - 2 * j);
      for (index_t u = 0; u < 2 && 2 * i + u < s.P; ++u) {
        V a[4];  // row u of A^T q
        for (index_t c = 0; c < 4; ++c) a[c] = u == 0 ? q[0][c] + q[1][c] + q[2][c] : q[1][c] - q[2][c] - q[3][c];
        V lo, hi;
        V::zip(a[0] + a[1] + a[2] + b, a[1] - a[2] - a[3] + b, lo, hi);
        float* dst = yk + (2 * i + u) * s.Q + 2 * j;
        if (cols >= V::width) V::store(dst, lo); else V::store_n(dst, lo, cols);
        if (cols > V::width) V::store_n(dst + V::width, hi, cols - V::width);
      }
      t += n;
    }
  }
}

// A m A^T for the weight gradient, A = [1 0; 1 1; 1 -1; 0 -1]: lane l holds tile j + l, whose
// 2 x 2 block of dy starts at column 2 (j + l): the two columns are the even and odd lanes of
// one stride-2 load. The last chunk of a row with odd Q gathers with bounds checks.
template <class V> void wino_grad_output(float* g, const float* dy, const Conv2dShape& s, index_t Kg, index_t t0,
                                         index_t T) {
  const index_t TQ = (s.Q + 1) / 2;
  for (index_t k = 0; k < Kg; ++k) {
    const float* dk = dy + k * s.P * s.Q;
    for (index_t t = t0; t < t0 + T;) {
      const index_t i = t / TQ, j = t % TQ, n = tile_chunk(t, t0, T, TQ, V::width);
      const bool interior = 2 * (j + n - 1) + 1 < s.Q;
      const bool full = n == V::width && 2 * j + 2 * V::width < s.Q;
      V m[2][2];
      for (index_t a = 0; a < 2; ++a) {
        const index_t h = 2 * i + a;
        if (h >= s.P) {
          m[a][0] = m[a][1] = V::zero();
          continue;
        }
        const float* row = dk + h * s.Q;
        if (interior) {
          for (index_t b = 0; b < 2; ++b) m[a][b] = window::load_taps<V>(row + 2 * j + b, 2, n, full);
          continue;
        }
        float lanes[2][V::width] = {};
        for (index_t l = 0; l < n; ++l)
          for (index_t b = 0; b < 2; ++b)
            if (2 * (j + l) + b < s.Q) lanes[b][l] = row[2 * (j + l) + b];
        m[a][0] = V::load(lanes[0]);
        m[a][1] = V::load(lanes[1]);
      }
      V w[4][2];  // A m
      for (index_t b = 0; b < 2; ++b) {
        w[0][b] = m[0][b];
        w[1][b] = m[0][b] + m[1][b];
        w[2][b] = m[0][b] - m[1][b];
        w[3][b] = V::zero() - m[1][b];
      }
      for (index_t u = 0; u < 4; ++u) {
        const V e[4] = {w[u][0], w[u][0] + w[u][1], w[u][0] - w[u][1], V::zero() - w[u][1]};
        for (index_t v = 0; v < 4; ++v) {
          float* dst = g + ((u * 4 + v) * Kg + k) * T + (t - t0);
          if (n == V::width) V::store(dst, e[v]); else V::store_n(dst, e[v], n);
        }
      }
      t += n;
    }
  }
}

template <class V> void register_all(fl::ConvKernels& t) {
  t.winograd_grad_output = wino_grad_output<V>;
  t.direct_forward = direct_fwd<V>;
  t.direct_backward_weight = direct_bwd_w<V>;
  t.winograd_input = wino_input<V>;
  t.winograd_output = wino_output<V>;
  t.depthwise_forward = depthwise_fwd<V>;
  t.depthwise_backward_weight = depthwise_bwd_w<V>;
  t.depthwise_backward_input = depthwise_bwd_x<V>;
  t.use_gemm = true;
}

}  // namespace conv
