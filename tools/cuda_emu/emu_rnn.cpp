// Emulation checks of the RNN CUDA kernels and drivers (csrc/cuda/rnn.cu, run by run.py's host
// emulation, on the emulated sgemm) against the CPU reference gate kernels (cpu/ref/rnn_ref.cpp)
// and an oracle of the CPU driver's algorithm (cpu/rnn.cpp) on them with double-precision GEMMs:
// the gate kernels alone (bit for bit up to the libm), then whole layers of every cell, one and
// two directions, with and without biases, packed batch sizes, odd sizes (I 19, H 37, T 7, B 5),
// forward (y, the states, the saved gates) and backward (dx, dh0, dc0, every weight gradient,
// written and accumulated); and the sequence layout copy (transposes, permutation, padding rows,
// zero fill).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/rnn.cuh"
#include "emu_check.h"
#include "ops/rnn.h"

using fl::index_t;
using fl::RnnCell;
using namespace emu_check;

namespace {

// c (M x N, ldc) = op(a) op(b) + beta c (+ bias per column), sums in double.
void gemm_oracle(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, index_t M, index_t N,
                 index_t K, bool ta, bool tb, float beta, const float* bias = nullptr) {
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (index_t k = 0; k < K; ++k) acc += double(ta ? a[k * lda + i] : a[i * lda + k]) * (tb ? b[j * ldb + k] : b[k * ldb + j]);
      c[i * ldc + j] = float(acc + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f));
    }
}

struct Case {
  RnnCell cell;
  index_t T, B, I, H, dirs;
  bool bias, packed;
};

struct Weights {
  std::vector<float> w_ih, w_hh, b_ih, b_hh;
};

// The CPU driver's forward on the reference kernels (ops/rnn.h layouts).
void forward_oracle(const fl::RnnKernels& ref, const Case& c, const std::vector<Weights>& w, const float* x, float* y,
                    float* hs, float* cs, float* gates, const index_t* bs) {
  const index_t T = c.T, B = c.B, H = c.H, G = fl::rnn_gates(c.cell), GH = G * H, SH = fl::rnn_saved_parts(c.cell) * H;
  const bool lstm = c.cell == RnnCell::lstm, gru = c.cell == RnnCell::gru;
  for (index_t d = 0; d < c.dirs; ++d) {
    std::vector<float> xw(T * B * GH), hw(B * GH), bias(GH);
    for (index_t k = 0; c.bias && k < GH; ++k) bias[k] = w[d].b_ih[k] + (!gru || k < 2 * H ? w[d].b_hh[k] : 0.0f);
    gemm_oracle(xw.data(), GH, x, c.I, w[d].w_ih.data(), c.I, T * B, GH, c.I, false, true, 0.0f,
                c.bias ? bias.data() : nullptr);
    for (index_t step = 0; step < T; ++step) {
      const index_t t = d ? T - 1 - step : step, nb = bs ? bs[t] : B;
      const float* hp = hs + (d * (T + 1) + t + d) * B * H;
      float* hn = hs + (d * (T + 1) + t + 1 - d) * B * H;
      const float* cp = lstm ? cs + (d * (T + 1) + t + d) * B * H : nullptr;
      float* cn = lstm ? cs + (d * (T + 1) + t + 1 - d) * B * H : nullptr;
      float* yt = y + t * B * c.dirs * H + d * H;
      gemm_oracle(hw.data(), GH, hp, H, w[d].w_hh.data(), H, nb, GH, H, false, true, 0.0f);
      fl::RnnForwardArgs a{};
      a.rows = nb, a.n = H, a.H = H;
      a.xw = xw.data() + t * B * GH, a.hw = hw.data();
      a.b_hn = gru && c.bias ? w[d].b_hh.data() + 2 * H : nullptr;
      a.h_prev = hp, a.c_prev = cp, a.h = hn, a.c = cn, a.y = yt, a.ld_y = c.dirs * H;
      a.gates = gates + (d * T + t) * B * SH;
      ref.forward[int(c.cell)](a);
      for (index_t r = nb; r < B; ++r)
        for (index_t j = 0; j < H; ++j) {
          hn[r * H + j] = hp[r * H + j];
          if (lstm) cn[r * H + j] = cp[r * H + j];
          yt[r * c.dirs * H + j] = 0.0f;
        }
    }
  }
}

