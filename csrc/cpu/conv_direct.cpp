// conv2d by direct convolution, for stride-1, ungrouped layers whose reduction C R S is short (a first
// layer on 1 or 3 channels): each image is copied zero-padded into a per-thread buffer, which
// the ISA's direct kernels (ConvKernels' direct_*, contracts in ops/conv.h) read for the
// forward (threads over images) and for the weight gradient (per-thread dW, summed in order).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/conv_algos.h"

namespace fl::conv_detail {

namespace {

// The longest reduction C R S that runs direct (ConvDirectFn, ops/conv.h): up to it a GEMM
// spends more on its C tiles than on its C R S-long dot products (measured on (64, 1, 28, 28)
// with 32 5x5 filters: faster than im2col + GEMM). 1 x 1 layers stay on GEMM.
constexpr index_t kDirectMaxReduction = 64;

// The zero-padded copy of image x (C planes) the direct kernels read (ops/conv.h).
struct DirectPad {
  index_t rows, ldx, plane;
  explicit DirectPad(const Conv2dShape& s)
      : rows(s.P + (s.R - 1) * s.dil_h), ldx((s.Q + 31) / 32 * 32 + (s.S - 1) * s.dil_w), plane(rows * ldx) {}
  void fill(float* xp, const float* x, const Conv2dShape& s) const {
    for (index_t c = 0; c < s.C; ++c)
      for (index_t h = 0; h < rows; ++h) {
        float* dst = xp + c * plane + h * ldx;
        const index_t src_h = h - s.pad_h;
        std::memset(dst, 0, sizeof(float) * static_cast<size_t>(ldx));
        if (src_h < 0 || src_h >= s.H) continue;
        const index_t w0 = std::max<index_t>(0, -s.pad_w), w1 = std::min(s.W, ldx - s.pad_w);
        if (w1 > w0)
          std::memcpy(dst + s.pad_w + w0, x + c * s.H * s.W + src_h * s.W + w0,
                      sizeof(float) * static_cast<size_t>(w1 - w0));
      }
  }
};

}  // namespace

bool direct_applies(const ConvKernels& k, const Conv2dShape& s) {
  // the padded copy of one image stays within 16 MB per thread
  const index_t padded = s.C * (s.P + (s.R - 1) * s.dil_h) * (s.Q + 32 + (s.S - 1) * s.dil_w);
  return k.direct_forward && s.groups == 1 && s.stride_h == 1 && s.stride_w == 1 && s.R * s.S > 1 &&
         s.C * s.R * s.S <= kDirectMaxReduction && padded <= (1 << 22);
}

void direct_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                    const Conv2dShape& s) {
  const index_t crs = s.C * s.R * s.S, hw = s.H * s.W;
  std::vector<float> wt(static_cast<size_t>(crs * s.K));  // (C R S, K)
  for (index_t kk = 0; kk < s.K; ++kk)
    for (index_t j = 0; j < crs; ++j) wt[j * s.K + kk] = w[kk * crs + j];
  const DirectPad pad(s);
  run_tasks(s.N, s.K * crs * s.P * s.Q, s.C * pad.plane, [&](index_t n, float* xp) {
    pad.fill(xp, x + n * s.C * hw, s);
    k.direct_forward(y + n * s.K * s.P * s.Q, xp, pad.ldx, pad.plane, wt.data(), bias, s);
  });
}

// The weight gradient on the same padded copies: threads over images, per-thread dW.
void direct_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                            const Conv2dShape& s) {
  const index_t wsize = s.K * s.C * s.R * s.S, hw = s.H * s.W, pq = s.P * s.Q;
  const DirectPad pad(s);
  const std::vector<const float*> parts =
      run_reduce_tasks(s.N, wsize * pq, s.C * pad.plane, wsize, [&](index_t n, float* xp, float* acc) {
        pad.fill(xp, x + n * s.C * hw, s);
        k.direct_backward_weight(acc, dy + n * s.K * pq, xp, pad.ldx, pad.plane, s);
      });
  for (const float* part : parts)
    for (index_t i = 0; i < wsize; ++i) dw[i] += part[i];
}

}  // namespace fl::conv_detail
