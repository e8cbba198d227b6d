// Compares the emulated CUDA kernels (activation.cu, gemm.cu run by run.py's host emulation)
// with the CPU reference kernels and a double-precision GEMM; emu_layers.cpp checks optim, pool,
// norm and conv, emu_loss.cpp loss and dropout, emu_<family>.cpp the embedding, layer_norm,
// attention, rnn and resample families. Prints one line per failure and a summary;
// exits non-zero when anything differs.
#include <cmath>
#include <cstdint>
#include <string>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <vector>

#include "ops/activation.h"
#include "cuda/activation.cuh"
#include "cuda/copy.cuh"
#include "cuda/gemm.cuh"
#include "cuda/memory.cuh"
#include "emu_check.h"

using fl::index_t;
using namespace emu_check;

namespace {
void test_elementwise(const fl::ActivationKernels& ref, std::mt19937& r) {
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.7f, -88.7f, 89.5f, -104.0f, 1e-40f, -1e-40f,
                            20.0f, -20.0f, 9.0f, -9.0f, 3.4e38f, -3.4e38f};
  for (index_t n : {1, 3, 4, 5, 1027, 4099}) {
    for (int offset : {0, 1}) {  // 1: misaligned, the scalar path
      std::vector<float> x = randn(n + offset, r, 6.0f), g = randn(n + offset, r), s = randn(n + offset, r);
      for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < x.size(); ++i) x[i] = specials[i];
      for (int op = 0; op < fl::kActOpCount; ++op) {
        const float a = op == int(fl::ActOp::elu) ? 1.5f : 0.2f;
        std::vector<float> y(n + offset), want(n + offset);
        fl::act_forward_cuda(fl::ActOp(op), y.data() + offset, x.data() + offset, n, a, nullptr);
        ref.forward[op](want.data() + offset, x.data() + offset, n, a);
        char what[64];
        std::snprintf(what, sizeof what, "act_forward op %d n %ld off %d", op, long(n), offset);
        expect(what, y, want, 1e-6f, 1e-30f);
        fl::act_backward_cuda(fl::ActOp(op), y.data() + offset, g.data() + offset, x.data() + offset, n, a, nullptr);
        ref.backward[op](want.data() + offset, g.data() + offset, x.data() + offset, n, a);
        std::snprintf(what, sizeof what, "act_backward op %d n %ld off %d", op, long(n), offset);
        expect(what, y, want, 1e-6f, 1e-30f);
      }
    }
  }
}

void test_softmax(const fl::ActivationKernels& ref, std::mt19937& r) {
  const fl::AxisShape shapes[] = {{5, 37, 9}, {1, 5, 37 * 9}, {5 * 37, 9, 1}, {3, 3000, 1}, {7, 50, 1}, {2, 1, 4},
                                  {1, 1, 1}, {20, 1024, 1}, {2, 33, 2}};
  for (const auto& sh : shapes)
    for (bool log : {false, true}) {
      const index_t total = sh.outer * sh.n * sh.inner;
      std::vector<float> x = randn(total, r, 4.0f), g = randn(total, r), y(total), want(total);
      if (total > 10) x[3] = NAN;  // one NaN row/column
      fl::softmax_forward_cuda(y.data(), x.data(), sh, log, nullptr);
      for (index_t o = 0; o < sh.outer; ++o)
        ref.softmax_forward(want.data() + o * sh.n * sh.inner, x.data() + o * sh.n * sh.inner, sh.n, sh.inner,
                            sh.inner, log);
      char what[96];
      std::snprintf(what, sizeof what, "softmax (%ld,%ld,%ld) log %d", long(sh.outer), long(sh.n), long(sh.inner), log);
      expect(what, y, want, 1e-5f, 1e-6f);
      std::vector<float> dx(total);
      fl::softmax_backward_cuda(dx.data(), g.data(), want.data(), sh, log, nullptr);
      for (index_t o = 0; o < sh.outer; ++o)
        ref.softmax_backward(y.data() + o * sh.n * sh.inner, g.data() + o * sh.n * sh.inner,
                             want.data() + o * sh.n * sh.inner, sh.n, sh.inner, sh.inner, log);
      std::snprintf(what, sizeof what, "softmax_backward (%ld,%ld,%ld) log %d", long(sh.outer), long(sh.n),
                    long(sh.inner), log);
      expect(what, dx, y, 1e-4f, 1e-5f);
    }
}