// The CPU driver's backward on the reference kernels; gw: per direction w_ih, w_hh, b_ih, b_hh.
void backward_oracle(const fl::RnnKernels& ref, const Case& c, const std::vector<Weights>& w, const float* x,
                     const float* dy, const float* hs, const float* cs, const float* gates, const index_t* bs, float* dx,
                     float* dh, float* dc, std::vector<Weights>& gw, bool accumulate) {
  const index_t T = c.T, B = c.B, H = c.H, I = c.I, TB = T * B, G = fl::rnn_gates(c.cell), GH = G * H;
  const index_t SH = fl::rnn_saved_parts(c.cell) * H;
  const bool lstm = c.cell == RnnCell::lstm, gru = c.cell == RnnCell::gru;
  const float beta = accumulate ? 1.0f : 0.0f;
  std::vector<float> ones(TB, 1.0f);
  for (index_t d = 0; d < c.dirs; ++d) {
    std::vector<float> dg(TB * GH, 0.0f), dgh(gru ? TB * GH : 0, 0.0f);
    float* dgr = gru ? dgh.data() : dg.data();
    float* dhd = dh + d * B * H;
    for (index_t i = 0; i <= T; ++i) {
      const index_t step = T - 1 - i;
      if (step + 1 < T) {
        const index_t t1 = d ? T - 1 - (step + 1) : step + 1, nb1 = bs ? bs[t1] : B;
        gemm_oracle(dhd, H, dgr + t1 * B * GH, GH, w[d].w_hh.data(), H, nb1, H, GH, false, false, gru ? 1.0f : 0.0f);
      }
      if (step < 0) break;
      const index_t t = d ? T - 1 - step : step, nb = bs ? bs[t] : B;
      fl::RnnBackwardArgs a{};
      a.rows = nb, a.n = H, a.H = H;
      a.dy = dy + t * B * c.dirs * H + d * H, a.ld_dy = c.dirs * H;
      a.dh = dhd, a.dc = lstm ? dc + d * B * H : nullptr;
      a.gates = gates + (d * T + t) * B * SH;
      a.h = hs + (d * (T + 1) + t + 1 - d) * B * H, a.h_prev = hs + (d * (T + 1) + t + d) * B * H;
      a.c_prev = lstm ? cs + (d * (T + 1) + t + d) * B * H : nullptr;
      a.c = lstm ? cs + (d * (T + 1) + t + 1 - d) * B * H : nullptr;
      a.dgx = dg.data() + t * B * GH, a.dgh = dgr + t * B * GH;
      ref.backward[int(c.cell)](a);
    }
    gemm_oracle(dx, I, dg.data(), GH, w[d].w_ih.data(), I, TB, I, GH, false, false, d ? 1.0f : 0.0f);
    gemm_oracle(gw[d].w_ih.data(), I, dg.data(), GH, x, I, GH, I, TB, true, false, beta);
    gemm_oracle(gw[d].w_hh.data(), H, dgr, GH, hs + d * (T + 1) * B * H + d * B * H, H, GH, H, TB, true, false, beta);
    if (c.bias) {
      gemm_oracle(gw[d].b_ih.data(), GH, ones.data(), TB, dg.data(), GH, 1, GH, TB, false, false, beta);
      gemm_oracle(gw[d].b_hh.data(), GH, ones.data(), TB, dgr, GH, 1, GH, TB, false, false, beta);
    }
  }
}

