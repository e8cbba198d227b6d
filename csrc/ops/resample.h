// The resample family: interpolation of the planes of (N, C, H, W) and (N, C, L) tensors
// (nearest, nearest-exact, linear / bilinear with and without align_corners) and padding of
// the last one, two or three dimensions (constant, reflect, replicate, circular). Forward and
// backward for each; the CPU driver (resample.cpp) splits planes over threads and calls the
// kernel table of the current ISA level.
//
// A plane is one (n, c) image: H x W floats for interpolation (1-D is H = P = 1), D x H x W for
// padding (fewer padded dimensions: D = 1 and / or H = 1 with no padding there). Kernels take
// `planes` consecutive planes. The index maps below are PyTorch's (aten UpSample.h, the pad
// kernels), float arithmetic included, so that every output picks the same inputs with the
// same weights; the CUDA kernels repeat them (cuda/resample.cu).
#pragma once
#include <algorithm>
#include <cmath>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

enum class InterpMode : int { nearest = 0, nearest_exact, linear };

// One axis of an interpolation: `in` positions to `out`, and the float ratio PyTorch maps
// output positions to input ones with (interp_ratio).
struct InterpAxis {
  index_t in, out;
  float ratio;
};
struct InterpShape {
  InterpAxis h, w;
  InterpMode mode;
  bool align_corners;  // linear only
};

// PyTorch's scale of an axis: with align_corners (linear) (in - 1) / (out - 1) (0 for one
// output); otherwise 1 / scale_factor when a scale factor was given (> 0), else in / out.
inline float interp_ratio(index_t in, index_t out, double scale_factor, bool align_corners) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  if (scale_factor > 0.0) return static_cast<float>(1.0 / scale_factor);
  return static_cast<float>(in) / static_cast<float>(out);
}

// The input position of output o, nearest modes (PyTorch's nearest_idx / nearest_exact_idx).
inline index_t nearest_src(const InterpAxis& a, index_t o, bool exact) {
  if (exact) {
    const float f = std::floor(static_cast<float>((static_cast<double>(o) + 0.5) * a.ratio));
    return std::min(static_cast<index_t>(f), a.in - 1);
  }
  if (a.out == a.in) return o;
  if (a.out == 2 * a.in) return o >> 1;
  return std::min(static_cast<index_t>(std::floor(static_cast<float>(o) * a.ratio)), a.in - 1);
}

// The two inputs of output o and their weights, linear mode (compute_source_index_and_lambda).
struct Lerp {
  index_t i0, i1;
  float l0, l1;
};
// PyTorch's src = ratio (o + 1/2) - 1/2 is one fused multiply-add in its builds (the compiler
// contracts it on CPU and under nvcc), so it is std::fma here on every ISA level and
// __fmaf_rn in the CUDA kernels: every build picks the same inputs with the same weights.
inline Lerp linear_src(const InterpAxis& a, index_t o, bool align_corners) {
  if (a.out == a.in) return {o, o, 1.0f, 0.0f};
  float src = align_corners ? a.ratio * static_cast<float>(o)
                            : std::fma(a.ratio, static_cast<float>(o) + 0.5f, -0.5f);
  if (!align_corners && src < 0.0f) src = 0.0f;
  const index_t i0 = std::min(static_cast<index_t>(std::floor(src)), a.in - 1);
  const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
  return {i0, i0 + (i0 < a.in - 1 ? 1 : 0), 1.0f - l1, l1};
}

enum class PadMode : int { constant = 0, reflect, replicate, circular };

// One padded axis: `in` positions, `lo` added before (negative: cropped, constant mode only),
// out = in + lo + hi.
struct PadAxis {
  index_t in, out, lo;
};
struct PadShape {
  PadAxis d, h, w;
  PadMode mode;
  float value;  // constant mode's fill
};

// The input position output o reads along an axis, or -1 for constant mode's fill. reflect
// needs lo, hi < in; circular lo, hi <= in (the binding checks).
inline index_t pad_src(const PadAxis& a, index_t o, PadMode m) {
  index_t i = o - a.lo;
  switch (m) {
    case PadMode::constant: return i >= 0 && i < a.in ? i : -1;
    case PadMode::reflect:
      if (i < 0) i = -i;
      return i >= a.in ? 2 * (a.in - 1) - i : i;
    case PadMode::replicate: return std::min(std::max(i, index_t(0)), a.in - 1);
    case PadMode::circular: i %= a.in; return i < 0 ? i + a.in : i;
  }
  return -1;
}

// y (planes x P x Q, P = h.out, Q = w.out) interpolated from x (planes x H x W).
using InterpForwardFn = void (*)(float* y, const float* x, index_t planes, const InterpShape& s);
// dx (planes x H x W) = the adjoint: every dy value spread over the inputs it was made of, with
// its weights (dx is overwritten).
using InterpBackwardFn = void (*)(float* dx, const float* dy, index_t planes, const InterpShape& s);
// y (planes x d.out x h.out x w.out) from x (planes x d.in x h.in x w.in).
using PadForwardFn = void (*)(float* y, const float* x, index_t planes, const PadShape& s);
// dx (planes x d.in x h.in x w.in) = the sum of dy over the outputs that read each input.
using PadBackwardFn = void (*)(float* dx, const float* dy, index_t planes, const PadShape& s);

struct ResampleKernels {
  InterpForwardFn interp_forward;
  InterpBackwardFn interp_backward;
  PadForwardFn pad_forward;
  PadBackwardFn pad_backward;
};

extern KernelTables<ResampleKernels> g_resample_kernels;
void register_resample_ref(ResampleKernels& t);
void register_resample_avx2(ResampleKernels& t);
void register_resample_avx512(ResampleKernels& t);
// Reference kernels the vector kernels fall back to (nearest modes, narrow planes).
void interp_forward_ref(float* y, const float* x, index_t planes, const InterpShape& s);
void pad_forward_ref(float* y, const float* x, index_t planes, const PadShape& s);

// ---- drivers: threads over planes; all pointers to contiguous arrays ----
void interp_forward(float* y, const float* x, index_t planes, const InterpShape& s);
void interp_backward(float* dx, const float* dy, index_t planes, const InterpShape& s);
void pad_forward(float* y, const float* x, index_t planes, const PadShape& s);
void pad_backward(float* dx, const float* dy, index_t planes, const PadShape& s);

}  // namespace fl