void test_maxout(std::mt19937& r) {
  struct Case { fl::AxisShape sh; index_t pieces; };
  const Case cases[] = {{{2, 6, 5}, 3}, {{4, 9, 1}, 3}, {{1, 8, 3}, 2}, {{6, 4, 1}, 4}, {{3, 4, 1}, 1}};
  for (const auto& c : cases) {
    const index_t total = c.sh.outer * c.sh.n * c.sh.inner, cout = c.sh.n / c.pieces;
    std::vector<float> x = randint(total, r, -3, 2);
    for (index_t i = 0; i < total; i += 7) x[i] = NAN;
    std::vector<float> y(c.sh.outer * cout * c.sh.inner), want(y.size()), g = randn(y.size(), r);
    fl::maxout_forward_cuda(y.data(), x.data(), c.sh, c.pieces, nullptr);
    for (index_t o = 0; o < c.sh.outer; ++o)
      fl::maxout_forward_ref(want.data() + o * cout * c.sh.inner, x.data() + o * c.sh.n * c.sh.inner, cout, c.pieces,
                             c.sh.inner);
    expect("maxout_forward", y, want);
    std::vector<float> dx(total, 7.0f), wdx(total);
    fl::maxout_backward_cuda(dx.data(), g.data(), x.data(), c.sh, c.pieces, nullptr);
    for (index_t o = 0; o < c.sh.outer; ++o)
      fl::maxout_backward_ref(wdx.data() + o * c.sh.n * c.sh.inner, g.data() + o * cout * c.sh.inner,
                              x.data() + o * c.sh.n * c.sh.inner, cout, c.pieces, c.sh.inner);
    expect("maxout_backward", dx, wdx);
  }
}

// C = act(alpha * op(A) op(B) + beta * C + bias) in double, then rounded.
std::vector<float> gemm_ref(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c0,
                            const float* bias, index_t M, index_t N, index_t K, index_t lda, index_t ldb, index_t ldc,
                            bool ta, bool tb, float alpha, float beta, int act, const fl::ActivationKernels& ref) {
  std::vector<float> c = c0;
  for (index_t m = 0; m < M; ++m)
    for (index_t n = 0; n < N; ++n) {
      double s = 0;
      for (index_t k = 0; k < K; ++k)
        s += double(ta ? a[k * lda + m] : a[m * lda + k]) * double(tb ? b[n * ldb + k] : b[k * ldb + n]);
      double v = alpha * s + (beta != 0 ? beta * double(c0[m * ldc + n]) : 0.0) + (bias ? bias[n] : 0.0);
      float f = float(v);
      if (act >= 0) ref.forward[act](&f, &f, 1, 0.1f);
      c[m * ldc + n] = f;
    }
  return c;
}

