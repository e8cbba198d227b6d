// Bindings of the loss family, both backends (bindings/backend.h): ce_forward / ce_backward
// (cross-entropy over logits (N, C, D) with class-index targets), ce_soft_forward /
// ce_soft_backward (probability targets), nll_forward / nll_backward (over log-probabilities),
// point_loss_forward / point_loss_backward (PointLoss: MSE, BCE with logits, element weights),
// and cuda_<op> of each. Forwards return what the reduction needs, as Python numbers: (sum,
// count, weight) -- the mean is sum / weight -- or the sum.
// On a GPU the kernels reduce on the device into a LossTotal (cuda/loss.cuh) and only its 32
// bytes of results come back: the loss scalar is the one copy a training step makes. The
// Python layer (functional/loss.py) shapes arguments and applies the reduction's scale.
#include <cstdint>

#include "bindings/backend.h"
#include "cuda/loss.cuh"
#include "ops/loss.h"

#if defined(FL_WITH_CUDA)
#include "cuda/common.cuh"
#include "cuda/memory.cuh"
#endif

namespace fl {
namespace {

// A LossTotal in device memory for one forward call (from the caching allocator), and its
// results read back (synchronising with the stream). Defined in CUDA builds only; the other
// builds never reach it (bindings/backend.h).
class DeviceLossTotal {
 public:
  explicit DeviceLossTotal(int device);
  ~DeviceLossTotal();
  DeviceLossTotal(const DeviceLossTotal&) = delete;
  DeviceLossTotal& operator=(const DeviceLossTotal&) = delete;
  LossTotal* get() const;
  // The results (sum, count, weight, bad_target); throws the CPU driver's ValueError for a bad target.
  LossTotal read(index_t C, std::int64_t ignore_index) const;

