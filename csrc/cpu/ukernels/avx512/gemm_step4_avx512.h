// The k loop of the full 8 x 48 AVX-512 tile (24 accumulators) with B packed, in groups of four
// steps scheduled by hand, as ukernels/avx2/gemm_step4_avx2.h does for AVX2: GCC compiles the
// generic loop of gemm_impl.h one step an iteration, its loop test and branches every 24 FMAs.
// One asm statement runs the whole loop (GCC allows 30 operands, and 24 accumulators in and out
// would take 48): the accumulators are loaded from acc into zmm0-23 and stored back at the end,
// zmm29-31 hold the three B vectors of a step and zmm27-28 the broadcasts of A (alternating,
// so that a broadcast need not wait for the FMAs of the one before). Each step prefetches the B
// line 8 steps ahead into L1, as the generic loop does, and each group one line of the tile's
// PrefetchWalk into L2 (walk.next() in asm).
// Include inside the anonymous namespace of ukernels/avx512/gemm_avx512.cpp, after gemm_impl.h.
#pragma once

namespace gemm {

#define FL_Z4_ROW(ADDR, R, X0, X1, X2)                 \
  "vbroadcastss " ADDR ", %%zmm" #R "\n\t"             \
  "vfmadd231ps %%zmm29, %%zmm" #R ", %%zmm" #X0 "\n\t" \
  "vfmadd231ps %%zmm30, %%zmm" #R ", %%zmm" #X1 "\n\t" \
  "vfmadd231ps %%zmm31, %%zmm" #R ", %%zmm" #X2 "\n\t"
// A packed: a(i, p) at a[p * 8 + i].
#define FL_Z4_A_PACKED(U)                                 \
  FL_Z4_ROW("4*(8*" #U "+0)(%[a])", 27, 0, 1, 2)          \
  FL_Z4_ROW("4*(8*" #U "+1)(%[a])", 28, 3, 4, 5)          \
  FL_Z4_ROW("4*(8*" #U "+2)(%[a])", 27, 6, 7, 8)          \
  FL_Z4_ROW("4*(8*" #U "+3)(%[a])", 28, 9, 10, 11)        \
  FL_Z4_ROW("4*(8*" #U "+4)(%[a])", 27, 12, 13, 14)       \
  FL_Z4_ROW("4*(8*" #U "+5)(%[a])", 28, 15, 16, 17)       \
  FL_Z4_ROW("4*(8*" #U "+6)(%[a])", 27, 18, 19, 20)       \
  FL_Z4_ROW("4*(8*" #U "+7)(%[a])", 28, 21, 22, 23)
// A in place along its rows: rows 0-2 from lo, rows 3-5 from hi = lo + 3 ra, rows 6-7 from
// h6 = lo + 6 ra.
#define FL_Z4_A_ROWS(U)                                   \
  FL_Z4_ROW("4*" #U "(%[lo])", 27, 0, 1, 2)               \
  FL_Z4_ROW("4*" #U "(%[lo],%[ra],4)", 28, 3, 4, 5)       \
  FL_Z4_ROW("4*" #U "(%[lo],%[ra],8)", 27, 6, 7, 8)       \
  FL_Z4_ROW("4*" #U "(%[hi])", 28, 9, 10, 11)             \
  FL_Z4_ROW("4*" #U "(%[hi],%[ra],4)", 27, 12, 13, 14)    \
  FL_Z4_ROW("4*" #U "(%[hi],%[ra],8)", 28, 15, 16, 17)    \
  FL_Z4_ROW("4*" #U "(%[h6])", 27, 18, 19, 20)            \
  FL_Z4_ROW("4*" #U "(%[h6],%[ra],4)", 28, 21, 22, 23)
// B packed: b(p, j) at b[p * 48 + j], and a line 8 steps ahead prefetched.
#define FL_Z4_B(U)                             \
  "vmovups 192*" #U "(%[b]), %%zmm29\n\t"      \
  "vmovups 192*" #U "+64(%[b]), %%zmm30\n\t"   \
  "vmovups 192*" #U "+128(%[b]), %%zmm31\n\t"  \
  "prefetcht0 192*" #U "+1536(%[b])\n\t"
// Loads of acc[0..23] into zmm0-23, and stores back.
#define FL_Z4_LOAD(N) "vmovups 64*" #N "(%[acc]), %%zmm" #N "\n\t"
#define FL_Z4_STORE(N) "vmovups %%zmm" #N ", 64*" #N "(%[acc])\n\t"
#define FL_Z4_ALL(M)                                                                              \
  M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) M(16) M(17) \
      M(18) M(19) M(20) M(21) M(22) M(23)
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
#define FL_Z4_CLOBBERS                                                                             \
  "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",    \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",     \
      "xmm20", "xmm21", "xmm22", "xmm23", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31"

// B packed; A packed (kPackedA) or in place along its rows (a(i, p) at a[i * ra + p]). Every
// address of A is a base + (0, 1 or 2) * stride: one index register, scale 4 or 8.
template <bool kPackedA>
struct Step4<Vec16, 8, 3, kPackedA, true> {
  static constexpr bool available = true;
  static void loop(index_t groups, const float*& a, index_t ra, const float*& b, index_t, Vec16 (&acc)[8][3],
                   PrefetchWalk& walk) {
    if (groups <= 0) return;
    index_t g = groups, left = walk.left, col = walk.col * 64;
    const index_t rowb = walk.row_lines * 64, ldb = walk.ld * 4;
    const float* pf = walk.p;
    const float* bp = b;
    Vec16* accp = &acc[0][0];
    if constexpr (kPackedA) {
      const float* ap = a;
      asm volatile(FL_Z4_ALL(FL_Z4_LOAD) "1:\n\t" FL_Z4_WALK FL_Z4_B(0) FL_Z4_A_PACKED(0) FL_Z4_B(1)
                       FL_Z4_A_PACKED(1) FL_Z4_B(2) FL_Z4_A_PACKED(2) FL_Z4_B(3) FL_Z4_A_PACKED(3)
                   "addq $128, %[a]\n\t"
                   "addq $768, %[b]\n\t"
                   "decq %[g]\n\t"
                   "jnz 1b\n\t" FL_Z4_ALL(FL_Z4_STORE)
                   : [g] "+r"(g), [a] "+r"(ap), [b] "+r"(bp), [pf] "+r"(pf), [col] "+r"(col), [left] "+r"(left)
                   : [acc] "r"(accp), [rowb] "m"(rowb), [ldb] "m"(ldb)
                   : FL_Z4_CLOBBERS);
      a += groups * 32;
    } else {
      const float *lo = a, *hi = a + 3 * ra, *h6 = a + 6 * ra;
      asm volatile(FL_Z4_ALL(FL_Z4_LOAD) "1:\n\t" FL_Z4_WALK FL_Z4_B(0) FL_Z4_A_ROWS(0) FL_Z4_B(1)
                       FL_Z4_A_ROWS(1) FL_Z4_B(2) FL_Z4_A_ROWS(2) FL_Z4_B(3) FL_Z4_A_ROWS(3)
                   "addq $16, %[lo]\n\t"
                   "addq $16, %[hi]\n\t"
                   "addq $16, %[h6]\n\t"
                   "addq $768, %[b]\n\t"
                   "decq %[g]\n\t"
                   "jnz 1b\n\t" FL_Z4_ALL(FL_Z4_STORE)
                   : [g] "+r"(g), [lo] "+r"(lo), [hi] "+r"(hi), [h6] "+r"(h6), [b] "+r"(bp), [pf] "+r"(pf),
                     [col] "+r"(col), [left] "+r"(left)
                   : [acc] "r"(accp), [ra] "r"(ra), [rowb] "m"(rowb), [ldb] "m"(ldb)
                   : FL_Z4_CLOBBERS);
      a += groups * 4;
    }
    b += groups * 192;
  }
};

#undef FL_Z4_ROW
#undef FL_Z4_A_PACKED
#undef FL_Z4_A_ROWS
#undef FL_Z4_B
#undef FL_Z4_LOAD
#undef FL_Z4_STORE
#undef FL_Z4_ALL
#undef FL_Z4_WALK
#undef FL_Z4_CLOBBERS

}  // namespace gemm
