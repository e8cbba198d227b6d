// Emulation checks of the loss and dropout CUDA kernels (csrc/cuda/{loss,dropout}.cu, run by
// run.py's host emulation) against the CPU reference kernels (cpu/ref/loss_ref.cpp,
// cpu/ref/dropout_ref.cpp): per-row and per-element losses, the device reduction (sum, count,
// weight, mean, first bad target), every backward with each reduction's scale, NLL against its
// definition (functional.nll_loss has no C++ kernel), and dropout bit for bit (the same mask
// from the same seed, also across a 2^32 index boundary). Odd sizes, (N, C) and (N, C, D)
// logits, class-index and probability targets, class weights, ignore_index, label smoothing,
// BCE weights and pos_weight, empty inputs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/dropout.h"
#include "ops/loss.h"
#include "cuda/dropout.cuh"
#include "cuda/loss.cuh"
#include "emu_check.h"

using fl::index_t;
using namespace emu_check;

namespace {

// The reductions a backward can fold in: 'mean' (scale 1 / weight, here from the device
// total), 'sum' (scale 1), 'none' (a gradient per item), and 'mean' of a scaled grad_out.
enum class Red { mean, sum, none, mean_scaled };
const Red kReductions[] = {Red::mean, Red::sum, Red::none, Red::mean_scaled};

// The host scale the CPU path computes for reduction `red` (Python: grad_out / weight).
float host_scale(Red red, double weight) {
  const double g = red == Red::mean_scaled ? 0.5 : 1.0;
  if (red == Red::mean || red == Red::mean_scaled) return weight != 0.0 ? static_cast<float>(g / weight) : NAN;
  return static_cast<float>(g);
}

double seq_sum(const std::vector<float>& v) {
  double s = 0.0;
  for (float f : v) s += f;
  return s;
}

// The device total against the sum of `want` (the losses it reduced), the expected count and
// the mean's divisor.
void expect_total(const char* what, const fl::LossTotal& t, double want_sum, index_t count, double weight,
                  index_t bad) {
  char msg[200];
  std::snprintf(msg, sizeof msg, "%s: total sum %.17g want %.17g", what, t.sum, want_sum);
  check(std::isfinite(want_sum) ? std::fabs(t.sum - want_sum) <= 1e-12 * std::fabs(want_sum) + 1e-12
                                 : same(float(t.sum), float(want_sum), 0, 0),
        msg);
  std::snprintf(msg, sizeof msg, "%s: count %ld want %ld, weight %.17g want %.17g, bad %ld want %ld", what,
                long(t.count), long(count), t.weight, weight, long(t.bad_target), long(bad));
  check(t.count == count && std::fabs(t.weight - weight) <= 1e-12 * std::fabs(weight) && t.bad_target == bad, msg);
  const float mean = t.weight != 0.0 ? static_cast<float>(t.sum / t.weight) : NAN;
  std::snprintf(msg, sizeof msg, "%s: mean %.9g sum_f %.9g", what, t.mean, t.sum_f);
  check(same(t.mean, mean, 0, 0) && same(t.sum_f, static_cast<float>(t.sum), 0, 0), msg);
}

struct CeCase {
  index_t N, C, D;
  std::int64_t ignore;
  float eps;
  bool weighted;
};
// (N, C) rows (row groups of 32 and of the whole block) and (N, C, D) positions (a thread per row).
const CeCase kCeCases[] = {{1, 1, 1, -100, 0.0f, false},   {7, 10, 1, -100, 0.0f, false}, {59, 97, 1, 3, 0.1f, false},
                           {3, 1029, 1, -1, 0.25f, false},  {129, 33, 1, -100, 1.0f, false}, {5, 2048, 1, 7, 0.0f, false},
                           {300, 3, 1, 1, 0.05f, false},    {2, 1, 1, -100, 0.3f, false},  {17, 1500, 1, -100, 0.1f, false},
                           {23, 40, 1, -100, 0.0f, false},  {9, 13, 1, 2, 0.2f, true},     {4, 1100, 1, -100, 0.1f, true},
                           {3, 5, 37, -100, 0.0f, false},   {2, 7, 300, 1, 0.15f, false},  {3, 4, 33, -100, 0.1f, true},
                           {1, 1, 5, -100, 0.2f, true},     {2, 6, 257, 0, 0.0f, true}};

std::vector<float> class_weights(index_t C, std::mt19937& r) {
  std::vector<float> w = randint(C, r, 1, 8);
  for (auto& v : w) v *= 0.25f;
  return w;
}

void test_cross_entropy(const fl::LossKernels& ref, std::mt19937& r) {
  for (const CeCase& c : kCeCases) {
    const index_t rows = c.N * c.D, n = rows * c.C;
    const fl::CeShape sh{c.N, c.C, c.D};
    const fl::CeBlock all{c.N, c.C, c.D, c.D};
    const std::vector<float> w = class_weights(c.C, r);
    const fl::CeOptions o{c.ignore, c.eps, c.weighted ? w.data() : nullptr};
    std::vector<float> x = randn(n, r, 3.0f);
    std::vector<std::int64_t> t(rows);
    std::uniform_int_distribution<std::int64_t> cls(0, c.C - 1);
    for (index_t i = 0; i < rows; ++i) t[i] = i % 5 == 3 ? c.ignore : cls(r);
    const index_t at = c.D;  // the class stride
    if (c.C == 33) x[2 * c.C + 1] = NAN;  // a NaN row (its loss, and so the sum, NaN)
    if (rows > 8 && c.D == 1) x[5 * c.C] = 80.0f;                        // a large logit
    if (rows > 8 && c.D == 1) x[4 * c.C + (t[4] + 1) % c.C] = -INFINITY;  // a masked class: inf only with smoothing
    if (c.D > 1 && c.C > 1) x[((t[1] + 1) % c.C) * at + 1] = -INFINITY;
    std::vector<float> loss(rows, 7.0f), lse(rows, 7.0f), loss0(rows), lse0(rows);
    fl::LossTotal total{};
    fl::cross_entropy_forward_cuda(loss.data(), lse.data(), &total, x.data(), t.data(), sh, o, nullptr);
    ref.ce_forward(loss0.data(), lse0.data(), x.data(), t.data(), all, o);
    index_t count = 0;
    double weight = 0.0;
    for (auto v : t)
      if (v != c.ignore) ++count, weight += c.weighted ? w[v] : 1.0;
    char what[160];
    std::snprintf(what, sizeof what, "cross_entropy (%ld, %ld, %ld) ignore %ld eps %g weighted %d", long(c.N),
                  long(c.C), long(c.D), long(c.ignore), c.eps, c.weighted);
    expect(what, loss, loss0, 2e-6f, 2e-6f);  // float exp (the vector kernels') vs the reference's double exp
    expect(what, lse, lse0, 1e-6f, 1e-6f);
    expect_total(what, total, seq_sum(loss), count, weight, -1);
    for (Red red : kReductions) {
      const std::vector<float> g = randn(rows, r);
      const float* gp = red == Red::none ? g.data() : nullptr;
      const float sc = red == Red::mean_scaled ? 0.5f : 1.0f;
      const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
      std::vector<float> dx(n, 7.0f), dx0(n);
      fl::cross_entropy_backward_cuda(dx.data(), x.data(), lse.data(), t.data(), gp, sc, dev_mean ? &total : nullptr,
                                      sh, o, nullptr);
      ref.ce_backward(dx0.data(), x.data(), lse.data(), t.data(), gp, host_scale(red, weight), all, o);
      std::snprintf(what, sizeof what, "cross_entropy_backward (%ld, %ld, %ld) eps %g weighted %d reduction %d",
                    long(c.N), long(c.C), long(c.D), c.eps, c.weighted, int(red));
      expect(what, dx, dx0, c.weighted ? 1e-6f : 0.0f, c.weighted ? 1e-7f : 0.0f);  // the reference's float terms
    }
    // NLL on the same rows, read as log-probabilities
    std::vector<float> nll(rows, 7.0f), nll0(rows);
    for (index_t i = 0; i < rows; ++i) {
      const index_t base = i / c.D * c.C * c.D + i % c.D;
      nll0[i] = t[i] == c.ignore ? 0.0f : -((c.weighted ? w[t[i]] : 1.0f) * x[base + t[i] * c.D]);
    }
    fl::nll_loss_forward_cuda(nll.data(), &total, x.data(), t.data(), sh, c.ignore, o.weight, nullptr);
    std::snprintf(what, sizeof what, "nll_loss (%ld, %ld, %ld) ignore %ld weighted %d", long(c.N), long(c.C),
                  long(c.D), long(c.ignore), c.weighted);
    expect(what, nll, nll0);
    expect_total(what, total, seq_sum(nll0), count, weight, -1);
    for (Red red : kReductions) {
      const std::vector<float> g = randn(rows, r);
      const float sc = red == Red::mean_scaled ? 0.5f : 1.0f, s0 = host_scale(red, weight);
      const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
      std::vector<float> dx(n, 7.0f), dx0(n, 0.0f);
      for (index_t i = 0; i < rows; ++i)
        if (t[i] != c.ignore) {
          const index_t base = i / c.D * c.C * c.D + i % c.D;
          dx0[base + t[i] * c.D] = -((red == Red::none ? s0 * g[i] : s0) * (c.weighted ? w[t[i]] : 1.0f));
        }
      fl::nll_loss_backward_cuda(dx.data(), t.data(), red == Red::none ? g.data() : nullptr, sc,
                                 dev_mean ? &total : nullptr, sh, c.ignore, o.weight, nullptr);
      std::snprintf(what, sizeof what, "nll_loss_backward (%ld, %ld, %ld) reduction %d", long(c.N), long(c.C),
                    long(c.D), int(red));
      expect(what, dx, dx0);
    }
  }
}

// Probability targets: each row's target a distribution (some rows one-hot), on both layouts.
void test_cross_entropy_soft(const fl::LossKernels& ref, std::mt19937& r) {
  for (const CeCase& c : kCeCases) {
    const index_t rows = c.N * c.D, n = rows * c.C;
    const fl::CeShape sh{c.N, c.C, c.D};
    const fl::CeBlock all{c.N, c.C, c.D, c.D};
    const std::vector<float> w = class_weights(c.C, r);
    const fl::CeOptions o{-100, c.eps, c.weighted ? w.data() : nullptr};
    std::vector<float> x = randn(n, r, 3.0f), t = randint(n, r, 0, 4);
    for (index_t i = 0; i < rows; ++i) {  // normalise each row's targets (x's layout)
      const index_t base = i / c.D * c.C * c.D + i % c.D;
      float sum = 0.0f;
      for (index_t k = 0; k < c.C; ++k) sum += t[base + k * c.D];
      for (index_t k = 0; k < c.C; ++k) t[base + k * c.D] = sum > 0 ? t[base + k * c.D] / sum : 1.0f / c.C;
    }
    std::vector<float> loss(rows, 7.0f), lse(rows, 7.0f), loss0(rows), lse0(rows);
    fl::LossTotal total{};
    fl::cross_entropy_soft_forward_cuda(loss.data(), lse.data(), &total, x.data(), t.data(), sh, o, nullptr);
    ref.ce_soft_forward(loss0.data(), lse0.data(), x.data(), t.data(), all, o);
    char what[160];
    std::snprintf(what, sizeof what, "cross_entropy soft (%ld, %ld, %ld) eps %g weighted %d", long(c.N), long(c.C),
                  long(c.D), c.eps, c.weighted);
    expect(what, loss, loss0, 2e-6f, 2e-6f);
    expect(what, lse, lse0, 1e-6f, 1e-6f);
    expect_total(what, total, seq_sum(loss), rows, double(rows), -1);
    for (Red red : kReductions) {
      const std::vector<float> g = randn(rows, r);
      const float* gp = red == Red::none ? g.data() : nullptr;
      const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
      std::vector<float> dx(n, 7.0f), dx0(n);
      fl::cross_entropy_soft_backward_cuda(dx.data(), x.data(), lse.data(), t.data(), gp,
                                           red == Red::mean_scaled ? 0.5f : 1.0f, dev_mean ? &total : nullptr, sh, o,
                                           nullptr);
      ref.ce_soft_backward(dx0.data(), x.data(), lse.data(), t.data(), gp, host_scale(red, double(rows)), all, o);
      std::snprintf(what, sizeof what, "cross_entropy soft backward (%ld, %ld, %ld) eps %g reduction %d", long(c.N),
                    long(c.C), long(c.D), c.eps, int(red));
      expect(what, dx, dx0, 1e-5f, 1e-7f);  // S summed in a tree (the reference: in order)
    }
  }
}

// Targets outside [0, C): NaN rows and the first one's position in the total (the CPU throws).
void test_bad_targets(std::mt19937& r) {
  for (index_t C : {index_t(10), index_t(1100)}) {
    const index_t rows = 7;
    const fl::CeShape sh{rows, C, 1};
    std::vector<float> x = randn(rows * C, r), loss(rows), lse(rows), dx(rows * C), w(C, 2.0f);
    std::vector<std::int64_t> t = {1, 0, -5, 3, C, -100, 2};
    fl::LossTotal total{};
    const fl::CeOptions o{-100, 0.1f, w.data()};
    fl::cross_entropy_forward_cuda(loss.data(), lse.data(), &total, x.data(), t.data(), sh, o, nullptr);
    check(total.bad_target == 2 && total.count == 6 && total.weight == 8.0, "cross_entropy: first bad target at row 2");
    check(std::isnan(loss[2]) && std::isnan(lse[4]) && !std::isnan(loss[3]) && loss[5] == 0.0f,
          "cross_entropy: bad target rows are NaN, the others not");
    fl::cross_entropy_backward_cuda(dx.data(), x.data(), lse.data(), t.data(), nullptr, 1.0f, nullptr, sh, o,
                                    nullptr);
    check(std::isnan(dx[2 * C]) && std::isnan(dx[4 * C + C - 1]) && !std::isnan(dx[3 * C]) && dx[5 * C] == 0.0f,
          "cross_entropy_backward: bad target rows are NaN");
    fl::nll_loss_forward_cuda(loss.data(), &total, x.data(), t.data(), sh, -100, nullptr, nullptr);
    check(total.bad_target == 2 && std::isnan(loss[4]), "nll_loss: first bad target at row 2");
    fl::nll_loss_backward_cuda(dx.data(), t.data(), nullptr, 1.0f, nullptr, sh, -100, nullptr, nullptr);
    check(std::isnan(dx[4 * C]) && dx[3 * C + 3] == -1.0f && dx[3 * C] == 0.0f, "nll_loss_backward: bad rows NaN");
  }
}

void test_empty() {
  fl::LossTotal total{};
  total.sum = 5.0;
  fl::cross_entropy_forward_cuda(nullptr, nullptr, &total, nullptr, nullptr, {0, 4, 1}, {-100, 0.0f}, nullptr);
  check(total.sum == 0.0 && total.count == 0 && total.weight == 0.0 && std::isnan(total.mean) &&
            total.bad_target == -1,
        "cross_entropy: no rows give sum 0, count 0, mean NaN");
  total.sum = 5.0;
  fl::cross_entropy_soft_forward_cuda(nullptr, nullptr, &total, nullptr, nullptr, {3, 4, 0}, {-100, 0.0f}, nullptr);
  check(total.sum == 0.0 && total.count == 0 && std::isnan(total.mean), "cross_entropy soft: no positions, mean NaN");
  total.sum = 5.0;
  fl::point_loss_forward_cuda(fl::PointLoss::mse, nullptr, &total, nullptr, nullptr, {}, 0, nullptr);
  check(total.sum == 0.0 && total.count == 0 && std::isnan(total.mean), "mse: no elements give mean NaN");
}

void test_point(const fl::LossKernels& ref, std::mt19937& r) {
  const float specials[] = {0.0f, -0.0f, 100.0f, -100.0f, 88.0f, -89.0f, 1e-30f, 15.0f, -15.0f};
  for (index_t n : {index_t(1), index_t(7), index_t(1029), index_t(70001), index_t(300007)})
    for (int op = 0; op < 2; ++op)
      for (int weights = 0; weights < (op ? 4 : 1); ++weights) {  // BCE: none, weight, pos_weight, both
        const bool bce = op == int(fl::PointLoss::bce_with_logits);
        std::vector<float> x = randn(n, r, 4.0f), y = bce ? randint(n, r, 0, 4) : randn(n, r);
        std::vector<float> wv = randint(n, r, 0, 6), pv = randint(n, r, 1, 8);
        if (bce)
          for (auto& v : y) v *= 0.25f;  // targets in [0, 1]
        for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < x.size(); ++i) x[i] = specials[i];
        const fl::PointWeights pw{weights & 1 ? wv.data() : nullptr, weights & 2 ? pv.data() : nullptr};
        const fl::PointForwardFn f = bce ? ref.bce_forward : ref.mse_forward;
        const fl::PointBackwardFn b = bce ? ref.bce_backward : ref.mse_backward;
        std::vector<float> loss(n, 7.0f), loss0(n);
        fl::LossTotal total{}, total2{};
        fl::point_loss_forward_cuda(fl::PointLoss(op), loss.data(), &total, x.data(), y.data(), pw, n, nullptr);
        const double sum0 = f(loss0.data(), x.data(), y.data(), pw, n);
        char what[96];
        std::snprintf(what, sizeof what, "%s n %ld weights %d", bce ? "bce_with_logits" : "mse", long(n), weights);
        expect(what, loss, loss0);
        expect_total(what, total, sum0, n, double(n), -1);
        fl::point_loss_forward_cuda(fl::PointLoss(op), nullptr, &total2, x.data(), y.data(), pw, n, nullptr);
        check(total2.sum == total.sum && total2.mean == total.mean, "point loss: the reduction alone, same sum");
        std::vector<float> only(n, 7.0f);
        fl::point_loss_forward_cuda(fl::PointLoss(op), only.data(), nullptr, x.data(), y.data(), pw, n, nullptr);
        expect(what, only, loss0);
        for (Red red : kReductions) {
          const std::vector<float> g = randn(n, r);
          const float* gp = red == Red::none ? g.data() : nullptr;
          const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
          std::vector<float> dx(n, 7.0f), dx0(n);
          fl::point_loss_backward_cuda(fl::PointLoss(op), dx.data(), x.data(), y.data(), gp,
                                       red == Red::mean_scaled ? 0.5f : 1.0f, dev_mean ? &total : nullptr, pw, n,
                                       nullptr);
          b(dx0.data(), x.data(), y.data(), gp, host_scale(red, double(n)), pw, n);
          std::snprintf(what, sizeof what, "%s_backward n %ld weights %d reduction %d", bce ? "bce_with_logits" : "mse",
                        long(n), weights, int(red));
          expect(what, dx, dx0);
        }
      }
}

