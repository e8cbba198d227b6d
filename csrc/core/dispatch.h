// Kernel tables. Each op family keeps one table of function pointers per ISA level
// (KernelTables<FamilyKernels>). init_kernel_tables() fills them once, at import: every
// level starts from the reference kernels (cpu/ref/), then each ISA's registration function
// overrides the entries it implements (BLIS's "reference, then override"). Drivers look up
// the table of the current level with tables.current().
#pragma once
#include "core/cpu_features.h"

namespace fl {

template <class Table>
struct KernelTables {
  Table level[kIsaCount];
  const Table& current() const { return level[static_cast<int>(isa_current())]; }
  const Table& at(Isa isa) const { return level[static_cast<int>(isa)]; }
};

// Fills every family's tables; called once from the module's init.
void init_kernel_tables();

}  // namespace fl
