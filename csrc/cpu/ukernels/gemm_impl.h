// GEMM micro-kernels and packing routines written once against the Vec interface
// (ukernels/avx2/vec_avx2.h, ukernels/avx512/vec_avx512.h) and instantiated per ISA in
// ukernels/<isa>/gemm_<isa>.cpp. Include only inside an anonymous namespace, after the ISA's
// Vec header. The contract of a micro-kernel is written at the top of ops/gemm.h.
//
// A tile keeps ROWS x NV vectors of C in registers (ROWS <= MR, NV <= NR / W). Each k step
// loads NV vectors of one B row and broadcasts ROWS values of one A column, then issues
// ROWS * NV independent FMAs: full tiles have 12 (AVX2) or 24 (AVX-512) chains, more than the
// 8 that hide a 4-cycle FMA latency on two FMA pipes. Edge tiles run the instantiation with
// exactly the rows and vectors they need; the last vector of a row is masked.
#pragma once
#include <array>
#include <utility>

#include "ops/gemm.h"

namespace gemm {
using fl::index_t;

enum class Mode { packed, packed_b, direct, direct_masked };

// The walk of ep.prefetch that a tile with B packed runs, one line per group of four k steps:
// `left` lines, `row_lines` of them from each row, rows `ld` floats apart.
struct PrefetchWalk {
  const float* p;
  index_t left, col, row_lines, ld;
  void next() {
    if (left > 0) {
      __builtin_prefetch(p + col * 16, 0, 2);
      --left;
      if (++col == row_lines) col = 0, p += ld;
    }
  }
};

// Groups of four k steps of a ROWS x NV tile with B packed (kPackedB: NR-wide panel) or in place
// (rows rb apart, full vectors), and A packed (kPackedA, stride MR) or in place along its rows
// (row stride ra), accumulating into acc: an ISA specialises it with a hand-scheduled version
// (ukernels/avx2/gemm_step4_avx2.h, ukernels/avx512/gemm_step4_avx512.h); elsewhere the generic step loop runs.
template <class V, int ROWS, int NV, bool kPackedA, bool kPackedB>
struct Step4 {
  static constexpr bool available = false;
  // loop(groups, a, ra, b, rb, acc, walk): groups x 4 steps, a and b advanced past them, one
  // line of the walk fetched before each group.
  template <class Acc>
  static void loop(index_t, const float*&, index_t, const float*&, index_t, Acc&, PrefetchWalk&) {}
};

// The epilogue of a tile whose C is stored transposed (ep.trans_c: c(i, j) at c[j * ldc + i], the
// product C^T = B A^T run for C = A B^T, cpu/gemm.cpp): t holds alpha * acc (the tile stores it
// there: passing acc itself would take its address, and GCC then keeps the accumulators of
// every tile in memory), then 8 x 8 transposes (AVX, on both ISAs) give each row of C its ROWS
// contiguous floats, with beta, bias and relu on those 8-float rows (masked to ROWS lanes) as
// the contract says. Rows past ROWS of a transpose are copies of row 0, never stored.
template <int ROWS, int TW>
void store_transposed(const float (&t)[ROWS][TW], index_t nr, float* c, index_t ldc, const fl::GemmTileEpilogue& ep) {
  static_assert(ROWS <= 8 && TW % 8 == 0, "store_transposed: at most 8 rows, whole groups of 8 columns");
  const bool last = ep.last, relu = last && ep.relu, beta_on = ep.beta != 0.0f;
  const float* const bias_col = last ? ep.bias_col : nullptr;
  const __m256 beta = _mm256_set1_ps(ep.beta), zero = _mm256_setzero_ps();
  const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(ROWS), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  alignas(32) float brow[8] = {};
  if (last && ep.bias_row)
    for (int i = 0; i < ROWS; ++i) brow[i] = ep.bias_row[i];
  const __m256 bias_r = _mm256_load_ps(brow);
  const bool bias_on = last && (ep.bias_row || ep.bias_col);
  alignas(32) float u[8][8];
  for (index_t j0 = 0; j0 < nr; j0 += 8) {
    const float* src[8];
    for (int i = 0; i < 8; ++i) src[i] = t[i < ROWS ? i : 0] + j0;
    transpose_8x8(&u[0][0], 8, src);  // u[r][i] = t[i][j0 + r]
    const index_t rows = nr - j0 < 8 ? nr - j0 : 8;
    for (index_t r = 0; r < rows; ++r) {
      float* cj = c + (j0 + r) * ldc;
      __m256 v = _mm256_load_ps(u[r]);
      if (beta_on) v = _mm256_fmadd_ps(beta, ROWS == 8 ? _mm256_loadu_ps(cj) : _mm256_maskload_ps(cj, lanes), v);
      if (bias_on) v = _mm256_add_ps(v, bias_col ? _mm256_add_ps(bias_r, _mm256_set1_ps(bias_col[j0 + r])) : bias_r);
      if (relu) v = _mm256_max_ps(zero, v);  // NaN in v passes through
      if (ROWS == 8) _mm256_storeu_ps(cj, v);
      else _mm256_maskstore_ps(cj, lanes, v);
    }
  }
}

// One tile: see the file comment. Mode::packed: a is an MR-wide packed panel (a(i, p) at
// p * MR + i) and b an NR-wide padded panel (b(p, j) at p * NR + j); Mode::packed_b: b packed
// so, a in place at the caller's strides. Mode::direct*: the
// caller's strides; direct_masked reads only nr floats of each B row.
template <class V, int MR, int NR, int ROWS, int NV, Mode kMode>
void tile(index_t kc, const float* a, index_t rs_a, index_t cs_a, const float* b, index_t rs_b, index_t nr,
          float* c, index_t ldc, const fl::GemmTileEpilogue& ep) {
  constexpr int W = V::width;
  constexpr bool kPackedA = kMode == Mode::packed;
  constexpr bool kPacked = kPackedA || kMode == Mode::packed_b;  // B is a packed panel
  // packed_b reads A in place along its rows (cs_a == 1, ops/gemm.h).
  const index_t ra = kPackedA ? 1 : rs_a, ca = kPackedA ? MR : kPacked ? 1 : cs_a, rb = kPacked ? NR : rs_b;
  const index_t tail = nr - (NV - 1) * W;  // lanes of the last vector, 1..W
  // The epilogue's fields in registers: stores to C could alias ep, which would make the
  // compiler reload them for every vector.
  const float alpha_s = ep.alpha, beta_s = ep.beta;
  const float* const bias_col = ep.bias_col;
  const float* const bias_row = ep.bias_row;
  const bool last = ep.last, relu = ep.relu;
  PrefetchWalk walk{ep.prefetch, kPacked ? ep.prefetch_lines : 0, 0, ep.prefetch_lines_per_row, ep.prefetch_ld};
  // C's tile is read or written only after the k loop: fetch its lines now. A packed tile runs
  // a long k loop on a C that is usually out of cache, so every line of it (NV per row, one
  // more when the row is not 64-byte aligned); a direct tile's C is small and cached, so the
  // first line of each row.
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    if (kPacked) {
#pragma GCC unroll 4
      for (int j = 1; j < NV; ++j) __builtin_prefetch(c + i * ldc + j * W, 1, 3);
      __builtin_prefetch(c + i * ldc + nr - 1, 1, 3);
    }
  }
  V acc[ROWS][NV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  // One k step: NV loads of B, ROWS broadcasts of A, ROWS * NV FMAs.
  auto step = [&]() {
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      bv[j] = (kMode == Mode::direct_masked && j == NV - 1) ? V::load_n(b + j * W, tail) : V::load(b + j * W);
    if (kPacked) __builtin_prefetch(b + 8 * NR, 0, 3);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
      const V av = V::set1(a[i * ra]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
    }
    a += ca;
    b += rb;
  };
  index_t p = 0;
  if constexpr (kPacked) {
    // One line of the ep.prefetch walk every four k steps; the ISA's hand-scheduled loop of
    // four-step groups (Step4) where it has one for this tile.
    using S4 = Step4<V, ROWS, NV, kPackedA, true>;
    if constexpr (S4::available) {
      S4::loop(kc / 4, a, ra, b, NR, acc, walk);
      p = kc / 4 * 4;
    } else {  // one step an iteration (unrolled by the compiler it spilled, see Step4)
      for (; p < kc; ++p) {
        if ((p & 3) == 0) walk.next();
        step();
      }
    }
  }
  if constexpr (kMode == Mode::direct) {
    using S4 = Step4<V, ROWS, NV, false, false>;
    if constexpr (S4::available) {
      if (ca == 1) {  // A in place along its rows (not transposed)
        S4::loop(kc / 4, a, ra, b, rb, acc, walk);  // walk.left is 0: no prefetches
        p = kc / 4 * 4;
      }
    }
  }
  for (; p < kc; ++p) step();
  const V alpha = V::set1(alpha_s), beta = V::set1(beta_s);
  const bool partial = tail < W;
  if (ep.trans_c) {
    alignas(64) float t[ROWS][NV * W];
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) V::store(t[i] + j * W, acc[i][j] * alpha);
    store_transposed<ROWS, NV * W>(t, nr, c, ldc, ep);
    return;
  }
  // Fully unrolled, so that acc stays in registers (GCC otherwise keeps a copy of the array on
  // the stack and may store to it in the k loop).
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const bool masked = partial && j == NV - 1;
      V r = acc[i][j] * alpha;
      if (beta_s != 0.0f) r = V::fmadd(beta, masked ? V::load_n(ci + j * W, tail) : V::load(ci + j * W), r);
      if (last) {
        if (bias_col) r = r + (masked ? V::load_n(bias_col + j * W, tail) : V::load(bias_col + j * W));
        if (bias_row) r = r + V::set1(bias_row[i]);
        if (relu) r = V::max(V::zero(), r);  // NaN in r passes through
      }
      if (masked) V::store_n(ci + j * W, r, tail);
      else V::store(ci + j * W, r);
    }
  }
}

