// Emulation checks of the embedding CUDA kernels (csrc/cuda/embedding.cu, run by run.py's host
// emulation) against the CPU reference kernels (cpu/ref/embedding_ref.cpp): the gather, the
// index check (first bad position and its index), and the scatter-add backward bit for bit
// (each row's positions in increasing order, as the reference's row_sum adds them) -- repeated
// indices, a row with more positions than the kernel sorts in shared memory (the in-order scan),
// padding_idx, accumulation, unused rows, D below and above the block width, empty input.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "cuda/embedding.cuh"
#include "emu_check.h"
#include "ops/embedding.h"

using fl::index_t;
using namespace emu_check;

namespace {

struct Case {
  index_t N, V, D;
  int hot;  // every hot-th position goes to row 1 (0: uniform indices)
  index_t padding_idx;
};

// The CPU driver's result on the reference kernels: each row's positions in increasing order.
std::vector<float> backward_oracle(const fl::EmbeddingKernels& ref, std::vector<float> dw, const std::vector<float>& g,
                                   const std::vector<index_t>& idx, const Case& c, bool accumulate) {
  for (index_t v = 0; v < c.V; ++v) {
    float* dst = dw.data() + v * c.D;
    if (v == c.padding_idx) {
      if (!accumulate)
        for (index_t j = 0; j < c.D; ++j) dst[j] = 0.0f;
      continue;
    }
    std::vector<index_t> pos;
    for (index_t i = 0; i < c.N; ++i)
      if (idx[i] == v) pos.push_back(i);
    if (!pos.empty() || !accumulate) ref.row_sum(dst, g.data(), pos.data(), index_t(pos.size()), c.D, accumulate);
  }
  return dw;
}

void test_cases(const fl::EmbeddingKernels& ref, std::mt19937& r) {
  const Case cases[] = {{1, 1, 1, 0, -1},     {7, 5, 3, 0, -1},     {300, 13, 37, 0, 2},  {2500, 9, 5, 2, -1},
                        {600, 40, 300, 3, 2}, {64, 4000, 8, 0, -1}, {0, 6, 4, 0, -1},     {129, 3, 257, 0, 0}};
  for (const Case& c : cases) {
    const fl::EmbeddingShape s{c.N, c.V, c.D};
    std::uniform_int_distribution<index_t> pick(0, c.V - 1);
    std::vector<index_t> idx(c.N);
    for (index_t i = 0; i < c.N; ++i) idx[i] = c.hot && i % c.hot == 0 ? 1 % c.V : pick(r);
    const std::vector<float> w = randn(c.V * c.D, r), g = randn(c.N * c.D, r);
    char what[128];
    std::snprintf(what, sizeof what, "embedding N %ld V %ld D %ld hot %d pad %ld", long(c.N), long(c.V), long(c.D),
                  c.hot, long(c.padding_idx));
    index_t bad[2] = {7, 7};
    fl::embedding_check_cuda(bad, idx.data(), s, nullptr);
    check(bad[0] == -1 && bad[1] == 0, what);
    std::vector<float> y(c.N * c.D, 7.0f), y0(c.N * c.D);
    fl::embedding_forward_cuda(y.data(), w.data(), idx.data(), s, nullptr);
    ref.gather(y0.data(), w.data(), idx.data(), c.N, c.D);
    expect(what, y, y0);
    for (bool accumulate : {false, true}) {
      const std::vector<float> start = randn(c.V * c.D, r);
      std::vector<float> dw = start;
      fl::embedding_backward_cuda(dw.data(), g.data(), idx.data(), s, c.padding_idx, accumulate, nullptr);
      expect(what, dw, backward_oracle(ref, start, g, idx, c, accumulate));  // exact: the same additions
    }
  }
}

void test_bad_indices(std::mt19937& r) {
  const index_t N = 1000, V = 10, D = 3;
  std::vector<index_t> idx(N);
  for (index_t i = 0; i < N; ++i) idx[i] = i % V;
  idx[613] = V;
  idx[777] = -4;
  index_t bad[2] = {0, 0};
  fl::embedding_check_cuda(bad, idx.data(), {N, V, D}, nullptr);
  check(bad[0] == 613 && bad[1] == V, "embedding_check: first bad position 613, index V");
  idx[5] = -1;
  fl::embedding_check_cuda(bad, idx.data(), {N, V, D}, nullptr);
  check(bad[0] == 5 && bad[1] == -1, "embedding_check: first bad position 5, index -1");
  std::vector<float> w = randn(V * D, r), y(N * D);
  fl::embedding_forward_cuda(y.data(), w.data(), idx.data(), {N, V, D}, nullptr);
  check(std::isnan(y[5 * D]) && y[6 * D] == w[6 * D], "embedding_forward: an unchecked bad index gives NaN");
}

}  // namespace

void test_embedding(std::mt19937& r) {
  const int before = g_checks;
  fl::EmbeddingKernels ref{};
  fl::register_embedding_ref(ref);
  test_cases(ref, r);
  test_bad_indices(r);
  std::printf("embedding: %d checks of the embedding kernels\n", g_checks - before);
}
