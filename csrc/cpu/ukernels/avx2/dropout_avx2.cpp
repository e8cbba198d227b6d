// AVX2+FMA (8 lanes) dropout kernel: dropout_impl.h's loop compiled with this ISA's flags; the
// compiler vectorises the 32-bit hash, compare and blend (see dropout_impl.h).
#include <algorithm>
#include <cstdint>

#include "ops/dropout.h"

namespace {
#include "cpu/ukernels/dropout_impl.h"
}  // namespace

namespace fl {
void register_dropout_avx2(DropoutKernels& t) { t.apply = dropout::apply; }
}  // namespace fl