using TileFn = void (*)(index_t kc, const float* a, index_t rs_a, index_t cs_a, const float* b, index_t rs_b,
                        index_t nr, float* c, index_t ldc, const fl::GemmTileEpilogue& ep);

// Tables of tile instantiations indexed by (rows - 1) * NV_MAX + (nv - 1).
template <class V, int MR, int NR, Mode kMode>
struct TileTable {
  static constexpr int NVMAX = NR / V::width;
  template <size_t... I>
  static constexpr std::array<TileFn, sizeof...(I)> make(std::index_sequence<I...>) {
    return {&tile<V, MR, NR, static_cast<int>(I) / NVMAX + 1, static_cast<int>(I) % NVMAX + 1, kMode>...};
  }
  static constexpr std::array<TileFn, MR * NVMAX> fns = make(std::make_index_sequence<MR * NVMAX>());
};

// The micro-kernel entry of the table (GemmUkernelFn): picks the exact-size instantiation.
template <class V, int MR, int NR>
void ukernel(index_t mr, index_t nr, index_t kc, const float* a, index_t rs_a, index_t cs_a, const float* b,
             index_t rs_b, fl::GemmPacking packing, float* c, index_t ldc, const fl::GemmTileEpilogue& ep) {
  constexpr int W = V::width, NVMAX = NR / W;
  const index_t nv = (nr + W - 1) / W;
  const index_t idx = (mr - 1) * NVMAX + (nv - 1);
  TileFn f;
  if (packing == fl::GemmPacking::both) f = TileTable<V, MR, NR, Mode::packed>::fns[idx];
  else if (packing == fl::GemmPacking::b_only) f = TileTable<V, MR, NR, Mode::packed_b>::fns[idx];
  else if (nr % W) f = TileTable<V, MR, NR, Mode::direct_masked>::fns[idx];
  else f = TileTable<V, MR, NR, Mode::direct>::fns[idx];
  f(kc, a, rs_a, cs_a, b, rs_b, nr, c, ldc, ep);
}

