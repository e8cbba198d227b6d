// Emulation checks of the optim, pool, norm and conv CUDA kernels (csrc/cuda/{optim,pool,norm,
// conv}.cu, run by run.py's host emulation) against the CPU reference kernels: the optimizer
// updates bit for bit, pooling and convolution exactly on small-integer inputs (random data
// for the float paths), batch norm against the CPU driver's arithmetic rebuilt here from the
// reference reduce / apply kernels, group norm (and instance norm's running statistics)
// against a double-precision oracle. Small shapes: every emulated CUDA thread is a fiber.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/conv.h"
#include "ops/norm.h"
#include "ops/optim.h"
#include "ops/pool.h"
#include "cuda/conv.cuh"
#include "cuda/norm.cuh"
#include "cuda/optim.cuh"
#include "cuda/pool.cuh"
#include "emu_check.h"

using fl::index_t;
using namespace emu_check;

namespace {

void test_optim(std::mt19937& r) {
  fl::OptimKernels ref{};
  fl::register_optim_ref(ref);
  const index_t n = 1029;
  struct Sgd { float momentum, dampening, wd; bool nesterov; };
  for (const Sgd& c : {Sgd{0, 0, 0, false}, Sgd{0.9f, 0, 1e-2f, false}, Sgd{0.9f, 0.3f, 0, false},
                       Sgd{0.8f, 0, 5e-3f, true}}) {
    std::vector<float> p = randn(n, r), p0 = p, buf(n), buf0(n);
    for (int step = 0; step < 3; ++step) {
      const std::vector<float> g = randn(n, r);
      const fl::SgdHyper h{0.05f, c.momentum, c.dampening, c.wd, c.nesterov, step == 0};
      float* b = c.momentum != 0 ? buf.data() : nullptr;
      fl::sgd_update_cuda(p.data(), b, g.data(), n, h, nullptr);
      ref.sgd_update(p0.data(), c.momentum != 0 ? buf0.data() : nullptr, g.data(), n, h);
    }
    char what[96];
    std::snprintf(what, sizeof what, "sgd momentum %g dampening %g wd %g nesterov %d", c.momentum, c.dampening,
                  c.wd, c.nesterov);
    expect(what, p, p0);
    expect(what, buf, buf0);
  }
  struct Adam { float wd; bool decoupled, amsgrad; };
  for (const Adam& c : {Adam{0, false, false}, Adam{1e-2f, false, true}, Adam{1e-2f, true, false},
                        Adam{0.1f, true, true}}) {
    std::vector<float> p = randn(n, r), p0 = p, m(n), v(n), vm(n), m0(n), v0(n), vm0(n);
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> g = randn(n, r);
      const fl::AdamHyper h = fl::adam_hyper(1e-2, 0.9, 0.999, 1e-8, c.wd, c.decoupled, step);
      fl::adam_update_cuda(p.data(), m.data(), v.data(), c.amsgrad ? vm.data() : nullptr, g.data(), n, h, nullptr);
      ref.adam_update(p0.data(), m0.data(), v0.data(), c.amsgrad ? vm0.data() : nullptr, g.data(), n, h);
    }
    char what[96];
    std::snprintf(what, sizeof what, "adam wd %g decoupled %d amsgrad %d", c.wd, c.decoupled, c.amsgrad);
    expect(what, p, p0);
    expect(what, m, m0);
    expect(what, v, v0);
    expect(what, vm, vm0);
  }
}

// PyTorch's pooling output size.
index_t pool_out(index_t n, index_t k, index_t s, index_t p, index_t d, bool ceil_mode) {
  const index_t num = n + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  index_t out = num / s + 1;
  if (ceil_mode && (out - 1) * s >= n + p) --out;
  return out;
}

std::vector<float> as_float(const std::vector<int64_t>& v) { return std::vector<float>(v.begin(), v.end()); }

