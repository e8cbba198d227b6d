// Bindings of the layer-norm family, both backends (bindings/backend.h): layer_norm_forward and
// layer_norm_backward over (M, N) rows, and cuda_<op> of each on device memory, with the same
// arguments and one set of size checks; optional arrays (the output, weight, bias, the weight
// and bias gradients) may be None. Releases the GIL and calls the CPU driver (ops/layer_norm.h)
// or queues the CUDA launcher (cuda/layer_norm.cuh; unverified on a GPU at the time of writing,
// checked by host emulation). fastlayers.functional.layer_norm shapes the arguments.
#include "bindings/backend.h"
#include "cuda/layer_norm.cuh"
#include "ops/layer_norm.h"

namespace fl {
namespace {

LayerNormShape make_shape(index_t m, index_t n) {
  FL_CHECK_ARG(m >= 0 && n >= 1, "layer_norm: expected M >= 0 rows of N >= 1 elements, got (", m, ", ", n, ")");
  return {m, n};
}

template <class B>
void bind_layer_norm(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("layer_norm_forward").c_str(), [](py::object y, Buf mean, Buf rstd, Buf x, py::object w,
                                                  py::object b, index_t rows, index_t n, float eps) {
    const LayerNormShape s = make_shape(rows, n);
    auto vx = B::floats(x, "input"), vm = B::floats(mean, "mean", true), vr = B::floats(rstd, "rstd", true);
    check_size(vx, rows * n, "input");
    check_size(vm, rows, "mean");
    check_size(vr, rows, "rstd");
    const int dev = B::device(x, {&mean, &rstd});
    float* py_ = B::opt_floats(y, rows * n, "out", dev, true).data;
    const float* pw = B::opt_floats(w, n, "weight", dev).data;
    const float* pb = B::opt_floats(b, n, "bias", dev).data;
    if (rows == 0) return;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      layer_norm_forward_cuda(py_, vm.data, vr.data, vx.data, pw, pb, s, eps, B::stream());
    else
      layer_norm_forward(py_, vm.data, vr.data, vx.data, pw, pb, s, eps);
  });
  m.def(B::name("layer_norm_backward").c_str(), [](Buf dx, py::object dw, py::object db, Buf dy, Buf x, Buf mean,
                                                   Buf rstd, py::object w, index_t rows, index_t n) {
    const LayerNormShape s = make_shape(rows, n);
    auto vdx = B::floats(dx, "grad_input", true), vdy = B::floats(dy, "grad_out"), vx = B::floats(x, "input"),
         vm = B::floats(mean, "mean"), vr = B::floats(rstd, "rstd");
    check_size(vx, rows * n, "input");
    check_size(vdy, rows * n, "grad_out");
    check_size(vdx, rows * n, "grad_input");
    check_size(vm, rows, "mean");
    check_size(vr, rows, "rstd");
    const int dev = B::device(x, {&dx, &dy, &mean, &rstd});
    float* pdw = B::opt_floats(dw, n, "grad_weight", dev, true).data;
    float* pdb = B::opt_floats(db, n, "grad_bias", dev, true).data;
    const float* pw = B::opt_floats(w, n, "weight", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      layer_norm_backward_cuda(vdx.data, pdw, pdb, vdy.data, vx.data, vm.data, vr.data, pw, s, B::stream());
    else
      layer_norm_backward(vdx.data, pdw, pdb, vdy.data, vx.data, vm.data, vr.data, pw, s);
  });
}

}  // namespace

void init_layer_norm(py::module_& m) { FL_BIND_BOTH_BACKENDS(bind_layer_norm, m); }

}  // namespace fl
