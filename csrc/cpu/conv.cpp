// Convolution driver: picks the algorithm for a shape and runs the scalar level's reference
// kernels (threads over images). Otherwise, in this order:
//   - depthwise (groups == C == K): the ISA's vector kernels (conv_depthwise.cpp).
//   - 3 x 3, stride 1, >= 8 channels per group, >= 14 x 14 outputs: Winograd F(2x2, 3x3),
//     forward and weight gradient (conv_winograd.cpp).
//   - stride 1, short reductions (C R S <= 64): a direct kernel on a zero-padded copy
//     (conv_direct.cpp).
//   - backward-input at stride 1: a forward convolution of dy with the flipped filters (here).
//   - everything else: im2col + the packed SGEMM of ops/gemm.h, straight GEMM at 1 x 1, stride
//     1, no padding (conv_im2col.cpp).
// The per-thread buffers and the task runners the algorithms share are in cpu/conv_algos.h; the
// bias gradient (conv_bias_backward) is here too.
#include "ops/conv.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "core/parallel.h"
#include "core/scratch.h"
#include "cpu/conv_algos.h"
#include "ops/norm.h"

namespace fl {

KernelTables<ConvKernels> g_conv_kernels;
FL_REGISTER_KERNELS(conv, g_conv_kernels, register_conv_ref, register_conv_avx2, register_conv_avx512)

namespace conv_detail {

namespace {

// The buffers behind thread_col / thread_acc / thread_tmp (cpu/conv_algos.h).
struct ThreadBuffer {
  ScratchBuffer buf;
  float* get(index_t n) {
    float* p = buf.get(n);
    if (!p) throw std::bad_alloc();
    return p;
  }
};
thread_local ThreadBuffer t_col, t_acc, t_tmp;

}  // namespace

float* thread_col(index_t n) { return t_col.get(n); }
float* thread_acc(index_t n) { return t_acc.get(n); }
float* thread_tmp(index_t n) { return t_tmp.get(n); }

}  // namespace conv_detail

using namespace conv_detail;

namespace {

// Stride-1 backward-input as a forward convolution: dx[c, h] = sum_{k, r} dy[k, h + pad - r dil] w[k, c, r]
// is a correlation of dy with the filters flipped and transposed to (C, K/G, R, S), with
// padding dil (R - 1) - pad. It runs on im2col (a copy) instead of col2im (a scatter-add), or
// on the depthwise kernel. Returns false where it does not apply.
bool backward_input_as_forward(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  const index_t ph = s.dil_h * (s.R - 1) - s.pad_h, pw = s.dil_w * (s.S - 1) - s.pad_w;
  if (s.stride_h != 1 || s.stride_w != 1 || ph < 0 || pw < 0) return false;
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, rs = s.R * s.S;
  // Its im2col has K/G R S rows where col2im has C/G R S: worth it when K is not much larger
  // than C, or when the flipped convolution runs on Winograd or the depthwise kernel.
  Conv2dShape t = s;
  t.C = s.K;
  t.K = s.C;
  t.H = s.P;
  t.W = s.Q;
  t.P = s.H;
  t.Q = s.W;
  t.pad_h = ph;
  t.pad_w = pw;
  const ConvKernels& k = g_conv_kernels.current();
  if (Kg > 2 * Cg && !winograd_applies(k, t) && !is_depthwise(k, t)) return false;
  std::vector<float> flipped(static_cast<size_t>(s.K * Cg * rs));
  for (index_t g = 0; g < s.groups; ++g)
    for (index_t k = 0; k < Kg; ++k)
      for (index_t c = 0; c < Cg; ++c) {
        const float* src = w + ((g * Kg + k) * Cg + c) * rs;
        float* dst = flipped.data() + ((g * Cg + c) * Kg + k) * rs;
        for (index_t i = 0; i < rs; ++i) dst[i] = src[rs - 1 - i];
      }
  conv2d_forward(dx, dy, flipped.data(), nullptr, t);
  return true;
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const index_t image_macs = s.K * (s.C / s.groups) * s.R * s.S * s.P * s.Q;
  if (!k.use_gemm) {
    parallel_for(0, s.N, task_grain(image_macs), [&](index_t lo, index_t hi) {
      Conv2dShape part = s;
      part.N = hi - lo;
      k.forward_ref(y + lo * s.K * s.P * s.Q, x + lo * s.C * s.H * s.W, w, bias, part);
    });
    return;
  }
  if (is_depthwise(k, s)) return depthwise_forward(k, y, x, w, bias, s);
  if (winograd_applies(k, s)) return winograd_forward(k, y, x, w, bias, s);
  if (direct_applies(k, s)) return direct_forward(k, y, x, w, bias, s);
  im2col_forward(y, x, w, bias, s);
}

void conv2d_backward_input(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const index_t hw = s.H * s.W;
  if (!k.use_gemm) {
    const index_t image_macs = s.K * (s.C / s.groups) * s.R * s.S * s.P * s.Q;
    parallel_for(0, s.N, task_grain(image_macs), [&](index_t lo, index_t hi) {
      Conv2dShape part = s;
      part.N = hi - lo;
      k.backward_input_ref(dx + lo * s.C * hw, dy + lo * s.K * s.P * s.Q, w, part);
      for (index_t n = lo; n < hi; ++n) add_bias_planes(dx, bias, s, n, 0, s.C);
    });
    return;
  }
  if (!is_pointwise(s) && backward_input_as_forward(dx, dy, w, s)) {
    if (!bias) return;
    parallel_for(0, s.N, task_grain(s.C * hw), [&](index_t lo, index_t hi) {
      for (index_t n = lo; n < hi; ++n) add_bias_planes(dx, bias, s, n, 0, s.C);
    });
    return;
  }
  if (depthwise_backward_input(k, dx, dy, w, bias, s)) return;
  im2col_backward_input(dx, dy, w, bias, s);
}

void conv2d_backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  const ConvKernels& k = g_conv_kernels.current();
  const index_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  std::memset(dw, 0, sizeof(float) * static_cast<size_t>(wsize));
  if (!k.use_gemm) return k.backward_weight_ref(dw, dy, x, s);
  if (depthwise_backward_weight(k, dw, dy, x, s)) return;
  if (winograd_applies(k, s)) return winograd_backward_weight(k, dw, dy, x, s);
  if (direct_applies(k, s) && k.direct_backward_weight) return direct_backward_weight(k, dw, dy, x, s);
  im2col_backward_weight(dw, dy, x, s);
}

void conv_bias_backward(float* db, const float* t, index_t N, index_t K, index_t L) {
  const NormReduceFn reduce = g_norm_kernels.current().reduce;
  const ChannelShape cs{N, K, L};
  std::vector<double> sums(static_cast<size_t>(K));
  parallel_for(0, K, std::max<index_t>(1, (1 << 15) / std::max<index_t>(N * L, 1)), [&](index_t c0, index_t c1) {
    reduce(sums.data(), nullptr, t, nullptr, nullptr, nullptr, cs, c0, c1);
    for (index_t c = c0; c < c1; ++c) db[c] = static_cast<float>(sums[c]);
  });
}

}  // namespace fl