void test_pool(std::mt19937& r) {
  fl::PoolKernels ref{};
  fl::register_pool_ref(ref);
  struct Case { index_t planes, H, W, R, S, sh, sw, ph, pw, dh, dw; bool ceil; };
  const Case cases[] = {{3, 7, 9, 2, 2, 2, 2, 0, 0, 1, 1, false}, {2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, true},
                        {2, 8, 6, 3, 2, 1, 2, 1, 1, 2, 1, false}, {4, 1, 17, 1, 5, 1, 3, 0, 2, 1, 1, true},
                        {1, 5, 5, 5, 5, 1, 1, 0, 0, 1, 1, false}};
  for (const Case& c : cases) {
    fl::Pool2dShape s{c.H, c.W, pool_out(c.H, c.R, c.sh, c.ph, c.dh, c.ceil), pool_out(c.W, c.S, c.sw, c.pw, c.dw,
                                                                                          c.ceil),
                      c.R, c.S, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw};
    const index_t nx = c.planes * s.H * s.W, ny = c.planes * s.P * s.Q;
    std::vector<float> x = randint(nx, r, -4, 4), g = randint(ny, r, -3, 3);
    x[nx / 2] = NAN;
    std::vector<float> y(ny), y0(ny), dx(nx), dx0(nx);
    std::vector<int64_t> idx(ny), idx0(ny);
    char what[96];
    std::snprintf(what, sizeof what, "max_pool %ldx%ld k%ldx%ld s%ld p%ld d%ld ceil %d", long(c.H), long(c.W),
                  long(c.R), long(c.S), long(c.sh), long(c.ph), long(c.dh), c.ceil);
    fl::max_pool2d_forward_cuda(y.data(), idx.data(), x.data(), c.planes, s, nullptr);
    ref.max_forward(y0.data(), idx0.data(), x.data(), c.planes, s);
    expect(what, y, y0);
    expect(what, as_float(idx), as_float(idx0));
    fl::Pool2dShape sb = s;  // the backward gets the planes' sizes only, as from Python
    sb.R = sb.S = sb.stride_h = sb.stride_w = sb.dil_h = sb.dil_w = 1;
    sb.pad_h = sb.pad_w = 0;
    fl::max_pool2d_backward_cuda(dx.data(), g.data(), idx.data(), c.planes, sb, nullptr);
    ref.max_backward(dx0.data(), g.data(), idx0.data(), c.planes, s);
    expect(what, dx, dx0);
    if (c.dh != 1 || c.dw != 1) continue;
    x[nx / 2] = 1.0f;
    for (int mode = 0; mode < 3; ++mode) {
      const fl::AvgPoolOptions o{mode != 1, mode == 2 ? index_t(3) : index_t(0)};
      std::snprintf(what, sizeof what, "avg_pool %ldx%ld k%ldx%ld s%ld p%ld ceil %d mode %d", long(c.H), long(c.W),
                    long(c.R), long(c.S), long(c.sh), long(c.ph), c.ceil, mode);
      fl::avg_pool2d_forward_cuda(y.data(), x.data(), c.planes, s, o, nullptr);
      ref.avg_forward(y0.data(), x.data(), c.planes, s, o);
      expect(what, y, y0);
      fl::avg_pool2d_backward_cuda(dx.data(), g.data(), c.planes, s, o, nullptr);
      ref.avg_backward(dx0.data(), g.data(), c.planes, s, o);
      expect(what, dx, dx0, 1e-6f, 1e-6f);
    }
  }
  struct Ad { index_t H, W, P, Q; };
  for (const Ad& a : {Ad{7, 5, 3, 4}, Ad{6, 6, 1, 1}, Ad{3, 2, 5, 4}, Ad{9, 1, 4, 1}}) {
    const index_t planes = 3, nx = planes * a.H * a.W, ny = planes * a.P * a.Q;
    const fl::Pool2dShape s{a.H, a.W, a.P, a.Q, 1, 1, 1, 1, 0, 0, 1, 1};
    std::vector<float> x = randn(nx, r), g = randn(ny, r), y(ny), y0(ny), dx(nx), dx0(nx);
    char what[64];
    std::snprintf(what, sizeof what, "adaptive_avg_pool %ldx%ld -> %ldx%ld", long(a.H), long(a.W), long(a.P),
                  long(a.Q));
    fl::adaptive_avg_pool2d_forward_cuda(y.data(), x.data(), planes, s, nullptr);
    ref.adaptive_forward(y0.data(), x.data(), planes, s);
    expect(what, y, y0, 1e-6f, 1e-6f);
    fl::adaptive_avg_pool2d_backward_cuda(dx.data(), g.data(), planes, s, nullptr);
    ref.adaptive_backward(dx0.data(), g.data(), planes, s);
    expect(what, dx, dx0, 1e-6f, 1e-6f);
  }
}

