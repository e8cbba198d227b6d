// The loss family: cross-entropy over logits (fused log-softmax + NLL, with ignore_index and
// label smoothing), mean squared error and binary cross-entropy with logits. Forward kernels
// return per-row / per-element losses and the driver reduces them; backward kernels write
// dL/dx with the reduction's scale folded in.
//
// Cross-entropy, row r of logits x (rows, C), target t_r, smoothing eps:
//   lse_r  = log sum_c exp(x_rc)
//   loss_r = lse_r - (1 - eps) x_rt - (eps / C) sum_c x_rc      (0 when t_r == ignore_index)
//   dx_rc  = s_r (exp(x_rc - lse_r) - eps / C - (1 - eps) [c == t_r]),  s_r = scale * grad_r
// which is PyTorch's cross_entropy with class-index targets and no class weights.
#pragma once
#include <cstdint>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct CeOptions {
  std::int64_t ignore_index;
  float label_smoothing;
};

// Contract: x is (rows, C) contiguous, C >= 1; target has `rows` entries, each in [0, C) or
// ignore_index (the driver checks). Writes loss[r] and lse[r] (both 0 for ignored rows).
using CeForwardFn = void (*)(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows,
                             index_t C, const CeOptions& o);
// dx (rows, C) from x and the forward's lse; grad (rows entries) may be nullptr (all ones).
using CeBackwardFn = void (*)(float* dx, const float* x, const float* lse, const std::int64_t* target,
                              const float* grad, float scale, index_t rows, index_t C, const CeOptions& o);
// Point-wise losses over n elements of prediction x and target y. Forward writes the
// per-element loss to `loss` when it is not nullptr and returns the sum (in double).
using PointForwardFn = double (*)(float* loss, const float* x, const float* y, index_t n);
// dx[i] = scale * (grad ? grad[i] : 1) * dl/dx(x[i], y[i]).
using PointBackwardFn = void (*)(float* dx, const float* x, const float* y, const float* grad, float scale,
                                 index_t n);

struct LossKernels {
  CeForwardFn ce_forward;
  CeBackwardFn ce_backward;
  PointForwardFn mse_forward;    // (x - y)^2
  PointBackwardFn mse_backward;  // 2 (x - y)
  PointForwardFn bce_forward;    // max(x, 0) - x y + log1p(exp(-|x|))
  PointBackwardFn bce_backward;  // sigmoid(x) - y
};

extern KernelTables<LossKernels> g_loss_kernels;
void register_loss_ref(LossKernels& t);
void register_loss_avx2(LossKernels& t);
void register_loss_avx512(LossKernels& t);

// ---- drivers ----
struct CeSum {
  double sum;     // sum of loss over non-ignored rows
  index_t count;  // number of non-ignored rows
};
// Throws std::invalid_argument naming the first target outside [0, C) that is not ignore_index.
CeSum cross_entropy_forward(float* loss, float* lse, const float* x, const std::int64_t* target, index_t rows,
                            index_t C, const CeOptions& o);
void cross_entropy_backward(float* dx, const float* x, const float* lse, const std::int64_t* target,
                            const float* grad, float scale, index_t rows, index_t C, const CeOptions& o);

// NLL over log-probabilities x (rows, C): loss[r] = -x[r, t_r] (0 for ignored rows); throws as
// cross_entropy_forward on a target out of range. Backward: dx = -s_r at (r, t_r), 0 elsewhere.
CeSum nll_loss_forward(float* loss, const float* x, const std::int64_t* target, index_t rows, index_t C,
                       std::int64_t ignore_index);
void nll_loss_backward(float* dx, const std::int64_t* target, const float* grad, float scale, index_t rows,
                       index_t C, std::int64_t ignore_index);

enum class PointLoss : int { mse = 0, bce_with_logits = 1 };
double point_loss_forward(PointLoss op, float* loss, const float* x, const float* y, index_t n);
void point_loss_backward(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                         index_t n);

}  // namespace fl
