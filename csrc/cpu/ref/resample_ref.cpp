// Reference resample kernels: plain loops over each plane with the index maps of
// ops/resample.h. The scalar ISA level, the oracle of the vector kernels, and the backward
// kernels at every level (scatter-adds within a plane: a plane is one thread's).
#include <vector>

#include "ops/resample.h"

namespace fl {
namespace {

void interp_backward_ref(float* dx, const float* dy, index_t planes, const InterpShape& s) {
  const index_t H = s.h.in, W = s.w.in, P = s.h.out, Q = s.w.out;
  std::fill(dx, dx + planes * H * W, 0.0f);
  if (s.mode != InterpMode::linear) {
    const bool exact = s.mode == InterpMode::nearest_exact;
    std::vector<index_t> col(static_cast<size_t>(Q));
    for (index_t q = 0; q < Q; ++q) col[q] = nearest_src(s.w, q, exact);
    for (index_t n = 0; n < planes; ++n)
      for (index_t p = 0; p < P; ++p) {
        float* dr = dx + (n * H + nearest_src(s.h, p, exact)) * W;
        const float* g = dy + (n * P + p) * Q;
        for (index_t q = 0; q < Q; ++q) dr[col[q]] += g[q];
      }
    return;
  }
  std::vector<Lerp> col(static_cast<size_t>(Q));
  for (index_t q = 0; q < Q; ++q) col[q] = linear_src(s.w, q, s.align_corners);
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < P; ++p) {
      const Lerp r = linear_src(s.h, p, s.align_corners);
      float* d0 = dx + (n * H + r.i0) * W;
      float* d1 = dx + (n * H + r.i1) * W;
      const float* g = dy + (n * P + p) * Q;
      for (index_t q = 0; q < Q; ++q) {
        const Lerp& c = col[q];
        d0[c.i0] += r.l0 * c.l0 * g[q];
        d0[c.i1] += r.l0 * c.l1 * g[q];
        d1[c.i0] += r.l1 * c.l0 * g[q];
        d1[c.i1] += r.l1 * c.l1 * g[q];
      }
    }
}

void pad_backward_ref(float* dx, const float* dy, index_t planes, const PadShape& s) {
  const index_t in = s.d.in * s.h.in * s.w.in, out = s.d.out * s.h.out * s.w.out;
  std::fill(dx, dx + planes * in, 0.0f);
  std::vector<index_t> col(static_cast<size_t>(s.w.out));
  for (index_t q = 0; q < s.w.out; ++q) col[q] = pad_src(s.w, q, s.mode);
  for (index_t n = 0; n < planes; ++n)
    for (index_t od = 0; od < s.d.out; ++od) {
      const index_t id = pad_src(s.d, od, s.mode);
      for (index_t oh = 0; oh < s.h.out; ++oh) {
        const index_t ih = pad_src(s.h, oh, s.mode);
        if (id < 0 || ih < 0) continue;
        float* dr = dx + n * in + (id * s.h.in + ih) * s.w.in;
        const float* g = dy + n * out + (od * s.h.out + oh) * s.w.out;
        for (index_t q = 0; q < s.w.out; ++q)
          if (col[q] >= 0) dr[col[q]] += g[q];
      }
    }
}

}  // namespace

void interp_forward_ref(float* y, const float* x, index_t planes, const InterpShape& s) {
  const index_t H = s.h.in, W = s.w.in, P = s.h.out, Q = s.w.out;
  if (s.mode != InterpMode::linear) {
    const bool exact = s.mode == InterpMode::nearest_exact;
    std::vector<index_t> col(static_cast<size_t>(Q));
    for (index_t q = 0; q < Q; ++q) col[q] = nearest_src(s.w, q, exact);
    for (index_t n = 0; n < planes; ++n)
      for (index_t p = 0; p < P; ++p) {
        const float* xr = x + (n * H + nearest_src(s.h, p, exact)) * W;
        float* yr = y + (n * P + p) * Q;
        for (index_t q = 0; q < Q; ++q) yr[q] = xr[col[q]];
      }
    return;
  }
  std::vector<Lerp> col(static_cast<size_t>(Q));
  for (index_t q = 0; q < Q; ++q) col[q] = linear_src(s.w, q, s.align_corners);
  for (index_t n = 0; n < planes; ++n)
    for (index_t p = 0; p < P; ++p) {
      const Lerp r = linear_src(s.h, p, s.align_corners);
      const float* x0 = x + (n * H + r.i0) * W;
      const float* x1 = x + (n * H + r.i1) * W;
      float* yr = y + (n * P + p) * Q;
      for (index_t q = 0; q < Q; ++q) {  // PyTorch's order: h0 (w0, w1), then h1 (w0, w1)
        const Lerp& c = col[q];
        yr[q] = r.l0 * (c.l0 * x0[c.i0] + c.l1 * x0[c.i1]) + r.l1 * (c.l0 * x1[c.i0] + c.l1 * x1[c.i1]);
      }
    }
}

void pad_forward_ref(float* y, const float* x, index_t planes, const PadShape& s) {
  const index_t in = s.d.in * s.h.in * s.w.in, out = s.d.out * s.h.out * s.w.out;
  std::vector<index_t> col(static_cast<size_t>(s.w.out));
  for (index_t q = 0; q < s.w.out; ++q) col[q] = pad_src(s.w, q, s.mode);
  for (index_t n = 0; n < planes; ++n)
    for (index_t od = 0; od < s.d.out; ++od) {
      const index_t id = pad_src(s.d, od, s.mode);
      for (index_t oh = 0; oh < s.h.out; ++oh) {
        const index_t ih = pad_src(s.h, oh, s.mode);
        float* yr = y + n * out + (od * s.h.out + oh) * s.w.out;
        if (id < 0 || ih < 0) {
          std::fill(yr, yr + s.w.out, s.value);
          continue;
        }
        const float* xr = x + n * in + (id * s.h.in + ih) * s.w.in;
        for (index_t q = 0; q < s.w.out; ++q) yr[q] = col[q] >= 0 ? xr[col[q]] : s.value;
      }
    }
}

void register_resample_ref(ResampleKernels& t) {
  t.interp_forward = interp_forward_ref;
  t.interp_backward = interp_backward_ref;
  t.pad_forward = pad_forward_ref;
  t.pad_backward = pad_backward_ref;
}

}  // namespace fl