// The CPU driver's batch-norm arithmetic (cpu/norm.cpp) on the reference kernels, one thread.
void bn_forward_oracle(float* y, float* mean, float* invstd, float* rm, float* rv, const float* x, const float* w,
                       const float* b, fl::ChannelShape s, bool training, float momentum, float eps) {
  const index_t M = s.N * s.L;
  std::vector<double> sum(s.C), sq(s.C);
  std::vector<float> scale(s.C), shift(s.C);
  if (training) {
    fl::norm_reduce_ref(sum.data(), nullptr, x, nullptr, nullptr, nullptr, s, 0, s.C);
    for (index_t c = 0; c < s.C; ++c) mean[c] = static_cast<float>(sum[c] / double(M));
    fl::norm_reduce_ref(sum.data(), sq.data(), x, mean, x, mean, s, 0, s.C);
  }
  for (index_t c = 0; c < s.C; ++c) {
    double var;
    if (training) {
      var = sq[c] / double(M);
      rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean[c]);
      rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * var * double(M) / double(M - 1));
    } else {
      mean[c] = rm[c];
      var = rv[c];
    }
    const double inv = 1.0 / std::sqrt(var + double(eps));
    invstd[c] = static_cast<float>(inv);
    scale[c] = static_cast<float>(w[c] * inv);
    shift[c] = b[c];
  }
  fl::norm_apply_ref(y, nullptr, nullptr, x, mean, scale.data(), shift.data(), s, 0, s.C);
}

void bn_backward_oracle(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                        const float* mean, const float* invstd, fl::ChannelShape s, bool training) {
  const double M = double(s.N * s.L);
  std::vector<double> sum_dy(s.C), sum_dyx(s.C);
  std::vector<float> a(s.C), b(s.C), shift(s.C);
  fl::norm_reduce_ref(sum_dy.data(), sum_dyx.data(), dy, nullptr, x, mean, s, 0, s.C);
  for (index_t c = 0; c < s.C; ++c) {
    const double inv = invstd[c];
    dw[c] = static_cast<float>(sum_dyx[c] * inv);
    db[c] = static_cast<float>(sum_dy[c]);
    a[c] = static_cast<float>(w[c] * inv);
    b[c] = training ? static_cast<float>(-w[c] * inv * inv * inv * sum_dyx[c] / M) : 0.0f;
    shift[c] = training ? static_cast<float>(-w[c] * inv * sum_dy[c] / M) : 0.0f;
  }
  fl::norm_apply_ref(dx, dy, a.data(), training ? x : nullptr, mean, b.data(), shift.data(), s, 0, s.C);
}

