// Bindings of the activation family, both backends (bindings/backend.h): act_forward /
// act_backward (element-wise, ActOp named by the exported enum), softmax_forward /
// softmax_backward over one axis (outer, n, inner), maxout_forward / maxout_backward; and
// cuda_<op> of each on device memory. Checks what memory safety needs (sizes agree), releases
// the GIL, calls the CPU driver (ops/activation.h) or queues the CUDA launcher
// (cuda/activation.cuh). The Python layer (functional/activation.py) validates first.
#include "bindings/backend.h"
#include "cuda/activation.cuh"
#include "ops/activation.h"

namespace fl {
namespace {

AxisShape axis_shape(index_t outer, index_t n, index_t inner) {
  FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "negative shape (", outer, ", ", n, ", ", inner, ")");
  return {outer, n, inner};
}

index_t maxout_outputs(AxisShape s, index_t pieces) {
  FL_CHECK_ARG(pieces >= 1 && s.n % pieces == 0, "pieces: ", pieces, " does not divide the channel count ", s.n);
  return s.outer * (s.n / pieces) * s.inner;
}

template <class B>
void bind_activation(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("act_forward").c_str(), [](ActOp op, Buf y, Buf x, float a) {
    auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
    check_size(vy, vx.size, "out");
    typename B::Scope scope(B::device(x, {&y}));
    if constexpr (B::kCudaKernels) act_forward_cuda(op, vy.data, vx.data, vx.size, a, B::stream());
    else activation_forward(op, vy.data, vx.data, vx.size, a);
  });
  m.def(B::name("act_backward").c_str(), [](ActOp op, Buf dx, Buf dy, Buf s, float a) {
    auto vdx = B::floats(dx, "out", true), vdy = B::floats(dy, "grad_out"), vs = B::floats(s, "saved");
    check_size(vdx, vdy.size, "out");
    check_size(vs, vdy.size, "saved tensor");
    typename B::Scope scope(B::device(dy, {&dx, &s}));
    if constexpr (B::kCudaKernels) act_backward_cuda(op, vdx.data, vdy.data, vs.data, vdy.size, a, B::stream());
    else activation_backward(op, vdx.data, vdy.data, vs.data, vdy.size, a);
  });
  m.def(B::name("softmax_forward").c_str(), [](Buf y, Buf x, index_t outer, index_t n, index_t inner, bool log) {
    const AxisShape sh = axis_shape(outer, n, inner);
    auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
    check_size(vx, outer * n * inner, "input");
    check_size(vy, vx.size, "out");
    if (vx.size == 0) return;
    typename B::Scope scope(B::device(x, {&y}));
    if constexpr (B::kCudaKernels) softmax_forward_cuda(vy.data, vx.data, sh, log, B::stream());
    else softmax_forward(vy.data, vx.data, sh, log);
  });
  m.def(B::name("softmax_backward").c_str(),
        [](Buf dx, Buf dy, Buf y, index_t outer, index_t n, index_t inner, bool log) {
          const AxisShape sh = axis_shape(outer, n, inner);
          auto vdx = B::floats(dx, "out", true), vdy = B::floats(dy, "grad_out"), vy = B::floats(y, "output");
          check_size(vdy, outer * n * inner, "grad_out");
          check_size(vy, vdy.size, "output");
          check_size(vdx, vdy.size, "out");
          if (vdy.size == 0) return;
          typename B::Scope scope(B::device(dy, {&dx, &y}));
          if constexpr (B::kCudaKernels) softmax_backward_cuda(vdx.data, vdy.data, vy.data, sh, log, B::stream());
          else softmax_backward(vdx.data, vdy.data, vy.data, sh, log);
        });
  m.def(B::name("maxout_forward").c_str(),
        [](Buf y, Buf x, index_t outer, index_t n, index_t inner, index_t pieces) {
          const AxisShape sh = axis_shape(outer, n, inner);
          const index_t ny = maxout_outputs(sh, pieces);
          auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
          check_size(vx, outer * n * inner, "input");
          check_size(vy, ny, "out");
          if (vy.size == 0) return;
          typename B::Scope scope(B::device(x, {&y}));
          if constexpr (B::kCudaKernels) maxout_forward_cuda(vy.data, vx.data, sh, pieces, B::stream());
          else maxout_forward(vy.data, vx.data, sh, pieces);
        });
  m.def(B::name("maxout_backward").c_str(),
        [](Buf dx, Buf dy, Buf x, index_t outer, index_t n, index_t inner, index_t pieces) {
          const AxisShape sh = axis_shape(outer, n, inner);
          const index_t ny = maxout_outputs(sh, pieces);
          auto vdx = B::floats(dx, "out", true), vdy = B::floats(dy, "grad_out"), vx = B::floats(x, "input");
          check_size(vx, outer * n * inner, "input");
          check_size(vdx, vx.size, "out");
          check_size(vdy, ny, "grad_out");
          if (vx.size == 0) return;
          typename B::Scope scope(B::device(x, {&dx, &dy}));
          if constexpr (B::kCudaKernels) maxout_backward_cuda(vdx.data, vdy.data, vx.data, sh, pieces, B::stream());
          else maxout_backward(vdx.data, vdy.data, vx.data, sh, pieces);
        });
}

}  // namespace

void init_activation(py::module_& m) {
  py::enum_<ActOp>(m, "ActOp", "Element-wise activations of act_forward / act_backward (ops/activation.h)")
      .value("sigmoid", ActOp::sigmoid)
      .value("tanh", ActOp::tanh)
      .value("relu", ActOp::relu)
      .value("leaky_relu", ActOp::leaky_relu)
      .value("elu", ActOp::elu)
      .value("gelu", ActOp::gelu)
      .value("gelu_tanh", ActOp::gelu_tanh)
      .value("silu", ActOp::silu);
  FL_BIND_BOTH_BACKENDS(bind_activation, m);
}

}  // namespace fl
