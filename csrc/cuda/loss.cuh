// CUDA launchers of the loss family: cross-entropy over logits (fused log-softmax + NLL:
// class-index or probability targets, class weights, ignore_index, label smoothing, logits
// (N, C) or (N, C, d1, ..., dk)), NLL over log-probabilities, MSE and BCE-with-logits (element
// weights, pos_weight), with the formulas and layout of ops/loss.h. Forward launchers write the
// per-row / per-element losses and, given a LossTotal, reduce them on the device to what the
// CPU driver returns (the sum, the count and the weight the mean divides by) plus the 'sum' and
// 'mean' reductions as floats, so a training step needs no host round trip. The reduction is a
// fixed two-pass tree: the same order on every run and every GPU. Backward launchers write
// dL/dx with the reduction's scale folded in; for 'mean' the 1 / weight can be read from the
// forward's LossTotal on the device.
//
// Targets: the CPU driver throws on a class index outside [0, C) that is not ignore_index; a
// kernel cannot, so such a row's loss, lse and dx are NaN and LossTotal::bad_target names the
// first such row (the binding reads it back with the result and raises the CPU's ValueError).
// Plain C++ declarations: raw device pointers (targets are int64; CeOptions::weight and the
// PointWeights arrays are device pointers); launchers never synchronise; a bad launch throws
// std::runtime_error. Unverified on a GPU at the time of writing (checked by host emulation
// against the CPU reference kernels).
#pragma once
#include "cuda/stream.h"

#include <cstddef>
#include <cstdint>

#include "core/tensor.h"
#include "ops/loss.h"

namespace fl {

// Blocks of the reduction's first pass (at most): fixed, so the order of the sum depends on
// the problem size only.
constexpr int kLossPartials = 1024;

// The reduced loss, written on the device by a forward launcher: allocate sizeof(LossTotal)
// bytes of device memory per call site and copy the first kLossTotalResultBytes back when the
// host needs a number. The partial_* arrays are the reduction's scratch, not results.
struct LossTotal {
  double sum;          // sum of the losses over all rows / elements (CeSum::sum; ignored rows add 0)
  index_t count;       // non-ignored rows (CeSum::count) or the element count n
  index_t bad_target;  // cross-entropy / NLL: first row with a target outside [0, C) that is not ignore_index; else -1
  float mean;          // sum / weight rounded to float (reduction='mean'); NaN when both are 0, as PyTorch
  float sum_f;         // sum rounded to float (reduction='sum')
  double weight;       // the mean's divisor (CeSum::weight): class-weight sum of the counted rows, or the count
  double partial_sum[kLossPartials];
  index_t partial_count[kLossPartials];
  index_t partial_bad[kLossPartials];
  double partial_weight[kLossPartials];
};
constexpr std::size_t kLossTotalResultBytes = offsetof(LossTotal, partial_sum);
static_assert(kLossTotalResultBytes == 40, "LossTotal: the results are the first 40 bytes");

// ---- cross-entropy: x (N, C, D) logits, C >= 1 ----
// loss, lse: N D floats each (both 0 for ignored rows); total may be null (no reduction).
void cross_entropy_forward_cuda(float* loss, float* lse, LossTotal* total, const float* x, const std::int64_t* target,
                                CeShape s, const CeOptions& o, cudaStream_t stream);
// dx (N, C, D) of ops/loss.h, s_r = scale * (grad ? grad[r] : 1); ignored rows 0. mean_over != null:
// scale is divided by mean_over->weight on the device (reduction='mean' with the forward's total).
void cross_entropy_backward_cuda(float* dx, const float* x, const float* lse, const std::int64_t* target,
                                 const float* grad, float scale, const LossTotal* mean_over, CeShape s,
                                 const CeOptions& o, cudaStream_t stream);
// Probability targets t (x's layout; o.ignore_index unused); the total's weight is the row count.
void cross_entropy_soft_forward_cuda(float* loss, float* lse, LossTotal* total, const float* x, const float* t,
                                     CeShape s, const CeOptions& o, cudaStream_t stream);
void cross_entropy_soft_backward_cuda(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                      float scale, const LossTotal* mean_over, CeShape s, const CeOptions& o,
                                      cudaStream_t stream);

// ---- NLL: x (N, C, D) log-probabilities (functional.nll_loss), weight: C floats or null ----
// loss_r = -w_t x[(n C + t) D + j] (0 for ignored rows); total as for cross-entropy.
void nll_loss_forward_cuda(float* loss, LossTotal* total, const float* x, const std::int64_t* target, CeShape s,
                           std::int64_t ignore_index, const float* weight, cudaStream_t stream);
// dx (N, C, D): -s_r w_t at the target, 0 elsewhere and on ignored rows; s_r and mean_over as above.
void nll_loss_backward_cuda(float* dx, const std::int64_t* target, const float* grad, float scale,
                            const LossTotal* mean_over, CeShape s, std::int64_t ignore_index, const float* weight,
                            cudaStream_t stream);

// ---- point-wise: MSE, BCE with logits over n elements of x and y ----
// loss (n floats) may be null (reduction only); total may be null (reduction='none').
void point_loss_forward_cuda(PointLoss op, float* loss, LossTotal* total, const float* x, const float* y,
                             const PointWeights& w, index_t n, cudaStream_t stream);
// dx[i] = scale * (grad ? grad[i] : 1) * dl/dx(x[i], y[i]); mean_over as above.
void point_loss_backward_cuda(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                              const LossTotal* mean_over, const PointWeights& w, index_t n, cudaStream_t stream);

}  // namespace fl