void test_gate_kernels(const fl::RnnKernels& ref, std::mt19937& r) {
  const index_t rows = 5, H = 37;
  for (int cell = 0; cell < fl::kRnnCellCount; ++cell) {
    const index_t GH = fl::rnn_gates(RnnCell(cell)) * H, SH = 4 * H;
    const std::vector<float> xw = randn(rows * GH, r, 2.0f), hw = randn(rows * GH, r), bhn = randn(H, r);
    const std::vector<float> hp = randn(rows * H, r), cp = randn(rows * H, r), dy = randn(rows * 2 * H, r);
    std::vector<float> h(rows * H), c(rows * H), y(rows * 2 * H, 7.0f), g(rows * SH, 7.0f);
    std::vector<float> h0 = h, c0 = c, y0 = y, g0 = g;
    fl::RnnForwardArgs a{rows, H, H, xw.data(), hw.data(), bhn.data(), hp.data(), cp.data(), h.data(), c.data(),
                         y.data(), 2 * H, g.data()};
    fl::RnnForwardArgs a0{rows, H, H, xw.data(), hw.data(), bhn.data(), hp.data(), cp.data(), h0.data(), c0.data(),
                          y0.data(), 2 * H, g0.data()};
    fl::rnn_gate_forward_cuda(RnnCell(cell), a, nullptr);
    ref.forward[cell](a0);
    char what[64];
    std::snprintf(what, sizeof what, "rnn gate forward cell %d", cell);
    expect(what, h, h0, 1e-6f, 1e-7f);
    expect(what, y, y0, 1e-6f, 1e-7f);
    if (cell == int(RnnCell::lstm)) expect(what, c, c0, 1e-6f, 1e-7f);
    if (fl::rnn_saved_parts(RnnCell(cell))) expect(what, g, g0, 1e-6f, 1e-7f);
    std::vector<float> dh = randn(rows * H, r), dc = randn(rows * H, r), dgx(rows * GH, 7.0f), dgh(rows * GH, 7.0f);
    std::vector<float> dh0 = dh, dc0 = dc, dgx0 = dgx, dgh0 = dgh;
    fl::RnnBackwardArgs b{rows, H, H, dy.data(), 2 * H, dh.data(), dc.data(), g.data(), h.data(), hp.data(),
                          cp.data(), c.data(), dgx.data(), dgh.data()};
    fl::RnnBackwardArgs b0{rows, H, H, dy.data(), 2 * H, dh0.data(), dc0.data(), g.data(), h.data(), hp.data(),
                           cp.data(), c.data(), dgx0.data(), dgh0.data()};
    fl::rnn_gate_backward_cuda(RnnCell(cell), b, nullptr);
    ref.backward[cell](b0);
    std::snprintf(what, sizeof what, "rnn gate backward cell %d", cell);
    expect(what, dgx, dgx0, 1e-6f, 1e-7f);
    expect(what, dh, dh0, 1e-6f, 1e-7f);
    expect(what, dc, dc0, 1e-6f, 1e-7f);
    if (cell == int(RnnCell::gru)) expect(what, dgh, dgh0, 1e-6f, 1e-7f);
  }
}

