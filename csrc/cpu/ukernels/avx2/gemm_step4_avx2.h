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

// B packed (kPackedB): b(p, j) at b[p * 16 + j]; B in place (the direct path): b(p, j) at
// b[p * rb + j], rows 0-2 of a group from b + (0, 1 or 2) * rb and row 3 from b + 3 rb.
// A packed (kPackedA, with B packed only): a(i, p) at a[p * 6 + i]; A in place along its rows:
// a(i, p) at a[i * ra + p], rows 0-2 from a and rows 3-5 from a + 3 ra, each base + (0, 1 or 2)
// * ra: one index register, scale 4 or 8. The direct path's groups do not prefetch (B in place
// is small and its rows are a hardware-prefetched stride).
template <bool kPackedA, bool kPackedB>
struct Step4<Vec8, 6, 2, kPackedA, kPackedB> {
  static constexpr bool available = !kPackedA || kPackedB;
  template <class F>
  static void loop(index_t groups, const float*& a, index_t ra, const float*& b, index_t rb, Vec8 (&acc)[6][2],
                   F&& before_group) {
    __m256 x00 = acc[0][0].v, x01 = acc[0][1].v;
    __m256 x10 = acc[1][0].v, x11 = acc[1][1].v;
    __m256 x20 = acc[2][0].v, x21 = acc[2][1].v;
    __m256 x30 = acc[3][0].v, x31 = acc[3][1].v;
    __m256 x40 = acc[4][0].v, x41 = acc[4][1].v;
    __m256 x50 = acc[5][0].v, x51 = acc[5][1].v;
    for (index_t g = 0; g < groups; ++g, a += kPackedA ? 24 : 4, b += kPackedB ? 64 : 4 * rb) {
      before_group();
      if constexpr (!kPackedB) {
        asm(
            "vmovups 0(%[b]), %%ymm12\n\t"
            "vmovups 32(%[b]), %%ymm13\n\t"
            "vbroadcastss 0(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 0(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 0(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 0(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 0(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 0(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 0(%[b],%[rb],4), %%ymm12\n\t"
            "vmovups 32(%[b],%[rb],4), %%ymm13\n\t"
            "vbroadcastss 4(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 4(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 4(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 4(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 4(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 4(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 0(%[b],%[rb],8), %%ymm12\n\t"
            "vmovups 32(%[b],%[rb],8), %%ymm13\n\t"
            "vbroadcastss 8(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 8(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 8(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 8(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 8(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 8(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 0(%[b3]), %%ymm12\n\t"
            "vmovups 32(%[b3]), %%ymm13\n\t"
            "vbroadcastss 12(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 12(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 12(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 12(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 12(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 12(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            : [x00] "+x"(x00), [x01] "+x"(x01), [x10] "+x"(x10), [x11] "+x"(x11),
              [x20] "+x"(x20), [x21] "+x"(x21), [x30] "+x"(x30), [x31] "+x"(x31),
              [x40] "+x"(x40), [x41] "+x"(x41), [x50] "+x"(x50), [x51] "+x"(x51)
            : [lo] "r"(a), [hi] "r"(a + 3 * ra), [ra] "r"(ra), [b] "r"(b), [b3] "r"(b + 3 * rb), [rb] "r"(rb)
            : "xmm12", "xmm13", "xmm14", "xmm15");
      } else if constexpr (kPackedA) {
        asm(
            "vmovups 0(%[b]), %%ymm12\n\t"
            "vmovups 32(%[b]), %%ymm13\n\t"
            "prefetcht0 512(%[b])\n\t"
            "vbroadcastss 0(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 4(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 8(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 12(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 16(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 20(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 64(%[b]), %%ymm12\n\t"
            "vmovups 96(%[b]), %%ymm13\n\t"
            "prefetcht0 576(%[b])\n\t"
            "vbroadcastss 24(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 28(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 32(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 36(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 40(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 44(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 128(%[b]), %%ymm12\n\t"
            "vmovups 160(%[b]), %%ymm13\n\t"
            "prefetcht0 640(%[b])\n\t"
            "vbroadcastss 48(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 52(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 56(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 60(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 64(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 68(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 192(%[b]), %%ymm12\n\t"
            "vmovups 224(%[b]), %%ymm13\n\t"
            "prefetcht0 704(%[b])\n\t"
            "vbroadcastss 72(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 76(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 80(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 84(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 88(%[a]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 92(%[a]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            : [x00] "+x"(x00), [x01] "+x"(x01), [x10] "+x"(x10), [x11] "+x"(x11),
              [x20] "+x"(x20), [x21] "+x"(x21), [x30] "+x"(x30), [x31] "+x"(x31),
              [x40] "+x"(x40), [x41] "+x"(x41), [x50] "+x"(x50), [x51] "+x"(x51)
            : [a] "r"(a), [b] "r"(b), "m"(*reinterpret_cast<const float(*)[24]>(a)),
              "m"(*reinterpret_cast<const float(*)[64]>(b))
            : "xmm12", "xmm13", "xmm14", "xmm15");
      } else {
        asm(
            "vmovups 0(%[b]), %%ymm12\n\t"
            "vmovups 32(%[b]), %%ymm13\n\t"
            "prefetcht0 512(%[b])\n\t"
            "vbroadcastss 0(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 0(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 0(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 0(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 0(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 0(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 64(%[b]), %%ymm12\n\t"
            "vmovups 96(%[b]), %%ymm13\n\t"
            "prefetcht0 576(%[b])\n\t"
            "vbroadcastss 4(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 4(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 4(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 4(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 4(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 4(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 128(%[b]), %%ymm12\n\t"
            "vmovups 160(%[b]), %%ymm13\n\t"
            "prefetcht0 640(%[b])\n\t"
            "vbroadcastss 8(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 8(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 8(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 8(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 8(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 8(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            "vmovups 192(%[b]), %%ymm12\n\t"
            "vmovups 224(%[b]), %%ymm13\n\t"
            "prefetcht0 704(%[b])\n\t"
            "vbroadcastss 12(%[lo]), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x00]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x01]\n\t"
            "vbroadcastss 12(%[lo],%[ra],4), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x10]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x11]\n\t"
            "vbroadcastss 12(%[lo],%[ra],8), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x20]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x21]\n\t"
            "vbroadcastss 12(%[hi]), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x30]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x31]\n\t"
            "vbroadcastss 12(%[hi],%[ra],4), %%ymm14\n\t"
            "vfmadd231ps %%ymm12, %%ymm14, %[x40]\n\t"
            "vfmadd231ps %%ymm13, %%ymm14, %[x41]\n\t"
            "vbroadcastss 12(%[hi],%[ra],8), %%ymm15\n\t"
            "vfmadd231ps %%ymm12, %%ymm15, %[x50]\n\t"
            "vfmadd231ps %%ymm13, %%ymm15, %[x51]\n\t"
            : [x00] "+x"(x00), [x01] "+x"(x01), [x10] "+x"(x10), [x11] "+x"(x11),
              [x20] "+x"(x20), [x21] "+x"(x21), [x30] "+x"(x30), [x31] "+x"(x31),
              [x40] "+x"(x40), [x41] "+x"(x41), [x50] "+x"(x50), [x51] "+x"(x51)
            : [lo] "r"(a), [hi] "r"(a + 3 * ra), [ra] "r"(ra), [b] "r"(b),
              "m"(*reinterpret_cast<const float(*)[64]>(b))
            : "xmm12", "xmm13", "xmm14", "xmm15");
      }
    }
    acc[0][0].v = x00, acc[0][1].v = x01;
    acc[1][0].v = x10, acc[1][1].v = x11;
    acc[2][0].v = x20, acc[2][1].v = x21;
    acc[3][0].v = x30, acc[3][1].v = x31;
    acc[4][0].v = x40, acc[4][1].v = x41;
    acc[5][0].v = x50, acc[5][1].v = x51;
  }
};

}  // namespace gemm
