// Emulation checks of the attention CUDA kernels (csrc/cuda/attention.cu, run by run.py's host
// emulation) against the CPU reference kernels (cpu/ref/attention_ref.cpp, double sums): output,
// lse, and the three gradients, for each head-dimension bucket (64, 128, 256) with D != Dv,
// lengths off the tiles, Tq above and below Tk, every mask kind (causal; boolean and additive
// masks broadcast over heads through offsets and strides, with a fully masked row; key-padding
// masks read by every query through stride_q 0), dropout (the CPU's mask), odd sizes across several
// tiles (T 97 to 130, head dims 59, 111, 128), zero sizes, and the head-dimension limit.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <vector>

#include "cuda/attention.cuh"
#include "emu_check.h"
#include "ops/attention.h"

using fl::index_t;
using namespace emu_check;

namespace {

struct Case {
  index_t BH, Tq, Tk, D, Dv;
  fl::AttnMask kind;
  float p;               // dropout probability
  bool padding = false;  // explicit mask as a key-padding mask: one row of Tk per pair of batch-heads, stride_q 0
};

void run_case(const Case& c, std::mt19937& r) {
  const fl::AttentionShape s{c.BH, c.Tq, c.Tk, c.D, c.Dv};
  const std::vector<float> q = randn(c.BH * c.Tq * c.D, r), k = randn(c.BH * c.Tk * c.D, r),
                           v = randn(c.BH * c.Tk * c.Dv, r), g = randn(c.BH * c.Tq * c.Dv, r);
  // Explicit masks: one (Tq, Tk) plane per pair of batch-heads (offsets 0, 0, plane, plane, ...),
  // row 1 of the first plane fully masked; with c.padding one row of Tk per pair, read by every
  // query (stride_q 0; the first pair's keys past 3 masked).
  const index_t planes = (c.BH + 1) / 2, plane = c.padding ? c.Tk : c.Tq * c.Tk;
  std::vector<std::uint8_t> bmask(planes * plane);
  std::vector<float> amask(planes * plane);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (size_t i = 0; i < bmask.size(); ++i) {
    bmask[i] = u(r) < 0.7f;
    amask[i] = bmask[i] ? 2.0f * u(r) - 1.0f : -INFINITY;
  }
  if (c.padding)
    for (index_t j = 0; planes > 0 && j < c.Tk; ++j) bmask[j] = j < 3, amask[j] = j < 3 ? amask[j] : -INFINITY;
  else
    for (index_t j = 0; planes > 0 && c.Tq > 1 && j < c.Tk; ++j) bmask[c.Tk + j] = 0, amask[c.Tk + j] = -INFINITY;
  std::vector<index_t> offsets(c.BH);
  for (index_t b = 0; b < c.BH; ++b) offsets[b] = (b / 2) * plane;
  fl::AttnMaskView m;
  m.kind = c.kind;
  if (c.kind == fl::AttnMask::boolean || c.kind == fl::AttnMask::additive) {
    m.data = c.kind == fl::AttnMask::boolean ? static_cast<const void*>(bmask.data()) : amask.data();
    m.batch_offset = offsets.data();
    m.stride_q = c.padding ? 0 : c.Tk;
    m.stride_k = 1;
  }
  fl::AttentionOptions opt{c.D ? 1.0f / std::sqrt(float(c.D)) : 1.0f};
  if (c.p > 0) opt.dropout = {987654321ull, static_cast<std::uint32_t>(c.p * 4294967296.0), 1.0f / (1.0f - c.p)};
  std::vector<float> o(c.BH * c.Tq * c.Dv, 7.0f), lse(c.BH * c.Tq, 7.0f), o0(o.size()), lse0(lse.size());
  fl::attention_forward_cuda(o.data(), lse.data(), q.data(), k.data(), v.data(), s, m, opt, nullptr);
  fl::attention_forward_ref(o0.data(), lse0.data(), q.data(), k.data(), v.data(), s, m, opt);
  char what[128];
  std::snprintf(what, sizeof what, "attention BH %ld Tq %ld Tk %ld D %ld Dv %ld mask %d%s p %g", long(c.BH),
                long(c.Tq), long(c.Tk), long(c.D), long(c.Dv), int(c.kind), c.padding ? " (padding)" : "", c.p);
  expect(what, o, o0, 2e-5f, 2e-5f);
  expect(what, lse, lse0, 2e-6f, 2e-6f);
  std::vector<float> o2(o.size(), 7.0f);
  fl::attention_forward_cuda(o2.data(), nullptr, q.data(), k.data(), v.data(), s, m, opt, nullptr);
  expect(what, o2, o, 0.0f, 0.0f);  // lse not wanted: the same output
  std::vector<float> dq(q.size(), 7.0f), dk(k.size(), 7.0f), dv(v.size(), 7.0f);
  std::vector<float> dq0(q.size()), dk0(k.size()), dv0(v.size());
  fl::attention_backward_cuda(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), o0.data(),
                              lse0.data(), s, m, opt, nullptr);
  fl::attention_backward_ref(dq0.data(), dk0.data(), dv0.data(), g.data(), q.data(), k.data(), v.data(), o0.data(),
                             lse0.data(), s, m, opt);
  expect(what, dq, dq0, 1e-4f, 5e-5f);
  expect(what, dk, dk0, 1e-4f, 5e-5f);
  expect(what, dv, dv0, 1e-4f, 5e-5f);
}

void test_cases(std::mt19937& r) {
  using K = fl::AttnMask;
  const Case cases[] = {
      {2, 37, 45, 16, 16, K::none, 0.0f},      {2, 37, 45, 16, 24, K::causal, 0.0f}, {3, 50, 33, 64, 64, K::causal, 0.0f},
      {3, 20, 70, 8, 5, K::boolean, 0.0f},     {2, 33, 40, 100, 64, K::additive, 0.0f},
      {2, 17, 19, 150, 200, K::boolean, 0.0f}, {2, 40, 41, 32, 32, K::none, 0.3f},   {2, 30, 35, 20, 20, K::boolean, 0.25f},
      {1, 9, 12, 1, 1, K::none, 0.0f},         {2, 5, 0, 4, 3, K::none, 0.0f},       {2, 0, 6, 4, 3, K::none, 0.0f},
      {2, 5, 6, 0, 3, K::none, 0.0f},          {2, 5, 6, 4, 0, K::causal, 0.0f},     {0, 5, 6, 4, 3, K::none, 0.0f},
      {4, 37, 45, 32, 32, K::boolean, 0.0f, true}, {4, 70, 33, 59, 59, K::additive, 0.1f, true},
      {2, 97, 97, 111, 111, K::causal, 0.0f},  {1, 130, 129, 128, 128, K::none, 0.0f}};
  for (const Case& c : cases) run_case(c, r);
}

void test_head_limit() {
  const fl::AttentionShape s{1, 2, 2, 257, 4};
  bool raised = false;
  try {
    fl::attention_forward_cuda(nullptr, nullptr, nullptr, nullptr, nullptr, s, {}, {1.0f}, nullptr);
  } catch (const std::invalid_argument&) {
    raised = true;
  }
  check(raised, "attention: a head dimension above 256 raises std::invalid_argument");
}

}  // namespace

void test_attention(std::mt19937& r) {
  const int before = g_checks;
  test_cases(r);
  test_head_limit();
  std::printf("attention: %d checks of the attention kernels\n", g_checks - before);
}