void test_sgemm(const fl::ActivationKernels& ref, std::mt19937& r) {
  struct Size { index_t M, N, K; };
  const Size sizes[] = {{1, 1, 1}, {7, 59, 97}, {129, 97, 59}, {300, 7, 129}, {59, 200, 1}, {97, 129, 300},
                        {128, 128, 8}, {127, 129, 9}, {256, 130, 40}, {1, 200, 7}, {200, 1, 59}, {16, 16, 0}};
  for (int prec = 0; prec < 2; ++prec)
    for (const auto& s : sizes)
      for (int t = 0; t < 4; ++t)
        for (int variant = 0; variant < 2; ++variant) {
          const bool ta = t & 1, tb = t & 2;
          // variant 1: padded leading dimensions and misaligned bases (scalar loads/stores)
          const index_t pad = variant ? 3 : 0, off = variant;
          const index_t lda = (ta ? s.M : s.K) + pad, ldb = (tb ? s.K : s.N) + pad, ldc = s.N + pad;
          const index_t arows = ta ? s.K : s.M, brows = tb ? s.N : s.K;
          std::vector<float> a = randint(arows * lda + off + 1, r, -3, 3), b = randint(brows * ldb + off + 1, r, -3, 3);
          std::vector<float> c = randint(s.M * ldc + off + 1, r, -3, 3), bias = randint(s.N + 1, r, -3, 3);
          const float alpha = variant ? 2.0f : 1.0f, beta = variant ? -0.5f : 0.0f;
          const int act = variant ? int(fl::ActOp::leaky_relu) : -1;
          std::vector<float> a0(a.begin() + off, a.end()), b0(b.begin() + off, b.end()), c0(c.begin() + off, c.end());
          std::vector<float> want = gemm_ref(a0, b0, c0, variant ? bias.data() : nullptr, s.M, s.N, s.K, lda, ldb, ldc,
                                             ta, tb, alpha, beta, act, ref);
          fl::GemmEpilogue ep;
          ep.bias_mode = variant ? fl::GemmBias::per_col : fl::GemmBias::none;
          ep.bias = variant ? bias.data() : nullptr;
          ep.has_act = act >= 0;
          ep.act = act >= 0 ? fl::ActOp(act) : fl::ActOp::relu;
          ep.act_param = 0.1f;
          fl::sgemm_cuda(c.data() + off, a.data() + off, b.data() + off, s.M, s.N, s.K, lda, ldb, ldc, ta, tb, alpha,
                         beta, ep, fl::GemmPrecision(prec), nullptr);
          std::vector<float> got(c.begin() + off, c.end());
          char what[128];
          std::snprintf(what, sizeof what, "sgemm %s M%ld N%ld K%ld ta%d tb%d variant%d", prec ? "tf32" : "fp32",
                        long(s.M), long(s.N), long(s.K), ta, tb, variant);
          expect(what, got, want, 0.0f, 0.0f);  // small integers: exact in FP32 and in TF32
        }
  // random data, TF32 tolerance
  for (const auto& s : {Size{97, 129, 300}, Size{130, 70, 33}}) {
    std::vector<float> a = randn(s.M * s.K, r), b = randn(s.K * s.N, r), c(s.M * s.N);
    std::vector<float> want = gemm_ref(a, b, c, nullptr, s.M, s.N, s.K, s.K, s.N, s.N, false, false, 1, 0, -1, ref);
    for (int prec = 0; prec < 2; ++prec) {
      fl::sgemm_cuda(c.data(), a.data(), b.data(), s.M, s.N, s.K, s.K, s.N, s.N, false, false, 1, 0, {},
                     fl::GemmPrecision(prec), nullptr);
      expect(prec ? "sgemm tf32 random" : "sgemm fp32 random", c, want, 0.0f,
             prec ? 4 * std::ldexp(1.0f, -10) * std::sqrt(float(s.K)) : 1e-4f);
    }
  }
}
void test_gather() {
  // a (2, 3, 4) float array transposed to (4, 2, 3), and every second column of a (5, 6) double array
  std::vector<float> src(24), want(24), got(24);
  for (int i = 0; i < 24; ++i) src[i] = float(i);
  fl::StridedLayout l;
  l.ndim = 3;
  const index_t shape[3] = {4, 2, 3}, strides[3] = {4, 48, 16};
  for (int d = 0; d < 3; ++d) l.shape[d] = shape[d], l.strides[d] = strides[d];
  for (int i = 0, k = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int m = 0; m < 3; ++m) want[k++] = src[j * 12 + m * 4 + i];
  fl::gather_strided_cuda(got.data(), src.data(), l, 4, nullptr);
  expect("gather 3-D transpose", got, want);
  std::vector<double> d(30), dg(15);
  for (int i = 0; i < 30; ++i) d[i] = i * 0.5;
  fl::StridedLayout l2;
  l2.ndim = 2;
  l2.shape[0] = 5, l2.shape[1] = 3, l2.strides[0] = 48, l2.strides[1] = 16;
  fl::gather_strided_cuda(dg.data(), d.data(), l2, 8, nullptr);
  std::vector<float> g2(15), w2(15);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) g2[i * 3 + j] = float(dg[i * 3 + j]), w2[i * 3 + j] = float(d[i * 6 + j * 2]);
  expect("gather 2-D double", g2, w2);
}
void test_convert() {
  const std::vector<std::int64_t> i64 = {-5, 0, 7, 1 << 30};
  std::vector<float> got(4), want = {-5.0f, 0.0f, 7.0f, 1073741824.0f};
  fl::convert_to_f32_cuda(got.data(), i64.data(), 4, 'i', 8, nullptr);
  expect("convert int64", got, want);
  const std::vector<std::int8_t> i8 = {-128, -1, 0, 127};
  fl::convert_to_f32_cuda(got.data(), i8.data(), 4, 'i', 1, nullptr);
  expect("convert int8", got, {-128.0f, -1.0f, 0.0f, 127.0f});
  const std::vector<std::uint16_t> u16 = {0, 1, 65535, 300};
  fl::convert_to_f32_cuda(got.data(), u16.data(), 4, 'u', 2, nullptr);
  expect("convert uint16", got, {0.0f, 1.0f, 65535.0f, 300.0f});
  const std::vector<double> f64 = {1e300, -2.5, 1e-50, -0.0};
  fl::convert_to_f32_cuda(got.data(), f64.data(), 4, 'f', 8, nullptr);
  expect("convert float64", got, {INFINITY, -2.5f, 0.0f, -0.0f});
  // binary16: 1.0, -2.0, +inf, smallest subnormal, NaN, -0.0, 65504 (largest), 0.333 (0x3555)
  const std::vector<std::uint16_t> f16 = {0x3c00, 0xc000, 0x7c00, 0x0001, 0x7e00, 0x8000, 0x7bff, 0x3555};
  std::vector<float> g16(8);
  fl::convert_to_f32_cuda(g16.data(), f16.data(), 8, 'f', 2, nullptr);
  expect("convert float16", g16, {1.0f, -2.0f, INFINITY, 5.9604644775390625e-8f, NAN, -0.0f, 65504.0f,
                                  0.333251953125f});
  ++g_checks;
  if (!std::signbit(g16[5])) {
    std::printf("FAIL convert float16: -0.0 lost its sign\n");
    ++g_fail;
  }
}
void test_allocator() {
  namespace c = fl::cuda;
  check(c::device_alloc(0, 0).ptr == nullptr, "alloc: zero bytes give no block");
  c::DeviceBlock a = c::device_alloc(0, 1000);
  check(a.ptr != nullptr && a.capacity == 1024, "alloc: 1000 bytes -> 1 KiB bucket");
  c::device_release(0, a);
  const std::size_t mallocs = c::memory_stats(0).mallocs;
  c::DeviceBlock b = c::device_alloc(0, 600);
  check(b.ptr == a.ptr && c::memory_stats(0).mallocs == mallocs, "alloc: a freed block of the bucket is reused");
  check(c::device_alloc(0, 3u << 20).capacity == (3u << 20), "alloc: 3 MiB is its own bucket");
  c::DeviceBlock d = c::device_alloc(0, (3u << 20) + 1);
  check(d.capacity == (3u << 20) + (256u << 10), "alloc: eighths of the octave above 1 MiB");
  c::MemoryStats st = c::memory_stats(0);
  check(st.in_use >= 1024 + (3u << 20) + d.capacity && st.peak >= st.in_use, "alloc: in-use and peak statistics");
  c::device_release(0, d);
  c::device_release(0, b);
  check(c::memory_stats(0).cached >= d.capacity + 1024, "alloc: released blocks are cached");
  // out of memory: the cache is emptied and cudaMalloc retried once
  emu::capacity = emu::used - d.capacity + (4u << 20);  // room for 4 MiB once the cache is freed
  c::DeviceBlock e = c::device_alloc(0, 4u << 20);
  check(e.ptr != nullptr && c::memory_stats(0).cached == 0, "alloc: out of memory empties the cache and retries");
  bool threw = false;
  try {
    c::device_alloc(0, 8u << 20);
  } catch (const std::runtime_error& err) {
    threw = std::string(err.what()).find("cudaMalloc of 8388608 bytes on device 0") != std::string::npos;
  }
  check(threw, "alloc: a request the device cannot hold throws with the size");
  emu::capacity = ~std::size_t(0);
  c::device_release(0, e);
  c::empty_cache();
  check(c::memory_stats(0).cached == 0 && emu::used == c::memory_stats(0).in_use, "alloc: empty_cache frees the cache");
}
}  // namespace

int main(int argc, char** argv) {
  fl::ActivationKernels ref{};
  fl::register_activation_ref(ref);
  std::mt19937 r(1234);
  const std::string only = argc > 1 ? argv[1] : "";
  if (only.empty()) {
    test_elementwise(ref, r);
    test_softmax(ref, r);
    test_maxout(r);
    test_gather();
    test_convert();
    test_allocator();
  }
  if (only.empty() || only == "gemm") test_sgemm(ref, r);
  if (only.empty() || only == "layers") test_layers(r);
  if (only.empty() || only == "loss") test_loss(r);
  if (only.empty() || only == "embedding") test_embedding(r);
  if (only.empty() || only == "layer_norm") test_layer_norm(r);
  if (only.empty() || only == "attention") test_attention(r);
  if (only.empty() || only == "rnn") test_rnn(r);
  if (only.empty() || only == "resample") test_resample(r);
  std::printf("%s: %d checks, %d failures\n", g_fail ? "FAILED" : "ok", g_checks, g_fail);
  return g_fail ? 1 : 0;
}
