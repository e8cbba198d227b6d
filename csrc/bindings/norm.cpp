// Bindings of the norm family, both backends (bindings/backend.h): batch_norm_forward,
// batch_norm_stats, batch_norm_backward, group_norm_forward, group_norm_backward,
// group_norm_update_running (instance norm's running statistics) and cuda_<op> of each.
// Per-channel arguments may be None where the driver accepts null (weight, bias, running
// statistics in training, unwanted dx or parameter gradients).
#include "bindings/backend.h"
#include "cuda/norm.cuh"
#include "ops/norm.h"

namespace fl {
namespace {

ChannelShape channel_shape(index_t N, index_t C, index_t L) {
  FL_CHECK_ARG(N >= 0 && C >= 0 && L >= 0, "batch_norm: negative shape (", N, ", ", C, ", ", L, ")");
  return {N, C, L};
}

template <class B>
void bind_norm(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("batch_norm_forward").c_str(),
        [](Buf y, Buf save_mean, Buf save_invstd, py::object running_mean, py::object running_var, Buf x,
           py::object weight, py::object bias, index_t N, index_t C, index_t L, bool training, float momentum,
           float eps) {
          const ChannelShape s = channel_shape(N, C, L);
          auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
          auto sm = B::floats(save_mean, "save_mean", true), si = B::floats(save_invstd, "save_invstd", true);
          check_size(vx, N * C * L, "input");
          check_size(vy, vx.size, "out");
          check_size(sm, C, "save_mean");
          check_size(si, C, "save_invstd");
          const int dev = B::device(x, {&y, &save_mean, &save_invstd});
          float* rm = B::opt_floats(running_mean, C, "running_mean", dev, true).data;
          float* rv = B::opt_floats(running_var, C, "running_var", dev, true).data;
          const float* w = B::opt_floats(weight, C, "weight", dev).data;
          const float* b = B::opt_floats(bias, C, "bias", dev).data;
          FL_CHECK_ARG(training || (rm && rv), "running_mean, running_var: required when training is False");
          FL_CHECK_ARG(!training || N * L > 1, "input: expected more than 1 value per channel when training, got "
                       "input of (N, C, L) = (", N, ", ", C, ", ", L, ")");
          if (C == 0) return;
          typename B::Scope scope(dev);
          if constexpr (B::kCudaKernels)
            batch_norm_forward_cuda(vy.data, sm.data, si.data, rm, rv, vx.data, w, b, s, training, momentum, eps,
                                    B::stream());
          else
            batch_norm_forward(vy.data, sm.data, si.data, rm, rv, vx.data, w, b, s, training, momentum, eps);
        });
  m.def(B::name("batch_norm_stats").c_str(),
        [](Buf mean, Buf invstd, Buf x, index_t N, index_t C, index_t L, float eps) {
          const ChannelShape s = channel_shape(N, C, L);
          auto vx = B::floats(x, "input"), pm = B::floats(mean, "mean", true), pi = B::floats(invstd, "invstd", true);
          check_size(vx, N * C * L, "input");
          check_size(pm, C, "mean");
          check_size(pi, C, "invstd");
          FL_CHECK_ARG(N * L > 1, "input: expected more than 1 value per channel, got (N, C, L) = (", N, ", ", C,
                       ", ", L, ")");
          if (C == 0) return;
          typename B::Scope scope(B::device(x, {&mean, &invstd}));
          if constexpr (B::kCudaKernels) batch_norm_stats_cuda(pm.data, pi.data, vx.data, s, eps, B::stream());
          else batch_norm_stats(pm.data, pi.data, vx.data, s, eps);
        });
  m.def(B::name("batch_norm_backward").c_str(),
        [](py::object dx, Buf dweight, Buf dbias, Buf dy, Buf x, py::object weight, Buf mean, Buf invstd, index_t N,
           index_t C, index_t L, bool training) {
          const ChannelShape s = channel_shape(N, C, L);
          auto vdy = B::floats(dy, "grad_out"), vx = B::floats(x, "input");
          auto dw = B::floats(dweight, "grad_weight", true), db = B::floats(dbias, "grad_bias", true);
          auto pm = B::floats(mean, "mean"), pi = B::floats(invstd, "invstd");
          check_size(vdy, N * C * L, "grad_out");
          check_size(vx, vdy.size, "input");
          check_size(dw, C, "grad_weight");
          check_size(db, C, "grad_bias");
          check_size(pm, C, "mean");
          check_size(pi, C, "invstd");
          const int dev = B::device(dy, {&x, &dweight, &dbias, &mean, &invstd});
          float* pdx = B::opt_floats(dx, vdy.size, "grad_input", dev, true).data;
          const float* w = B::opt_floats(weight, C, "weight", dev).data;
          if (C == 0) return;
          typename B::Scope scope(dev);
          if constexpr (B::kCudaKernels)
            batch_norm_backward_cuda(pdx, dw.data, db.data, vdy.data, vx.data, w, pm.data, pi.data, s, training,
                                     B::stream());
          else
            batch_norm_backward(pdx, dw.data, db.data, vdy.data, vx.data, w, pm.data, pi.data, s, training);
        });
}

GroupShape group_shape(index_t N, index_t C, index_t G, index_t L) {
  FL_CHECK_ARG(N >= 0 && C >= 0 && L >= 0 && G >= 1 && C % G == 0, "group_norm: bad shape (N, C, G, L) = (", N, ", ",
               C, ", ", G, ", ", L, ")");
  return {N, C, G, L};
}

template <class B>
void bind_group_norm(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("group_norm_forward").c_str(),
        [](Buf y, Buf save_mean, Buf save_invstd, py::object save_var, Buf x, py::object weight, py::object bias,
           index_t N, index_t C, index_t G, index_t L, float eps) {
          const GroupShape s = group_shape(N, C, G, L);
          auto vy = B::floats(y, "out", true), vx = B::floats(x, "input");
          auto sm = B::floats(save_mean, "save_mean", true), si = B::floats(save_invstd, "save_invstd", true);
          check_size(vx, N * C * L, "input");
          check_size(vy, vx.size, "out");
          check_size(sm, N * G, "save_mean");
          check_size(si, N * G, "save_invstd");
          const int dev = B::device(x, {&y, &save_mean, &save_invstd});
          float* sv = B::opt_floats(save_var, N * G, "save_var", dev, true).data;
          const float* w = B::opt_floats(weight, C, "weight", dev).data;
          const float* b = B::opt_floats(bias, C, "bias", dev).data;
          if (vx.size == 0) return;
          typename B::Scope scope(dev);
          if constexpr (B::kCudaKernels)
            group_norm_forward_cuda(vy.data, sm.data, si.data, sv, vx.data, w, b, s, eps, B::stream());
          else
            group_norm_forward(vy.data, sm.data, si.data, sv, vx.data, w, b, s, eps);
        });
  m.def(B::name("group_norm_backward").c_str(),
        [](py::object dx, py::object dweight, py::object dbias, Buf dy, Buf x, py::object weight, Buf mean,
           Buf invstd, index_t N, index_t C, index_t G, index_t L) {
          const GroupShape s = group_shape(N, C, G, L);
          auto vdy = B::floats(dy, "grad_out"), vx = B::floats(x, "input");
          auto pm = B::floats(mean, "mean"), pi = B::floats(invstd, "invstd");
          check_size(vdy, N * C * L, "grad_out");
          check_size(vx, vdy.size, "input");
          check_size(pm, N * G, "mean");
          check_size(pi, N * G, "invstd");
          const int dev = B::device(dy, {&x, &mean, &invstd});
          float* pdx = B::opt_floats(dx, vdy.size, "grad_input", dev, true).data;
          float* dw = B::opt_floats(dweight, C, "grad_weight", dev, true).data;
          float* db = B::opt_floats(dbias, C, "grad_bias", dev, true).data;
          const float* w = B::opt_floats(weight, C, "weight", dev).data;
          if (vdy.size == 0) return;
          typename B::Scope scope(dev);
          if constexpr (B::kCudaKernels)
            group_norm_backward_cuda(pdx, dw, db, vdy.data, vx.data, w, pm.data, pi.data, s, B::stream());
          else
            group_norm_backward(pdx, dw, db, vdy.data, vx.data, w, pm.data, pi.data, s);
        });
  m.def(B::name("group_norm_update_running").c_str(),
        [](py::object running_mean, py::object running_var, Buf mean, Buf var, index_t N, index_t C, index_t G,
           index_t L, float momentum) {
          const GroupShape s = group_shape(N, C, G, L);
          auto pm = B::floats(mean, "mean"), pv = B::floats(var, "var");
          check_size(pm, N * G, "mean");
          check_size(pv, N * G, "var");
          const int dev = B::device(mean, {&var});
          float* rm = B::opt_floats(running_mean, G, "running_mean", dev, true).data;
          float* rv = B::opt_floats(running_var, G, "running_var", dev, true).data;
          FL_CHECK_ARG(N >= 1 && C / G * L > 1, "running statistics: need a sample of more than 1 value per group");
          typename B::Scope scope(dev);
          if constexpr (B::kCudaKernels)
            group_norm_update_running_cuda(rm, rv, pm.data, pv.data, s, momentum, B::stream());
          else
            group_norm_update_running(rm, rv, pm.data, pv.data, s, momentum);
        });
}

}  // namespace

void init_norm(py::module_& m) {
  FL_BIND_BOTH_BACKENDS(bind_norm, m);
  FL_BIND_BOTH_BACKENDS(bind_group_norm, m);
}

}  // namespace fl
