// Bindings of the dropout family, both backends (bindings/backend.h): dropout_apply and
// cuda_dropout_apply, y = x * mask(seed) * scale with the counter-based mask of ops/dropout.h
// (threshold = round(p * 2^32)); the same seed keeps the same elements on both backends.
#include <cstdint>

#include "bindings/backend.h"
#include "cuda/dropout.cuh"
#include "ops/dropout.h"

namespace fl {
namespace {

template <class B>
void bind_dropout(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("dropout_apply").c_str(), [](Buf y, Buf x, std::uint64_t seed, std::uint32_t threshold,
                                             float scale) {
    auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
    check_size(vy, vx.size, "out");
    if (vx.size == 0) return;
    typename B::Scope scope(B::device(x, {&y}));
    if constexpr (B::kCudaKernels) dropout_apply_cuda(vy.data, vx.data, vx.size, {seed, threshold, scale}, B::stream());
    else dropout_apply(vy.data, vx.data, vx.size, {seed, threshold, scale});
  });
}

}  // namespace

void init_dropout(py::module_& m) { FL_BIND_BOTH_BACKENDS(bind_dropout, m); }

}  // namespace fl
