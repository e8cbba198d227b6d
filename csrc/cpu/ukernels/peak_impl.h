// ISA-generic FMA loop over the Vec interface: independent accumulators, as many as fit the
// register file with the two constants (12 of AVX2's 16 YMM, 24 of AVX-512's 32 ZMM; FMA latency
// 4 x 2 pipes needs at least 8), so nothing spills. Include inside an anonymous namespace.
#pragma once

template <class V>
double fma_loop(fl::index_t iters, float* sink) {
  constexpr int kAcc = V::width == 8 ? 12 : 24;
  V a[kAcc];
  for (int k = 0; k < kAcc; ++k) a[k] = V::set1(1.0f + k);
  const V m = V::set1(0.999999f), c = V::set1(1e-7f);
  for (fl::index_t i = 0; i < iters; ++i)
#pragma GCC unroll 32
    for (int k = 0; k < kAcc; ++k) a[k] = V::fmadd(a[k], m, c);
  V s = V::zero();
  for (int k = 0; k < kAcc; ++k) s = s + a[k];
  *sink = V::hsum(s);
  return 2.0 * kAcc * V::width * static_cast<double>(iters);
}
