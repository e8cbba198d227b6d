// Convolution micro-kernels written once against the Vec interface and instantiated per ISA
// (ukernels/avx2/conv_avx2.cpp, ukernels/avx512/conv_avx512.cpp). Include only inside an
// anonymous namespace, after the ISA's Vec header.
//
// Depthwise forward, contract (cpu/conv.h): one plane, s.N = s.C = s.K = 1; y is P x Q, x is
// H x W, w is R x S, bias one float or null. Vectorised along each output row over the
// interior columns (window::interior_cols): V::width outputs per vector, one fused
// multiply-add per tap with the tap's weight broadcast; stride 1 loads directly, stride 2
// deinterleaves two loads. Edge columns and larger strides use the scalar depthwise_at.
// Depthwise layers have R * S multiply-adds per output and no reuse across channels, so
// they are bound by loads, which is why this is not a GEMM.
#pragma once
#include <algorithm>

#include "cpu/conv.h"
#include "cpu/ukernels/window_impl.h"

namespace conv {
using fl::Conv2dShape;
using fl::index_t;

template <class V> void depthwise_fwd(float* y, const float* x, const float* w, const float* bias,
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

// Depthwise weight gradient of one plane pair: per output row and tap row, the interior
// columns by vectors (one accumulator per tap, summed across lanes at the end), edge
// columns by depthwise_dw_at. Filters above kMaxTaps taps take the scalar loop throughout.
constexpr index_t kMaxTaps = 49;

template <class V> void depthwise_bwd_w(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
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

template <class V> void register_all(fl::ConvKernels& t) {
  t.depthwise_forward = depthwise_fwd<V>;
  t.depthwise_backward_weight = depthwise_bwd_w<V>;
  t.use_gemm = true;
}

}  // namespace conv
