// The k loop of the 8-row AVX-512 tiles with B packed (8 x 48, and the 8 x 32 and 8 x 16 tiles:
// 24, 16 or 8 accumulators), in groups of four steps scheduled by hand, as
// ukernels/avx2/gemm_step4_avx2.h does for AVX2: GCC compiles the generic loop of gemm_impl.h one
// step an iteration, its loop test and branches every 24 FMAs.
// One asm statement runs the whole loop (GCC allows 30 operands, and 24 accumulators in and out
// would take 48): the accumulators are loaded from acc into zmm0-23 (0-15, 0-7) and stored back at
// the end, zmm29-31 hold the B vectors of a step and zmm27-28 the broadcasts of A (alternating,
// so that a broadcast need not wait for the FMAs of the one before). Each step prefetches the B
// line 8 steps ahead into L1, as the generic loop does, and each group one line of the tile's
// PrefetchWalk into L2 (walk.next() in asm).
// The narrow tiles matter where N is one or two vectors: the swapped product of linear on a
// small batch (cpu/gemm.cpp, use_swap), whose N is the batch (Xeon VM, against GCC's loop, 2
// threads: linear 16x784x512 1.125x, 32x784x512 1.145x, 64x784x512 1.090x, 16x4096x1024
// 1.073x); as the right edge of wide products they change nothing measurable (square 512 1.006x).
// Include inside the anonymous namespace of ukernels/avx512/gemm_avx512.cpp, after gemm_impl.h.
#pragma once

namespace gemm {

// One row of a step: a broadcast of A into zmm R, then its NV FMAs into the row's accumulators
// (row I of an NV-vector tile owns zmm NV*I .. NV*I + NV - 1).
#define FL_Z4_BC(ADDR, R) "vbroadcastss " ADDR ", %%zmm" #R "\n\t"
#define FL_Z4_FMA(B, R, X) "vfmadd231ps %%zmm" #B ", %%zmm" #R ", %%zmm" #X "\n\t"
#define FL_Z4_ROW3(ADDR, R, X0, X1, X2) FL_Z4_BC(ADDR, R) FL_Z4_FMA(29, R, X0) FL_Z4_FMA(30, R, X1) FL_Z4_FMA(31, R, X2)
#define FL_Z4_ROW2(ADDR, R, X0, X1) FL_Z4_BC(ADDR, R) FL_Z4_FMA(29, R, X0) FL_Z4_FMA(30, R, X1)
#define FL_Z4_ROW1(ADDR, R, X0) FL_Z4_BC(ADDR, R) FL_Z4_FMA(29, R, X0)
// The addresses of A's 8 values at step U. A packed: a(i, p) at a[p * 8 + i].
#define FL_Z4_AP(U, I) "4*(8*" #U "+" #I ")(%[a])"
// A in place along its rows: rows 0-2 from lo, rows 3-5 from hi = lo + 3 ra, rows 6-7 from
// h6 = lo + 6 ra (every address a base + (0, 1 or 2) * stride: scale 4 or 8).
#define FL_Z4_AR0(U) "4*" #U "(%[lo])"
#define FL_Z4_AR1(U) "4*" #U "(%[lo],%[ra],4)"
#define FL_Z4_AR2(U) "4*" #U "(%[lo],%[ra],8)"
#define FL_Z4_AR3(U) "4*" #U "(%[hi])"
#define FL_Z4_AR4(U) "4*" #U "(%[hi],%[ra],4)"
#define FL_Z4_AR5(U) "4*" #U "(%[hi],%[ra],8)"
#define FL_Z4_AR6(U) "4*" #U "(%[h6])"
#define FL_Z4_AR7(U) "4*" #U "(%[h6],%[ra],4)"
// The 8 rows of a step for NV = 3, 2, 1 (broadcasts alternate between zmm27 and zmm28).
#define FL_Z4_ROWS3(A0, A1, A2, A3, A4, A5, A6, A7)                                                 \
  FL_Z4_ROW3(A0, 27, 0, 1, 2) FL_Z4_ROW3(A1, 28, 3, 4, 5) FL_Z4_ROW3(A2, 27, 6, 7, 8)             \
      FL_Z4_ROW3(A3, 28, 9, 10, 11) FL_Z4_ROW3(A4, 27, 12, 13, 14) FL_Z4_ROW3(A5, 28, 15, 16, 17) \
          FL_Z4_ROW3(A6, 27, 18, 19, 20) FL_Z4_ROW3(A7, 28, 21, 22, 23)
#define FL_Z4_ROWS2(A0, A1, A2, A3, A4, A5, A6, A7)                                                  \
  FL_Z4_ROW2(A0, 27, 0, 1) FL_Z4_ROW2(A1, 28, 2, 3) FL_Z4_ROW2(A2, 27, 4, 5) FL_Z4_ROW2(A3, 28, 6, 7) \
      FL_Z4_ROW2(A4, 27, 8, 9) FL_Z4_ROW2(A5, 28, 10, 11) FL_Z4_ROW2(A6, 27, 12, 13)                 \
          FL_Z4_ROW2(A7, 28, 14, 15)
#define FL_Z4_ROWS1(A0, A1, A2, A3, A4, A5, A6, A7)                                        \
  FL_Z4_ROW1(A0, 27, 0) FL_Z4_ROW1(A1, 28, 1) FL_Z4_ROW1(A2, 27, 2) FL_Z4_ROW1(A3, 28, 3) \
      FL_Z4_ROW1(A4, 27, 4) FL_Z4_ROW1(A5, 28, 5) FL_Z4_ROW1(A6, 27, 6) FL_Z4_ROW1(A7, 28, 7)
#define FL_Z4_PACKED(NV, U)                                                                        \
  FL_Z4_ROWS##NV(FL_Z4_AP(U, 0), FL_Z4_AP(U, 1), FL_Z4_AP(U, 2), FL_Z4_AP(U, 3), FL_Z4_AP(U, 4), \
                 FL_Z4_AP(U, 5), FL_Z4_AP(U, 6), FL_Z4_AP(U, 7))
