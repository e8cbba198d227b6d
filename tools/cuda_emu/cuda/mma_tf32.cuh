// Host emulation of csrc/cuda/mma_tf32.cuh: the same contract (PTX m16n8k8 .tf32 fragment
// layout), computed by gathering the warp's fragments through per-warp slots.
#pragma once

namespace fl {
namespace cuda {

inline float to_tf32(float v) {
  unsigned u = __float_as_uint(v);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;  // round to nearest, ties away (finite values)
  return __uint_as_float(u & 0xffffe000u);
}

inline void mma_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
  const int lane = emu::lane();
  for (int i = 0; i < 4; ++i) *emu::warp_slot(lane, i) = a[i];
  for (int i = 0; i < 2; ++i) *emu::warp_slot(lane, 4 + i) = b[i];
  emu::warp_sync();
  auto A = [](int row, int col) { return *emu::warp_slot((row % 8) * 4 + col % 4, (row >= 8) + 2 * (col >= 4)); };
  auto B = [](int k, int n) { return *emu::warp_slot(n * 4 + k % 4, 4 + (k >= 4)); };
  const int g = lane / 4, t = lane % 4;
  for (int q = 0; q < 4; ++q) {
    const int row = g + 8 * (q >> 1), col = 2 * t + (q & 1);
    float s = d[q];
    for (int k = 0; k < 8; ++k) s = fmaf(A(row, k), B(k, col), s);
    d[q] = s;
  }
  emu::warp_sync();
}

}  // namespace cuda
}  // namespace fl
