// Reference pooling kernels: plain loops over every output (forward), every output index
// (max backward) or every window row (average backward). They are the algorithmic reference
// the vector kernels are tested against, the scalar ISA level, and the vector kernels'
// fallback for the cases those do not cover.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/pool.h"

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

}  // namespace

bool max_pool_backward_ref(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(planes * hw));
  for (index_t n = 0; n < planes; ++n)
    for (index_t o = 0; o < pq; ++o) {
      const int64_t at = idx[n * pq + o];
      if (at < 0 || at >= hw) return false;
      dx[n * hw + at] += dy[n * pq + o];
    }
  return true;
}

namespace {
void avg_fwd(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p)
      for (index_t q = 0; q < s.Q; ++q) y[n * pq + p * s.Q + q] = avg_pool_at(x + n * hw, s, o, p, q);
}

// Row by row: each output row's gradients, divided once by their divisors, are added to
// every input row and column offset of the window; at stride 1 the innermost loop adds two
// contiguous ranges, which the compiler vectorises.
}  // namespace

void avg_pool_backward_ref(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                           const AvgPoolOptions& o) {
  const index_t hw = s.H * s.W, pq = s.P * s.Q;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(planes * hw));
  std::vector<float> g(static_cast<size_t>(s.Q));
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < s.P; ++p) {
      for (index_t q = 0; q < s.Q; ++q) g[q] = dy[n * pq + p * s.Q + q] / avg_divisor(s, o, p, q);
      const index_t h0 = p * s.stride_h - s.pad_h;
      for (index_t h = std::max<index_t>(h0, 0); h < std::min(h0 + s.R, s.H); ++h) {
        float* row = dx + n * hw + h * s.W;
        for (index_t t = 0; t < s.S; ++t) {
          const index_t off = t - s.pad_w;  // input column of output q is q * stride_w + off
          const index_t qa = off >= 0 ? 0 : (-off + s.stride_w - 1) / s.stride_w;
          const index_t qb = s.W - off <= 0 ? 0 : std::min(s.Q, (s.W - off + s.stride_w - 1) / s.stride_w);
          if (s.stride_w == 1) {
            float* r = row + off;
            for (index_t q = qa; q < qb; ++q) r[q] += g[q];
          } else {
            for (index_t q = qa; q < qb; ++q) row[q * s.stride_w + off] += g[q];
          }
        }
      }
    }
}

namespace {
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
  t.max_backward = max_pool_backward_ref;
  t.avg_forward = avg_fwd;
  t.avg_backward = avg_pool_backward_ref;
  t.adaptive_forward = adaptive_avg_forward_ref;
  t.adaptive_backward = adaptive_bwd;
}

}  // namespace fl
