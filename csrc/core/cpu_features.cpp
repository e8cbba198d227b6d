// CPUID/XGETBV probing and the current ISA level.
#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/check.h"

#if defined(FL_X86)
#include <cpuid.h>
#endif

namespace fl {
namespace {

#if defined(FL_X86)
unsigned long long xgetbv0() {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

Isa probe() {
#if defined(FL_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::scalar;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && osxsave && avx)) return Isa::scalar;
  const unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return Isa::scalar;  // OS saves XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::scalar;
  const bool avx2 = b & (1u << 5);
  if (!avx2) return Isa::scalar;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  const bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // opmask, ZMM_Hi256, Hi16_ZMM
  if (f && dq && bw && vl && zmm_os) return Isa::avx512;
  return Isa::avx2;
#else
  return Isa::scalar;
#endif
}

Isa initial_level() {
  Isa best = probe();
  const char* env = std::getenv("FASTLAYERS_ISA");
  if (env == nullptr || *env == '\0') return best;
  Isa want;
  if (!isa_parse(env, &want))
    throw std::invalid_argument(str_cat("FASTLAYERS_ISA='", env,
                                        "' is not one of scalar, avx2, avx512"));
  if (static_cast<int>(want) > static_cast<int>(best))
    throw std::invalid_argument(str_cat("FASTLAYERS_ISA='", env, "' but this CPU supports at most '",
                                        isa_name(best), "'"));
  return want;
}

const Isa g_detected = probe();
std::atomic<int> g_current{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

bool isa_parse(const std::string& name, Isa* out) {
  for (int i = 0; i < kIsaCount; ++i) {
    if (name == isa_name(static_cast<Isa>(i))) {
      *out = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

Isa isa_detected() { return g_detected; }

Isa isa_current() {
  int v = g_current.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(initial_level());
    g_current.store(v);
  }
  return static_cast<Isa>(v);
}

void isa_set(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(g_detected))
    throw std::invalid_argument(str_cat("isa='", isa_name(isa), "' but this CPU supports at most '",
                                        isa_name(g_detected), "'"));
  g_current.store(static_cast<int>(isa));
}

bool cpu_is_intel() {
#if defined(FL_X86)
  unsigned a, regs[3];
  if (!__get_cpuid(0, &a, &regs[0], &regs[2], &regs[1])) return false;  // vendor in ebx, edx, ecx
  return std::memcmp(regs, "GenuineIntel", 12) == 0;
#else
  return false;
#endif
}

std::string cpu_name() {
#if defined(FL_X86)
  unsigned regs[12];
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000004u) return "x86-64";
  for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char buf[49];
  std::memcpy(buf, regs, 48);
  buf[48] = '\0';
  std::string s(buf);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
#else
  return "unknown";
#endif
}

}  // namespace fl
