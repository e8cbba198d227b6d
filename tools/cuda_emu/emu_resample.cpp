// Emulation checks of the resample CUDA kernels (csrc/cuda/resample.cu, run by run.py's host
// emulation) against the CPU reference kernels (cpu/ref/resample_ref.cpp): interpolation
// (nearest, nearest-exact, linear with and without align_corners, up and down, scale-factor
// ratios, one-pixel inputs and outputs) and padding (constant with cropping, reflect, replicate,
// circular, over one, two and three dimensions), forward and backward. Forwards pick the same
// inputs with the same weights (a few ulp for the blend's order); the gather backwards sum in
// another order than the reference's scatter, so they are compared with a tolerance.
#include <cstdio>
#include <random>
#include <vector>

#include "cuda/resample.cuh"
#include "emu_check.h"
#include "ops/resample.h"

using fl::index_t;
using namespace emu_check;

namespace {

struct InterpCase {
  index_t planes, H, W, P, Q;
  fl::InterpMode mode;
  bool align_corners;
  double scale_h, scale_w;  // > 0: the scale factor given (PyTorch's ratio 1 / scale)
};

void test_interp(const fl::ResampleKernels& ref, std::mt19937& r) {
  using M = fl::InterpMode;
  const InterpCase cases[] = {
      {3, 5, 7, 10, 14, M::nearest, false, 0, 0},   {2, 9, 9, 4, 4, M::nearest_exact, false, 0, 0},
      {2, 9, 9, 4, 29, M::nearest, false, 0.5, 3.3}, {2, 5, 7, 8, 11, M::linear, false, 1.7, 1.7},
      {2, 5, 7, 3, 11, M::linear, true, 0, 0},       {1, 6, 40, 9, 33, M::linear, false, 0, 0},
      {2, 1, 9, 1, 20, M::linear, true, 0, 0},       {2, 1, 9, 1, 5, M::linear, false, 0.6, 0.6},
      {2, 1, 1, 3, 17, M::linear, false, 0, 0},      {2, 5, 6, 1, 1, M::linear, true, 0, 0},
      {3, 7, 8, 7, 8, M::linear, false, 0, 0},       {1, 33, 65, 66, 130, M::linear, false, 2, 2},
      {0, 4, 4, 8, 8, M::linear, false, 0, 0}};
  for (const InterpCase& c : cases) {
    const bool ac = c.align_corners;
    const fl::InterpShape s{{c.H, c.P, fl::interp_ratio(c.H, c.P, c.scale_h, ac)},
                            {c.W, c.Q, fl::interp_ratio(c.W, c.Q, c.scale_w, ac)}, c.mode, ac};
    char what[128];
    std::snprintf(what, sizeof what, "interp %ldx%ld -> %ldx%ld mode %d ac %d", long(c.H), long(c.W), long(c.P),
                  long(c.Q), int(c.mode), int(ac));
    const std::vector<float> x = randn(c.planes * c.H * c.W, r), g = randn(c.planes * c.P * c.Q, r);
    std::vector<float> y(c.planes * c.P * c.Q, 7.0f), y0(y.size());
    fl::interp_forward_cuda(y.data(), x.data(), c.planes, s, nullptr);
    ref.interp_forward(y0.data(), x.data(), c.planes, s);
    expect(what, y, y0, 1e-6f, 1e-6f);
    std::vector<float> dx(x.size(), 7.0f), dx0(x.size());
    fl::interp_backward_cuda(dx.data(), g.data(), c.planes, s, nullptr);
    ref.interp_backward(dx0.data(), g.data(), c.planes, s);
    expect(what, dx, dx0, 1e-5f, 1e-5f);
  }
}

struct PadCase {
  index_t planes, D, H, W, d0, d1, h0, h1, w0, w1;
  fl::PadMode mode;
};

void test_pad(const fl::ResampleKernels& ref, std::mt19937& r) {
  using M = fl::PadMode;
  const PadCase cases[] = {
      {6, 1, 5, 7, 0, 0, 3, 1, 1, 2, M::reflect},   {3, 1, 1, 7, 0, 0, 0, 0, 2, 2, M::replicate},
      {6, 1, 5, 7, 0, 0, 1, 2, 3, 3, M::circular},  {6, 1, 5, 7, 0, 0, 3, 0, 1, -2, M::constant},
      {6, 4, 5, 6, 1, 1, 2, 2, 1, 1, M::constant},  {6, 4, 5, 6, 1, 1, 2, 2, 1, 1, M::reflect},
      {3, 1, 1, 40, 0, 0, 0, 0, 5, 6, M::reflect},  {6, 1, 5, 30, 0, 0, 4, 4, 4, 4, M::replicate},
      {6, 1, 5, 30, 0, 0, 5, 5, 4, 4, M::circular}, {2, 1, 1, 3, 0, 0, 0, 0, 7, -1, M::constant},
      {2, 1, 1, 50, 0, 0, 3, 3, 0, 0, M::replicate}, {6, 4, 5, 6, 1, 4, 4, 1, 3, 2, M::replicate},
      {4, 1, 3, 3, 0, 0, 1, 1, 1, 1, M::circular},  {24, 1, 1, 37, 0, 0, 0, 0, 16, 17, M::constant},
      {4, 3, 3, 3, 3, 3, 3, 3, 3, 3, M::circular},  {0, 1, 4, 4, 0, 0, 1, 1, 1, 1, M::reflect}};
  for (const PadCase& c : cases) {
    const fl::PadShape s{{c.D, c.D + c.d0 + c.d1, c.d0}, {c.H, c.H + c.h0 + c.h1, c.h0}, {c.W, c.W + c.w0 + c.w1, c.w0},
                         c.mode, 0.5f};
    char what[128];
    std::snprintf(what, sizeof what, "pad %ldx%ldx%ld (%ld %ld %ld %ld %ld %ld) mode %d", long(c.D), long(c.H),
                  long(c.W), long(c.d0), long(c.d1), long(c.h0), long(c.h1), long(c.w0), long(c.w1), int(c.mode));
    const index_t in = c.planes * c.D * c.H * c.W, out = c.planes * s.d.out * s.h.out * s.w.out;
    const std::vector<float> x = randn(in, r), g = randn(out, r);
    std::vector<float> y(out, 7.0f), y0(out);
    fl::pad_forward_cuda(y.data(), x.data(), c.planes, s, nullptr);
    ref.pad_forward(y0.data(), x.data(), c.planes, s);
    expect(what, y, y0);  // exact: copies
    std::vector<float> dx(in, 7.0f), dx0(in);
    fl::pad_backward_cuda(dx.data(), g.data(), c.planes, s, nullptr);
    ref.pad_backward(dx0.data(), g.data(), c.planes, s);
    expect(what, dx, dx0, 1e-6f, 1e-6f);
  }
}

}  // namespace

void test_resample(std::mt19937& r) {
  const int before = g_checks;
  fl::ResampleKernels ref{};
  fl::register_resample_ref(ref);
  test_interp(ref, r);
  test_pad(ref, r);
  std::printf("resample: %d checks of the resample kernels\n", g_checks - before);
}
