// Bindings of the attention family (CPU): validate every view and the mask's offsets and strides
// against the sizes (a direct call can never read or write out of bounds), release the GIL, call
// the driver. fastlayers.functional.attention shapes the arguments; the AttnMask enum is exported.
#include <cstdint>

#include "bindings/array.h"
#include "ops/attention.h"

namespace fl {

namespace {

// The mask's view (kind none or causal: no data), with offsets and strides checked so that every
// element (b, i, j) the kernels read lies inside `data`.
AttnMaskView mask_view(AttnMask kind, const py::object& data, const py::object& offsets, index_t stride_q,
                       index_t stride_k, const AttentionShape& s) {
  AttnMaskView m;
  m.kind = kind;
  if (kind != AttnMask::boolean && kind != AttnMask::additive) return m;
  FL_CHECK_ARG(!data.is_none() && !offsets.is_none(),
               "attn_mask: a boolean or additive mask needs its data and offsets");
  if (!py::isinstance<py::array>(data)) throw type_error("attn_mask: expected a numpy array");
  const py::array arr = py::reinterpret_borrow<py::array>(data);
  FL_CHECK_ARG(arr.flags() & py::array::c_style, "attn_mask: expected a C-contiguous array");
  index_t size;
  if (kind == AttnMask::boolean) {
    if (arr.itemsize() != 1 || (arr.dtype().kind() != 'u' && arr.dtype().kind() != 'b'))
      throw type_error("attn_mask: a boolean mask is passed as bool or uint8");
    size = static_cast<index_t>(arr.size());
    m.data = arr.data();
  } else {
    const FloatView f = float_view(arr, "attn_mask");
    size = f.size;
    m.data = f.data;
  }
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

AttentionShape make_shape(index_t bh, index_t tq, index_t tk, index_t d, index_t dv) {
  FL_CHECK_ARG(bh >= 0 && tq >= 0 && tk >= 0 && d >= 0 && dv >= 0, "attention: negative shape");
  return {bh, tq, tk, d, dv};
}

}  // namespace

void init_attention(py::module_& m) {
  py::enum_<AttnMask>(m, "AttnMask")
      .value("none", AttnMask::none)
      .value("causal", AttnMask::causal)
      .value("boolean", AttnMask::boolean)
      .value("additive", AttnMask::additive);

  m.def("attention_forward",
        [](py::array o, py::object lse, py::array q, py::array k, py::array v, index_t bh, index_t tq, index_t tk,
           index_t d, index_t dv, AttnMask kind, py::object mask, py::object offsets, index_t stride_q,
           index_t stride_k, float scale, std::uint64_t seed, std::uint32_t threshold, float drop_scale) {
          const AttentionShape s = make_shape(bh, tq, tk, d, dv);
          auto vo = float_view(o, "out", true), vq = float_view(q, "query"), vk = float_view(k, "key"),
               vv = float_view(v, "value");
          check_size(vq, bh * tq * d, "query");
          check_size(vk, bh * tk * d, "key");
          check_size(vv, bh * tk * dv, "value");
          check_size(vo, bh * tq * dv, "out");
          float* plse = nullptr;
          if (!lse.is_none()) {
            auto vl = float_view(py::reinterpret_borrow<py::array>(lse), "lse", true);
            check_size(vl, bh * tq, "lse");
            plse = vl.data;
          }
          const AttnMaskView mv = mask_view(kind, mask, offsets, stride_q, stride_k, s);
          py::gil_scoped_release nogil;
          attention_forward(vo.data, plse, vq.data, vk.data, vv.data, s, mv,
                            {scale, {seed, threshold, drop_scale}});
        });
  m.def("attention_backward",
        [](py::array dq, py::array dk, py::array dv, py::array dout, py::array q, py::array k, py::array v,
           py::array o, py::array lse, index_t bh, index_t tq, index_t tk, index_t d, index_t dvl, AttnMask kind,
           py::object mask, py::object offsets, index_t stride_q, index_t stride_k, float scale, std::uint64_t seed,
           std::uint32_t threshold, float drop_scale) {
          const AttentionShape s = make_shape(bh, tq, tk, d, dvl);
          auto vdq = float_view(dq, "grad_query", true), vdk = float_view(dk, "grad_key", true),
               vdv = float_view(dv, "grad_value", true), vdo = float_view(dout, "grad_out"),
               vq = float_view(q, "query"), vk = float_view(k, "key"), vv = float_view(v, "value"),
               vo = float_view(o, "out"), vl = float_view(lse, "lse");
          check_size(vq, bh * tq * d, "query");
          check_size(vk, bh * tk * d, "key");
          check_size(vv, bh * tk * dvl, "value");
          check_size(vo, bh * tq * dvl, "out");
          check_size(vdo, bh * tq * dvl, "grad_out");
          check_size(vl, bh * tq, "lse");
          check_size(vdq, vq.size, "grad_query");
          check_size(vdk, vk.size, "grad_key");
          check_size(vdv, vv.size, "grad_value");
          const AttnMaskView mv = mask_view(kind, mask, offsets, stride_q, stride_k, s);
          py::gil_scoped_release nogil;
          attention_backward(vdq.data, vdk.data, vdv.data, vdo.data, vq.data, vk.data, vv.data, vo.data, vl.data, s,
                             mv, {scale, {seed, threshold, drop_scale}});
        });
}

}  // namespace fl