void test_norm(std::mt19937& r) {
  for (const fl::ChannelShape s : {fl::ChannelShape{5, 3, 1}, fl::ChannelShape{2, 4, 37}, fl::ChannelShape{3, 2, 300}}) {
    for (bool training : {true, false}) {
      const index_t n = s.N * s.C * s.L;
      std::vector<float> x = randn(n, r, 2.0f), dy = randn(n, r), w = randn(s.C, r), b = randn(s.C, r);
      for (auto& v : x) v += 3.0f;
      std::vector<float> rm = randn(s.C, r), rv(s.C, 1.5f), rm0 = rm, rv0 = rv;
      std::vector<float> y(n), y0(n), mean(s.C), inv(s.C), mean0(s.C), inv0(s.C);
      char what[96];
      std::snprintf(what, sizeof what, "batch_norm (%ld,%ld,%ld) training %d", long(s.N), long(s.C), long(s.L),
                    training);
      fl::batch_norm_forward_cuda(y.data(), mean.data(), inv.data(), rm.data(), rv.data(), x.data(), w.data(),
                                  b.data(), s, training, 0.1f, 1e-5f, nullptr);
      bn_forward_oracle(y0.data(), mean0.data(), inv0.data(), rm0.data(), rv0.data(), x.data(), w.data(), b.data(),
                        s, training, 0.1f, 1e-5f);
      // sums in another order: the float statistics may differ in the last bit
      expect(what, mean, mean0, 1e-6f, 1e-6f);
      expect(what, inv, inv0, 1e-6f, 0);
      expect(what, rm, rm0, 1e-6f, 1e-6f);
      expect(what, rv, rv0, 1e-6f, 0);
      expect(what, y, y0, 1e-5f, 1e-5f);
      std::vector<float> dx(n), dx0(n), dw(s.C), dw0(s.C), db(s.C), db0(s.C);
      fl::batch_norm_backward_cuda(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean0.data(),
                                   inv0.data(), s, training, nullptr);
      bn_backward_oracle(dx0.data(), dw0.data(), db0.data(), dy.data(), x.data(), w.data(), mean0.data(),
                         inv0.data(), s, training);
      std::snprintf(what, sizeof what, "batch_norm_backward (%ld,%ld,%ld) training %d", long(s.N), long(s.C),
                    long(s.L), training);
      expect(what, dx, dx0, 1e-5f, 1e-5f);
      expect(what, dw, dw0, 1e-5f, 1e-5f);
      expect(what, db, db0, 1e-5f, 1e-5f);
    }
    std::vector<float> x = randn(s.N * s.C * s.L, r), mean(s.C), inv(s.C), mean0(s.C), inv0(s.C);
    fl::batch_norm_stats_cuda(mean.data(), inv.data(), x.data(), s, 1e-3f, nullptr);
    std::vector<float> y0(x.size()), rm(s.C), rv(s.C), w(s.C, 1.0f), b(s.C, 0.0f);
    bn_forward_oracle(y0.data(), mean0.data(), inv0.data(), rm.data(), rv.data(), x.data(), w.data(), b.data(), s,
                      true, 0.1f, 1e-3f);
    expect("batch_norm_stats mean", mean, mean0, 1e-6f, 1e-6f);
    expect("batch_norm_stats invstd", inv, inv0, 1e-6f, 0);
  }
}

// Group norm in double: y, the group statistics, dx, dweight, dbias (ops/norm.h).
void gn_oracle(std::vector<float>& y, std::vector<float>& mean, std::vector<float>& inv, std::vector<float>& var,
               std::vector<float>& dx, std::vector<float>& dw, std::vector<float>& db, const std::vector<float>& x,
               const std::vector<float>& dy, const std::vector<float>& w, const std::vector<float>& b,
               fl::GroupShape s, double eps) {
  const index_t Cg = s.C / s.G, M = Cg * s.L;
  std::fill(dw.begin(), dw.end(), 0.0f);
  std::fill(db.begin(), db.end(), 0.0f);
  std::vector<double> dwd(s.C, 0.0), dbd(s.C, 0.0);
  for (index_t q = 0; q < s.N * s.G; ++q) {
    const float* xq = x.data() + q * M;
    double m = 0.0, v = 0.0, A = 0.0, B = 0.0;
    for (index_t i = 0; i < M; ++i) m += xq[i];
    m /= M;
    for (index_t i = 0; i < M; ++i) v += (xq[i] - m) * (xq[i] - m);
    v /= M;
    const double iv = 1.0 / std::sqrt(v + eps);
    mean[q] = float(m), inv[q] = float(iv), var[q] = float(v);
    for (index_t i = 0; i < M; ++i) {
      const index_t c = q % s.G * Cg + i / s.L, k = q * M + i;
      const double xh = (x[k] - m) * iv;
      y[k] = float(w[c] * xh + b[c]);
      A += w[c] * dy[k];
      B += w[c] * dy[k] * xh;
      dwd[c] += dy[k] * xh;
      dbd[c] += dy[k];
    }
    for (index_t i = 0; i < M; ++i) {
      const index_t c = q % s.G * Cg + i / s.L, k = q * M + i;
      dx[k] = float(iv * (w[c] * dy[k] - A / M - (x[k] - m) * iv * B / M));
    }
  }
  for (index_t c = 0; c < s.C; ++c) dw[c] = float(dwd[c]), db[c] = float(dbd[c]);
}