 private:
  int device_;
#if defined(FL_WITH_CUDA)
  cuda::DeviceBlock block_;
#endif
};

#if defined(FL_WITH_CUDA)
DeviceLossTotal::DeviceLossTotal(int device) : device_(device), block_(cuda::device_alloc(device, sizeof(LossTotal))) {}
DeviceLossTotal::~DeviceLossTotal() { cuda::device_release(device_, block_); }
LossTotal* DeviceLossTotal::get() const { return static_cast<LossTotal*>(block_.ptr); }
LossTotal DeviceLossTotal::read(index_t C, std::int64_t ignore_index) const {
  LossTotal host;
  cuda::check(cudaMemcpy(&host, block_.ptr, kLossTotalResultBytes, cudaMemcpyDeviceToHost), "loss total");
  FL_CHECK_ARG(host.bad_target < 0, "target: the class index at position ", host.bad_target,
               " is out of range [0, ", C, ") (ignore_index=", ignore_index, ")");
  return host;
}
#endif

IndexView targets(const IndexView& t, index_t rows) {
  FL_CHECK_ARG(t.size == rows, "target: expected ", rows, " elements, got ", t.size);
  return t;
}

CeShape ce_shape(index_t N, index_t C, index_t D, const char* op) {
  FL_CHECK_ARG(N >= 0 && C >= 1 && D >= 0, op, ": bad shape (N, C, D) = (", N, ", ", C, ", ", D, ")");
  return {N, C, D};
}

py::tuple ce_result(const CeSum& r) { return py::make_tuple(r.sum, r.count, r.weight); }

// The reduced result of a forward launcher given a DeviceLossTotal: runs launch(total) in the
// device scope, then reads (and checks) the total.
template <class B, class Launch>
CeSum device_total(int dev, index_t C, std::int64_t ignore_index, const Launch& launch) {
  CeSum r{0.0, 0, 0.0};
  if constexpr (B::kCudaKernels) {
    const DeviceLossTotal total(dev);
    {
      typename B::Scope scope(dev);
      launch(total.get());
    }
    const LossTotal h = total.read(C, ignore_index);
    r = {h.sum, h.count, h.weight};
  }
  return r;
}

// The CPU driver's result of run(), computed without the GIL (which is back before the result
// becomes Python objects).
template <class B, class Run>
CeSum host_total(int dev, const Run& run) {
  typename B::Scope scope(dev);
  return run();
}

template <class B>
void bind_loss(py::module_& m) {
  using Buf = typename B::Buf;
  // Cross-entropy with class-index targets over logits (N, C, D); weight: C class weights or None.
  // Returns (sum, count, weight): the mean is sum / weight.
  m.def(B::name("ce_forward").c_str(), [](Buf loss, Buf lse, Buf x, Buf target, index_t N, index_t C, index_t D,
                                          std::int64_t ignore_index, float smoothing, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "cross_entropy");
    auto vx = B::floats(x, "input"), vl = B::floats(loss, "loss", true), vlse = B::floats(lse, "lse", true);
    check_size(vx, N * C * D, "input");
    check_size(vl, N * D, "loss");
    check_size(vlse, N * D, "lse");
    const IndexView t = targets(B::indices(target, "target"), N * D);
    const int dev = B::device(x, {&loss, &lse, &target});
    const CeOptions o{ignore_index, smoothing, B::opt_floats(weight, C, "weight", dev).data};
    if constexpr (B::kCudaKernels) {
      return ce_result(device_total<B>(dev, C, ignore_index, [&](LossTotal* total) {
        cross_entropy_forward_cuda(vl.data, vlse.data, total, vx.data, t.data, s, o, B::stream());
      }));
    } else {
      return ce_result(host_total<B>(dev, [&] { return cross_entropy_forward(vl.data, vlse.data, vx.data, t.data, s, o); }));
    }
  });
  m.def(B::name("ce_backward").c_str(), [](Buf dx, Buf x, Buf lse, Buf target, py::object grad, float scale,
                                           index_t N, index_t C, index_t D, std::int64_t ignore_index,
                                           float smoothing, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "cross_entropy_backward");
    auto vx = B::floats(x, "input"), vdx = B::floats(dx, "out", true), vlse = B::floats(lse, "lse");
    check_size(vx, N * C * D, "input");
    check_size(vdx, N * C * D, "out");
    check_size(vlse, N * D, "lse");
    const IndexView t = targets(B::indices(target, "target"), N * D);
    const int dev = B::device(x, {&dx, &lse, &target});
    const float* g = B::opt_floats(grad, N * D, "grad_out", dev).data;
    const CeOptions o{ignore_index, smoothing, B::opt_floats(weight, C, "weight", dev).data};
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      cross_entropy_backward_cuda(vdx.data, vx.data, vlse.data, t.data, g, scale, nullptr, s, o, B::stream());
    else
      cross_entropy_backward(vdx.data, vx.data, vlse.data, t.data, g, scale, s, o);
  });
  // Probability targets (x's shape). Returns (sum, rows, rows).
  m.def(B::name("ce_soft_forward").c_str(), [](Buf loss, Buf lse, Buf x, Buf target, index_t N, index_t C,
                                               index_t D, float smoothing, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "cross_entropy");
    auto vx = B::floats(x, "input"), vt = B::floats(target, "target"), vl = B::floats(loss, "loss", true);
    auto vlse = B::floats(lse, "lse", true);
    check_size(vx, N * C * D, "input");
    check_size(vt, vx.size, "target");
    check_size(vl, N * D, "loss");
    check_size(vlse, N * D, "lse");
    const int dev = B::device(x, {&loss, &lse, &target});
    const CeOptions o{-100, smoothing, B::opt_floats(weight, C, "weight", dev).data};
    if constexpr (B::kCudaKernels) {
      return ce_result(device_total<B>(dev, C, -100, [&](LossTotal* total) {
        cross_entropy_soft_forward_cuda(vl.data, vlse.data, total, vx.data, vt.data, s, o, B::stream());
      }));
    } else {
      return ce_result(host_total<B>(dev, [&] { return cross_entropy_soft_forward(vl.data, vlse.data, vx.data, vt.data, s, o); }));
    }
  });
  m.def(B::name("ce_soft_backward").c_str(), [](Buf dx, Buf x, Buf lse, Buf target, py::object grad, float scale,
                                                index_t N, index_t C, index_t D, float smoothing, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "cross_entropy_backward");
    auto vx = B::floats(x, "input"), vt = B::floats(target, "target"), vdx = B::floats(dx, "out", true);
    auto vlse = B::floats(lse, "lse");
    check_size(vx, N * C * D, "input");
    check_size(vt, vx.size, "target");
    check_size(vdx, vx.size, "out");
    check_size(vlse, N * D, "lse");
    const int dev = B::device(x, {&dx, &lse, &target});
    const float* g = B::opt_floats(grad, N * D, "grad_out", dev).data;
    const CeOptions o{-100, smoothing, B::opt_floats(weight, C, "weight", dev).data};
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      cross_entropy_soft_backward_cuda(vdx.data, vx.data, vlse.data, vt.data, g, scale, nullptr, s, o, B::stream());
    else
      cross_entropy_soft_backward(vdx.data, vx.data, vlse.data, vt.data, g, scale, s, o);
  });
  m.def(B::name("nll_forward").c_str(), [](Buf loss, Buf x, Buf target, index_t N, index_t C, index_t D,
                                           std::int64_t ignore_index, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "nll_loss");
    auto vx = B::floats(x, "input"), vl = B::floats(loss, "loss", true);
    check_size(vx, N * C * D, "input");
    check_size(vl, N * D, "loss");
    const IndexView t = targets(B::indices(target, "target"), N * D);
    const int dev = B::device(x, {&loss, &target});
    const float* w = B::opt_floats(weight, C, "weight", dev).data;
    if constexpr (B::kCudaKernels) {
      return ce_result(device_total<B>(dev, C, ignore_index, [&](LossTotal* total) {
        nll_loss_forward_cuda(vl.data, total, vx.data, t.data, s, ignore_index, w, B::stream());
      }));
    } else {
      return ce_result(host_total<B>(dev, [&] { return nll_loss_forward(vl.data, vx.data, t.data, s, ignore_index, w); }));
    }
  });
  m.def(B::name("nll_backward").c_str(), [](Buf dx, Buf target, py::object grad, float scale, index_t N, index_t C,
                                            index_t D, std::int64_t ignore_index, py::object weight) {
    const CeShape s = ce_shape(N, C, D, "nll_loss_backward");
    auto vdx = B::floats(dx, "out", true);
    check_size(vdx, N * C * D, "out");
    const IndexView t = targets(B::indices(target, "target"), N * D);
    const int dev = B::device(dx, {&target});
    const float* g = B::opt_floats(grad, N * D, "grad_out", dev).data;
    const float* w = B::opt_floats(weight, C, "weight", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      nll_loss_backward_cuda(vdx.data, t.data, g, scale, nullptr, s, ignore_index, w, B::stream());
    else
      nll_loss_backward(vdx.data, t.data, g, scale, s, ignore_index, w);
  });
  // loss may be None (the sum only); weight, pos_weight: None or input-sized. Returns the sum.
  m.def(B::name("point_loss_forward").c_str(), [](PointLoss op, py::object loss, Buf x, Buf y, py::object weight,
                                                  py::object pos_weight) {
    auto vx = B::floats(x, "input"), vy = B::floats(y, "target");
    check_size(vy, vx.size, "target");
    const int dev = B::device(x, {&y});
    float* l = B::opt_floats(loss, vx.size, "loss", dev, true).data;
    const PointWeights w{B::opt_floats(weight, vx.size, "weight", dev).data,
                         B::opt_floats(pos_weight, vx.size, "pos_weight", dev).data};
    if constexpr (B::kCudaKernels) {
      return device_total<B>(dev, 1, -1, [&](LossTotal* total) {
        point_loss_forward_cuda(op, l, total, vx.data, vy.data, w, vx.size, B::stream());
      }).sum;
    } else {
      typename B::Scope scope(dev);
      return point_loss_forward(op, l, vx.data, vy.data, w, vx.size);
    }
  });
  m.def(B::name("point_loss_backward").c_str(), [](PointLoss op, Buf dx, Buf x, Buf y, py::object grad, float scale,
                                                   py::object weight, py::object pos_weight) {
    auto vx = B::floats(x, "input"), vy = B::floats(y, "target"), vdx = B::floats(dx, "out", true);
    check_size(vy, vx.size, "target");
    check_size(vdx, vx.size, "out");
    const int dev = B::device(x, {&dx, &y});
    const float* g = B::opt_floats(grad, vx.size, "grad_out", dev).data;
    const PointWeights w{B::opt_floats(weight, vx.size, "weight", dev).data,
                         B::opt_floats(pos_weight, vx.size, "pos_weight", dev).data};
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      point_loss_backward_cuda(op, vdx.data, vx.data, vy.data, g, scale, nullptr, w, vx.size, B::stream());
    else
      point_loss_backward(op, vdx.data, vx.data, vy.data, g, scale, w, vx.size);
  });
}

}  // namespace

void init_loss(py::module_& m) {
  py::enum_<PointLoss>(m, "PointLoss", "Point-wise losses of point_loss_forward / _backward (ops/loss.h)")
      .value("mse", PointLoss::mse)
      .value("bce_with_logits", PointLoss::bce_with_logits);
  FL_BIND_BOTH_BACKENDS(bind_loss, m);
}

}  // namespace fl