// dst[p * P + i] = src[i][p] for p < kc, i < P (P a multiple of 8), and 0 for rows i >= n
// (src[i] must still be readable there). Rows go in groups of 8 through 8 x 8 transposes when
// the whole group is below n. K runs in chunks of 64, and within a chunk one group of rows at a
// time: the chunk of dst (12 KiB at P = 48) stays in L1, and only 8 source rows are live at
// once, so rows a multiple of 4 KiB apart (ldb = 1024) do not evict each other from one L1 set,
// as 48 rows at once did.
// Rows from `used` on (a multiple of 8, default P) are not written at all: the tiles of a
// narrow B panel read only its first round_up(n, width) columns (pack_b).
template <int P>
void transpose_panel(float* dst, const float* const* src, index_t n, index_t kc, index_t used = P) {
  static_assert(P % 8 == 0, "transpose_panel: whole groups of 8 rows");
  constexpr index_t kChunk = 64;
  const index_t k8 = kc / 8 * 8;
  for (index_t p0 = 0; p0 < k8; p0 += kChunk) {
    const index_t p1 = p0 + kChunk < k8 ? p0 + kChunk : k8;
    for (int i = 0; i < used; i += 8) {
      if (i + 8 <= n) {
        const float* rows[8];
        for (int r = 0; r < 8; ++r) rows[r] = src[i + r] + p0;
        for (index_t p = p0; p < p1; p += 8) {
          transpose_8x8(dst + p * P + i, P, rows);
          for (int r = 0; r < 8; ++r) rows[r] += 8;
        }
      } else if (i >= n) {  // padding only: vector zeros (the swapped linear's x^T of 9-16 rows
        // in a 48-float panel: M = 9 1.094x, 16 1.077x against scalar zeros, 2 threads)
        for (index_t p = p0; p < p1; ++p) _mm256_storeu_ps(dst + p * P + i, _mm256_setzero_ps());
      } else {
        for (index_t p = p0; p < p1; ++p)
          for (int r = i; r < i + 8; ++r) dst[p * P + r] = r < n ? src[r][p] : 0.0f;
      }
    }
  }
  for (index_t p = k8; p < kc; ++p)
    for (index_t i = 0; i < used; ++i) dst[p * P + i] = i < n ? src[i][p] : 0.0f;
}

