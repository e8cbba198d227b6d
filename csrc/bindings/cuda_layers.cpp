// Bindings of the CUDA layer kernels: optimizer updates, pooling, batch norm, convolution on
// device memory (csrc/cuda/{optim,pool,norm,conv}.cuh). The Python layer (fastlayers._cuda_optim,
// fastlayers._cuda_conv) validates shapes and dtypes and passes the same shape tuples as the
// CPU bindings; here we check that every buffer is large enough and lives on one device, make
// that device current, release the GIL and queue the kernels on the legacy default stream.
// Without CUDA kernels every entry point raises RuntimeError. The kernels are unverified on a
// GPU at the time of writing (tools/cuda_emu checks them by host emulation).
#include <array>
#include <cstdint>

#include "bindings/cuda_common.h"

#if defined(FL_WITH_CUDA)
#include "cuda/common.cuh"
#include "cuda/optim.cuh"
#endif

namespace fl {

#if defined(FL_WITH_CUDA)
namespace {

// An optional device buffer of at least n floats on `device` (None -> nullptr).
float* opt_floats(const py::object& o, index_t n, const char* name, int device) {
  if (o.is_none()) return nullptr;
  const auto& mem = o.cast<const CudaMemory&>();
  check_same_device(device, {&mem});
  return device_floats(mem, n, name);
}

void init_optim_ops(py::module_& m) {
  m.def("cuda_sgd_update", [](const CudaMemory& p, py::object buf, const CudaMemory& g, index_t n, float lr,
                              float momentum, float dampening, float weight_decay, bool nesterov, bool first) {
    float* pp = device_floats(p, n, "param");
    const float* pg = device_floats(g, n, "grad");
    check_same_device(p.device, {&g});
    float* pb = opt_floats(buf, n, "momentum_buffer", p.device);
    const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, first};
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(p.device);
    sgd_update_cuda(pp, pb, pg, n, h, 0);
  });
  m.def("cuda_adam_update", [](const CudaMemory& p, const CudaMemory& mm, const CudaMemory& v, py::object vmax,
                               const CudaMemory& g, index_t n, long long step, double lr, double beta1, double beta2,
                               double eps, double weight_decay, bool decoupled) {
    FL_CHECK_ARG(step >= 1, "step: expected >= 1, got ", step);
    float* pp = device_floats(p, n, "param");
    float* pm = device_floats(mm, n, "exp_avg");
    float* pv = device_floats(v, n, "exp_avg_sq");
    const float* pg = device_floats(g, n, "grad");
    check_same_device(p.device, {&mm, &v, &g});
    float* pvmax = opt_floats(vmax, n, "max_exp_avg_sq", p.device);
    const AdamHyper h = adam_hyper(lr, beta1, beta2, eps, weight_decay, decoupled, step);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(p.device);
    adam_update_cuda(pp, pm, pv, pvmax, pg, n, h, 0);
  });
}

}  // namespace

void init_cuda_layers(py::module_& m) {
  init_optim_ops(m);
}

#else

void init_cuda_layers(py::module_& m) {
  def_without_cuda(m, {"cuda_sgd_update", "cuda_adam_update"});
}

#endif

}  // namespace fl