void test_rnn_layers(const fl::RnnKernels& ref, std::mt19937& r) {
  const Case cases[] = {{RnnCell::lstm, 5, 3, 4, 6, 2, true, true},    {RnnCell::gru, 4, 3, 5, 7, 1, true, false},
                        {RnnCell::gru, 3, 4, 2, 5, 2, false, true},    {RnnCell::rnn_tanh, 6, 2, 3, 4, 1, true, true},
                        {RnnCell::rnn_relu, 3, 3, 4, 5, 2, false, false}, {RnnCell::lstm, 1, 1, 3, 2, 1, false, false},
                        {RnnCell::lstm, 7, 5, 19, 37, 2, true, true},   {RnnCell::gru, 7, 5, 19, 37, 2, true, true}};
  const index_t sizes[][7] = {{3, 3, 2, 2, 1, 0, 0}, {3, 2, 2, 1, 0, 0, 0}, {4, 4, 3, 0, 0, 0, 0}, {2, 2, 2, 1, 1, 1, 0},
                              {3, 1, 1, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0}, {5, 5, 4, 4, 2, 2, 1}, {5, 4, 4, 3, 3, 1, 1}};
  int ci = 0;
  for (const Case& c : cases) {
    const index_t* bs = c.packed ? sizes[ci] : nullptr;
    ++ci;
    const index_t T = c.T, B = c.B, H = c.H, G = fl::rnn_gates(c.cell), GH = G * H, SH = fl::rnn_saved_parts(c.cell) * H;
    const bool lstm = c.cell == RnnCell::lstm;
    std::vector<Weights> w(c.dirs), gw(c.dirs), gw0(c.dirs);
    std::vector<fl::RnnWeights> rw(c.dirs);
    std::vector<fl::RnnWeightGrads> rg(c.dirs);
    for (index_t d = 0; d < c.dirs; ++d) {
      w[d] = {randn(GH * c.I, r, 0.5f), randn(GH * H, r, 0.5f), c.bias ? randn(GH, r) : std::vector<float>(),
              c.bias ? randn(GH, r) : std::vector<float>()};
      gw[d] = {randn(GH * c.I, r), randn(GH * H, r), c.bias ? randn(GH, r) : std::vector<float>(),
               c.bias ? randn(GH, r) : std::vector<float>()};
      gw0[d] = gw[d];
      rw[d] = {w[d].w_ih.data(), w[d].w_hh.data(), c.bias ? w[d].b_ih.data() : nullptr,
               c.bias ? w[d].b_hh.data() : nullptr};
      rg[d] = {gw[d].w_ih.data(), gw[d].w_hh.data(), c.bias ? gw[d].b_ih.data() : nullptr,
               c.bias ? gw[d].b_hh.data() : nullptr};
    }
    const std::vector<float> x = randn(T * B * c.I, r), dy = randn(T * B * c.dirs * H, r);
    const index_t ns = c.dirs * (T + 1) * B * H;
    std::vector<float> hs = randn(ns, r), cs = randn(ns, r);  // h0, c0 in place (the rest is overwritten)
    std::vector<float> hs0 = hs, cs0 = cs, y(T * B * c.dirs * H, 7.0f), y0(y.size(), 7.0f);
    std::vector<float> gates(c.dirs * T * B * SH, 7.0f), gates0(gates.size(), 7.0f);
    char what[96];
    std::snprintf(what, sizeof what, "rnn layer cell %d T %ld B %ld I %ld H %ld dirs %ld bias %d packed %d",
                  int(c.cell), long(T), long(B), long(c.I), long(H), long(c.dirs), c.bias, c.packed);
    fl::rnn_layer_forward_cuda(c.cell, {T, B, c.I, H}, c.dirs, y.data(), hs.data(), lstm ? cs.data() : nullptr,
                               gates.data(), x.data(), rw.data(), bs, nullptr);
    forward_oracle(ref, c, w, x.data(), y0.data(), hs0.data(), cs0.data(), gates0.data(), bs);
    expect(what, y, y0, 1e-5f, 1e-5f);
    expect(what, hs, hs0, 1e-5f, 1e-5f);
    if (lstm) expect(what, cs, cs0, 1e-5f, 1e-5f);
    expect(what, gates, gates0, 1e-5f, 1e-5f);
    for (bool accumulate : {false, true}) {
      std::vector<float> dx(T * B * c.I, 7.0f), dx0(dx.size(), 7.0f), dh = randn(c.dirs * B * H, r),
                         dc = randn(c.dirs * B * H, r);
      std::vector<float> dh0 = dh, dc0 = dc;
      fl::rnn_layer_backward_cuda(c.cell, {T, B, c.I, H}, c.dirs, dx.data(), dh.data(), lstm ? dc.data() : nullptr,
                                  rg.data(), accumulate, dy.data(), x.data(), rw.data(), hs0.data(),
                                  lstm ? cs0.data() : nullptr, gates0.data(), bs, nullptr);
      backward_oracle(ref, c, w, x.data(), dy.data(), hs0.data(), cs0.data(), gates0.data(), bs, dx0.data(), dh0.data(),
                      dc0.data(), gw0, accumulate);
      expect(what, dx, dx0, 1e-4f, 1e-5f);
      expect(what, dh, dh0, 1e-4f, 1e-5f);
      if (lstm) expect(what, dc, dc0, 1e-4f, 1e-5f);
      for (index_t d = 0; d < c.dirs; ++d) {
        expect(what, gw[d].w_ih, gw0[d].w_ih, 1e-4f, 1e-5f);
        expect(what, gw[d].w_hh, gw0[d].w_hh, 1e-4f, 1e-5f);
        expect(what, gw[d].b_ih, gw0[d].b_ih, 1e-4f, 1e-5f);
        expect(what, gw[d].b_hh, gw0[d].b_hh, 1e-4f, 1e-5f);
      }
    }
  }
  // no timesteps: dh0 = dh_n, the input and weight gradients zero
  const index_t H = 3, GH = 4 * H, I = 2;
  std::vector<float> w_ih = randn(GH * I, r), w_hh = randn(GH * H, r), gih(GH * I, 7.0f), ghh(GH * H, 7.0f);
  std::vector<float> dh = randn(2 * H, r), dc = randn(2 * H, r), dh_in = dh;
  const fl::RnnWeights rw{w_ih.data(), w_hh.data(), nullptr, nullptr};
  const fl::RnnWeightGrads rg{gih.data(), ghh.data(), nullptr, nullptr};
  fl::rnn_layer_backward_cuda(RnnCell::lstm, {0, 2, I, H}, 1, nullptr, dh.data(), dc.data(), &rg, false, nullptr,
                              nullptr, &rw, nullptr, nullptr, nullptr, nullptr, nullptr);
  expect("rnn layer T 0: dh0 = dh_n", dh, dh_in);
  expect("rnn layer T 0: zero weight gradients", gih, std::vector<float>(gih.size(), 0.0f));
}

