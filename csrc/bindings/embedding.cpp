// Bindings of the embedding family, both backends (bindings/backend.h): embedding_forward and
// embedding_backward, and cuda_<op> of each on device memory, with the same arguments (the
// weight's shape (num_embeddings, embedding_dim) passed explicitly: a device buffer has none)
// and one set of size checks. Every index is checked before memory is touched: on the host by
// the driver (cpu/embedding.cpp), on a GPU by a check kernel whose result (the first bad
// position) is read back here; either way an index outside [0, num_embeddings) raises the
// driver's IndexError. The CUDA kernels (cuda/embedding.cuh) are unverified on a GPU at the
// time of writing (checked by host emulation).
#include <cstdint>

#include "bindings/backend.h"
#include "cuda/embedding.cuh"
#include "ops/embedding.h"

namespace fl {
namespace {

EmbeddingShape make_shape(const IndexView& idx, index_t V, index_t D) {
  FL_CHECK_ARG(V >= 0 && D >= 0, "embedding: negative weight shape (", V, ", ", D, ")");
  return {idx.size, V, D};
}

// On a GPU: the check kernel's first bad position and index, read back, raised as the CPU
// driver does. (A template: reached, and so instantiated, in CUDA builds only.)
template <class B>
void check_indices_cuda(int device, const index_t* idx, EmbeddingShape s) {
  if (s.N == 0) return;
  DeviceScratch bad(device, 2 * sizeof(index_t));
  embedding_check_cuda(static_cast<index_t*>(bad.get()), idx, s, B::stream());
  index_t found[2] = {-1, 0};
  bad.to_host(found, sizeof found);
  if (found[0] >= 0)
    throw std::out_of_range(str_cat("embedding: index ", found[1], " at position ", found[0],
                                    " is out of range for num_embeddings ", s.V));
}

template <class B>
void bind_embedding(py::module_& m) {
  using Buf = typename B::Buf;
  // y (N, D) = weight (V, D) rows at idx (N int64).
  m.def(B::name("embedding_forward").c_str(), [](Buf y, Buf weight, Buf idx, index_t V, index_t D) {
    const IndexView vi = B::indices(idx, "input");
    const EmbeddingShape s = make_shape(vi, V, D);
    auto vw = B::floats(weight, "weight"), vy = B::floats(y, "out", true);
    check_size(vw, V * D, "weight");
    check_size(vy, s.N * D, "out");
    const int dev = B::device(weight, {&y, &idx});
    if constexpr (B::kCudaKernels) {
      typename B::Scope scope(dev);
      check_indices_cuda<B>(dev, vi.data, s);
      embedding_forward_cuda(vy.data, vw.data, vi.data, s, B::stream());
    } else {
      typename B::Scope scope(dev);
      embedding_forward(vy.data, vw.data, vi.data, s);
    }
  });
  // grad_weight (V, D) (+)= scatter-add of grad_out (N, D) rows at idx; padding_idx < 0: none.
  m.def(B::name("embedding_backward").c_str(), [](Buf grad_weight, Buf grad_out, Buf idx, index_t V, index_t D,
                                                  index_t padding_idx, bool accumulate) {
    const IndexView vi = B::indices(idx, "input");
    const EmbeddingShape s = make_shape(vi, V, D);
    auto vdw = B::floats(grad_weight, "grad_weight", true), vdy = B::floats(grad_out, "grad_out");
    check_size(vdw, V * D, "grad_weight");
    check_size(vdy, s.N * D, "grad_out");
    const int dev = B::device(grad_weight, {&grad_out, &idx});
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) {
      check_indices_cuda<B>(dev, vi.data, s);
      embedding_backward_cuda(vdw.data, vdy.data, vi.data, s, padding_idx, accumulate, B::stream());
    } else {
      embedding_backward(vdw.data, vdy.data, vi.data, s, padding_idx, accumulate);
    }
  });
}

}  // namespace

void init_embedding(py::module_& m) { FL_BIND_BOTH_BACKENDS(bind_embedding, m); }

}  // namespace fl
