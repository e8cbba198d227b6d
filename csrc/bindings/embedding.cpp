// Bindings of the embedding family (CPU): check the arrays against one shape, release the
// GIL, call the driver (which checks every index; out of range raises IndexError).
#include <cstdint>

#include "bindings/array.h"
#include "ops/embedding.h"

namespace fl {

namespace {

// int64 C-contiguous indices (fastlayers.functional.embedding converts them).
const index_t* index_view(const py::array& a, index_t* n) {
  if (!py::isinstance<py::array_t<std::int64_t>>(a) || a.dtype().kind() != 'i' || a.itemsize() != 8)
    throw type_error(str_cat("input: expected int64 indices, got dtype ", std::string(py::str(a.dtype()))));
  if (!(a.flags() & py::array::c_style)) throw std::invalid_argument("input: expected a C-contiguous array");
  *n = static_cast<index_t>(a.size());
  return static_cast<const index_t*>(a.data());
}

EmbeddingShape parse(const py::array& weight, const py::array& idx, const index_t** pidx) {
  FL_CHECK_ARG(weight.ndim() == 2, "weight: expected a 2-D (num_embeddings, embedding_dim) array");
  EmbeddingShape s{0, weight.shape(0), weight.shape(1)};
  *pidx = index_view(idx, &s.N);
  return s;
}

}  // namespace

void init_embedding(py::module_& m) {
  m.def("embedding_forward", [](py::array y, py::array weight, py::array idx) {
    const index_t* pi = nullptr;
    const EmbeddingShape s = parse(weight, idx, &pi);
    auto vw = float_view(weight, "weight");
    auto vy = float_view(y, "out", true);
    check_size(vy, s.N * s.D, "out");
    py::gil_scoped_release nogil;
    embedding_forward(vy.data, vw.data, pi, s);
  });
  // grad_weight has weight's shape; padding_idx < 0: none.
  m.def("embedding_backward", [](py::array grad_weight, py::array grad_out, py::array idx, index_t padding_idx,
                                 bool accumulate) {
    const index_t* pi = nullptr;
    const EmbeddingShape s = parse(grad_weight, idx, &pi);
    auto vdw = float_view(grad_weight, "grad_weight", true);
    auto vdy = float_view(grad_out, "grad_out");
    check_size(vdy, s.N * s.D, "grad_out");
    py::gil_scoped_release nogil;
    embedding_backward(vdw.data, vdy.data, pi, s, padding_idx, accumulate);
  });
}

}  // namespace fl