void test_group_norm(std::mt19937& r) {
  for (const fl::GroupShape s : {fl::GroupShape{2, 6, 3, 17}, fl::GroupShape{3, 4, 4, 9}, fl::GroupShape{1, 8, 1, 300},
                                 fl::GroupShape{4, 10, 5, 1}, fl::GroupShape{2, 3, 1, 2}}) {
    const index_t n = s.N * s.C * s.L, Q = s.N * s.G;
    std::vector<float> x = randn(n, r, 2.0f), dy = randn(n, r), w = randn(s.C, r), b = randn(s.C, r);
    for (auto& v : x) v += 3.0f;
    std::vector<float> y(n), y0(n), dx(n), dx0(n), dw(s.C), dw0(s.C), db(s.C), db0(s.C);
    std::vector<float> mean(Q), inv(Q), var(Q), mean0(Q), inv0(Q), var0(Q);
    gn_oracle(y0, mean0, inv0, var0, dx0, dw0, db0, x, dy, w, b, s, 1e-5);
    fl::group_norm_forward_cuda(y.data(), mean.data(), inv.data(), var.data(), x.data(), w.data(), b.data(), s, 1e-5f,
                                nullptr);
    char what[96];
    std::snprintf(what, sizeof what, "group_norm (%ld,%ld,%ld,%ld)", long(s.N), long(s.C), long(s.G), long(s.L));
    expect(what, mean, mean0, 1e-6f, 1e-6f);
    expect(what, inv, inv0, 1e-6f, 0);
    expect(what, var, var0, 1e-6f, 1e-7f);
    expect(what, y, y0, 1e-5f, 1e-5f);
    fl::group_norm_backward_cuda(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean0.data(),
                                 inv0.data(), s, nullptr);
    std::snprintf(what, sizeof what, "group_norm_backward (%ld,%ld,%ld,%ld)", long(s.N), long(s.C), long(s.G),
                  long(s.L));
    expect(what, dx, dx0, 1e-4f, 1e-4f);  // the fused form's cancellation in groups of two elements
    expect(what, dw, dw0, 1e-5f, 1e-5f);
    expect(what, db, db0, 1e-5f, 1e-5f);
    if (s.G == s.C && s.L > 1) {  // instance norm's running statistics
      std::vector<float> rm = randn(s.C, r), rv(s.C, 1.5f), rm0 = rm, rv0 = rv;
      fl::group_norm_update_running_cuda(rm.data(), rv.data(), mean0.data(), var0.data(), s, 0.2f, nullptr);
      for (index_t c = 0; c < s.C; ++c) {
        double sm = 0.0, sv = 0.0;
        for (index_t k = 0; k < s.N; ++k) sm += mean0[k * s.C + c], sv += double(var0[k * s.C + c]) * s.L / (s.L - 1);
        rm0[c] = float(0.8 * rm0[c] + 0.2 * sm / s.N);
        rv0[c] = float(0.8 * rv0[c] + 0.2 * sv / s.N);
      }
      expect("instance_norm running mean", rm, rm0, 1e-6f, 1e-7f);
      expect("instance_norm running var", rv, rv0, 1e-6f, 1e-7f);
    }
  }
}

