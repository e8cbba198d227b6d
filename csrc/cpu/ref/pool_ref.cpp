// Reference pooling kernels: plain loops over every output (forward) or every window
// (backward). They are the algorithmic reference the vector kernels are tested against, the
// scalar ISA level, and the backward kernels of every level (scatter by index and window
// spreading are memory-bound and gain little from vectors).
#include <algorithm>
#include <cstring>

#include "cpu/pool.h"

namespace fl {
namespace {

void max_fwd(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p)
      for (index_t q = 0; q < s.Q; ++q) {
        int64_t at;
        y[n * pq + p * s.Q + q] = max_pool_at(x + n * hw, s, p, q, &at);
        if (idx) idx[n * pq + p * s.Q + q] = at;
      }
}

void max_bwd(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(planes * hw));
  for (index_t n = 0; n < planes; ++n)
    for (index_t o = 0; o < pq; ++o) dx[n * hw + idx[n * pq + o]] += dy[n * pq + o];
}

void avg_fwd(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p)
      for (index_t q = 0; q < s.Q; ++q) y[n * pq + p * s.Q + q] = avg_pool_at(x + n * hw, s, o, p, q);
}

void avg_bwd(float* dx, const float* dy, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(planes * hw));
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p)
      for (index_t q = 0; q < s.Q; ++q) {
        const float g = dy[n * pq + p * s.Q + q] / avg_divisor(s, o, p, q);
        const index_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
        const index_t ha = std::max<index_t>(h0, 0), hb = std::min(h0 + s.R, s.H);
        const index_t wa = std::max<index_t>(w0, 0), wb = std::min(w0 + s.S, s.W);
        for (index_t h = ha; h < hb; ++h)
          for (index_t w = wa; w < wb; ++w) dx[n * hw + h * s.W + w] += g;
      }
}

// Adaptive window [start, end) of output i along an axis of n inputs and m outputs.
index_t adaptive_start(index_t i, index_t n, index_t m) { return (i * n) / m; }
index_t adaptive_end(index_t i, index_t n, index_t m) { return ((i + 1) * n + m - 1) / m; }

void adaptive_bwd(float* dx, const float* dy, index_t planes, const Pool2dShape& s) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(planes * hw));
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p) {
      const index_t ha = adaptive_start(p, s.H, s.P), hb = adaptive_end(p, s.H, s.P);
      for (index_t q = 0; q < s.Q; ++q) {
        const index_t wa = adaptive_start(q, s.W, s.Q), wb = adaptive_end(q, s.W, s.Q);
        const float g = dy[n * pq + p * s.Q + q] / static_cast<float>((hb - ha) * (wb - wa));
        for (index_t h = ha; h < hb; ++h)
          for (index_t w = wa; w < wb; ++w) dx[n * hw + h * s.W + w] += g;
      }
    }
}
}  // namespace

void adaptive_avg_forward_ref(float* y, const float* x, index_t planes, const Pool2dShape& s) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p) {
      const index_t ha = adaptive_start(p, s.H, s.P), hb = adaptive_end(p, s.H, s.P);
      for (index_t q = 0; q < s.Q; ++q) {
        const index_t wa = adaptive_start(q, s.W, s.Q), wb = adaptive_end(q, s.W, s.Q);
        float sum = 0.0f;
        for (index_t h = ha; h < hb; ++h)
          for (index_t w = wa; w < wb; ++w) sum += x[n * hw + h * s.W + w];
        y[n * pq + p * s.Q + q] = sum / static_cast<float>((hb - ha) * (wb - wa));
      }
    }
}

void register_pool_ref(PoolKernels& t) {
  t.max_forward = max_fwd;
  t.max_backward = max_bwd;
  t.avg_forward = avg_fwd;
  t.avg_backward = avg_bwd;
  t.adaptive_forward = adaptive_avg_forward_ref;
  t.adaptive_backward = adaptive_bwd;
}

}  // namespace fl
