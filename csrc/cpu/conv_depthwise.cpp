// conv2d, depthwise (groups == C == K), on the ISA's vector kernels (ConvKernels'
// depthwise_*, contracts in ops/conv.h), one plane per call: threads over the N C planes for
// the forward and the backward-input, over channels for the weight gradient (each channel's
// filter sums over the batch in one thread, so no per-thread copies).
#include "cpu/conv_algos.h"

namespace fl::conv_detail {

namespace {

// The shape of one plane of s, as the depthwise kernels take it.
Conv2dShape plane_shape(const Conv2dShape& s) {
  Conv2dShape one = s;
  one.N = one.C = one.K = one.groups = 1;
  return one;
}

}  // namespace

bool is_depthwise(const ConvKernels& k, const Conv2dShape& s) {
  return k.depthwise_forward && s.groups == s.C && s.K == s.C;
}

void depthwise_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                       const Conv2dShape& s) {
  const Conv2dShape one = plane_shape(s);
  const index_t hw = s.H * s.W, pq = s.P * s.Q, rs = s.R * s.S;
  parallel_for(0, s.N * s.C, task_grain(pq * rs),
               [&](index_t lo, index_t hi) {
                 for (index_t i = lo; i < hi; ++i) {
                   const index_t c = i % s.C;
                   k.depthwise_forward(y + i * pq, x + i * hw, w + c * rs, bias ? bias + c : nullptr, one);
                 }
               });
}

// Plane by plane; a plane whose buffer cannot be had runs the reference. The driver calls it at
// column stride 2, or where the flipped forward does not apply (row stride 2, pads past the
// filter). Xeon VM, 2 threads, against col2im (alternating processes, 6 rounds): 3 x 3 stride 2
// pad 1 on (4, 256, 28, 28) 4.60x, (8, 32, 112, 112) 5.15x, (4, 128, 56, 56) 3.73x; 5 x 5
// stride 2 pad 2 on (4, 64, 28, 28) 6.59x.
bool depthwise_backward_input(const ConvKernels& k, float* dx, const float* dy, const float* w, const float* bias,
                              const Conv2dShape& s) {
  if (!is_depthwise(k, s) || !k.depthwise_backward_input || s.stride_w > 2 || s.S > kDepthwiseMaxTaps) return false;
  const Conv2dShape one = plane_shape(s);
  const index_t hw = s.H * s.W, pq = s.P * s.Q, rs = s.R * s.S;
  parallel_for(0, s.N * s.C, task_grain(hw * rs), [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      const index_t c = i % s.C;
      if (!k.depthwise_backward_input(dx + i * hw, dy + i * pq, w + c * rs, one))
        k.backward_input_ref(dx + i * hw, dy + i * pq, w + c * rs, one);
      add_bias_planes(dx, bias, s, i / s.C, c, c + 1);
    }
  });
  return true;
}

bool depthwise_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                               const Conv2dShape& s) {
  if (!is_depthwise(k, s) || !k.depthwise_backward_weight) return false;
  const Conv2dShape one = plane_shape(s);
  const index_t hw = s.H * s.W, pq = s.P * s.Q, rs = s.R * s.S;
  parallel_for(0, s.C, task_grain(s.N * pq * rs), [&](index_t lo, index_t hi) {
    for (index_t c = lo; c < hi; ++c)
      for (index_t n = 0; n < s.N; ++n)
        k.depthwise_backward_weight(dw + c * rs, dy + (n * s.C + c) * pq, x + (n * s.C + c) * hw, one);
  });
  return true;
}

}  // namespace fl::conv_detail
