// CPU feature detection (CPUID on x86-64) and the ISA level kernels are dispatched on.
// The level is chosen once at import: the best the CPU and OS support, or the lower one
// that FASTLAYERS_ISA names. fl::isa_set changes it later (tests and benchmarks use it
// to cover every path in one process).
#pragma once
#include <string>

namespace fl {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };
constexpr int kIsaCount = 3;

const char* isa_name(Isa isa);
bool isa_parse(const std::string& name, Isa* out);
Isa isa_detected();  // best level this CPU and OS support
Isa isa_current();   // level kernels are dispatched on now
void isa_set(Isa isa);  // throws std::invalid_argument if the CPU lacks it
std::string cpu_name();
bool cpu_is_intel();  // CPUID vendor "GenuineIntel" (kernel tables tune a few blocking choices by it)

}  // namespace fl