void test_dropout(std::mt19937& r) {
  fl::DropoutKernels ref{};
  fl::register_dropout_ref(ref);
  const std::uint64_t seeds[] = {0, 12345, ~std::uint64_t(0)};
  const std::uint32_t thresholds[] = {0u, 1u << 31, 429496730u, 0xffffffffu};  // p = 0, 0.5, 0.1, ~1
  for (index_t n : {index_t(1), index_t(3), index_t(4), index_t(5), index_t(1027), index_t(4099), index_t(100003)})
    for (int offset : {0, 1})  // 1: misaligned, the scalar path
      for (std::uint64_t seed : seeds)
        for (std::uint32_t thr : thresholds) {
          const fl::DropoutParams p{seed, thr, 1.0f / (1.0f - float(thr) / 4294967296.0f + 1e-9f)};
          std::vector<float> x = randn(n + offset, r), y(n + offset, 7.0f), want(n + offset, 7.0f);
          x[offset] = NAN;
          fl::dropout_apply_cuda(y.data() + offset, x.data() + offset, n, p, nullptr);
          ref.apply(want.data() + offset, x.data() + offset, 0, n, p);
          char what[96];
          std::snprintf(what, sizeof what, "dropout n %ld off %d seed %llu thr %u", long(n), offset,
                        static_cast<unsigned long long>(seed), thr);
          expect(what, y, want);
          fl::dropout_apply_cuda(x.data() + offset, x.data() + offset, n, p, nullptr);  // in place
          expect(what, std::vector<float>(x.begin() + offset, x.end()), std::vector<float>(want.begin() + offset, want.end()));
        }
  // ranges of a tensor past 2^32 elements: the keys change at the boundary
  for (std::uint64_t begin : {(std::uint64_t(1) << 32) - 1000, (std::uint64_t(3) << 32) + 5}) {
    const index_t n = 3001;
    const fl::DropoutParams p{987654321, 1u << 31, 2.0f};
    std::vector<float> x = randn(n, r), y(n), want(n);
    fl::dropout_apply_range_cuda(y.data(), x.data(), index_t(begin), n, p, nullptr);
    ref.apply(want.data(), x.data(), index_t(begin), n, p);
    char what[64];
    std::snprintf(what, sizeof what, "dropout range at %llu", static_cast<unsigned long long>(begin));
    expect(what, y, want);
  }
}

}  // namespace

void test_loss(std::mt19937& r) {
  const int before = g_checks;
  fl::LossKernels ref{};
  fl::register_loss_ref(ref);
  test_cross_entropy(ref, r);
  test_cross_entropy_soft(ref, r);
  test_bad_targets(r);
  test_empty();
  test_point(ref, r);
  test_dropout(r);
  std::printf("loss: %d checks of the loss and dropout kernels\n", g_checks - before);
}
