// Reference conv2d kernels: the definitions written as plain loops (one multiply-add
// per weight tap, float accumulation in the order c, r, s). They are what the GEMM and
// depthwise paths are tested against, and what the scalar ISA level runs.
#include <cstring>

#include "ops/conv.h"

namespace fl {
namespace {

// Valid input coordinate of tap t for output o, or -1.
inline index_t tap(index_t o, index_t t, index_t stride, index_t pad, index_t dil, index_t n) {
  const index_t i = o * stride - pad + t * dil;
  return i >= 0 && i < n ? i : -1;
}

void forward_ref(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups;
  for (index_t n = 0; n < s.N; ++n)
    for (index_t k = 0; k < s.K; ++k) {
      const index_t g = k / Kg;
      const float* wk = w + k * Cg * s.R * s.S;
      for (index_t p = 0; p < s.P; ++p)
        for (index_t q = 0; q < s.Q; ++q) {
          float acc = 0.0f;
          for (index_t c = 0; c < Cg; ++c) {
            const float* xc = x + ((n * s.C) + g * Cg + c) * s.H * s.W;
            for (index_t r = 0; r < s.R; ++r) {
              const index_t h = tap(p, r, s.stride_h, s.pad_h, s.dil_h, s.H);
              if (h < 0) continue;
              for (index_t t = 0; t < s.S; ++t) {
                const index_t v = tap(q, t, s.stride_w, s.pad_w, s.dil_w, s.W);
                if (v >= 0) acc += xc[h * s.W + v] * wk[(c * s.R + r) * s.S + t];
              }
            }
          }
          y[((n * s.K + k) * s.P + p) * s.Q + q] = acc + (bias ? bias[k] : 0.0f);
        }
    }
}

void backward_input_ref(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(s.N * s.C * s.H * s.W));
  for (index_t n = 0; n < s.N; ++n)
    for (index_t k = 0; k < s.K; ++k) {
      const index_t g = k / Kg;
      const float* wk = w + k * Cg * s.R * s.S;
      for (index_t p = 0; p < s.P; ++p)
        for (index_t q = 0; q < s.Q; ++q) {
          const float d = dy[((n * s.K + k) * s.P + p) * s.Q + q];
          for (index_t c = 0; c < Cg; ++c) {
            float* xc = dx + ((n * s.C) + g * Cg + c) * s.H * s.W;
            for (index_t r = 0; r < s.R; ++r) {
              const index_t h = tap(p, r, s.stride_h, s.pad_h, s.dil_h, s.H);
              if (h < 0) continue;
              for (index_t t = 0; t < s.S; ++t) {
                const index_t v = tap(q, t, s.stride_w, s.pad_w, s.dil_w, s.W);
                if (v >= 0) xc[h * s.W + v] += d * wk[(c * s.R + r) * s.S + t];
              }
            }
          }
        }
    }
}

void backward_weight_ref(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups;
  for (index_t k = 0; k < s.K; ++k) {
    const index_t g = k / Kg;
    for (index_t c = 0; c < Cg; ++c)
      for (index_t r = 0; r < s.R; ++r)
        for (index_t t = 0; t < s.S; ++t) {
          float acc = 0.0f;
          for (index_t n = 0; n < s.N; ++n) {
            const float* xc = x + ((n * s.C) + g * Cg + c) * s.H * s.W;
            const float* dk = dy + (n * s.K + k) * s.P * s.Q;
            for (index_t p = 0; p < s.P; ++p) {
              const index_t h = tap(p, r, s.stride_h, s.pad_h, s.dil_h, s.H);
              if (h < 0) continue;
              for (index_t q = 0; q < s.Q; ++q) {
                const index_t v = tap(q, t, s.stride_w, s.pad_w, s.dil_w, s.W);
                if (v >= 0) acc += dk[p * s.Q + q] * xc[h * s.W + v];
              }
            }
          }
          dw[((k * Cg + c) * s.R + r) * s.S + t] += acc;
        }
  }
}

}  // namespace

void register_conv_ref(ConvKernels& t) {
  t.forward_ref = forward_ref;
  t.backward_input_ref = backward_input_ref;
  t.backward_weight_ref = backward_weight_ref;
  t.depthwise_forward = nullptr;
  t.depthwise_backward_weight = nullptr;
  t.depthwise_backward_input = nullptr;
  t.direct_forward = nullptr;
  t.direct_backward_weight = nullptr;
  t.winograd_input = nullptr;
  t.winograd_output = nullptr;
  t.winograd_grad_output = nullptr;
  t.use_gemm = false;
}

}  // namespace fl
