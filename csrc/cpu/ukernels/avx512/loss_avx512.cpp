// AVX-512 cross-entropy kernels: the ISA-generic templates of loss_impl.h on Vec16.
// MSE and BCE-with-logits keep the reference kernels at this level (see ops/loss.h).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/tensor.h"
#include "ops/loss.h"

namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/loss_impl.h"
}  // namespace

namespace fl {
void register_loss_avx512(LossKernels& t) { loss::register_all<Vec16>(t); }
}  // namespace fl
