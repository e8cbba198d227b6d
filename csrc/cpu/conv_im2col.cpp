// conv2d by im2col + GEMM, the algorithm every shape can take: im2col of one image (or of
// several small images side by side), one group and one tile of output columns into a
// grow-only per-thread buffer (at most kColFloats floats), then the packed SGEMM of
// ops/gemm.h; at 1 x 1, stride 1, no padding the image is already the column matrix. The whole
// im2col matrix of a batch never exists. Tasks are (image block, group, column tile).
// Backward-input turns the GEMM around (col = W^T dY, then col2im adds into dx); its tasks are
// whole (image, group) pairs because neighbouring tiles add into the same rows of dx.
// Backward-weight accumulates dY col^T into per-thread copies of dW, summed in a fixed order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/conv_algos.h"
#include "ops/gemm.h"

namespace fl::conv_detail {

namespace {

// Below this many outputs per image a forward GEMM per image is too narrow (measured, 16 -> 32
// channels 3x3, one thread: side by side 121 vs 176 us at 4x4, 299 vs 414 us at 8x8, but
// 764 vs 535 us at 14x14). The weight gradient gains nothing from it and keeps one image.
constexpr index_t kSmallImage = 100;

// Work is cut into column blocks: `tile` columns of one image, or, for small images in the
// forward, `nb` whole images side by side, so that the GEMM's N stays wide.
struct Geometry {
  index_t Cg, Kg, crs, hw, pq, tile, tiles, nb, image_blocks;
  bool pointwise;  // 1 x 1, stride 1, no padding: x is the column matrix
};

Geometry geometry(const Conv2dShape& s, bool batch_images = false) {
  Geometry g;
  g.Cg = s.C / s.groups;
  g.Kg = s.K / s.groups;
  g.crs = g.Cg * s.R * s.S;
  g.hw = s.H * s.W;
  g.pq = s.P * s.Q;
  g.pointwise = is_pointwise(s);
  index_t t = kColFloats / std::max<index_t>(g.crs, 1);
  t = std::max<index_t>(64, t / 64 * 64);
  g.tile = std::max<index_t>(1, std::min(t, g.pq));
  g.tiles = (g.pq + g.tile - 1) / g.tile;
  // Images of fewer than kSmallImage outputs go side by side, as many as the tile holds while
  // leaving a block per thread.
  const index_t per_thread = (s.N + get_num_threads() - 1) / get_num_threads();
  g.nb = batch_images && g.pq > 0 && g.pq < kSmallImage ? std::max<index_t>(1, std::min({per_thread, t / g.pq})) : 1;
  g.image_blocks = (s.N + g.nb - 1) / g.nb;
  return g;
}

// The input columns iw = q * stride + off, for q in [q0, q1), that fall inside [0, W):
// [*qa, *qb) with q0 <= qa <= qb <= q1.
inline void valid_cols(index_t q0, index_t q1, index_t off, index_t stride, index_t W, index_t* qa, index_t* qb) {
  index_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  index_t b = W - off <= 0 ? 0 : (W - off + stride - 1) / stride;
  *qa = std::min(std::max(a, q0), q1);
  *qb = std::max(std::min(b, q1), *qa);
}

// Calls f(dst_row, p, q0, q1, h, off) for every row segment of column tile [j0, j1) of the
// im2col matrix of Cg input planes, whose rows are ld floats apart: dst_row points at col
// element (row (c, r, t), j = p Q + q0); h is the input row (or -1 when outside), off the
// input column of q = 0.
template <class F>
void for_each_segment(float* col, index_t ld, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1, const F& f) {
  for (index_t c = 0; c < Cg; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * ld;
        const index_t off = t * s.dil_w - s.pad_w;
        for (index_t j = j0; j < j1;) {
          const index_t p = j / s.Q, q0 = j % s.Q, q1 = std::min(s.Q, q0 + (j1 - j));
          const index_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
          f(row + (j - j0), c, p, q0, q1, h >= 0 && h < s.H ? h : -1, off);
          j += q1 - q0;
        }
      }
}

// col (crs x (j1 - j0), rows ld apart) = the im2col tile of xg, the Cg planes of one image
// and group.
void im2col(float* col, index_t ld, const float* xg, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1) {
  for_each_segment(col, ld, s, Cg, j0, j1, [&](float* dst, index_t c, index_t, index_t q0, index_t q1, index_t h,
                                           index_t off) {
    if (h < 0) {
      std::memset(dst, 0, sizeof(float) * static_cast<size_t>(q1 - q0));
      return;
    }
    index_t qa, qb;
    valid_cols(q0, q1, off, s.stride_w, s.W, &qa, &qb);
    const float* src = xg + c * s.H * s.W + h * s.W + off;
    for (index_t q = q0; q < qa; ++q) dst[q - q0] = 0.0f;
    if (s.stride_w == 1) {
      std::memcpy(dst + (qa - q0), src + qa, sizeof(float) * static_cast<size_t>(qb - qa));
    } else {
      for (index_t q = qa; q < qb; ++q) dst[q - q0] = src[q * s.stride_w];
    }
    for (index_t q = qb; q < q1; ++q) dst[q - q0] = 0.0f;
  });
}

// dxg += col2im(col): the adjoint of im2col.
void col2im(float* dxg, const float* col, const Conv2dShape& s, index_t Cg, index_t j0, index_t j1) {
  for_each_segment(const_cast<float*>(col), j1 - j0, s, Cg, j0, j1,
                   [&](float* src, index_t c, index_t, index_t q0, index_t q1, index_t h, index_t off) {
                     if (h < 0) return;
                     index_t qa, qb;
                     valid_cols(q0, q1, off, s.stride_w, s.W, &qa, &qb);
                     float* dst = dxg + c * s.H * s.W + h * s.W + off;
                     for (index_t q = qa; q < qb; ++q) dst[q * s.stride_w] += src[q - q0];
                   });
}

// Task t of a GEMM path: images [n0, n0 + nn), columns [j0, j0 + tq) of each; tasks run
// over (image block, group, column tile).
struct ColumnBlock {
  index_t n0, nn, j0, tq;
};

ColumnBlock column_block(const Geometry& g, const Conv2dShape& s, index_t task) {
  const index_t per_block = s.groups * g.tiles, ib = task / per_block, ti = task % g.tiles;
  ColumnBlock cb;
  cb.n0 = ib * g.nb;
  cb.nn = std::min(g.nb, s.N - cb.n0);
  cb.j0 = ti * g.tile;
  cb.tq = std::min(g.pq, cb.j0 + g.tile) - cb.j0;
  return cb;
}

// The column matrix of one image's block cb (x0: its group's planes), rows *ld floats apart:
// the image itself when pointwise, else its im2col tile, written into col.
const float* tile_columns(float* col, index_t* ld, const float* x0, const Geometry& g, const Conv2dShape& s,
                          const ColumnBlock& cb) {
  if (g.pointwise) {
    *ld = g.hw;
    return x0 + cb.j0;
  }
  im2col(col, cb.tq, x0, s, g.Cg, cb.j0, cb.j0 + cb.tq);
  *ld = cb.tq;
  return col;
}

}  // namespace

void im2col_forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s) {
  const Geometry g = geometry(s, true);
  const index_t per_block = s.groups * g.tiles, cols_max = g.nb * g.tile;
  run_tasks(
      g.image_blocks * per_block, g.Kg * g.crs * cols_max, g.pointwise && g.nb == 1 ? 0 : g.crs * cols_max,
      [&](index_t task, float* col) {
        const ColumnBlock cb = column_block(g, s, task);
        const index_t grp = task % per_block / g.tiles, cols = cb.nn * cb.tq;
        GemmOptions opt;
        if (bias) {
          opt.ep.bias_mode = GemmBias::per_row;
          opt.ep.bias = bias + grp * g.Kg;
        }
        const float* wg = w + grp * g.Kg * g.crs;
        const float* x0 = x + (cb.n0 * s.C + grp * g.Cg) * g.hw;
        if (cb.nn == 1) {
          index_t ldb;
          const float* b = tile_columns(col, &ldb, x0, g, s, cb);
          sgemm(y + (cb.n0 * s.K + grp * g.Kg) * g.pq + cb.j0, g.pq, wg, g.crs, b, ldb, {g.Kg, cb.tq, g.crs}, opt);
          return;
        }
        for (index_t i = 0; i < cb.nn; ++i) im2col(col + i * g.pq, cols, x0 + i * s.C * g.hw, s, g.Cg, 0, g.pq);
        float* out = thread_tmp(g.Kg * cols);
        sgemm(out, cols, wg, g.crs, col, cols, {g.Kg, cols, g.crs}, opt);
        for (index_t i = 0; i < cb.nn; ++i)
          for (index_t k = 0; k < g.Kg; ++k)
            std::memcpy(y + ((cb.n0 + i) * s.K + grp * g.Kg + k) * g.pq, out + k * cols + i * g.pq,
                        sizeof(float) * static_cast<size_t>(g.pq));
      });
}

