// Helpers shared by the emulation checks (emu_main.cpp, emu_layers.cpp, emu_loss.cpp, emu_<family>.cpp): failure counting,
// element-wise comparison with tolerances, random inputs.
#pragma once
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace emu_check {
inline int g_fail = 0, g_checks = 0;

inline bool same(float a, float b, float rtol, float atol) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

inline void expect(const char* what, const std::vector<float>& got, const std::vector<float>& want, float rtol = 0,
                   float atol = 0) {
  ++g_checks;
  for (size_t i = 0; i < want.size(); ++i)
    if (!same(got[i], want[i], rtol, atol)) {
      std::printf("FAIL %s: [%zu] got %.9g want %.9g\n", what, i, got[i], want[i]);
      ++g_fail;
      return;
    }
}

inline std::vector<float> randn(size_t n, std::mt19937& r, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

inline std::vector<float> randint(size_t n, std::mt19937& r, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(r));
  return v;
}

inline void check(bool ok, const char* what) {
  ++g_checks;
  if (!ok) {
    std::printf("FAIL %s\n", what);
    ++g_fail;
  }
}

}  // namespace emu_check

// The optim, pool, norm and conv checks (emu_layers.cpp).
void test_layers(std::mt19937& r);
// The loss and dropout checks (emu_loss.cpp).
void test_loss(std::mt19937& r);
// The checks of the families with one file each (emu_<family>.cpp).
void test_embedding(std::mt19937& r);
void test_layer_norm(std::mt19937& r);
void test_attention(std::mt19937& r);
void test_rnn(std::mt19937& r);
void test_resample(std::mt19937& r);
