// The GEMM family: single-precision C = alpha * op(A) * op(B) + beta * C with a fused
// epilogue (bias per column or per row, then an activation), on row-major matrices.
// The driver (gemm.cpp) follows Goto/BLIS: pack panels of A and B into aligned per-thread
// buffers, block for the caches (MC, KC, NC from the table), and call a register-blocked
// micro-kernel per MR x NR tile. Products whose operands fit the caches as they are take a
// direct path without packing, and A B^T with a few rows of A a dot-product path.
//
// Legend: C is M x N, op(A) is M x K, op(B) is K x N (core/tensor.h).
//   A not transposed: a(i, k) = A[i * lda + k]      transposed: a(i, k) = A[k * lda + i]
//   B not transposed: b(k, j) = B[k * ldb + j]      transposed: b(k, j) = B[j * ldb + k]
//   C: c(i, j) = C[i * ldc + j]
//
// ---- micro-kernel contract (GemmUkernelFn; implementations in ukernels/<isa>/gemm_*.cpp) ----
// Computes one tile of at most MR x NR elements of C:
//   acc(i, j) = sum_{p < kc} a[i * rs_a + p * cs_a] * b[p * rs_b + j]    i < mr, j < nr
//   c(i, j)   = alpha * acc(i, j) + (beta == 0 ? 0 : beta * c(i, j))   (C not read when beta == 0,
//               so NaN or garbage in C is ignored, as BLAS does)
//   then, when ep.last: c(i, j) += bias (ep.bias_col[j] or ep.bias_row[i] when non-null),
//               and c(i, j) = max(c(i, j), 0) when ep.relu (NaN stays NaN).
// - packing == both: a and b are panels written by pack_a / pack_b: a(i, p) at a[p * MR + i],
//   b(p, j) at b[p * NR + j], zero-padded to whole panels, b 64-byte aligned; the strides
//   passed are then (1, MR) and NR. Full vectors of B are read, ceil(nr / vw) of them a step
//   (pack_b of transposed B writes only those: a narrow panel's later vectors hold anything).
// - packing == b_only: b is such a panel (stride NR), a is read in place along its rows:
//   cs_a must be 1 (it is not read), rs_a any.
// - packing == none (the direct path): the caller's matrices in place, any (rs_a, cs_a), e.g.
//   (lda, 1) or (1, lda); rows of B contiguous along j, rs_b apart, and only nr floats of each
//   row are read (the last vector is a masked load), so nothing past the matrix is touched.
// - With b packed (both, b_only), the tile also prefetches min(ep.prefetch_lines, kc / 4)
//   lines into L2, one every 4 k steps, walking ep.prefetch_lines_per_row lines of each row and
//   rows ep.prefetch_ld floats apart from ep.prefetch (a hint only: nothing there is read, any
//   address is allowed).
// - C: written only inside the mr x nr tile (masked stores at the right edge); no alignment.
//   With ep.trans_c the tile is stored transposed, c(i, j) at c[j * ldc + i] (same epilogue).
// - No scalar loop over edges: an edge tile runs the instantiation with exactly mr rows and
//   ceil(nr / W) vectors (W = 8 floats on AVX2, 16 on AVX-512).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"
#include "ops/activation.h"

