// Emulation checks of the layer-norm CUDA kernels (csrc/cuda/layer_norm.cu, run by run.py's host
// emulation) against the CPU reference kernels (cpu/ref/layer_norm_ref.cpp): statistics, y, dx,
// and the column sums dweight, dbias against a double-precision sum over every row; rows shorter
// and longer than the kernels' warp / block split, one row, no rows, M past one chunk of the
// column sums, with and without weight and bias, statistics only, NaN rows.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cuda/layer_norm.cuh"
#include "emu_check.h"
#include "ops/layer_norm.h"

using fl::index_t;
using namespace emu_check;

namespace {

struct Case {
  index_t M, N;
  bool affine;
};

void test_cases(const fl::LayerNormKernels& ref, std::mt19937& r) {
  const Case cases[] = {{1, 1, false},   {7, 5, true},     {33, 31, true},  {3, 1024, true}, {2, 1500, false},
                        {100, 65, true}, {300, 3, true},   {0, 4, true},    {9, 257, false}};
  for (const Case& c : cases) {
    const fl::LayerNormShape s{c.M, c.N};
    const index_t n = c.M * c.N;
    std::vector<float> x = randn(n, r, 3.0f), dy = randn(n, r);
    for (auto& v : x) v += 2.0f;
    if (c.M > 5) x[4 * c.N] = NAN;  // row 4: NaN statistics and outputs
    const std::vector<float> w = randn(c.N, r), b = randn(c.N, r);
    const float* pw = c.affine ? w.data() : nullptr;
    const float* pb = c.affine ? b.data() : nullptr;
    std::vector<float> y(n, 7.0f), mean(c.M, 7.0f), rstd(c.M, 7.0f), y0(n), mean0(c.M), rstd0(c.M);
    fl::layer_norm_forward_cuda(y.data(), mean.data(), rstd.data(), x.data(), pw, pb, s, 1e-5f, nullptr);
    ref.forward(y0.data(), mean0.data(), rstd0.data(), x.data(), pw, pb, c.M, c.N, 1e-5f);
    char what[96];
    std::snprintf(what, sizeof what, "layer_norm (%ld, %ld) affine %d", long(c.M), long(c.N), int(c.affine));
    expect(what, mean, mean0, 1e-7f, 1e-7f);  // the same double sums, in another order
    expect(what, rstd, rstd0, 1e-7f, 0.0f);
    expect(what, y, y0, 1e-6f, 1e-6f);
    std::vector<float> m2(c.M, 7.0f), r2(c.M, 7.0f);
    fl::layer_norm_forward_cuda(nullptr, m2.data(), r2.data(), x.data(), nullptr, nullptr, s, 1e-5f, nullptr);
    expect(what, m2, mean, 0.0f, 0.0f);  // statistics only: the same ones
    // backward from the reference's statistics
    std::vector<float> dx(n, 7.0f), dw(c.N, 7.0f), db(c.N, 7.0f), dx0(n), dw0(c.N, 0.0f), db0(c.N, 0.0f);
    fl::layer_norm_backward_cuda(dx.data(), dw.data(), db.data(), dy.data(), x.data(), mean0.data(), rstd0.data(), pw,
                                 s, nullptr);
    ref.backward(dx0.data(), dw0.data(), db0.data(), dy.data(), x.data(), mean0.data(), rstd0.data(), pw, c.M, c.N);
    std::snprintf(what, sizeof what, "layer_norm_backward (%ld, %ld) affine %d", long(c.M), long(c.N),
                  int(c.affine));
    expect(what, dx, dx0, 1e-5f, 1e-6f);
    std::vector<float> sw(c.N), sb(c.N);  // the column sums in double
    for (index_t j = 0; j < c.N; ++j) {
      double aw = 0.0, ab = 0.0;
      for (index_t i = 0; i < c.M; ++i) {
        aw += double(dy[i * c.N + j]) * ((x[i * c.N + j] - mean0[i]) * rstd0[i]);
        ab += dy[i * c.N + j];
      }
      sw[j] = float(aw), sb[j] = float(ab);
    }
    expect(what, dw, sw, 1e-5f, 1e-6f);
    expect(what, db, sb, 1e-6f, 1e-6f);
    std::vector<float> dx2(n), db2(c.N, 7.0f);
    fl::layer_norm_backward_cuda(dx2.data(), nullptr, db2.data(), dy.data(), x.data(), mean0.data(), rstd0.data(), pw,
                                 s, nullptr);
    expect(what, db2, db, 0.0f, 0.0f);  // dweight not wanted: dbias unchanged
  }
}

}  // namespace

void test_layer_norm(std::mt19937& r) {
  const int before = g_checks;
  fl::LayerNormKernels ref{};
  fl::register_layer_norm_ref(ref);
  test_cases(ref, r);
  std::printf("layer_norm: %d checks of the layer-norm kernels\n", g_checks - before);
}