void test_sequence_copy(std::mt19937& r) {
  const index_t T = 5, B = 4, C = 3;
  const std::vector<float> src = randn(T * B * C, r);
  const index_t perm[] = {2, 0, 3, 1}, sizes[] = {4, 3, 3, 1, 0};
  for (int mode = 0; mode < 8; ++mode) {
    const bool sbf = mode & 1, dbf = mode & 2, extras = mode & 4;
    const fl::RnnSequenceCopy c{T, B, C, sbf, dbf};
    std::vector<float> dst(T * B * C, 7.0f), want(T * B * C);
    for (index_t t = 0; t < T; ++t)
      for (index_t b = 0; b < B; ++b)
        for (index_t j = 0; j < C; ++j) {
          const index_t sb = extras ? perm[b] : b;
          const float v = extras && b >= sizes[t] ? 0.0f : src[((sbf ? sb * T + t : t * B + sb)) * C + j];
          want[(dbf ? b * T + t : t * B + b) * C + j] = v;
        }
    fl::rnn_sequence_copy_cuda(dst.data(), src.data(), c, extras ? perm : nullptr, extras ? sizes : nullptr, nullptr);
    char what[64];
    std::snprintf(what, sizeof what, "rnn_sequence_copy src_bf %d dst_bf %d perm %d", sbf, dbf, extras);
    expect(what, dst, want);
  }
  std::vector<float> dst(T * B * C, 7.0f);
  fl::rnn_sequence_copy_cuda(dst.data(), nullptr, {T, B, C, false, false}, nullptr, nullptr, nullptr);
  expect("rnn_sequence_copy: no source gives zeros", dst, std::vector<float>(dst.size(), 0.0f));
  const index_t bad[] = {0, 4, 1, 2};
  fl::rnn_sequence_copy_cuda(dst.data(), src.data(), {T, B, C, false, false}, bad, nullptr, nullptr);
  check(std::isnan(dst[C]) && dst[0] == src[0], "rnn_sequence_copy: a perm entry outside [0, B) gives NaN");
}

}  // namespace

void test_rnn(std::mt19937& r) {
  const int before = g_checks;
  fl::RnnKernels ref{};
  fl::register_rnn_ref(ref);
  test_gate_kernels(ref, r);
  test_rnn_layers(ref, r);
  test_sequence_copy(r);
  std::printf("rnn: %d checks of the rnn kernels and drivers\n", g_checks - before);
}
