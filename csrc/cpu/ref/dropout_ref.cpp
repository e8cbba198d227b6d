// Reference dropout kernel: the apply loop of ukernels/dropout_impl.h compiled for the
// baseline ISA (the scalar level). The mask's oracle is the NumPy hash in tests/reference.py.
#include <algorithm>
#include <cstdint>

#include "ops/dropout.h"

namespace {
#include "cpu/ukernels/dropout_impl.h"
}  // namespace

namespace fl {
void register_dropout_ref(DropoutKernels& t) { t.apply = dropout::apply; }
}  // namespace fl
