// The loss family: cross-entropy over logits (fused log-softmax + NLL: class-index or
// probability targets, class weights, ignore_index, label smoothing), NLL over
// log-probabilities, mean squared error and binary cross-entropy with logits (element weights
// and pos_weight). Forward kernels return per-row / per-element losses and the driver reduces
// them; backward kernels write dL/dx with the reduction's scale folded in.
//
// Layout: logits x of shape (N, C, D), D = d1 * ... * dk positions per image (D = 1 for (N, C)
// logits); row r = n * D + j (target, loss, lse, grad are indexed by r) holds the C logits
// x[(n * C + c) * D + j]. Probability targets t have x's layout.
//
// Cross-entropy of row r with class-index target t_r, smoothing eps, class weights w (1 when
// absent), W = sum_c w_c, p_c = exp(x_c - lse_r):
//   lse_r  = log sum_c exp(x_c)
//   loss_r = (1 - eps) w_t (lse_r - x_t) + (eps / C) sum_c w_c (lse_r - x_c)    (0 when ignored)
//   dx_c   = s_r (p_c ((1 - eps) w_t + (eps / C) W) - (eps / C) w_c - (1 - eps) w_t [c == t]),
//   s_r = scale * grad_r; the mean divides the sum of loss_r by sum_r w_{t_r} over non-ignored rows.
// With probability targets, t'_c = (1 - eps) t_c + eps / C:
//   loss_r = sum_c w_c t'_c (lse_r - x_c),   dx_c = s_r (p_c sum_c' w_c' t'_c' - w_c t'_c),
//   and the mean divides by the row count N D. This is PyTorch's cross_entropy.
#pragma once
#include <cstdint>

#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

struct CeShape {
  index_t N, C, D;
};

struct CeOptions {
  std::int64_t ignore_index;
  float label_smoothing;
  const float* weight = nullptr;  // C class weights, or nullptr (all 1)
};

// The rows a kernel call covers: images [0, N) of an (N, C, D) tensor and, in each, positions
// [0, width) (the caller offsets the pointers to the first image and position: x, dx and t by
// n0 * C * D + j0, per-row arrays by n0 * D + j0). D = width = 1: N contiguous rows of C.
struct CeBlock {
  index_t N, C, D, width;
};

// Contract: C >= 1; every target in [0, C) or ignore_index (the driver checks). Writes loss and
// lse of each row (both 0 for ignored rows).
using CeForwardFn = void (*)(float* loss, float* lse, const float* x, const std::int64_t* target, const CeBlock& b,
                             const CeOptions& o);
// dx from x and the forward's lse; grad (one per row, laid out as loss) may be nullptr (all ones).
using CeBackwardFn = void (*)(float* dx, const float* x, const float* lse, const std::int64_t* target,
                              const float* grad, float scale, const CeBlock& b, const CeOptions& o);
// Probability targets t (x's layout; ignore_index unused).
using CeSoftForwardFn = void (*)(float* loss, float* lse, const float* x, const float* t, const CeBlock& b,
                                 const CeOptions& o);
using CeSoftBackwardFn = void (*)(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                  float scale, const CeBlock& b, const CeOptions& o);

// Per-element weights of a point-wise loss (n floats each, broadcast by the caller), or nullptr.
// pos_weight applies to BCE with logits only.
struct PointWeights {
  const float* weight = nullptr;
  const float* pos_weight = nullptr;
};
// Point-wise losses over n elements of prediction x and target y. Forward writes the
// per-element loss to `loss` when it is not nullptr and returns the sum (in double).
using PointForwardFn = double (*)(float* loss, const float* x, const float* y, const PointWeights& w, index_t n);
// dx[i] = scale * (grad ? grad[i] : 1) * dl/dx(x[i], y[i]).
using PointBackwardFn = void (*)(float* dx, const float* x, const float* y, const float* grad, float scale,
                                 const PointWeights& w, index_t n);

struct LossKernels {
  CeForwardFn ce_forward;
  CeBackwardFn ce_backward;
  CeSoftForwardFn ce_soft_forward;
  CeSoftBackwardFn ce_soft_backward;
  PointForwardFn mse_forward;    // (x - y)^2 (weights unused)
  PointBackwardFn mse_backward;  // 2 (x - y)
  // w (max(x, 0) - x y + log1p(exp(-|x|))); with pos_weight p, lw = 1 + (p - 1) y:
  // w ((1 - y) x + lw (log1p(exp(-|x|)) + max(-x, 0)))
  PointForwardFn bce_forward;
  PointBackwardFn bce_backward;  // w (sigmoid(x) - y); with p: w (lw sigmoid(x) - p y)
};

extern KernelTables<LossKernels> g_loss_kernels;
void register_loss_ref(LossKernels& t);
void register_loss_avx2(LossKernels& t);
void register_loss_avx512(LossKernels& t);

// ---- drivers ----
struct CeSum {
  double sum;     // sum of loss over non-ignored rows
  index_t count;  // number of non-ignored rows (all rows for probability targets)
  double weight;  // the mean's divisor: sum of w_{t_r} over non-ignored rows (count without weights; N D for
                  // probability targets)
};
// Throws std::invalid_argument naming the first target outside [0, C) that is not ignore_index.
CeSum cross_entropy_forward(float* loss, float* lse, const float* x, const std::int64_t* target, CeShape s,
                            const CeOptions& o);
void cross_entropy_backward(float* dx, const float* x, const float* lse, const std::int64_t* target,
                            const float* grad, float scale, CeShape s, const CeOptions& o);
CeSum cross_entropy_soft_forward(float* loss, float* lse, const float* x, const float* t, CeShape s,
                                 const CeOptions& o);
void cross_entropy_soft_backward(float* dx, const float* x, const float* lse, const float* t, const float* grad,
                                 float scale, CeShape s, const CeOptions& o);

// NLL over log-probabilities x (N, C, D): loss_r = -w_t x[(n C + t) D + j] (0 for ignored rows);
// throws as cross_entropy_forward on a target out of range. Backward: dx = -s_r w_t at the
// target, 0 elsewhere. The sum divides by CeSum::weight for the mean.
CeSum nll_loss_forward(float* loss, const float* x, const std::int64_t* target, CeShape s, std::int64_t ignore_index,
                       const float* weight);
void nll_loss_backward(float* dx, const std::int64_t* target, const float* grad, float scale, CeShape s,
                       std::int64_t ignore_index, const float* weight);

enum class PointLoss : int { mse = 0, bce_with_logits = 1 };
double point_loss_forward(PointLoss op, float* loss, const float* x, const float* y, const PointWeights& w,
                          index_t n);
void point_loss_backward(PointLoss op, float* dx, const float* x, const float* y, const float* grad, float scale,
                         const PointWeights& w, index_t n);

}  // namespace fl
