// Emulation checks of the loss and dropout CUDA kernels (csrc/cuda/{loss,dropout}.cu, run by
// run.py's host emulation) against the CPU reference kernels (cpu/ref/loss_ref.cpp,
// cpu/ref/dropout_ref.cpp): per-row and per-element losses, the device reduction (sum, count,
// mean, first bad target), every backward with each reduction's scale, NLL against its
// definition (functional.nll_loss has no C++ kernel), and dropout bit for bit (the same mask
// from the same seed, also across a 2^32 index boundary). Odd sizes, ignore_index, label
// smoothing, empty inputs.
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

// The reductions a backward can fold in: 'mean' (scale 1 / count, here from the device
// total), 'sum' (scale 1), 'none' (a gradient per item), and 'mean' of a scaled grad_out.
enum class Red { mean, sum, none, mean_scaled };
const Red kReductions[] = {Red::mean, Red::sum, Red::none, Red::mean_scaled};

// The host scale the CPU path computes for reduction `red` (Python: grad_out / count).
float host_scale(Red red, index_t count) {
  const double g = red == Red::mean_scaled ? 0.5 : 1.0;
  if (red == Red::mean || red == Red::mean_scaled) return count ? static_cast<float>(g / count) : NAN;
  return static_cast<float>(g);
}

double seq_sum(const std::vector<float>& v) {
  double s = 0.0;
  for (float f : v) s += f;
  return s;
}

// The device total against the sum of `want` (the losses it reduced) and the expected count.
void expect_total(const char* what, const fl::LossTotal& t, double want_sum, index_t count, index_t bad) {
  char msg[160];
  std::snprintf(msg, sizeof msg, "%s: total sum %.17g want %.17g", what, t.sum, want_sum);
  check(std::isfinite(want_sum) ? std::fabs(t.sum - want_sum) <= 1e-12 * std::fabs(want_sum) + 1e-12
                                 : same(float(t.sum), float(want_sum), 0, 0),
        msg);
  std::snprintf(msg, sizeof msg, "%s: count %ld want %ld, bad %ld want %ld", what, long(t.count), long(count),
                long(t.bad_target), long(bad));
  check(t.count == count && t.bad_target == bad, msg);
  const float mean = count ? static_cast<float>(t.sum / double(count)) : NAN;
  std::snprintf(msg, sizeof msg, "%s: mean %.9g sum_f %.9g", what, t.mean, t.sum_f);
  check(same(t.mean, mean, 0, 0) && same(t.sum_f, static_cast<float>(t.sum), 0, 0), msg);
}

struct CeCase {
  index_t rows, C;
  std::int64_t ignore;
  float eps;
};

