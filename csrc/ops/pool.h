// The pool family: max and average pooling over the planes of NCHW tensors (1-D pooling is
// the H = 1 case), adaptive average pooling (global pooling is its 1 x 1 case). Forward and
// backward for each; the CPU driver (pool.cpp) splits planes over threads and calls the kernel
// table of the current ISA level.
//
// A plane is one (n, c) image of H x W floats; kernels take `planes` consecutive planes, so
// x holds planes * H * W floats and y planes * P * Q. Output (p, q) pools the window
// rows p * stride_h - pad_h + r * dil_h (r < R) and columns q * stride_w - pad_w + s * dil_w
// (s < S), skipping positions outside the input. Output sizes follow PyTorch (ceil_mode
// included) and are computed by the caller; every window holds at least one input position.
// Max-pool indices are flat positions h * W + w within the plane (int64), as in PyTorch.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct Pool2dShape {
  index_t H, W;  // input plane
  index_t P, Q;  // output plane
  index_t R, S;  // window
  index_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

struct AvgPoolOptions {
  bool count_include_pad = true;
  index_t divisor_override = 0;  // 0: none
};

// y (planes x P x Q) = max over each window; idx (same size) receives the winner's flat
// position when non-null. The first maximum wins; a NaN wins over numbers (PyTorch's rule).
using MaxPoolForwardFn = void (*)(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s);
// dx (planes x H x W) = 0, then dx[idx[o]] += dy[o] for every output o of the plane.
// Returns false, with dx unspecified, when an index lies outside [0, H W) (nothing is
// written outside dx).
using MaxPoolBackwardFn = bool (*)(float* dx, const float* dy, const int64_t* idx, index_t planes,
                                   const Pool2dShape& s);
// y = sum over each window / divisor (see avg_divisor); dil must be 1.
using AvgPoolForwardFn = void (*)(float* y, const float* x, index_t planes, const Pool2dShape& s,
                                  const AvgPoolOptions& o);
// dx = sum over the windows covering each input of dy / divisor.
using AvgPoolBackwardFn = void (*)(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                                   const AvgPoolOptions& o);
// Adaptive average pooling: output (p, q) averages rows [floor(p H / P), ceil((p + 1) H / P))
// and the columns likewise (only H, W, P, Q of the shape are used).
using AdaptiveAvgForwardFn = void (*)(float* y, const float* x, index_t planes, const Pool2dShape& s);
using AdaptiveAvgBackwardFn = void (*)(float* dx, const float* dy, index_t planes, const Pool2dShape& s);

struct PoolKernels {
  MaxPoolForwardFn max_forward;
  MaxPoolBackwardFn max_backward;
  AvgPoolForwardFn avg_forward;
  AvgPoolBackwardFn avg_backward;
  AdaptiveAvgForwardFn adaptive_forward;
  AdaptiveAvgBackwardFn adaptive_backward;
};

extern KernelTables<PoolKernels> g_pool_kernels;
void register_pool_ref(PoolKernels& t);
void register_pool_avx2(PoolKernels& t);
void register_pool_avx512(PoolKernels& t);
// Reference kernels the vector kernels fall back to: adaptive forward for outputs other than
// 1 x 1, max backward for windows other than 2 x 2 stride 2 (or indices outside their
// windows), average backward for strides above 2.
void adaptive_avg_forward_ref(float* y, const float* x, index_t planes, const Pool2dShape& s);
bool max_pool_backward_ref(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s);
void avg_pool_backward_ref(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                           const AvgPoolOptions& o);

// ---- scalar helpers shared by the reference kernels and the vector kernels' edges ----

// Valid taps [t0, t1) of a window starting at `start` with `taps` taps `dil` apart over [0, n),
// in constant time (a window may be far wider than the input: a kernel of 2^30 is legal).
inline void pool_taps(index_t start, index_t taps, index_t dil, index_t n, index_t* t0, index_t* t1) {
  const index_t a = std::min(taps, start < 0 ? (-start + dil - 1) / dil : index_t(0));
  const index_t b = start > n - 1 ? index_t(0) : std::min(taps, (n - 1 - start) / dil + 1);
  *t0 = a;
  *t1 = std::max(a, b);
}

// Max over the window of output (p, q) of one plane; *at receives the flat winner position.
inline float max_pool_at(const float* x, const Pool2dShape& s, index_t p, index_t q, int64_t* at) {
  const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  index_t r0, r1, c0, c1;
  pool_taps(h0, s.R, s.dil_h, s.H, &r0, &r1);
  pool_taps(w0, s.S, s.dil_w, s.W, &c0, &c1);
  float m = -std::numeric_limits<float>::infinity();
  int64_t best = (h0 + r0 * s.dil_h) * s.W + (w0 + c0 * s.dil_w);
  for (index_t r = r0; r < r1; ++r)
    for (index_t c = c0; c < c1; ++c) {
      const index_t k = (h0 + r * s.dil_h) * s.W + (w0 + c * s.dil_w);
      const float v = x[k];
      if (v > m || std::isnan(v)) {
        m = v;
        best = k;
      }
    }
  *at = best;
  return m;
}

// PyTorch's divisor of an average-pool window: the window clipped to the padded input
// (count_include_pad) or to the input itself, unless divisor_override is set.
inline float avg_divisor(const Pool2dShape& s, const AvgPoolOptions& o, index_t p, index_t q) {
  if (o.divisor_override) return static_cast<float>(o.divisor_override);
  index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  index_t h1 = std::min(h0 + s.R, s.H + s.pad_h), w1 = std::min(w0 + s.S, s.W + s.pad_w);
  if (o.count_include_pad) return static_cast<float>((h1 - h0) * (w1 - w0));
  h0 = std::max<index_t>(h0, 0);
  w0 = std::max<index_t>(w0, 0);
  h1 = std::min(h1, s.H);
  w1 = std::min(w1, s.W);
  return static_cast<float>((h1 - h0) * (w1 - w0));
}

inline float avg_pool_at(const float* x, const Pool2dShape& s, const AvgPoolOptions& o, index_t p, index_t q) {
  const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  const index_t ha = std::max<index_t>(h0, 0), hb = std::min(h0 + s.R, s.H);
  const index_t wa = std::max<index_t>(w0, 0), wb = std::min(w0 + s.S, s.W);
  float sum = 0.0f;
  for (index_t h = ha; h < hb; ++h)
    for (index_t w = wa; w < wb; ++w) sum += x[h * s.W + w];
  return sum / avg_divisor(s, o, p, q);
}

// ---- drivers: threads over planes; all pointers to contiguous arrays ----
void max_pool2d_forward(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s);
// The kernels check the indices against [0, H W) as they go (so the indices are read from
// memory once, not once for a check and once more for the scatter). Returns false, with dx
// partly written, when any index lies outside its plane.
bool max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s);
void avg_pool2d_forward(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o);
void avg_pool2d_backward(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                         const AvgPoolOptions& o);
void adaptive_avg_pool2d_forward(float* y, const float* x, index_t planes, const Pool2dShape& s);
void adaptive_avg_pool2d_backward(float* dx, const float* dy, index_t planes, const Pool2dShape& s);

}  // namespace fl
