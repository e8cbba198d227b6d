// Bindings of the resample family, both backends (bindings/backend.h): interp_forward /
// interp_backward (InterpMode named by the exported enum; the axis ratios computed here from
// the sizes and scale factors with PyTorch's rule, ops/resample.h) and pad_forward /
// pad_backward (PadMode), and cuda_<op> of each on device memory. Checks what memory safety
// needs (sizes agree, every index map stays inside its input); the Python layer
// (functional/resample.py) validates arguments with PyTorch's messages first.
#include "bindings/backend.h"
#include "cuda/resample.cuh"
#include "ops/resample.h"

namespace fl {
namespace {

InterpShape interp_shape(index_t H, index_t W, index_t P, index_t Q, InterpMode mode, bool align_corners,
                         double scale_h, double scale_w) {
  FL_CHECK_ARG(H >= 1 && W >= 1 && P >= 0 && Q >= 0, "interpolate: bad plane sizes (", H, ", ", W, ") -> (", P, ", ",
               Q, ")");
  const bool ac = align_corners && mode == InterpMode::linear;
  return {{H, P, interp_ratio(H, P, scale_h, ac)}, {W, Q, interp_ratio(W, Q, scale_w, ac)}, mode, ac};
}

PadAxis pad_axis(index_t in, index_t lo, index_t hi, PadMode mode, const char* dim) {
  const index_t out = in + lo + hi;
  FL_CHECK_ARG(in >= 0 && out >= 0, "pad: dimension ", dim, " of size ", in, " padded by (", lo, ", ", hi,
               ") would be negative");
  if (mode != PadMode::constant) {
    FL_CHECK_ARG(lo >= 0 && hi >= 0, "pad: negative padding is supported in constant mode only");
    FL_CHECK_ARG(in >= 1 || out == 0, "pad: cannot pad an empty dimension ", dim, " in this mode");
  }
  if (mode == PadMode::reflect)
    FL_CHECK_ARG(lo < in && hi < in, "pad: reflect padding (", lo, ", ", hi, ") must be below the size ", in,
                 " of dimension ", dim);
  if (mode == PadMode::circular)
    FL_CHECK_ARG(lo <= in && hi <= in, "pad: circular padding (", lo, ", ", hi, ") must be at most the size ", in,
                 " of dimension ", dim);
  return {in, out, lo};
}

PadShape pad_shape(index_t D, index_t H, index_t W, index_t d0, index_t d1, index_t h0, index_t h1, index_t w0,
                   index_t w1, PadMode mode, float value) {
  return {pad_axis(D, d0, d1, mode, "D"), pad_axis(H, h0, h1, mode, "H"), pad_axis(W, w0, w1, mode, "W"), mode,
          value};
}

template <class B>
void bind_resample(py::module_& m) {
  using Buf = typename B::Buf;
  // backward = false: out = y (planes x P x Q), in = x (planes x H x W); true: out = dx, in = dy.
  auto interp = [](Buf out, Buf in, index_t planes, index_t H, index_t W, index_t P, index_t Q, InterpMode mode,
                   bool align_corners, double scale_h, double scale_w, bool backward) {
    FL_CHECK_ARG(planes >= 0, "interpolate: negative plane count");
    const InterpShape s = interp_shape(H, W, P, Q, mode, align_corners, scale_h, scale_w);
    auto vo = B::floats(out, "out", true), vi = B::floats(in, backward ? "grad_out" : "input");
    const index_t big = planes * H * W, small = planes * P * Q;
    check_size(vi, backward ? small : big, backward ? "grad_out" : "input");
    check_size(vo, backward ? big : small, "out");
    if (vo.size == 0) return;
    typename B::Scope scope(B::device(in, {&out}));
    if constexpr (B::kCudaKernels) {
      if (backward) interp_backward_cuda(vo.data, vi.data, planes, s, B::stream());
      else interp_forward_cuda(vo.data, vi.data, planes, s, B::stream());
    } else {
      if (backward) interp_backward(vo.data, vi.data, planes, s);
      else interp_forward(vo.data, vi.data, planes, s);
    }
  };
  m.def(B::name("interp_forward").c_str(),
        [interp](Buf y, Buf x, index_t planes, index_t H, index_t W, index_t P, index_t Q, InterpMode mode,
                 bool align_corners, double scale_h, double scale_w) {
          interp(y, x, planes, H, W, P, Q, mode, align_corners, scale_h, scale_w, false);
        });
  m.def(B::name("interp_backward").c_str(),
        [interp](Buf dx, Buf dy, index_t planes, index_t H, index_t W, index_t P, index_t Q, InterpMode mode,
                 bool align_corners, double scale_h, double scale_w) {
          interp(dx, dy, planes, H, W, P, Q, mode, align_corners, scale_h, scale_w, true);
        });
  auto pad = [](Buf out, Buf in, index_t planes, index_t D, index_t H, index_t W, index_t d0, index_t d1, index_t h0,
                index_t h1, index_t w0, index_t w1, PadMode mode, float value, bool backward) {
    FL_CHECK_ARG(planes >= 0, "pad: negative plane count");
    const PadShape s = pad_shape(D, H, W, d0, d1, h0, h1, w0, w1, mode, value);
    auto vo = B::floats(out, "out", true), vi = B::floats(in, backward ? "grad_out" : "input");
    const index_t big = planes * s.d.out * s.h.out * s.w.out, small = planes * D * H * W;
    check_size(vi, backward ? big : small, backward ? "grad_out" : "input");
    check_size(vo, backward ? small : big, "out");
    if (vo.size == 0) return;
    typename B::Scope scope(B::device(in, {&out}));
    if constexpr (B::kCudaKernels) {
      if (backward) pad_backward_cuda(vo.data, vi.data, planes, s, B::stream());
      else pad_forward_cuda(vo.data, vi.data, planes, s, B::stream());
    } else {
      if (backward) pad_backward(vo.data, vi.data, planes, s);
      else pad_forward(vo.data, vi.data, planes, s);
    }
  };
  m.def(B::name("pad_forward").c_str(),
        [pad](Buf y, Buf x, index_t planes, index_t D, index_t H, index_t W, index_t d0, index_t d1, index_t h0,
              index_t h1, index_t w0, index_t w1, PadMode mode, float value) {
          pad(y, x, planes, D, H, W, d0, d1, h0, h1, w0, w1, mode, value, false);
        });
  m.def(B::name("pad_backward").c_str(),
        [pad](Buf dx, Buf dy, index_t planes, index_t D, index_t H, index_t W, index_t d0, index_t d1, index_t h0,
              index_t h1, index_t w0, index_t w1, PadMode mode) {
          pad(dx, dy, planes, D, H, W, d0, d1, h0, h1, w0, w1, mode, 0.0f, true);
        });
}

}  // namespace

void init_resample(py::module_& m) {
  py::enum_<InterpMode>(m, "InterpMode", "Interpolation modes of interp_forward / _backward (ops/resample.h)")
      .value("nearest", InterpMode::nearest)
      .value("nearest_exact", InterpMode::nearest_exact)
      .value("linear", InterpMode::linear);
  py::enum_<PadMode>(m, "PadMode", "Padding modes of pad_forward / _backward (ops/resample.h)")
      .value("constant", PadMode::constant)
      .value("reflect", PadMode::reflect)
      .value("replicate", PadMode::replicate)
      .value("circular", PadMode::circular);
  FL_BIND_BOTH_BACKENDS(bind_resample, m);
}

}  // namespace fl