void test_cross_entropy(const fl::LossKernels& ref, std::mt19937& r) {
  const CeCase cases[] = {{1, 1, -100, 0.0f},   {7, 10, -100, 0.0f},  {59, 97, 3, 0.1f},  {3, 1029, -1, 0.25f},
                          {129, 33, -100, 1.0f}, {5, 2048, 7, 0.0f},   {300, 3, 1, 0.05f}, {2, 1, -100, 0.3f},
                          {17, 1500, -100, 0.1f}, {23, 40, -100, 0.0f}};
  for (const CeCase& c : cases) {
    const fl::CeOptions o{c.ignore, c.eps};
    std::vector<float> x = randn(c.rows * c.C, r, 3.0f);
    std::vector<std::int64_t> t(c.rows);
    std::uniform_int_distribution<std::int64_t> cls(0, c.C - 1);
    for (index_t i = 0; i < c.rows; ++i) t[i] = i % 5 == 3 ? c.ignore : cls(r);
    if (c.C == 33) x[2 * c.C + 1] = NAN;  // a NaN row (its loss, and so the sum, NaN)
    if (c.rows > 8) x[5 * c.C] = 80.0f;                     // a large logit
    if (c.rows > 8) x[4 * c.C + (t[4] + 1) % c.C] = -INFINITY;  // a masked class: inf only with smoothing
    std::vector<float> loss(c.rows, 7.0f), lse(c.rows, 7.0f), loss0(c.rows), lse0(c.rows);
    fl::LossTotal total{};
    fl::cross_entropy_forward_cuda(loss.data(), lse.data(), &total, x.data(), t.data(), c.rows, c.C, o, nullptr);
    ref.ce_forward(loss0.data(), lse0.data(), x.data(), t.data(), c.rows, c.C, o);
    index_t count = 0;
    for (auto v : t) count += v != c.ignore;
    char what[128];
    std::snprintf(what, sizeof what, "cross_entropy (%ld, %ld) ignore %ld eps %g", long(c.rows), long(c.C),
                  long(c.ignore), c.eps);
    expect(what, loss, loss0, 2e-6f, 2e-6f);  // float exp (the vector kernels') vs the reference's double exp
    expect(what, lse, lse0, 1e-6f, 1e-6f);
    expect_total(what, total, seq_sum(loss), count, -1);
    for (Red red : kReductions) {
      const std::vector<float> g = randn(c.rows, r);
      const float* gp = red == Red::none ? g.data() : nullptr;
      const float sc = red == Red::mean_scaled ? 0.5f : 1.0f;
      const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
      std::vector<float> dx(c.rows * c.C, 7.0f), dx0(c.rows * c.C);
      fl::cross_entropy_backward_cuda(dx.data(), x.data(), lse.data(), t.data(), gp, sc, dev_mean ? &total : nullptr,
                                      c.rows, c.C, o, nullptr);
      ref.ce_backward(dx0.data(), x.data(), lse.data(), t.data(), gp, host_scale(red, count), c.rows, c.C, o);
      std::snprintf(what, sizeof what, "cross_entropy_backward (%ld, %ld) eps %g reduction %d", long(c.rows),
                    long(c.C), c.eps, int(red));
      expect(what, dx, dx0);  // the reference's float terms in its order: exact
    }
    // NLL on the same rows, read as log-probabilities
    std::vector<float> nll(c.rows, 7.0f), nll0(c.rows);
    for (index_t i = 0; i < c.rows; ++i) nll0[i] = t[i] == c.ignore ? 0.0f : -x[i * c.C + t[i]];
    fl::nll_loss_forward_cuda(nll.data(), &total, x.data(), t.data(), c.rows, c.C, c.ignore, nullptr);
    std::snprintf(what, sizeof what, "nll_loss (%ld, %ld) ignore %ld", long(c.rows), long(c.C), long(c.ignore));
    expect(what, nll, nll0);
    expect_total(what, total, seq_sum(nll0), count, -1);
    for (Red red : kReductions) {
      const std::vector<float> g = randn(c.rows, r);
      const float sc = red == Red::mean_scaled ? 0.5f : 1.0f, s0 = host_scale(red, count);
      const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
      std::vector<float> dx(c.rows * c.C, 7.0f), dx0(c.rows * c.C, 0.0f);
      for (index_t i = 0; i < c.rows; ++i)
        if (t[i] != c.ignore) dx0[i * c.C + t[i]] = -(red == Red::none ? s0 * g[i] : s0);
      fl::nll_loss_backward_cuda(dx.data(), t.data(), red == Red::none ? g.data() : nullptr, sc,
                                 dev_mean ? &total : nullptr, c.rows, c.C, c.ignore, nullptr);
      std::snprintf(what, sizeof what, "nll_loss_backward (%ld, %ld) reduction %d", long(c.rows), long(c.C), int(red));
      expect(what, dx, dx0);
    }
  }
}

// Targets outside [0, C): NaN rows and the first one's position in the total (the CPU throws).
void test_bad_targets(std::mt19937& r) {
  for (index_t C : {index_t(10), index_t(1100)}) {
    const index_t rows = 7;
    std::vector<float> x = randn(rows * C, r), loss(rows), lse(rows), dx(rows * C);
    std::vector<std::int64_t> t = {1, 0, -5, 3, C, -100, 2};
    fl::LossTotal total{};
    const fl::CeOptions o{-100, 0.1f};
    fl::cross_entropy_forward_cuda(loss.data(), lse.data(), &total, x.data(), t.data(), rows, C, o, nullptr);
    check(total.bad_target == 2 && total.count == 6, "cross_entropy: first bad target at row 2");
    check(std::isnan(loss[2]) && std::isnan(lse[4]) && !std::isnan(loss[3]) && loss[5] == 0.0f,
          "cross_entropy: bad target rows are NaN, the others not");
    fl::cross_entropy_backward_cuda(dx.data(), x.data(), lse.data(), t.data(), nullptr, 1.0f, nullptr, rows, C, o,
                                    nullptr);
    check(std::isnan(dx[2 * C]) && std::isnan(dx[4 * C + C - 1]) && !std::isnan(dx[3 * C]) && dx[5 * C] == 0.0f,
          "cross_entropy_backward: bad target rows are NaN");
    fl::nll_loss_forward_cuda(loss.data(), &total, x.data(), t.data(), rows, C, -100, nullptr);
    check(total.bad_target == 2 && std::isnan(loss[4]), "nll_loss: first bad target at row 2");
    fl::nll_loss_backward_cuda(dx.data(), t.data(), nullptr, 1.0f, nullptr, rows, C, -100, nullptr);
    check(std::isnan(dx[4 * C]) && dx[3 * C + 3] == -1.0f && dx[3 * C] == 0.0f, "nll_loss_backward: bad rows NaN");
  }
}

