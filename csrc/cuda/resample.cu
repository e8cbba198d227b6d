// CUDA kernels of the resample family (launchers in resample.cuh). Unverified on a GPU at the
// time of writing; tools/cuda_emu checks them against the CPU reference kernels.
//
// Forwards: one thread per output element (grid-stride), which reads the inputs the index maps
// of ops/resample.h name (repeated here as device functions, the same float arithmetic).
// Backwards are gathers, one thread per input element, so that no atomics are needed and the
// result does not depend on scheduling:
// - interpolation: along each axis the maps are monotone in the output position, so the outputs
//   that read input i (as its first or its second linear input, or as its nearest source) are
//   a contiguous range, found by binary search; the thread sums dy over the product of its two
//   axes' ranges with the forward's weights.
// - padding: along each axis the outputs that read input i are at most three ranges (the
//   position itself, its reflections or wrap-arounds, or replicate's edge runs), enumerated
//   per mode.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/resample.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = kBlock;

__device__ __forceinline__ index_t imin(index_t a, index_t b) { return a < b ? a : b; }
__device__ __forceinline__ index_t imax(index_t a, index_t b) { return a > b ? a : b; }

// ---- the index maps (ops/resample.h) ----
__device__ __forceinline__ index_t nearest_at(const InterpAxis& a, index_t o, bool exact) {
  if (exact) return imin(static_cast<index_t>(floorf(static_cast<float>((static_cast<double>(o) + 0.5) * a.ratio))),
                         a.in - 1);
  if (a.out == a.in) return o;
  if (a.out == 2 * a.in) return o >> 1;
  return imin(static_cast<index_t>(floorf(static_cast<float>(o) * a.ratio)), a.in - 1);
}

struct DLerp {
  index_t i0, i1;
  float l0, l1;
};
__device__ __forceinline__ DLerp linear_at(const InterpAxis& a, index_t o, bool align_corners) {
  if (a.out == a.in) return {o, o, 1.0f, 0.0f};
  float src = align_corners ? a.ratio * static_cast<float>(o)
                            : __fmaf_rn(a.ratio, static_cast<float>(o) + 0.5f, -0.5f);
  if (!align_corners && src < 0.0f) src = 0.0f;
  const index_t i0 = imin(static_cast<index_t>(floorf(src)), a.in - 1);
  const float l1 = fminf(fmaxf(src - static_cast<float>(i0), 0.0f), 1.0f);
  return {i0, i0 + (i0 < a.in - 1 ? 1 : 0), 1.0f - l1, l1};
}

__device__ __forceinline__ index_t pad_at(const PadAxis& a, index_t o, PadMode m) {
  index_t i = o - a.lo;
  switch (m) {
    case PadMode::constant: return i >= 0 && i < a.in ? i : -1;
    case PadMode::reflect:
      if (i < 0) i = -i;
      return i >= a.in ? 2 * (a.in - 1) - i : i;
    case PadMode::replicate: return imin(imax(i, 0), a.in - 1);
    case PadMode::circular: i %= a.in; return i < 0 ? i + a.in : i;
  }
  return -1;
}

// ---- interpolation ----

__global__ void interp_forward_kernel(float* y, const float* x, index_t total, InterpShape s) {
  const index_t P = s.h.out, Q = s.w.out, H = s.h.in, W = s.w.in;
  for (index_t k = global_index(); k < total; k += grid_stride()) {
    const index_t q = k % Q, p = k / Q % P, n = k / (P * Q);
    const float* xn = x + n * H * W;
    if (s.mode != InterpMode::linear) {
      const bool exact = s.mode == InterpMode::nearest_exact;
      y[k] = xn[nearest_at(s.h, p, exact) * W + nearest_at(s.w, q, exact)];
      continue;
    }
    const DLerp r = linear_at(s.h, p, s.align_corners), c = linear_at(s.w, q, s.align_corners);
    const float* x0 = xn + r.i0 * W;
    const float* x1 = xn + r.i1 * W;
    const float a = __fadd_rn(__fmul_rn(c.l0, x0[c.i0]), __fmul_rn(c.l1, x0[c.i1]));
    const float b = __fadd_rn(__fmul_rn(c.l0, x1[c.i0]), __fmul_rn(c.l1, x1[c.i1]));
    y[k] = __fadd_rn(__fmul_rn(r.l0, a), __fmul_rn(r.l1, b));
  }
}

