// Bindings of the attention family, both backends (bindings/backend.h): attention_forward and
// attention_backward, and cuda_<op> of each on device memory, with the same arguments and one set
// of checks: every view against the sizes, and the mask's offsets and strides, so that a direct
// call can never read or write out of bounds. The mask data lives with the other buffers (bool /
// uint8 or float32); its per-batch-head offsets are a host int64 array on both backends (checked
// here, then copied to the device for the CUDA kernels). Releases the GIL and calls the CPU driver
// (ops/attention.h) or queues the CUDA launcher (cuda/attention.cuh; unverified on a GPU at the
// time of writing, checked by host emulation). fastlayers.functional.attention shapes the
// arguments; the AttnMask enum is exported.
#include <cstdint>
#include <memory>

#include "bindings/backend.h"
#include "cuda/attention.cuh"
#include "ops/attention.h"

namespace fl {

namespace {

// The mask's view (kind none or causal: no data), with offsets and strides checked so that every
// element (b, i, j) the kernels read lies inside `data`. batch_offset is the host array's.
template <class B>
AttnMaskView mask_view(AttnMask kind, const py::object& data, const py::object& offsets, index_t stride_q,
                       index_t stride_k, const AttentionShape& s, int device) {
  AttnMaskView m;
  m.kind = kind;
  if (kind != AttnMask::boolean && kind != AttnMask::additive) return m;
  FL_CHECK_ARG(!data.is_none() && !offsets.is_none(),
               "attn_mask: a boolean or additive mask needs its data and offsets");
  index_t size;
  if (kind == AttnMask::boolean) {
    const ByteView bv = B::bytes_at(data, "attn_mask");
    size = bv.size;
    m.data = bv.data;
  } else {
    const FloatView f = B::floats_at(data, "attn_mask");
    size = f.size;
    m.data = f.data;
  }
  if (B::device_at(data) != device) throw type_error("attn_mask: on another device than the query");
  if (!py::isinstance<py::array>(offsets)) throw type_error("attn_mask offsets: expected a numpy array");
  const py::array off = py::reinterpret_borrow<py::array>(offsets);
  if (off.itemsize() != 8 || off.dtype().kind() != 'i' || !(off.flags() & py::array::c_style))
    throw type_error("attn_mask offsets: expected a C-contiguous int64 array");
  FL_CHECK_ARG(off.size() == s.BH, "attn_mask offsets: expected ", s.BH, " entries, got ", off.size());
  FL_CHECK_ARG(stride_q >= 0 && stride_k >= 0, "attn_mask: strides must be non-negative");
  const auto* o = static_cast<const std::int64_t*>(off.data());
  if (s.Tq > 0 && s.Tk > 0) {
    // Each term of the span within the mask (checked by division, so that nothing overflows).
    FL_CHECK_ARG(size > 0 && (s.Tq == 1 || stride_q <= (size - 1) / (s.Tq - 1)) &&
                     (s.Tk == 1 || stride_k <= (size - 1) / (s.Tk - 1)),
                 "attn_mask: strides (", stride_q, ", ", stride_k, ") reach past a mask of ", size, " elements");
    const index_t span = (s.Tq - 1) * stride_q + (s.Tk - 1) * stride_k;
    for (index_t b = 0; b < s.BH; ++b)
      FL_CHECK_ARG(o[b] >= 0 && o[b] < size && span < size - o[b], "attn_mask: batch-head ", b, " reads elements ",
                   o[b], " to ", o[b] + span, " of a mask of ", size);
  }
  m.batch_offset = reinterpret_cast<const index_t*>(o);
  m.stride_q = stride_q;
  m.stride_k = stride_k;
  return m;
}

// On a GPU: the mask's offsets in device memory for the span of the call (m then points there).
template <class B>
std::unique_ptr<DeviceScratch> device_offsets(AttnMaskView& m, const AttentionShape& s, int device) {
  if (!m.batch_offset) return nullptr;
  const std::size_t bytes = static_cast<std::size_t>(s.BH) * sizeof(index_t);
  auto scratch = std::make_unique<DeviceScratch>(device, bytes);
  scratch->from_host(m.batch_offset, bytes);
  m.batch_offset = static_cast<const index_t*>(scratch->get());
  return scratch;
}

AttentionShape make_shape(index_t bh, index_t tq, index_t tk, index_t d, index_t dv) {
  FL_CHECK_ARG(bh >= 0 && tq >= 0 && tk >= 0 && d >= 0 && dv >= 0, "attention: negative shape");
  return {bh, tq, tk, d, dv};
}

template <class B>
void bind_attention(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("attention_forward").c_str(),
        [](Buf o, py::object lse, Buf q, Buf k, Buf v, index_t bh, index_t tq, index_t tk, index_t d, index_t dv,
           AttnMask kind, py::object mask, py::object offsets, index_t stride_q, index_t stride_k, float scale,
           std::uint64_t seed, std::uint32_t threshold, float drop_scale) {
          const AttentionShape s = make_shape(bh, tq, tk, d, dv);
          auto vo = B::floats(o, "out", true), vq = B::floats(q, "query"), vk = B::floats(k, "key"),
               vv = B::floats(v, "value");
          check_size(vq, bh * tq * d, "query");
          check_size(vk, bh * tk * d, "key");
          check_size(vv, bh * tk * dv, "value");
          check_size(vo, bh * tq * dv, "out");
          const int dev = B::device(q, {&o, &k, &v});
          float* plse = B::opt_floats(lse, bh * tq, "lse", dev, true).data;
          AttnMaskView mv = mask_view<B>(kind, mask, offsets, stride_q, stride_k, s, dev);
          const AttentionOptions opt{scale, {seed, threshold, drop_scale}};
          if (bh == 0) return;
          if constexpr (B::kCudaKernels) {
            const auto off = device_offsets<B>(mv, s, dev);
            typename B::Scope scope(dev);
            attention_forward_cuda(vo.data, plse, vq.data, vk.data, vv.data, s, mv, opt, B::stream());
          } else {
            typename B::Scope scope(dev);
            attention_forward(vo.data, plse, vq.data, vk.data, vv.data, s, mv, opt);
          }
        });
  m.def(B::name("attention_backward").c_str(),
        [](Buf dq, Buf dk, Buf dv, Buf dout, Buf q, Buf k, Buf v, Buf o, Buf lse, index_t bh, index_t tq, index_t tk,
           index_t d, index_t dvl, AttnMask kind, py::object mask, py::object offsets, index_t stride_q,
           index_t stride_k, float scale, std::uint64_t seed, std::uint32_t threshold, float drop_scale) {
          const AttentionShape s = make_shape(bh, tq, tk, d, dvl);
          auto vdq = B::floats(dq, "grad_query", true), vdk = B::floats(dk, "grad_key", true),
               vdv = B::floats(dv, "grad_value", true), vdo = B::floats(dout, "grad_out"),
               vq = B::floats(q, "query"), vk = B::floats(k, "key"), vv = B::floats(v, "value"),
               vo = B::floats(o, "out"), vl = B::floats(lse, "lse");
          check_size(vq, bh * tq * d, "query");
          check_size(vk, bh * tk * d, "key");
          check_size(vv, bh * tk * dvl, "value");
          check_size(vo, bh * tq * dvl, "out");
          check_size(vdo, bh * tq * dvl, "grad_out");
          check_size(vl, bh * tq, "lse");
          check_size(vdq, vq.size, "grad_query");
          check_size(vdk, vk.size, "grad_key");
          check_size(vdv, vv.size, "grad_value");
          const int dev = B::device(q, {&dq, &dk, &dv, &dout, &k, &v, &o, &lse});
          AttnMaskView mv = mask_view<B>(kind, mask, offsets, stride_q, stride_k, s, dev);
          const AttentionOptions opt{scale, {seed, threshold, drop_scale}};
          if (bh == 0) return;
          if constexpr (B::kCudaKernels) {
            const auto off = device_offsets<B>(mv, s, dev);
            typename B::Scope scope(dev);
            attention_backward_cuda(vdq.data, vdk.data, vdv.data, vdo.data, vq.data, vk.data, vv.data, vo.data,
                                    vl.data, s, mv, opt, B::stream());
          } else {
            typename B::Scope scope(dev);
            attention_backward(vdq.data, vdk.data, vdv.data, vdo.data, vq.data, vk.data, vv.data, vo.data, vl.data, s,
                               mv, opt);
          }
        });
}

}  // namespace

void init_attention(py::module_& m) {
  py::enum_<AttnMask>(m, "AttnMask", "The mask kinds of attention_forward / attention_backward (ops/attention.h)")
      .value("none", AttnMask::none)
      .value("causal", AttnMask::causal)
      .value("boolean", AttnMask::boolean)
      .value("additive", AttnMask::additive);
  FL_BIND_BOTH_BACKENDS(bind_attention, m);
}

}  // namespace fl
