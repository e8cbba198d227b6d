// conv2d by Winograd F(2x2, 3x3): forward and weight gradient of 3 x 3, stride-1,
// undilated layers with enough channels. The transforms are the ISA's kernels (ConvKernels'
// winograd_*, contracts in ops/conv.h); the 16 products per block of tiles run on the batched
// SGEMM of ops/gemm.h, and the filter transforms (U = G g G^T forward, dw = G^T dU G backward)
// are computed here once per call.
#include <algorithm>
#include <vector>

#include "cpu/conv_algos.h"
#include "ops/gemm.h"

namespace fl::conv_detail {

// Winograd F(2x2, 3x3) for 3 x 3 stride-1 undilated layers with enough channels for the
// transforms to pay and images large enough for wide GEMMs (measured with K = 32 or 64:
// im2col wins at C = 3, 4 and Winograd from 8; below 14 x 14 outputs the batched im2col
// wins). 16 GEMMs of (K/G x C/G) by (C/G x T tiles) replace one of (K/G x 9 C/G) by
// (9 C/G x 4 T outputs), 2.25x fewer multiply-adds. Transformed filters U[g][e] (K/G x C/G)
// are computed once per call.
bool winograd_applies(const ConvKernels& k, const Conv2dShape& s) {
  return k.winograd_input && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 &&
         s.dil_w == 1 && s.C / s.groups >= 8 && s.K / s.groups >= 8 && s.P * s.Q >= 196;
}

void winograd_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                      const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, hw = s.H * s.W, pq = s.P * s.Q;
  const index_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2);
  // U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  std::vector<float> U(static_cast<size_t>(s.groups * 16 * Kg * Cg));
  parallel_for(0, s.K, task_grain(Cg * 64), [&](index_t lo, index_t hi) {
    for (index_t kk = lo; kk < hi; ++kk)
      for (index_t c = 0; c < Cg; ++c) {
        const float* g = w + (kk * Cg + c) * 9;
        float gg[4][3];  // G g
        for (index_t j = 0; j < 3; ++j) {
          gg[0][j] = g[j];
          gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          gg[3][j] = g[6 + j];
        }
        const index_t grp = kk / Kg, kl = kk % Kg;
        for (index_t u = 0; u < 4; ++u) {
          const float row[4] = {gg[u][0], 0.5f * (gg[u][0] + gg[u][1] + gg[u][2]),
                                0.5f * (gg[u][0] - gg[u][1] + gg[u][2]), gg[u][2]};
          for (index_t v = 0; v < 4; ++v) U[((grp * 16 + u * 4 + v) * Kg + kl) * Cg + c] = row[v];
        }
      }
  });
  const index_t T = std::min(tiles, std::max<index_t>(64, kColFloats / (16 * (Cg + Kg)) / 16 * 16));
  const index_t blocks = (tiles + T - 1) / T, per_image = s.groups * blocks;
  run_tasks(
      s.N * per_image, 16 * Kg * Cg * T, 16 * (Cg + Kg) * T + winograd_pad_floats(s), [&](index_t task, float* buf) {
        const index_t n = task / per_image, grp = task % per_image / blocks, t0 = task % blocks * T;
        const index_t tb = std::min(T, tiles - t0);
        float* v = buf;
        float* m = buf + 16 * Cg * tb;
        k.winograd_input(v, buf + 16 * (Cg + Kg) * tb, x + (n * s.C + grp * Cg) * hw, s, Cg, t0, tb);
        sgemm_batched(16, m, tb, Kg * tb, U.data() + grp * 16 * Kg * Cg, Cg, Kg * Cg, v, tb, Cg * tb,
                      {Kg, tb, Cg});
        k.winograd_output(y + (n * s.K + grp * Kg) * pq, m, bias ? bias + grp * Kg : nullptr, s, Kg, t0, tb);
      });
}

// Winograd weight gradient (same layers as winograd_forward): y = A^T (U . V) A is linear in
// U, so dU[e] = sum over tiles of (A dy A^T)[e] V[e] (16 GEMMs per block, accumulated), and
// dw = G^T dU G. Per-thread dU copies are summed at the end, in a fixed order.
void winograd_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                              const Conv2dShape& s) {
  const index_t Cg = s.C / s.groups, Kg = s.K / s.groups, hw = s.H * s.W, pq = s.P * s.Q;
  const index_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2), usize = s.groups * 16 * Kg * Cg;
  const index_t T = std::min(tiles, std::max<index_t>(64, kColFloats / (16 * (Cg + Kg)) / 16 * 16));
  const index_t blocks = (tiles + T - 1) / T, per_image = s.groups * blocks, tasks = s.N * per_image;
  GemmOptions opt;
  opt.trans_b = true;
  opt.beta = 1.0f;
  const std::vector<const float*> parts = run_reduce_tasks(
      tasks, 16 * Kg * Cg * T, 16 * (Cg + Kg) * T + winograd_pad_floats(s), usize, [&](index_t task, float* buf, float* part) {
        const index_t n = task / per_image, grp = task % per_image / blocks, t0 = task % blocks * T;
        const index_t tb = std::min(T, tiles - t0);
        float* v = buf;
        float* g = buf + 16 * Cg * tb;
        k.winograd_input(v, buf + 16 * (Cg + Kg) * tb, x + (n * s.C + grp * Cg) * hw, s, Cg, t0, tb);
        k.winograd_grad_output(g, dy + (n * s.K + grp * Kg) * pq, s, Kg, t0, tb);
        sgemm_batched(16, part + grp * 16 * Kg * Cg, Cg, Kg * Cg, g, tb, Kg * tb, v, tb, Cg * tb, {Kg, Cg, tb},
                      opt);
      });
  std::vector<float> dU(static_cast<size_t>(usize), 0.0f);
  for (const float* part : parts)
    for (index_t i = 0; i < usize; ++i) dU[i] += part[i];
  // dw = G^T dU G, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  for (index_t kk = 0; kk < s.K; ++kk)
    for (index_t c = 0; c < Cg; ++c) {
      const index_t grp = kk / Kg, kl = kk % Kg;
      float d[4][4], z[3][4];
      for (index_t e = 0; e < 16; ++e) d[e / 4][e % 4] = dU[((grp * 16 + e) * Kg + kl) * Cg + c];
      for (index_t v = 0; v < 4; ++v) {
        z[0][v] = d[0][v] + 0.5f * (d[1][v] + d[2][v]);
        z[1][v] = 0.5f * (d[1][v] - d[2][v]);
        z[2][v] = 0.5f * (d[1][v] + d[2][v]) + d[3][v];
      }
      float* out = dw + (kk * Cg + c) * 9;
      for (index_t r = 0; r < 3; ++r) {
        out[r * 3 + 0] = z[r][0] + 0.5f * (z[r][1] + z[r][2]);
        out[r * 3 + 1] = 0.5f * (z[r][1] - z[r][2]);
        out[r * 3 + 2] = 0.5f * (z[r][1] + z[r][2]) + z[r][3];
      }
    }
}

}  // namespace fl::conv_detail
