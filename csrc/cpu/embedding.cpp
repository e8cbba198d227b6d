// Embedding driver: checks every index, then gathers rows over threads (forward), or groups
// the positions of each weight row with a counting sort and sums each row's gradient on one
// thread (backward): no two threads add into one row, and each row adds its positions in
// increasing order, so the result is the same for any thread count.
#include "ops/embedding.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "core/check.h"
#include "core/parallel.h"

namespace fl {

KernelTables<EmbeddingKernels> g_embedding_kernels;
FL_REGISTER_KERNELS(embedding, g_embedding_kernels, register_embedding_ref, register_embedding_avx2,
                    register_embedding_avx512)

namespace {

// Rows per thread below which a team costs more than it saves (in floats copied or added).
constexpr index_t kGrainFloats = 1 << 14;

void check_indices(const index_t* idx, EmbeddingShape s) {
  FL_CHECK_ARG(s.N >= 0 && s.V >= 0 && s.D >= 0, "embedding: negative shape");
  for (index_t i = 0; i < s.N; ++i) {
    if (idx[i] < 0 || idx[i] >= s.V)
      throw std::out_of_range(str_cat("embedding: index ", idx[i], " at position ", i,
                                      " is out of range for num_embeddings ", s.V));
  }
}

}  // namespace

void embedding_forward(float* y, const float* w, const index_t* idx, EmbeddingShape s) {
  check_indices(idx, s);
  if (s.D == 0) return;
  const EmbeddingGatherFn f = g_embedding_kernels.current().gather;
  parallel_for(0, s.N, std::max<index_t>(1, kGrainFloats / s.D),
               [&](index_t lo, index_t hi) { f(y + lo * s.D, w, idx + lo, hi - lo, s.D); });
}

void embedding_backward(float* dw, const float* dy, const index_t* idx, EmbeddingShape s, index_t padding_idx,
                        bool accumulate) {
  check_indices(idx, s);
  if (s.V == 0 || s.D == 0) return;
  // start[v] .. start[v + 1]: the positions of row v in pos, increasing.
  std::unique_ptr<index_t[]> start(new index_t[s.V + 1]());
  std::unique_ptr<index_t[]> pos(new index_t[std::max<index_t>(s.N, 1)]);
  for (index_t i = 0; i < s.N; ++i) ++start[idx[i] + 1];
  for (index_t v = 0; v < s.V; ++v) start[v + 1] += start[v];
  {
    std::unique_ptr<index_t[]> fill(new index_t[s.V]);
    std::memcpy(fill.get(), start.get(), sizeof(index_t) * s.V);
    for (index_t i = 0; i < s.N; ++i) pos[fill[idx[i]]++] = i;
  }
  const EmbeddingRowSumFn f = g_embedding_kernels.current().row_sum;
  auto rows = [&](index_t v0, index_t v1) {
    for (index_t v = v0; v < v1; ++v) {
      const index_t count = start[v + 1] - start[v];
      float* dst = dw + v * s.D;
      if (v == padding_idx) {
        if (!accumulate) std::memset(dst, 0, sizeof(float) * s.D);
      } else if (count > 0 || !accumulate) {
        f(dst, dy, pos.get() + start[v], count, s.D, accumulate);
      }
    }
  };
  // Parts of about equal work, counting a row's positions and the row itself: part p starts at
  // the first row v with start[v] + v >= p * (N + V) / parts (start[v] + v increases with v).
  const index_t work = s.N + s.V;
  const index_t parts = std::min<index_t>(get_num_threads(), std::max<index_t>(1, work * s.D / kGrainFloats));
  auto bound = [&](index_t p) {
    const index_t target = p * work / parts;
    index_t lo = 0, hi = s.V;
    while (lo < hi) {
      const index_t mid = (lo + hi) / 2;
      if (start[mid] + mid < target) lo = mid + 1;
      else hi = mid;
    }
    return p >= parts ? s.V : lo;
  };
  parallel_for(0, parts, 1, [&](index_t lo, index_t hi) {
    for (index_t p = lo; p < hi; ++p) rows(bound(p), bound(p + 1));
  });
}

}  // namespace fl
