// Layer-norm driver: splits the rows over threads and calls the current ISA's row kernels
// (ops/layer_norm.h). The backward's weight and bias gradients are column sums over all rows:
// each part of the rows sums blocks of kSumRows rows in float (the kernel's accumulators) into
// its own double partial, and the parts are added at the end (no atomics, no shared writes).
#include "ops/layer_norm.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <vector>

#include "core/parallel.h"

namespace fl {

KernelTables<LayerNormKernels> g_layer_norm_kernels;
FL_REGISTER_KERNELS(layer_norm, g_layer_norm_kernels, register_layer_norm_ref, register_layer_norm_avx2,
                    register_layer_norm_avx512)

namespace {
// Below ~32K elements a thread team costs more than it saves.
constexpr index_t kElementGrain = 1 << 15;
// Rows summed in float before their column sums join the double partial.
constexpr index_t kSumRows = 64;

index_t row_grain(index_t n) { return std::max<index_t>(1, kElementGrain / std::max<index_t>(n, 1)); }
}  // namespace

void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b,
                        LayerNormShape s, float eps) {
  const LayerNormForwardFn f = g_layer_norm_kernels.current().forward;
  parallel_for(0, s.M, row_grain(s.N), [&](index_t lo, index_t hi) {
    f(y ? y + lo * s.N : nullptr, mean + lo, rstd + lo, x + lo * s.N, w, b, hi - lo, s.N, eps);
  });
}

void layer_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* w, LayerNormShape s) {
  const LayerNormBackwardFn f = g_layer_norm_kernels.current().backward;
  const bool sums = dw || db;
  // Parts of the rows, each with its own partial column sums (float block + double total).
  const index_t parts = sums ? std::max<index_t>(1, std::min<index_t>(get_num_threads(), s.M / kSumRows)) : 1;
  const index_t per = (s.M + parts - 1) / std::max<index_t>(parts, 1);
  std::vector<float> blocks(sums ? static_cast<size_t>(parts * 2 * s.N) : 0);
  std::vector<double> totals(sums ? static_cast<size_t>(parts * 2 * s.N) : 0, 0.0);
  if (!sums) {
    parallel_for(0, s.M, row_grain(s.N), [&](index_t lo, index_t hi) {
      f(dx + lo * s.N, nullptr, nullptr, dy + lo * s.N, x + lo * s.N, mean + lo, rstd + lo, w, hi - lo, s.N);
    });
    return;
  }
  parallel_for(0, parts, 1, [&](index_t plo, index_t phi) {
    for (index_t p = plo; p < phi; ++p) {
      float* bw = blocks.data() + p * 2 * s.N;
      float* bb = bw + s.N;
      double* tw = totals.data() + p * 2 * s.N;
      double* tb = tw + s.N;
      for (index_t r0 = p * per; r0 < std::min(s.M, (p + 1) * per); r0 += kSumRows) {
        const index_t rows = std::min({kSumRows, s.M - r0, (p + 1) * per - r0});
        std::fill(bw, bw + 2 * s.N, 0.0f);
        f(dx + r0 * s.N, dw ? bw : nullptr, db ? bb : nullptr, dy + r0 * s.N, x + r0 * s.N, mean + r0, rstd + r0, w,
          rows, s.N);
        for (index_t j = 0; j < s.N; ++j) tw[j] += bw[j], tb[j] += bb[j];
      }
    }
  });
  for (index_t j = 0; j < s.N; ++j) {
    double sw = 0.0, sb = 0.0;
    for (index_t p = 0; p < parts; ++p) sw += totals[p * 2 * s.N + j], sb += totals[p * 2 * s.N + s.N + j];
    if (dw) dw[j] = static_cast<float>(sw);
    if (db) db[j] = static_cast<float>(sb);
  }
}

}  // namespace fl