void test_empty() {
  fl::LossTotal total{};
  total.sum = 5.0;
  fl::cross_entropy_forward_cuda(nullptr, nullptr, &total, nullptr, nullptr, 0, 4, {-100, 0.0f}, nullptr);
  check(total.sum == 0.0 && total.count == 0 && std::isnan(total.mean) && total.bad_target == -1,
        "cross_entropy: no rows give sum 0, count 0, mean NaN");
  total.sum = 5.0;
  fl::point_loss_forward_cuda(fl::PointLoss::mse, nullptr, &total, nullptr, nullptr, 0, nullptr);
  check(total.sum == 0.0 && total.count == 0 && std::isnan(total.mean), "mse: no elements give mean NaN");
}

void test_point(const fl::LossKernels& ref, std::mt19937& r) {
  const float specials[] = {0.0f, -0.0f, 100.0f, -100.0f, 88.0f, -89.0f, 1e-30f, 15.0f, -15.0f};
  for (index_t n : {index_t(1), index_t(7), index_t(1029), index_t(70001), index_t(300007)})
    for (int op = 0; op < 2; ++op) {
      const bool bce = op == int(fl::PointLoss::bce_with_logits);
      std::vector<float> x = randn(n, r, 4.0f), y = bce ? randint(n, r, 0, 4) : randn(n, r);
      if (bce)
        for (auto& v : y) v *= 0.25f;  // targets in [0, 1]
      for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < x.size(); ++i) x[i] = specials[i];
      const fl::PointForwardFn f = bce ? ref.bce_forward : ref.mse_forward;
      const fl::PointBackwardFn b = bce ? ref.bce_backward : ref.mse_backward;
      std::vector<float> loss(n, 7.0f), loss0(n);
      fl::LossTotal total{}, total2{};
      fl::point_loss_forward_cuda(fl::PointLoss(op), loss.data(), &total, x.data(), y.data(), n, nullptr);
      const double sum0 = f(loss0.data(), x.data(), y.data(), n);
      char what[96];
      std::snprintf(what, sizeof what, "%s n %ld", bce ? "bce_with_logits" : "mse", long(n));
      expect(what, loss, loss0);
      expect_total(what, total, sum0, n, -1);
      fl::point_loss_forward_cuda(fl::PointLoss(op), nullptr, &total2, x.data(), y.data(), n, nullptr);
      check(total2.sum == total.sum && total2.mean == total.mean, "point loss: the reduction alone, same sum");
      std::vector<float> only(n, 7.0f);
      fl::point_loss_forward_cuda(fl::PointLoss(op), only.data(), nullptr, x.data(), y.data(), n, nullptr);
      expect(what, only, loss0);
      for (Red red : kReductions) {
        const std::vector<float> g = randn(n, r);
        const float* gp = red == Red::none ? g.data() : nullptr;
        const bool dev_mean = red == Red::mean || red == Red::mean_scaled;
        std::vector<float> dx(n, 7.0f), dx0(n);
        fl::point_loss_backward_cuda(fl::PointLoss(op), dx.data(), x.data(), y.data(), gp,
                                     red == Red::mean_scaled ? 0.5f : 1.0f, dev_mean ? &total : nullptr, n, nullptr);
        b(dx0.data(), x.data(), y.data(), gp, host_scale(red, n), n);
        std::snprintf(what, sizeof what, "%s_backward n %ld reduction %d", bce ? "bce_with_logits" : "mse", long(n),
                      int(red));
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
  test_bad_targets(r);
  test_empty();
  test_point(ref, r);
  test_dropout(r);
  std::printf("loss: %d checks of the loss and dropout kernels\n", g_checks - before);
}
