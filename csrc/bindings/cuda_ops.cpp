// Bindings of the CUDA kernels: the activation family and SGEMM on device memory. The Python
// layer (fastlayers._cuda_activation, fastlayers.cuda) validates shapes and dtypes; here we
// check that every buffer is large enough for the sizes given and lives on one device, make
// that device current, release the GIL and queue the kernel on the legacy default stream.
// Without CUDA kernels every entry point raises RuntimeError.
#include "bindings/cuda_common.h"

#if defined(FL_WITH_CUDA)
#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#endif

namespace fl {

#if defined(FL_WITH_CUDA)
namespace {

}  // namespace

void init_cuda_ops(py::module_& m) {
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
  def_without_cuda(m, {"cuda_sgemm"});
}

#endif

}  // namespace fl