#define FL_Z4_INPLACE(NV, U)                                                                         \
  FL_Z4_ROWS##NV(FL_Z4_AR0(U), FL_Z4_AR1(U), FL_Z4_AR2(U), FL_Z4_AR3(U), FL_Z4_AR4(U), FL_Z4_AR5(U), \
                 FL_Z4_AR6(U), FL_Z4_AR7(U))
// B packed: b(p, j) at b[p * 48 + j] (the first NV of its 3 vectors read), and a line 8 steps
// ahead prefetched.
#define FL_Z4_BV(U, J, R) "vmovups 192*" #U "+64*" #J "(%[b]), %%zmm" #R "\n\t"
#define FL_Z4_BPF(U) "prefetcht0 192*" #U "+1536(%[b])\n\t"
#define FL_Z4_B3(U) FL_Z4_BV(U, 0, 29) FL_Z4_BV(U, 1, 30) FL_Z4_BV(U, 2, 31) FL_Z4_BPF(U)
#define FL_Z4_B2(U) FL_Z4_BV(U, 0, 29) FL_Z4_BV(U, 1, 30) FL_Z4_BPF(U)
#define FL_Z4_B1(U) FL_Z4_BV(U, 0, 29) FL_Z4_BPF(U)
// A group of four steps.
#define FL_Z4_GROUP(NV, AM) \
  FL_Z4_B##NV(0) AM(NV, 0) FL_Z4_B##NV(1) AM(NV, 1) FL_Z4_B##NV(2) AM(NV, 2) FL_Z4_B##NV(3) AM(NV, 3)
// Loads of the 8 * NV accumulators into zmm0.., and stores back.
#define FL_Z4_LD(N) "vmovups 64*" #N "(%[acc]), %%zmm" #N "\n\t"
#define FL_Z4_ST(N) "vmovups %%zmm" #N ", 64*" #N "(%[acc])\n\t"
#define FL_Z4_EACH1(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define FL_Z4_EACH2(M) FL_Z4_EACH1(M) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define FL_Z4_EACH3(M) FL_Z4_EACH2(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23)
// One line of the walk: if (left > 0) { prefetch p + col; --left; col += 64 bytes; at the end
// of a row col = 0, p += ld }.
#define FL_Z4_WALK                   \
  "testq %[left], %[left]\n\t"       \
  "jle 2f\n\t"                       \
  "prefetcht1 (%[pf],%[col])\n\t"    \
  "decq %[left]\n\t"                 \
  "addq $64, %[col]\n\t"             \
  "cmpq %[rowb], %[col]\n\t"         \
  "jne 2f\n\t"                       \
  "xorl %k[col], %k[col]\n\t"        \
  "addq %[ldb], %[pf]\n\t"           \
  "2:\n\t"
