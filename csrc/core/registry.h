// How a family's backends register their kernel tables. Each op family keeps one table of
// function pointers per ISA level (KernelTables<FamilyKernels>). A family registers itself
// from its own driver (cpu/<family>.cpp) with FL_REGISTER_KERNELS; core knows no family.
// init_kernel_tables(), called once at import, fills every registered family's tables: each
// level starts from the reference kernels (cpu/ref/), then each ISA's registration function
// overrides the entries it implements (BLIS's "reference, then override"). Drivers look up
// the table of the current level with tables.current().
#pragma once
#include <string>
#include <vector>

#include "core/cpu_features.h"

namespace fl {

template <class Table>
struct KernelTables {
  Table level[kIsaCount];
  const Table& current() const { return level[static_cast<int>(isa_current())]; }
  const Table& at(Isa isa) const { return level[static_cast<int>(isa)]; }
};

// Fills every level of `t`: ref at every level, then avx2 at avx2 and above, avx512 at avx512
// (each only where the CPU supports the level). A null function adds nothing.
template <class Table>
void fill_kernel_tables(KernelTables<Table>& t, void (*ref)(Table&), void (*avx2)(Table&),
                        void (*avx512)(Table&)) {
  for (auto& level : t.level) ref(level);
  const int best = static_cast<int>(isa_detected());
  for (int l = static_cast<int>(Isa::avx2); avx2 && l <= best; ++l) avx2(t.level[l]);
  for (int l = static_cast<int>(Isa::avx512); avx512 && l <= best; ++l) avx512(t.level[l]);
}

// One registered family: its name and the function that fills its tables.
struct FamilyRegistration {
  const char* name;
  void (*fill)();
};

// Adds a family to the list init_kernel_tables() runs (called by FL_REGISTER_KERNELS at
// static initialisation; the list is a function-local static, so order does not matter).
bool register_family(const char* name, void (*fill)());
// Fills every registered family's tables; called once from the module's init.
void init_kernel_tables();
// Names of the registered families, in registration order (fastlayers.info reports them).
std::vector<std::string> registered_families();

}  // namespace fl

// The ISA registration functions exist only where the ISA files are compiled (x86-64).
#if defined(FL_X86)
#define FL_ISA_KERNELS(fn) (&fn)
#else
#define FL_ISA_KERNELS(fn) nullptr
#endif

// In one driver file per family, at namespace scope inside namespace fl:
//   FL_REGISTER_KERNELS(activation, g_activation_kernels, register_activation_ref,
//                       register_activation_avx2, register_activation_avx512)
#define FL_REGISTER_KERNELS(family, tables, ref, avx2, avx512)                                      \
  namespace {                                                                                      \
  void fill_##family##_tables() {                                                                  \
    ::fl::fill_kernel_tables(tables, &ref, FL_ISA_KERNELS(avx2), FL_ISA_KERNELS(avx512));          \
  }                                                                                                \
  const bool family##_registered = ::fl::register_family(#family, &fill_##family##_tables);        \
  }