namespace fl {

struct GemmShape {
  index_t M, N, K;
};

enum class GemmBias : int { none = 0, per_col = 1, per_row = 2 };

// Arithmetic of a product: fp32 (FMA in float32: the CPU always, CUDA cores) or tf32 (CUDA
// tensor cores, inputs rounded to 10-bit mantissas, float32 accumulation; cuda/gemm.cuh).
enum class GemmPrecision : int { fp32 = 0, tf32 = 1 };

// Applied to C after the whole product (alpha, beta included): C = act(C + bias).
struct GemmEpilogue {
  GemmBias bias_mode = GemmBias::none;
  const float* bias = nullptr;  // N floats (per_col: added to every row) or M floats (per_row)
  bool has_act = false;
  ActOp act = ActOp::relu;
  float act_param = 0.0f;       // negative_slope (leaky_relu) or alpha (elu)
};

struct GemmOptions {
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 0.0f;
  GemmEpilogue ep;
};

// What the micro-kernel applies on its tile (see the contract above); pointers are already
// offset to the tile's first row / column.
struct GemmTileEpilogue {
  float alpha, beta;
  const float* bias_col;  // nr floats or null
  const float* bias_row;  // mr floats or null
  bool last;              // the last K block: apply bias and relu
  bool relu;
  // C stored transposed: c(i, j) at c[j * ldc + i] (the tile is C^T's; see sgemm in gemm.cpp).
  bool trans_c = false;
  // Tiles with b packed only: lines of 64 bytes to bring into L2 during the k loop (the next
  // B sliver, or the next block of A, so that they do not arrive from L3 or memory when first
  // used): prefetch_lines lines, prefetch_lines_per_row of them from each row, rows
  // prefetch_ld floats apart.
  const float* prefetch = nullptr;
  index_t prefetch_lines = 0;
  index_t prefetch_lines_per_row = 1;
  index_t prefetch_ld = 16;
};

// Which operands of a micro-kernel call are packed (see the contract above).
enum class GemmPacking : int { none = 0, both = 1, b_only = 2 };

using GemmUkernelFn = void (*)(index_t mr, index_t nr, index_t kc, const float* a, index_t rs_a, index_t cs_a,
                               const float* b, index_t rs_b, GemmPacking packing, float* c, index_t ldc,
                               const GemmTileEpilogue& ep);
// Packs transposed A, a(i, p) = a[p * lda + i] for [0:mc, 0:kc] (a points at its first
// element), into ceil(mc / MR) panels of MR x kc: panel r holds a(r*MR + i, p) at p * MR + i,
// zero-padded. (pack_a_rows: the same panels from A with contiguous rows.)
using GemmPackAFn = void (*)(float* dst, const float* a, index_t lda, index_t mc, index_t kc);
// Packs op(B)[0:kc, 0:nc] into ceil(nc / NR) panels of kc x NR: b(p, r*NR + j) at p * NR + j.
using GemmPackBFn = void (*)(float* dst, const float* b, index_t ldb, bool trans, index_t kc, index_t nc);
// The dot path for A B^T with few rows of A (cpu/ukernels/gemm_impl.h): C[0:m, 0:n] for
// m <= GemmKernels::dot_rows, a(i, p) = a[i * lda + p], b(p, j) = b[j * ldb + p] (both
// contiguous along K); alpha, beta, bias and relu as a micro-kernel's epilogue (ep.last set).
using GemmDotFn = void (*)(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b,
                           index_t ldb, float* c, index_t ldc, const GemmTileEpilogue& ep);
// The whole product with plain loops (the reference; the scalar level runs it).
using SgemmFn = void (*)(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb,
                         GemmShape s, const GemmOptions& opt);

struct GemmKernels {
  SgemmFn reference;        // set at every level
  GemmUkernelFn ukernel;    // null at the scalar level: the driver then runs `reference`
  GemmPackAFn pack_a;
  // A with contiguous rows (a(i, p) = a[i * lda + p]) into the same panels; the driver packs it
  // (see packs_a in gemm.cpp) on the per-thread block path when lda is a multiple of
  // pack_rows_lda_blocks (0: no stride is), or at any lda when pack_rows_blocks, and on the
  // shared-B path by pack_rows_lda_shared and pack_rows_shared; otherwise A is read in place.
  GemmPackAFn pack_a_rows = nullptr;
  index_t pack_rows_lda_blocks = 0, pack_rows_lda_shared = 0;
  bool pack_rows_blocks = false, pack_rows_shared = false;
  // Products of at least this many multiply-adds run the shared-B path (gemm.cpp, run_shared).
  double shared_macs = 512.0 * 1024 * 1024;
  // A B^T with at most this many rows of A (N and K large enough) runs swapped, as C^T = B A^T
  // with its tiles stored transposed (gemm.cpp, use_swap); 0: never.
  index_t swap_max_m = 128;
  // A packed B panel of at most this many floats (kc x nc, padded to whole slivers) is run row
  // tile by row tile, each tile across all of the panel's slivers (its A stays in L1, the panel
  // in L2), instead of sliver by sliver (gemm.cpp, macro_kernel); the per-thread block path cuts
  // its panels to fit (panel_width); 0: never.
  index_t rows_outer_panel = 0;
  // The direct path takes products whose op(A) has at most this many floats (it re-reads A from
  // L2 for every column sliver; see use_direct in gemm.cpp).
  index_t direct_max_a = 64 * 1024;
  GemmPackBFn pack_b;
  GemmDotFn dot;            // null at the scalar level
  index_t dot_rows;
  index_t mr, nr;           // micro-tile
  index_t vw;               // floats per vector: tiles narrower than NR come in steps of vw
  index_t mc, kc, nc;       // cache blocks: A block mc x kc in L2, B panel kc x nc in L3, kc x nr in L1
  // An optional wider tile for the direct path (packed == false only), wide_mr x wide_nr with
  // wide_nr a multiple of vw: the driver uses it when N is a single sliver of it but more than
  // one of NR (AVX-512: 6 x 64, so N = 64 runs one 4-vector sliver rather than two of 2 vectors).
  GemmUkernelFn ukernel_wide = nullptr;
  index_t wide_mr = 0, wide_nr = 0;
};

extern KernelTables<GemmKernels> g_gemm_kernels;
void register_gemm_ref(GemmKernels& t);
void register_gemm_avx2(GemmKernels& t);
void register_gemm_avx512(GemmKernels& t);

void sgemm_ref(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
               const GemmOptions& opt);

// ---- drivers ----
// C[M, N] = epilogue(alpha * op(A) op(B) + beta * C). Threads over tiles of C (never over K).
// Requires lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N; C must not overlap A or B.
void sgemm(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
           const GemmOptions& opt = {});

// `batch` independent products; matrix t starts at c + t * stride_c, a + t * stride_a,
// b + t * stride_b. A stride of 0 broadcasts that operand. Per-row bias is shared by all.
void sgemm_batched(index_t batch, float* c, index_t ldc, index_t stride_c, const float* a, index_t lda,
                   index_t stride_a, const float* b, index_t ldb, index_t stride_b, GemmShape s,
                   const GemmOptions& opt = {});

// How sgemm would run a product at the current ISA level and thread count, for tests and
// benchmarks. path: "reference", "dot" (A B^T with few rows), "direct" (micro-kernel on the
// operands in place), "packed" (Goto loops, one block of C per thread) or "shared" (Goto loops
// on B panels packed by all threads together, row units of C taken from a counter), prefixed
// "swapped-" when A B^T runs as C^T = B A^T (few rows of A); threads used; blocks: the blocks of
// C (one per thread), or the row units of each panel ("shared"), of the product as run.
struct GemmPlan {
  const char* path;
  index_t threads, blocks;
};
GemmPlan sgemm_plan(GemmShape s, const GemmOptions& opt);

}  // namespace fl