void im2col_backward_input(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s) {
  const Geometry g = geometry(s);
  GemmOptions tr;
  tr.trans_a = true;
  run_tasks(
      s.N * s.groups, g.Kg * g.crs * g.pq, g.pointwise ? 0 : g.crs * g.tile, [&](index_t task, float* col) {
        const index_t n = task / s.groups, grp = task % s.groups;
        float* dxg = dx + (n * s.C + grp * g.Cg) * g.hw;
        const float* dyg = dy + (n * s.K + grp * g.Kg) * g.pq;
        const float* wg = w + grp * g.Kg * g.crs;
        if (g.pointwise) {
          sgemm(dxg, g.hw, wg, g.crs, dyg, g.pq, {g.Cg, g.pq, g.Kg}, tr);
        } else {
          std::memset(dxg, 0, sizeof(float) * static_cast<size_t>(g.Cg * g.hw));
          for (index_t j0 = 0; j0 < g.pq; j0 += g.tile) {
            const index_t j1 = std::min(g.pq, j0 + g.tile);
            sgemm(col, j1 - j0, wg, g.crs, dyg + j0, g.pq, {g.crs, j1 - j0, g.Kg}, tr);
            col2im(dxg, col, s, g.Cg, j0, j1);
          }
        }
        add_bias_planes(dx, bias, s, n, grp * g.Cg, (grp + 1) * g.Cg);
      });
}

void im2col_backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
  const index_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  const Geometry g = geometry(s);
  const index_t per_block = s.groups * g.tiles, tasks = g.image_blocks * per_block;
  const std::vector<const float*> parts = run_reduce_tasks(
      tasks, g.Kg * g.crs * g.tile, g.pointwise ? 0 : g.crs * g.tile, wsize, [&](index_t task, float* buf, float* acc) {
        const ColumnBlock cb = column_block(g, s, task);
        const index_t grp = task % per_block / g.tiles;
        const float* x0 = x + (cb.n0 * s.C + grp * g.Cg) * g.hw;
        const float* dy0 = dy + (cb.n0 * s.K + grp * g.Kg) * g.pq;
        index_t ldb;
        const float* b = tile_columns(buf, &ldb, x0, g, s, cb);
        GemmOptions opt;
        opt.trans_b = true;
        opt.beta = 1.0f;
        sgemm(acc + grp * g.Kg * g.crs, g.crs, dy0 + cb.j0, g.pq, b, ldb, {g.Kg, g.crs, cb.tq}, opt);
      });
  for (const float* part : parts)
    for (index_t i = 0; i < wsize; ++i) dw[i] += part[i];
}

}  // namespace fl::conv_detail