// GemmPackAFn: MR-row panels of transposed A (a(i, p) = a[p * lda + i]) for [0:mc, 0:kc],
// a(i, p) at p * MR + i, rows zero-padded. Row p of the source holds MR floats of every panel:
// groups of kRows source rows are read whole, each panel receiving kRows * MR contiguous floats.
// (A with contiguous rows is not packed: the micro-kernel reads it in place, cpu/gemm.cpp.)
template <class V, int MR>
void pack_a(float* dst, const float* a, index_t lda, index_t mc, index_t kc) {
  constexpr index_t kRows = 8;
  const index_t full = mc / MR * MR;
  for (index_t p0 = 0; p0 < kc; p0 += kRows) {
    const index_t p1 = p0 + kRows < kc ? p0 + kRows : kc;
    float* d = dst + p0 * MR;
    for (index_t i0 = 0; i0 < full; i0 += MR, d += MR * kc)
      for (index_t p = p0; p < p1; ++p) __builtin_memcpy(d + (p - p0) * MR, a + p * lda + i0, MR * sizeof(float));
    if (full < mc) {
      for (index_t p = p0; p < p1; ++p)
        for (index_t i = 0; i < MR; ++i) d[(p - p0) * MR + i] = full + i < mc ? a[p * lda + full + i] : 0.0f;
    }
  }
}

