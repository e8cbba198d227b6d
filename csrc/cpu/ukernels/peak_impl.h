// ISA-generic FMA loop over the Vec interface: 16 independent accumulators (FMA latency 4 x
// 2 pipes needs at least 8; 16 leaves room for wider cores). Include inside an anonymous namespace.
#pragma once

template <class V>
double fma_loop(fl::index_t iters, float* sink) {
  V a[16];
  for (int k = 0; k < 16; ++k) a[k] = V::set1(1.0f + k);
  const V m = V::set1(0.999999f), c = V::set1(1e-7f);
  for (fl::index_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) a[k] = V::fmadd(a[k], m, c);
  V s = V::zero();
  for (int k = 0; k < 16; ++k) s = s + a[k];
  *sink = V::hsum(s);
  return 2.0 * 16 * V::width * static_cast<double>(iters);
}