// What output o contributes to along an axis: which = 0 / 1: the first / second linear input;
// 2: the nearest source. Monotone non-decreasing in o.
__device__ __forceinline__ index_t axis_src(const InterpShape& s, const InterpAxis& a, index_t o, int which) {
  if (which == 2) return nearest_at(a, o, s.mode == InterpMode::nearest_exact);
  const DLerp l = linear_at(a, o, s.align_corners);
  return which == 0 ? l.i0 : l.i1;
}
__device__ __forceinline__ float axis_weight(const InterpShape& s, const InterpAxis& a, index_t o, int which) {
  if (which == 2) return 1.0f;
  const DLerp l = linear_at(a, o, s.align_corners);
  return which == 0 ? l.l0 : l.l1;
}
// The first output o in [0, a.out) with axis_src(o) >= v (a.out if none).
__device__ index_t first_at_least(const InterpShape& s, const InterpAxis& a, int which, index_t v) {
  index_t lo = 0, hi = a.out;
  while (lo < hi) {
    const index_t mid = lo + (hi - lo) / 2;
    if (axis_src(s, a, mid, which) >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

__global__ void interp_backward_kernel(float* dx, const float* dy, index_t total, InterpShape s) {
  const index_t P = s.h.out, Q = s.w.out, H = s.h.in, W = s.w.in;
  const int w0 = s.mode == InterpMode::linear ? 0 : 2, w1 = s.mode == InterpMode::linear ? 1 : 2;
  for (index_t k = global_index(); k < total; k += grid_stride()) {
    const index_t w = k % W, h = k / W % H, n = k / (H * W);
    const float* g = dy + n * P * Q;
    double acc = 0.0;
    for (int a = w0; a <= w1; ++a) {
      const index_t p0 = first_at_least(s, s.h, a, h), p1 = first_at_least(s, s.h, a, h + 1);
      for (int b = w0; b <= w1; ++b) {
        const index_t q0 = first_at_least(s, s.w, b, w), q1 = first_at_least(s, s.w, b, w + 1);
        for (index_t p = p0; p < p1; ++p) {
          const float wh = axis_weight(s, s.h, p, a);
          for (index_t q = q0; q < q1; ++q) acc += static_cast<double>(wh * axis_weight(s, s.w, q, b)) * g[p * Q + q];
        }
      }
    }
    dx[k] = static_cast<float>(acc);
  }
}

// ---- padding ----

__global__ void pad_forward_kernel(float* y, const float* x, index_t total, PadShape s) {
  const index_t OD = s.d.out, OH = s.h.out, OW = s.w.out;
  for (index_t k = global_index(); k < total; k += grid_stride()) {
    const index_t ow = k % OW, oh = k / OW % OH, od = k / (OW * OH) % OD, n = k / (OW * OH * OD);
    const index_t id = pad_at(s.d, od, s.mode), ih = pad_at(s.h, oh, s.mode), iw = pad_at(s.w, ow, s.mode);
    y[k] = id < 0 || ih < 0 || iw < 0 ? s.value
                                       : x[((n * s.d.in + id) * s.h.in + ih) * s.w.in + iw];
  }
}

// The outputs along an axis that read input i: up to three ranges [lo[r], hi[r]).
struct Ranges {
  index_t lo[3], hi[3];
  int n = 0;
  __device__ void add(index_t a, index_t b, index_t out) {
    a = imax(a, 0);
    b = imin(b, out);
    if (a < b) lo[n] = a, hi[n] = b, ++n;
  }
};
__device__ Ranges readers(const PadAxis& a, index_t i, PadMode m) {
  Ranges r;
  const index_t o = i + a.lo, hi_pad = a.out - a.in - a.lo;
  switch (m) {
    case PadMode::constant: r.add(o, o + 1, a.out); break;
    case PadMode::reflect:
      r.add(o, o + 1, a.out);
      if (i >= 1 && i <= a.lo) r.add(a.lo - i, a.lo - i + 1, a.out);
      if (i <= a.in - 2 && i >= a.in - 1 - hi_pad) r.add(a.lo + 2 * (a.in - 1) - i, a.lo + 2 * (a.in - 1) - i + 1, a.out);
      break;
    case PadMode::replicate:
      if (a.in == 1) r.add(0, a.out, a.out);
      else if (i == 0) r.add(0, a.lo + 1, a.out);
      else if (i == a.in - 1) r.add(o, a.out, a.out);
      else r.add(o, o + 1, a.out);
      break;
    case PadMode::circular:
      r.add(o, o + 1, a.out);
      if (o - a.in >= 0) r.add(o - a.in, o - a.in + 1, a.out);
      if (o + a.in < a.out) r.add(o + a.in, o + a.in + 1, a.out);
      break;
  }
  return r;
}

__global__ void pad_backward_kernel(float* dx, const float* dy, index_t total, PadShape s) {
  const index_t D = s.d.in, H = s.h.in, W = s.w.in;
  for (index_t k = global_index(); k < total; k += grid_stride()) {
    const index_t w = k % W, h = k / W % H, d = k / (W * H) % D, n = k / (W * H * D);
    const Ranges rd = readers(s.d, d, s.mode), rh = readers(s.h, h, s.mode), rw = readers(s.w, w, s.mode);
    const float* g = dy + n * s.d.out * s.h.out * s.w.out;
    float acc = 0.0f;
    for (int a = 0; a < rd.n; ++a)
      for (index_t od = rd.lo[a]; od < rd.hi[a]; ++od)
        for (int b = 0; b < rh.n; ++b)
          for (index_t oh = rh.lo[b]; oh < rh.hi[b]; ++oh)
            for (int c = 0; c < rw.n; ++c)
              for (index_t ow = rw.lo[c]; ow < rw.hi[c]; ++ow) acc += g[(od * s.h.out + oh) * s.w.out + ow];
    dx[k] = acc;
  }
}

}  // namespace
}  // namespace cuda

void interp_forward_cuda(float* y, const float* x, index_t planes, const InterpShape& s, cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.h.out * s.w.out;
  if (total <= 0) return;
  interp_forward_kernel<<<grid_for(total), kThreads, 0, stream>>>(y, x, total, s);
  check_launch("interp_forward_kernel");
}

void interp_backward_cuda(float* dx, const float* dy, index_t planes, const InterpShape& s, cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.h.in * s.w.in;
  if (total <= 0) return;
  interp_backward_kernel<<<grid_for(total), kThreads, 0, stream>>>(dx, dy, total, s);
  check_launch("interp_backward_kernel");
}

void pad_forward_cuda(float* y, const float* x, index_t planes, const PadShape& s, cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.d.out * s.h.out * s.w.out;
  if (total <= 0) return;
  pad_forward_kernel<<<grid_for(total), kThreads, 0, stream>>>(y, x, total, s);
  check_launch("pad_forward_kernel");
}

void pad_backward_cuda(float* dx, const float* dy, index_t planes, const PadShape& s, cudaStream_t stream) {
  using namespace cuda;
  const index_t total = planes * s.d.in * s.h.in * s.w.in;
  if (total <= 0) return;
  pad_backward_kernel<<<grid_for(total), kThreads, 0, stream>>>(dx, dy, total, s);
  check_launch("pad_backward_kernel");
}

}  // namespace fl
