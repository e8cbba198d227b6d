// Bindings of the loss family, both backends (bindings/backend.h): ce_forward / ce_backward
// (cross-entropy over logits), nll_forward / nll_backward (over log-probabilities),
// point_loss_forward / point_loss_backward (PointLoss: MSE, BCE with logits), and cuda_<op> of
// each. Forwards return what the reduction needs, as Python numbers: (sum, count) or the sum.
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
  // The results (sum, count, bad_target); throws the CPU driver's ValueError for a bad target.
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

template <class B>
void bind_loss(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("ce_forward").c_str(), [](Buf loss, Buf lse, Buf x, Buf target, index_t rows, index_t C,
                                          std::int64_t ignore_index, float smoothing) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "cross_entropy: bad shape (", rows, ", ", C, ")");
    auto vx = B::floats(x, "input"), vl = B::floats(loss, "loss", true), vlse = B::floats(lse, "lse", true);
    check_size(vx, rows * C, "input");
    check_size(vl, rows, "loss");
    check_size(vlse, rows, "lse");
    const IndexView t = targets(B::indices(target, "target"), rows);
    const int dev = B::device(x, {&loss, &lse, &target});
    CeSum r{0.0, 0};
    if constexpr (B::kCudaKernels) {
      const DeviceLossTotal total(dev);
      {
        typename B::Scope scope(dev);
        cross_entropy_forward_cuda(vl.data, vlse.data, total.get(), vx.data, t.data, rows, C,
                                   {ignore_index, smoothing}, B::stream());
      }
      const LossTotal h = total.read(C, ignore_index);
      r = {h.sum, h.count};
    } else {
      typename B::Scope scope(dev);
      r = cross_entropy_forward(vl.data, vlse.data, vx.data, t.data, rows, C, {ignore_index, smoothing});
    }
    return py::make_tuple(r.sum, r.count);
  });
  m.def(B::name("ce_backward").c_str(), [](Buf dx, Buf x, Buf lse, Buf target, py::object grad, float scale,
                                           index_t rows, index_t C, std::int64_t ignore_index, float smoothing) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "cross_entropy_backward: bad shape (", rows, ", ", C, ")");
    auto vx = B::floats(x, "input"), vdx = B::floats(dx, "out", true), vlse = B::floats(lse, "lse");
    check_size(vx, rows * C, "input");
    check_size(vdx, rows * C, "out");
    check_size(vlse, rows, "lse");
    const IndexView t = targets(B::indices(target, "target"), rows);
    const int dev = B::device(x, {&dx, &lse, &target});
    const float* g = B::opt_floats(grad, rows, "grad_out", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      cross_entropy_backward_cuda(vdx.data, vx.data, vlse.data, t.data, g, scale, nullptr, rows, C,
                                  {ignore_index, smoothing}, B::stream());
    else
      cross_entropy_backward(vdx.data, vx.data, vlse.data, t.data, g, scale, rows, C, {ignore_index, smoothing});
  });
  m.def(B::name("nll_forward").c_str(), [](Buf loss, Buf x, Buf target, index_t rows, index_t C,
                                           std::int64_t ignore_index) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "nll_loss: bad shape (", rows, ", ", C, ")");
    auto vx = B::floats(x, "input"), vl = B::floats(loss, "loss", true);
    check_size(vx, rows * C, "input");
    check_size(vl, rows, "loss");
    const IndexView t = targets(B::indices(target, "target"), rows);
    const int dev = B::device(x, {&loss, &target});
    CeSum r{0.0, 0};
    if constexpr (B::kCudaKernels) {
      const DeviceLossTotal total(dev);
      {
        typename B::Scope scope(dev);
        nll_loss_forward_cuda(vl.data, total.get(), vx.data, t.data, rows, C, ignore_index, B::stream());
      }
      const LossTotal h = total.read(C, ignore_index);
      r = {h.sum, h.count};
    } else {
      typename B::Scope scope(dev);
      r = nll_loss_forward(vl.data, vx.data, t.data, rows, C, ignore_index);
    }
    return py::make_tuple(r.sum, r.count);
  });
  m.def(B::name("nll_backward").c_str(), [](Buf dx, Buf target, py::object grad, float scale, index_t rows,
                                            index_t C, std::int64_t ignore_index) {
    FL_CHECK_ARG(rows >= 0 && C >= 1, "nll_loss_backward: bad shape (", rows, ", ", C, ")");
    auto vdx = B::floats(dx, "out", true);
    check_size(vdx, rows * C, "out");
    const IndexView t = targets(B::indices(target, "target"), rows);
    const int dev = B::device(dx, {&target});
    const float* g = B::opt_floats(grad, rows, "grad_out", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      nll_loss_backward_cuda(vdx.data, t.data, g, scale, nullptr, rows, C, ignore_index, B::stream());
    else
      nll_loss_backward(vdx.data, t.data, g, scale, rows, C, ignore_index);
  });
  // loss may be None (the sum only). Returns the sum.
  m.def(B::name("point_loss_forward").c_str(), [](PointLoss op, py::object loss, Buf x, Buf y) {
    auto vx = B::floats(x, "input"), vy = B::floats(y, "target");
    check_size(vy, vx.size, "target");
    const int dev = B::device(x, {&y});
    float* l = B::opt_floats(loss, vx.size, "loss", dev, true).data;
    if constexpr (B::kCudaKernels) {
      const DeviceLossTotal total(dev);
      {
        typename B::Scope scope(dev);
        point_loss_forward_cuda(op, l, total.get(), vx.data, vy.data, vx.size, B::stream());
      }
      return total.read(1, -1).sum;
    } else {
      typename B::Scope scope(dev);
      return point_loss_forward(op, l, vx.data, vy.data, vx.size);
    }
  });
  m.def(B::name("point_loss_backward").c_str(), [](PointLoss op, Buf dx, Buf x, Buf y, py::object grad,
                                                   float scale) {
    auto vx = B::floats(x, "input"), vy = B::floats(y, "target"), vdx = B::floats(dx, "out", true);
    check_size(vy, vx.size, "target");
    check_size(vdx, vx.size, "out");
    const int dev = B::device(x, {&dx, &y});
    const float* g = B::opt_floats(grad, vx.size, "grad_out", dev).data;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels)
      point_loss_backward_cuda(op, vdx.data, vx.data, vy.data, g, scale, nullptr, vx.size, B::stream());
    else
      point_loss_backward(op, vdx.data, vx.data, vy.data, g, scale, vx.size);
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
