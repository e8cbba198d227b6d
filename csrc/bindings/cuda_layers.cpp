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
#include "cuda/conv.cuh"
#include "cuda/norm.cuh"
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

// (N, C, H, W, K, R, S, P, Q, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups).
Conv2dShape conv_shape(const std::array<index_t, 16>& a) {
  const Conv2dShape s{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
                      a[14], a[15]};
  FL_CHECK_ARG(s.N >= 0 && s.C >= 1 && s.H >= 0 && s.W >= 0 && s.K >= 1 && s.P >= 0 && s.Q >= 0 && s.R >= 1 &&
                   s.S >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1,
               "conv: bad shape");
  FL_CHECK_ARG(s.groups >= 1 && s.C % s.groups == 0 && s.K % s.groups == 0, "groups: ", s.groups,
               " must divide the input channels ", s.C, " and the output channels ", s.K);
  return s;
}

ChannelShape channel_shape(index_t N, index_t C, index_t L) {
  FL_CHECK_ARG(N >= 0 && C >= 0 && L >= 0, "batch_norm: negative shape (", N, ", ", C, ", ", L, ")");
  return {N, C, L};
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

void init_norm_ops(py::module_& m) {
  m.def("cuda_batch_norm_forward",
        [](const CudaMemory& y, const CudaMemory& mean, const CudaMemory& invstd, py::object running_mean,
           py::object running_var, const CudaMemory& x, py::object weight, py::object bias, index_t N, index_t C,
           index_t L, bool training, float momentum, float eps) {
          const ChannelShape s = channel_shape(N, C, L);
          const int dev = x.device;
          float* py_ = device_floats(y, N * C * L, "out");
          const float* px = device_floats(x, N * C * L, "input");
          float* pm = device_floats(mean, C, "save_mean");
          float* pi = device_floats(invstd, C, "save_invstd");
          check_same_device(dev, {&y, &mean, &invstd});
          float* rm = opt_floats(running_mean, C, "running_mean", dev);
          float* rv = opt_floats(running_var, C, "running_var", dev);
          const float* pw = opt_floats(weight, C, "weight", dev);
          const float* pb = opt_floats(bias, C, "bias", dev);
          FL_CHECK_ARG(training || (rm && rv), "running_mean, running_var: required when training is False");
          py::gil_scoped_release nogil;
          cuda::DeviceGuard guard(dev);
          batch_norm_forward_cuda(py_, pm, pi, rm, rv, px, pw, pb, s, training, momentum, eps, 0);
        });
  m.def("cuda_batch_norm_stats", [](const CudaMemory& mean, const CudaMemory& invstd, const CudaMemory& x, index_t N,
                                    index_t C, index_t L, float eps) {
    const ChannelShape s = channel_shape(N, C, L);
    float* pm = device_floats(mean, C, "save_mean");
    float* pi = device_floats(invstd, C, "save_invstd");
    const float* px = device_floats(x, N * C * L, "x");
    check_same_device(x.device, {&mean, &invstd});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    batch_norm_stats_cuda(pm, pi, px, s, eps, 0);
  });
  m.def("cuda_batch_norm_backward",
        [](const CudaMemory& dx, const CudaMemory& dweight, const CudaMemory& dbias, const CudaMemory& dy,
           const CudaMemory& x, py::object weight, const CudaMemory& mean, const CudaMemory& invstd, index_t N,
           index_t C, index_t L, bool training) {
          const ChannelShape s = channel_shape(N, C, L);
          const int dev = dy.device;
          float* pdx = device_floats(dx, N * C * L, "out");
          float* pdw = device_floats(dweight, C, "grad_weight");
          float* pdb = device_floats(dbias, C, "grad_bias");
          const float* pdy = device_floats(dy, N * C * L, "grad_out");
          const float* px = device_floats(x, N * C * L, "x");
          const float* pm = device_floats(mean, C, "mean");
          const float* pi = device_floats(invstd, C, "invstd");
          check_same_device(dev, {&dx, &dweight, &dbias, &x, &mean, &invstd});
          const float* pw = opt_floats(weight, C, "weight", dev);
          py::gil_scoped_release nogil;
          cuda::DeviceGuard guard(dev);
          batch_norm_backward_cuda(pdx, pdw, pdb, pdy, px, pw, pm, pi, s, training, 0);
        });
}

void init_conv_ops(py::module_& m) {
  m.def("cuda_conv2d_forward", [](const CudaMemory& y, const CudaMemory& x, const CudaMemory& w, py::object bias,
                                  std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    float* py_ = device_floats(y, s.N * s.K * s.P * s.Q, "out");
    const float* px = device_floats(x, s.N * s.C * s.H * s.W, "input");
    const float* pw = device_floats(w, s.K * (s.C / s.groups) * s.R * s.S, "weight");
    check_same_device(x.device, {&y, &w});
    const float* pb = opt_floats(bias, s.K, "bias", x.device);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(x.device);
    conv2d_forward_cuda(py_, px, pw, pb, s, 0);
  });
  m.def("cuda_conv2d_backward_input", [](const CudaMemory& dx, const CudaMemory& dy, const CudaMemory& w,
                                         py::object bias, std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    float* pdx = device_floats(dx, s.N * s.C * s.H * s.W, "out");
    const float* pdy = device_floats(dy, s.N * s.K * s.P * s.Q, "grad_out");
    const float* pw = device_floats(w, s.K * (s.C / s.groups) * s.R * s.S, "weight");
    check_same_device(dy.device, {&dx, &w});
    const float* pb = opt_floats(bias, s.C, "bias", dy.device);
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(dy.device);
    conv2d_backward_input_cuda(pdx, pdy, pw, pb, s, 0);
  });
  m.def("cuda_conv2d_backward_weight", [](const CudaMemory& dw, const CudaMemory& dy, const CudaMemory& x,
                                          std::array<index_t, 16> a) {
    const Conv2dShape s = conv_shape(a);
    float* pdw = device_floats(dw, s.K * (s.C / s.groups) * s.R * s.S, "out");
    const float* pdy = device_floats(dy, s.N * s.K * s.P * s.Q, "grad_out");
    const float* px = device_floats(x, s.N * s.C * s.H * s.W, "input");
    check_same_device(dy.device, {&dw, &x});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(dy.device);
    conv2d_backward_weight_cuda(pdw, pdy, px, s, 0);
  });
  m.def("cuda_conv_bias_backward", [](const CudaMemory& db, const CudaMemory& t, index_t N, index_t K, index_t L) {
    FL_CHECK_ARG(N >= 0 && K >= 0 && L >= 0, "conv_bias_backward: negative shape");
    float* pdb = device_floats(db, K, "out");
    const float* pt = device_floats(t, N * K * L, "grad_out");
    check_same_device(t.device, {&db});
    py::gil_scoped_release nogil;
    cuda::DeviceGuard guard(t.device);
    conv_bias_backward_cuda(pdb, pt, N, K, L, 0);
  });
}

}  // namespace

void init_cuda_layers(py::module_& m) {
  init_optim_ops(m);
  init_norm_ops(m);
  init_conv_ops(m);
}

#else

void init_cuda_layers(py::module_& m) {
  def_without_cuda(m, {"cuda_sgd_update", "cuda_adam_update", "cuda_batch_norm_forward", "cuda_batch_norm_stats",
                       "cuda_batch_norm_backward", "cuda_conv2d_forward", "cuda_conv2d_backward_input",
                       "cuda_conv2d_backward_weight", "cuda_conv_bias_backward"});
}

#endif

}  // namespace fl
