// Bindings of the CUDA kernels: the activation family and SGEMM on device memory. The Python
// layer (fastlayers._cuda_activation, fastlayers.cuda) validates shapes and dtypes; here we
// check that every buffer is large enough for the sizes given and lives on one device, make
// that device current, release the GIL and queue the kernel on the legacy default stream.
// Without CUDA kernels every entry point raises RuntimeError.
#include "bindings/cuda_common.h"

#if defined(FL_WITH_CUDA)
#include "cuda/activation.cuh"
#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#endif

namespace fl {

#if defined(FL_WITH_CUDA)
namespace {

ActOp act_op(int op) {
  FL_CHECK_ARG(op >= 0 && op < kActOpCount, "op: unknown activation ", op);
  return static_cast<ActOp>(op);
}

AxisShape axis_shape(index_t outer, index_t n, index_t inner) {
  FL_CHECK_ARG(outer >= 0 && n >= 0 && inner >= 0, "negative shape (", outer, ", ", n, ", ", inner, ")");
  return {outer, n, inner};
}

void check_pieces(index_t n, index_t pieces) {
  FL_CHECK_ARG(pieces >= 1 && n % pieces == 0, "pieces: ", pieces, " does not divide the channel count ", n);
}

}  // namespace

void init_cuda_ops(py::module_& m) {
  m.def("cuda_act_forward", [](int op, const CudaMemory& y, const CudaMemory& x, index_t n, float a) {
    const ActOp o = act_op(op);
    float* py = device_floats(y, n, "out");
    const float* px = device_floats(x, n, "input");
    check_same_device(x.device, {&y});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    act_forward_cuda(o, py, px, n, a, 0);
  });
  m.def("cuda_act_backward",
        [](int op, const CudaMemory& dx, const CudaMemory& dy, const CudaMemory& s, index_t n, float a) {
          const ActOp o = act_op(op);
          float* pdx = device_floats(dx, n, "out");
          const float* pdy = device_floats(dy, n, "grad_out");
          const float* ps = device_floats(s, n, "saved tensor");
          check_same_device(dy.device, {&dx, &s});
          py::gil_scoped_release nogil;
          cuda::DeviceGuard guard(dy.device);
          act_backward_cuda(o, pdx, pdy, ps, n, a, 0);
        });
  m.def("cuda_softmax_forward", [](const CudaMemory& y, const CudaMemory& x, index_t outer, index_t n, index_t inner,
                                   bool log) {
    const AxisShape sh = axis_shape(outer, n, inner);
    const index_t total = outer * n * inner;
    float* py = device_floats(y, total, "out");
    const float* px = device_floats(x, total, "input");
    check_same_device(x.device, {&y});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    softmax_forward_cuda(py, px, sh, log, 0);
  });
  m.def("cuda_softmax_backward", [](const CudaMemory& dx, const CudaMemory& dy, const CudaMemory& y, index_t outer,
                                    index_t n, index_t inner, bool log) {
    const AxisShape sh = axis_shape(outer, n, inner);
    const index_t total = outer * n * inner;
    float* pdx = device_floats(dx, total, "out");
    const float* pdy = device_floats(dy, total, "grad_out");
    const float* py = device_floats(y, total, "output");
    check_same_device(dy.device, {&dx, &y});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(dy.device);
    softmax_backward_cuda(pdx, pdy, py, sh, log, 0);
  });
  m.def("cuda_maxout_forward", [](const CudaMemory& y, const CudaMemory& x, index_t outer, index_t n, index_t inner,
                                  index_t pieces) {
    const AxisShape sh = axis_shape(outer, n, inner);
    check_pieces(n, pieces);
    float* py = device_floats(y, outer * (n / pieces) * inner, "out");
    const float* px = device_floats(x, outer * n * inner, "input");
    check_same_device(x.device, {&y});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    maxout_forward_cuda(py, px, sh, pieces, 0);
  });
  m.def("cuda_maxout_backward", [](const CudaMemory& dx, const CudaMemory& dy, const CudaMemory& x, index_t outer,
                                   index_t n, index_t inner, index_t pieces) {
    const AxisShape sh = axis_shape(outer, n, inner);
    check_pieces(n, pieces);
    float* pdx = device_floats(dx, outer * n * inner, "out");
    const float* pdy = device_floats(dy, outer * (n / pieces) * inner, "grad_out");
    const float* px = device_floats(x, outer * n * inner, "input");
    check_same_device(x.device, {&dx, &dy});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    maxout_backward_cuda(pdx, pdy, px, sh, pieces, 0);
  });
  m.def(
      "cuda_sgemm",
      [](const CudaMemory& c, const CudaMemory& a, const CudaMemory& b, index_t M, index_t N, index_t K,
         bool trans_a, bool trans_b, float alpha, float beta, py::object bias, int act, float act_param,
         int precision) {
        FL_CHECK_ARG(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size (M=", M, ", N=", N, ", K=", K, ")");
        FL_CHECK_ARG(precision == 0 || precision == 1, "precision: expected 0 (float32) or 1 (tf32), got ", precision);
        FL_CHECK_ARG(act >= -1 && act < kActOpCount, "activation: unknown code ", act);
        float* pc = device_floats(c, M * N, "out");
        const float* pa = device_floats(a, M * K, "a");
        const float* pb = device_floats(b, K * N, "b");
        check_same_device(c.device, {&a, &b});
        GemmEpilogue ep;
        ep.act = act;
        ep.act_param = act_param;
        if (!bias.is_none()) {
          const auto& mb = bias.cast<const CudaMemory&>();
          ep.bias = device_floats(mb, N, "bias");
          check_same_device(c.device, {&mb});
        }
        py::gil_scoped_release nogil;
        cuda::DeviceGuard guard(c.device);
        sgemm_cuda(pc, pa, pb, M, N, K, trans_a ? M : K, trans_b ? K : N, N, trans_a, trans_b, alpha, beta, ep,
                   static_cast<GemmPrecision>(precision), 0);
      },
      py::arg("c"), py::arg("a"), py::arg("b"), py::arg("M"), py::arg("N"), py::arg("K"), py::arg("trans_a"),
      py::arg("trans_b"), py::arg("alpha"), py::arg("beta"), py::arg("bias"), py::arg("act"), py::arg("act_param"),
      py::arg("precision"));
}

#else

void init_cuda_ops(py::module_& m) {
  def_without_cuda(m, {"cuda_act_forward", "cuda_act_backward", "cuda_softmax_forward", "cuda_softmax_backward",
                       "cuda_maxout_forward", "cuda_maxout_backward", "cuda_sgemm"});
}

#endif

}  // namespace fl
