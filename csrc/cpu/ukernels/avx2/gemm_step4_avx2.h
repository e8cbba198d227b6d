// Groups of four k steps of the full 6 x 16 AVX2 tile (12 accumulators), scheduled by hand:
// GCC 12 compiled the generic loop of gemm_impl.h unrolled by four with spilled accumulators and
// register copies, and one step an iteration spends 4 of its 24 instructions on the loop. On the
// 2-core Zen 3 VM an in-L1 6 x 16 loop ran at 80-87% of the FMA peak one step an iteration,
// 89-95% four steps unrolled without spills.
// Registers: the accumulators are operands (locals, so that the compiler keeps them in 12 of
// ymm0-11 for the whole loop), ymm12-13 hold the two B vectors of a step, ymm14-15 the
// broadcasts of A. Each step prefetches the B line 8 steps ahead into L1, as the generic loop
// does. The "m" operands tell the compiler which memory a group reads (B's 64 floats, packed
// A's 24); rows of A in place are only read while the tile runs.
// Include inside the anonymous namespace of ukernels/avx2/gemm_avx2.cpp, after gemm_impl.h.
#pragma once

namespace gemm {

// The asm text of one k step, built from these macros (gas evaluates the displacement
// expressions). Step U of a group: two B vectors into ymm12-13, then per row I a broadcast into
// ymm14 or ymm15 and its two FMAs.
#define FL_S4_FMA2(R, I)                              \
  "vfmadd231ps %%ymm12, %%ymm" #R ", %[x" #I "0]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm" #R ", %[x" #I "1]\n\t"
#define FL_S4_ROW(ADDR, R, I) "vbroadcastss " ADDR ", %%ymm" #R "\n\t" FL_S4_FMA2(R, I)
// A packed: a(i, p) at a[p * 6 + i].
#define FL_S4_A_PACKED(U)                                          \
  FL_S4_ROW("4*(6*" #U "+0)(%[a])", 14, 0)                         \
  FL_S4_ROW("4*(6*" #U "+1)(%[a])", 15, 1)                         \
  FL_S4_ROW("4*(6*" #U "+2)(%[a])", 14, 2)                         \
  FL_S4_ROW("4*(6*" #U "+3)(%[a])", 15, 3)                         \
  FL_S4_ROW("4*(6*" #U "+4)(%[a])", 14, 4)                         \
  FL_S4_ROW("4*(6*" #U "+5)(%[a])", 15, 5)
// A in place along its rows: rows 0-2 from lo, rows 3-5 from hi = lo + 3 ra.
#define FL_S4_A_ROWS(U)                                            \
  FL_S4_ROW("4*" #U "(%[lo])", 14, 0)                              \
  FL_S4_ROW("4*" #U "(%[lo],%[ra],4)", 15, 1)                      \
  FL_S4_ROW("4*" #U "(%[lo],%[ra],8)", 14, 2)                      \
  FL_S4_ROW("4*" #U "(%[hi])", 15, 3)                              \
  FL_S4_ROW("4*" #U "(%[hi],%[ra],4)", 14, 4)                      \
  FL_S4_ROW("4*" #U "(%[hi],%[ra],8)", 15, 5)
// B packed: b(p, j) at b[p * 16 + j], and the line 8 steps ahead prefetched.
#define FL_S4_B_PACKED(U)                      \
  "vmovups 64*" #U "(%[b]), %%ymm12\n\t"       \
  "vmovups 64*" #U "+32(%[b]), %%ymm13\n\t"    \
  "prefetcht0 64*" #U "+512(%[b])\n\t"
// B in place: row U of the group at BASE (b, b + rb, b + 2 rb, b3 = b + 3 rb).
#define FL_S4_B_ROW(BASE)                 \
  "vmovups " BASE ", %%ymm12\n\t"         \
  "vmovups 32+" BASE ", %%ymm13\n\t"
#define FL_S4_ACC                                                                      \
  [x00] "+x"(x00), [x01] "+x"(x01), [x10] "+x"(x10), [x11] "+x"(x11), [x20] "+x"(x20), \
      [x21] "+x"(x21), [x30] "+x"(x30), [x31] "+x"(x31), [x40] "+x"(x40), [x41] "+x"(x41), \
      [x50] "+x"(x50), [x51] "+x"(x51)
#define FL_S4_CLOBBERS "xmm12", "xmm13", "xmm14", "xmm15"

// B packed (kPackedB) or in place (the direct path: b(p, j) at b[p * rb + j]); A packed
// (kPackedA, with B packed only) or in place along its rows (a(i, p) at a[i * ra + p]). Every
// address is a base + (0, 1 or 2) * stride: one index register, scale 4 or 8. The direct path's
// groups do not prefetch (B in place is small and its rows are a hardware-prefetched stride).
template <bool kPackedA, bool kPackedB>
struct Step4<Vec8, 6, 2, kPackedA, kPackedB> {
  static constexpr bool available = !kPackedA || kPackedB;
  static void loop(index_t groups, const float*& a, index_t ra, const float*& b, index_t rb, Vec8 (&acc)[6][2],
                   PrefetchWalk& walk) {
    __m256 x00 = acc[0][0].v, x01 = acc[0][1].v, x10 = acc[1][0].v, x11 = acc[1][1].v;
    __m256 x20 = acc[2][0].v, x21 = acc[2][1].v, x30 = acc[3][0].v, x31 = acc[3][1].v;
    __m256 x40 = acc[4][0].v, x41 = acc[4][1].v, x50 = acc[5][0].v, x51 = acc[5][1].v;
    for (index_t g = 0; g < groups; ++g, a += kPackedA ? 24 : 4, b += kPackedB ? 64 : 4 * rb) {
      walk.next();
      if constexpr (!kPackedB) {
        asm(FL_S4_B_ROW("(%[b])") FL_S4_A_ROWS(0) FL_S4_B_ROW("(%[b],%[rb],4)") FL_S4_A_ROWS(1)
                FL_S4_B_ROW("(%[b],%[rb],8)") FL_S4_A_ROWS(2) FL_S4_B_ROW("(%[b3])") FL_S4_A_ROWS(3)
            : FL_S4_ACC
            : [lo] "r"(a), [hi] "r"(a + 3 * ra), [ra] "r"(ra), [b] "r"(b), [b3] "r"(b + 3 * rb), [rb] "r"(rb)
            : FL_S4_CLOBBERS);
      } else if constexpr (kPackedA) {
        asm(FL_S4_B_PACKED(0) FL_S4_A_PACKED(0) FL_S4_B_PACKED(1) FL_S4_A_PACKED(1)
                FL_S4_B_PACKED(2) FL_S4_A_PACKED(2) FL_S4_B_PACKED(3) FL_S4_A_PACKED(3)
            : FL_S4_ACC
            : [a] "r"(a), [b] "r"(b), "m"(*reinterpret_cast<const float(*)[24]>(a)),
              "m"(*reinterpret_cast<const float(*)[64]>(b))
            : FL_S4_CLOBBERS);
      } else {
        asm(FL_S4_B_PACKED(0) FL_S4_A_ROWS(0) FL_S4_B_PACKED(1) FL_S4_A_ROWS(1)
                FL_S4_B_PACKED(2) FL_S4_A_ROWS(2) FL_S4_B_PACKED(3) FL_S4_A_ROWS(3)
            : FL_S4_ACC
            : [lo] "r"(a), [hi] "r"(a + 3 * ra), [ra] "r"(ra), [b] "r"(b),
              "m"(*reinterpret_cast<const float(*)[64]>(b))
            : FL_S4_CLOBBERS);
      }
    }
    acc[0][0].v = x00, acc[0][1].v = x01, acc[1][0].v = x10, acc[1][1].v = x11;
    acc[2][0].v = x20, acc[2][1].v = x21, acc[3][0].v = x30, acc[3][1].v = x31;
    acc[4][0].v = x40, acc[4][1].v = x41, acc[5][0].v = x50, acc[5][1].v = x51;
  }
};

#undef FL_S4_FMA2
#undef FL_S4_ROW
#undef FL_S4_A_PACKED
#undef FL_S4_A_ROWS
#undef FL_S4_B_PACKED
#undef FL_S4_B_ROW
#undef FL_S4_ACC
#undef FL_S4_CLOBBERS

}  // namespace gemm