// GemmPackAFn for A with contiguous rows (a(i, p) = a[i * lda + p]): MR-row panels, a(i, p) at
// p * MR + i, rows zero-padded. With MR a multiple of 8, by 8 x 8 transposes (transpose_panel).
template <class V, int MR>
void pack_a_rows(float* dst, const float* a, index_t lda, index_t mc, index_t kc) {
  for (index_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const index_t rows = mc - i0 < MR ? mc - i0 : MR;
    const float* r[MR];
    for (int i = 0; i < MR; ++i) r[i] = a + (i0 + (i < rows ? i : 0)) * lda;
    if constexpr (MR % 8 == 0) {  // 8 x 8 transposes (AVX-512's MR = 8)
      transpose_panel<MR>(dst, r, rows, kc);
    } else if (rows == MR) {
      for (index_t p = 0; p < kc; ++p)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = r[i][p];
    } else {
      for (index_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = i < rows ? r[i][p] : 0.0f;
    }
  }
}

// GemmPackBFn: NR-column panels of op(B)[0:kc, 0:nc], b(p, j) at p * NR + j, columns zero-padded
// to whole vectors (transposed B: the vectors past the last column of a panel are not written).
template <class V, int NR>
void pack_b(float* dst, const float* b, index_t ldb, bool trans, index_t kc, index_t nc) {
  constexpr int W = V::width;
  if (!trans) {  // rows of B: vector copies, the last one masked
    // Groups of kRows rows of B, each copied whole into every panel: the reads run along rows
    // (kRows sequential streams the prefetcher follows), not down a column of rows ldb apart.
    constexpr index_t kRows = 8;
    for (index_t p0 = 0; p0 < kc; p0 += kRows) {
      const index_t p1 = p0 + kRows < kc ? p0 + kRows : kc;
      float* dj = dst;
      for (index_t j0 = 0; j0 < nc; j0 += NR, dj += NR * kc) {
        const index_t cols = nc - j0 < NR ? nc - j0 : NR;
        for (index_t p = p0; p < p1; ++p) {
          const float* src = b + p * ldb + j0;
          float* d = dj + p * NR;
          if (cols == NR) {
#pragma GCC unroll 4
            for (int j = 0; j < NR; j += W) V::store(d + j, V::load(src + j));
          } else {
            for (int j = 0; j < NR; j += W) {
              const index_t n = cols - j;
              V::store(d + j, n >= W ? V::load(src + j) : n > 0 ? V::load_n(src + j, n) : V::zero());
            }
          }
        }
      }
    }
    return;
  }
  for (index_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    const index_t cols = nc - j0 < NR ? nc - j0 : NR;
    {  // b(p, j) = b[j * ldb + p]: a transpose of kc x cols
      const float* src[NR];
      for (index_t j = 0; j < NR; ++j) src[j] = b + (j0 + (j < cols ? j : 0)) * ldb;
      // Only the whole vectors that hold columns: a tile reads ceil(cols / W) of them, and a
      // lane past cols only ever feeds a column of C that is not stored (swapped linear, 9-16
      // rows of x in a 48-float panel: M = 9 and 16 1.05x, 12x1024x1024 1.03x, 2 threads).
      transpose_panel<NR>(dst, src, cols, kc, (cols + W - 1) / W * W);
    }
  }
}

// GemmDotFn: C = alpha * A B^T (+ epilogue) with both operands contiguous along K, for a few
// rows of A (m <= kDotRows): vector accumulators run along K for kDotRows x 4 (row, column)
// pairs, reduced horizontally at the end. The K tail is a masked load; a column group past n
// re-reads column n - 1 and is not stored.
constexpr int kDotRows = 4;

template <class V, int R>
void dot_rows(index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb, float* c,
              index_t ldc, const fl::GemmTileEpilogue& ep) {
  constexpr int W = V::width, CB = 4;
  const index_t kt = k % W, kv = k - kt;
  for (index_t j0 = 0; j0 < n; j0 += CB) {
    const float* bj[CB];
#pragma GCC unroll 4
    for (int q = 0; q < CB; ++q) bj[q] = b + (j0 + q < n ? j0 + q : n - 1) * ldb;
    V acc[R][CB];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < CB; ++q) acc[i][q] = V::zero();
    auto step = [&](index_t p, bool tail) {
      V bv[CB];
#pragma GCC unroll 4
      for (int q = 0; q < CB; ++q) bv[q] = tail ? V::load_n(bj[q] + p, kt) : V::load(bj[q] + p);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        const V av = tail ? V::load_n(a + i * lda + p, kt) : V::load(a + i * lda + p);
#pragma GCC unroll 4
        for (int q = 0; q < CB; ++q) acc[i][q] = V::fmadd(av, bv[q], acc[i][q]);
      }
    };
    for (index_t p = 0; p < kv; p += W) step(p, false);
    if (kt) step(kv, true);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < CB; ++q) {
        if (j0 + q >= n) break;
        float* cij = c + i * ldc + j0 + q;
        float v = ep.alpha * V::hsum(acc[i][q]);
        if (ep.beta != 0.0f) v += ep.beta * *cij;
        if (ep.bias_col) v += ep.bias_col[j0 + q];
        if (ep.bias_row) v += ep.bias_row[i];
        if (ep.relu && v < 0.0f) v = 0.0f;  // NaN stays NaN
        *cij = v;
      }
  }
}

template <class V>
void dot(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb, float* c,
         index_t ldc, const fl::GemmTileEpilogue& ep) {
  switch (m) {
    case 1: dot_rows<V, 1>(n, k, a, lda, b, ldb, c, ldc, ep); break;
    case 2: dot_rows<V, 2>(n, k, a, lda, b, ldb, c, ldc, ep); break;
    case 3: dot_rows<V, 3>(n, k, a, lda, b, ldb, c, ldc, ep); break;
    default: dot_rows<V, 4>(n, k, a, lda, b, ldb, c, ldc, ep); break;
  }
}

// Fills the table entries of one ISA with an MR x NR kernel and its cache blocks, and the
// optional wide direct-path tile (WIDE_MR x WIDE_NR; none when WIDE_MR == 0).
template <class V, int MR, int NR, int WIDE_MR = 0, int WIDE_NR = 0>
void register_kernels(fl::GemmKernels& t, index_t mc, index_t kc, index_t nc) {
  t.ukernel = &ukernel<V, MR, NR>;
  if constexpr (WIDE_MR > 0) {
    t.ukernel_wide = &ukernel<V, WIDE_MR, WIDE_NR>;
  } else {
    t.ukernel_wide = nullptr;
  }
  t.wide_mr = WIDE_MR;
  t.wide_nr = WIDE_NR;
  t.pack_a = &pack_a<V, MR>;
  t.pack_a_rows = &pack_a_rows<V, MR>;
  t.pack_b = &pack_b<V, NR>;
  t.dot = &dot<V>;
  t.dot_rows = kDotRows;
  t.mr = MR;
  t.nr = NR;
  t.vw = V::width;
  t.mc = mc;
  t.kc = kc;
  t.nc = nc;
}

}  // namespace gemm