void test_conv(std::mt19937& r) {
  fl::ConvKernels ref{};
  fl::register_conv_ref(ref);
  struct Case { index_t N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G; };
  const Case cases[] = {
      {2, 3, 7, 6, 5, 3, 2, 1, 1, 1, 0, 1, 1, 1},   // plain, asymmetric filter
      {1, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 2, 2, 2},   // stride, dilation, groups
      {2, 3, 5, 7, 3, 3, 3, 2, 1, 1, 1, 1, 1, 3},   // depthwise: direct kernels
      {1, 2, 6, 5, 4, 3, 2, 1, 2, 1, 0, 2, 1, 2},   // channel multiplier 2 (Cg = 1, Kg = 2): GEMM
      {3, 2, 1, 17, 3, 1, 5, 1, 3, 0, 2, 1, 1, 1},  // conv1d (H = 1)
      {1, 2, 4, 4, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1},  // 1 x 1, K over two tiles
      {4, 2, 24, 24, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1}, // long reduction: backward-weight in 2 splits
  };
  for (const Case& c : cases) {
    fl::Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.S, 0, 0, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, c.G};
    s.P = (c.H + 2 * c.ph - c.dh * (c.R - 1) - 1) / c.sh + 1;
    s.Q = (c.W + 2 * c.pw - c.dw * (c.S - 1) - 1) / c.sw + 1;
    const index_t nx = c.N * c.C * c.H * c.W, ny = c.N * c.K * s.P * s.Q, nw = c.K * (c.C / c.G) * c.R * c.S;
    std::vector<float> x = randint(nx, r, -2, 2), w = randint(nw, r, -2, 2), dy = randint(ny, r, -2, 2);
    std::vector<float> kb = randint(c.K, r, -3, 3), cb = randint(c.C, r, -3, 3);
    std::vector<float> y(ny), y0(ny), dx(nx), dx0(nx), dw(nw), dw0(nw, 0.0f);
    char what[128];
    std::snprintf(what, sizeof what, "conv2d N%ld C%ld %ldx%ld K%ld %ldx%ld s%ld,%ld p%ld,%ld d%ld,%ld g%ld",
                  long(c.N), long(c.C), long(c.H), long(c.W), long(c.K), long(c.R), long(c.S), long(c.sh),
                  long(c.sw), long(c.ph), long(c.pw), long(c.dh), long(c.dw), long(c.G));
    fl::conv2d_forward_cuda(y.data(), x.data(), w.data(), kb.data(), s, nullptr);
    ref.forward_ref(y0.data(), x.data(), w.data(), kb.data(), s);
    expect(what, y, y0);
    fl::conv2d_backward_input_cuda(dx.data(), dy.data(), w.data(), cb.data(), s, nullptr);
    ref.backward_input_ref(dx0.data(), dy.data(), w.data(), s);
    for (index_t i = 0; i < nx; ++i) dx0[i] += cb[(i / (c.H * c.W)) % c.C];
    expect(what, dx, dx0);
    fl::conv2d_backward_weight_cuda(dw.data(), dy.data(), x.data(), s, nullptr);
    ref.backward_weight_ref(dw0.data(), dy.data(), x.data(), s);
    expect(what, dw, dw0);
    std::vector<float> db(c.K), db0(c.K, 0.0f);
    fl::conv_bias_backward_cuda(db.data(), dy.data(), c.N, c.K, s.P * s.Q, nullptr);
    for (index_t i = 0; i < ny; ++i) db0[(i / (s.P * s.Q)) % c.K] += dy[i];
    expect(what, db, db0);
  }
}

}  // namespace

void test_layers(std::mt19937& r) {
  const int before = g_checks;
  test_optim(r);
  test_pool(r);
  test_norm(r);
  test_group_norm(r);
  test_conv(r);
  std::printf("layers: %d checks of the optim, pool, norm and conv kernels\n", g_checks - before);
}
