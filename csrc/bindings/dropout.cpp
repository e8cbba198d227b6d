// Bindings of the dropout family: validate views, release the GIL, call the driver.
#include <cstdint>

#include "bindings/array.h"
#include "ops/dropout.h"

namespace fl {

void init_dropout(py::module_& m) {
  // y = x * mask(seed) * scale; threshold = round(p * 2^32) (see cpu/dropout.h).
  m.def("dropout_apply", [](py::array y, py::array x, std::uint64_t seed, std::uint32_t threshold, float scale) {
    auto vy = float_view(y, "out", true), vx = float_view(x, "input");
    check_size(vy, vx.size, "out");
    py::gil_scoped_release nogil;
    dropout_apply(vy.data, vx.data, vx.size, {seed, threshold, scale});
  });
}

}  // namespace fl