// The whole loop: accumulators in, groups of four steps (ADVANCE moves A), accumulators out.
#define FL_Z4_LOOP(NV, AM, ADVANCE)                                                                   \
  FL_Z4_EACH##NV(FL_Z4_LD) "1:\n\t" FL_Z4_WALK FL_Z4_GROUP(NV, AM) ADVANCE "addq $768, %[b]\n\t" \
                                                                           "decq %[g]\n\t"         \
                                                                           "jnz 1b\n\t" FL_Z4_EACH##NV(FL_Z4_ST)
#define FL_Z4_CLOBBERS                                                                             \
  "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",    \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",     \
      "xmm20", "xmm21", "xmm22", "xmm23", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31"

// The loop of the 8 x (NV * 16) tiles with B packed; A packed (a, 32 floats a group) or in
// place along its rows (lo, hi, h6, 4 floats a group).
#define FL_Z4_DEFINE(NV)                                                                              \
  template <bool kPackedA>                                                                            \
  struct Step4<Vec16, 8, NV, kPackedA, true> {                                                       \
    static constexpr bool available = true;                                                          \
    static void loop(index_t groups, const float*& a, index_t ra, const float*& b, index_t,           \
                     Vec16 (&acc)[8][NV], PrefetchWalk& walk) {                                       \
      if (groups <= 0) return;                                                                        \
      index_t g = groups, left = walk.left, col = walk.col * 64;                                      \
      const index_t rowb = walk.row_lines * 64, ldb = walk.ld * 4;                                    \
      const float* pf = walk.p;                                                                       \
      const float* bp = b;                                                                            \
      Vec16* accp = &acc[0][0];                                                                       \
      if constexpr (kPackedA) {                                                                       \
        const float* ap = a;                                                                          \
        asm volatile(FL_Z4_LOOP(NV, FL_Z4_PACKED, "addq $128, %[a]\n\t")                             \
                     : [g] "+r"(g), [a] "+r"(ap), [b] "+r"(bp), [pf] "+r"(pf), [col] "+r"(col),       \
                       [left] "+r"(left)                                                              \
                     : [acc] "r"(accp), [rowb] "m"(rowb), [ldb] "m"(ldb)                              \
                     : FL_Z4_CLOBBERS);                                                               \
        a += groups * 32;                                                                             \
      } else {                                                                                        \
        const float *lo = a, *hi = a + 3 * ra, *h6 = a + 6 * ra;                                      \
        asm volatile(FL_Z4_LOOP(NV, FL_Z4_INPLACE,                                                   \
                                "addq $16, %[lo]\n\taddq $16, %[hi]\n\taddq $16, %[h6]\n\t")          \
                     : [g] "+r"(g), [lo] "+r"(lo), [hi] "+r"(hi), [h6] "+r"(h6), [b] "+r"(bp),        \
                       [pf] "+r"(pf), [col] "+r"(col), [left] "+r"(left)                              \
                     : [acc] "r"(accp), [ra] "r"(ra), [rowb] "m"(rowb), [ldb] "m"(ldb)                \
                     : FL_Z4_CLOBBERS);                                                               \
        a += groups * 4;                                                                              \
      }                                                                                               \
      b += groups * 192;                                                                              \
    }                                                                                                 \
  };

FL_Z4_DEFINE(3)
FL_Z4_DEFINE(2)
FL_Z4_DEFINE(1)

#undef FL_Z4_BC
#undef FL_Z4_FMA
#undef FL_Z4_ROW3
#undef FL_Z4_ROW2
#undef FL_Z4_ROW1
#undef FL_Z4_AP
#undef FL_Z4_AR0
#undef FL_Z4_AR1
#undef FL_Z4_AR2
#undef FL_Z4_AR3
#undef FL_Z4_AR4
#undef FL_Z4_AR5
#undef FL_Z4_AR6
#undef FL_Z4_AR7
#undef FL_Z4_ROWS3
#undef FL_Z4_ROWS2
#undef FL_Z4_ROWS1
#undef FL_Z4_PACKED
#undef FL_Z4_INPLACE
#undef FL_Z4_BV
#undef FL_Z4_BPF
#undef FL_Z4_B3
#undef FL_Z4_B2
#undef FL_Z4_B1
#undef FL_Z4_GROUP
#undef FL_Z4_LD
#undef FL_Z4_ST
#undef FL_Z4_EACH1
#undef FL_Z4_EACH2
#undef FL_Z4_EACH3
#undef FL_Z4_WALK
#undef FL_Z4_LOOP
#undef FL_Z4_CLOBBERS
#undef FL_Z4_DEFINE

}  // namespace gemm
