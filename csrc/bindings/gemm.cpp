// Bindings of the GEMM family: gemm and cuda_gemm (bindings/backend.h: one binding, both
// backends), matmul2d (the CPU fast path of functional.matmul's common call), and the CPU
// planner's introspection and tuning hooks. The Python layer (functional/gemm.py) shapes the
// arguments; here every operand holds `batch` (or 1, when broadcast) row-major matrices.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::optional<ActOp>: None or an ActOp

#include <algorithm>
#include <optional>
#include <string>

#include "bindings/backend.h"
#include "cuda/gemm.cuh"
#include "ops/gemm.h"

namespace fl {

namespace {
std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += str_cat(d ? ", " : "", a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// GEMM reads its operands while it writes C: C must not share memory with them.
void check_no_overlap(const py::array& out, const FloatView& vc, const py::array& x, const FloatView& vx,
                      const char* name) {
  const bool apart = vc.data + vc.size <= vx.data || vx.data + vx.size <= vc.data;
  FL_CHECK_ARG(apart || vc.size == 0 || vx.size == 0, "out: shares memory with ", name, " (out ", shape_str(out), ", ",
               name, " ", shape_str(x), "); GEMM cannot write over an operand, pass a separate array");
}

// A 2-D C-contiguous float32 NumPy array in native byte order, checked on NumPy's structs
// directly (no dtype objects built, unlike py::isinstance<py::array_t<float>>).
bool is_f32_matrix(PyObject* h) {
  using api = py::detail::npy_api;
  if (!api::get().PyArray_Check_(h)) return false;
  const auto* arr = py::detail::array_proxy(h);
  if (arr->nd != 2 || !(arr->flags & api::NPY_ARRAY_C_CONTIGUOUS_)) return false;
  const auto* d = py::detail::array_descriptor_proxy(arr->descr);
  return d->type_num == api::NPY_FLOAT_ && d->byteorder != (PY_LITTLE_ENDIAN ? '>' : '<');
}

// functional.matmul's common call, checked and run in one step: 2-D float32 C-contiguous a and
// b, trans flags that are bools, alpha and beta that are floats, out None or a matching float32
// C-contiguous writable array not overlapping a or b. Returns the result, or None when anything
// differs (the Python layer then takes the general path, which converts or reports the error).
// A plain METH_FASTCALL function with the checks on NumPy's structs rather than a pybind11 one:
// at 64^3 (about 2.5 us) pybind11's argument dispatch and dtype checks cost about 0.2 us.
PyObject* matmul2d_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 7) {
    PyErr_SetString(PyExc_TypeError, "matmul2d: expected 7 arguments");
    return nullptr;
  }
  PyObject *ha = args[0], *hb = args[1], *hta = args[2], *htb = args[3], *hal = args[4], *hbe = args[5],
           *hout = args[6];
  if (!PyBool_Check(hta) || !PyBool_Check(htb) || !PyFloat_CheckExact(hal) || !PyFloat_CheckExact(hbe)) Py_RETURN_NONE;
  if (!is_f32_matrix(ha) || !is_f32_matrix(hb)) Py_RETURN_NONE;
  const bool trans_a = hta == Py_True, trans_b = htb == Py_True;
  const float alpha = static_cast<float>(PyFloat_AS_DOUBLE(hal)), beta = static_cast<float>(PyFloat_AS_DOUBLE(hbe));
  const auto *pa = py::detail::array_proxy(ha), *pb = py::detail::array_proxy(hb);
  const index_t M = pa->dimensions[trans_a ? 1 : 0], K = pa->dimensions[trans_a ? 0 : 1];
  const index_t Kb = pb->dimensions[trans_b ? 1 : 0], N = pb->dimensions[trans_b ? 0 : 1];
  if (K != Kb) Py_RETURN_NONE;
  try {
    py::array out;
    if (hout == Py_None) {
      if (beta != 0.0f) Py_RETURN_NONE;
      out = py::array_t<float>({M, N});
    } else {
      if (!is_f32_matrix(hout)) Py_RETURN_NONE;
      const auto* po = py::detail::array_proxy(hout);
      if (po->dimensions[0] != M || po->dimensions[1] != N || !(po->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_))
        Py_RETURN_NONE;
      out = py::reinterpret_borrow<py::array>(hout);
    }
    FloatView vc{reinterpret_cast<float*>(py::detail::array_proxy(out.ptr())->data), M * N};
    FloatView va{reinterpret_cast<float*>(pa->data), M * K};
    FloatView vb{reinterpret_cast<float*>(pb->data), K * N};
    const bool apart_a = vc.data + vc.size <= va.data || va.data + va.size <= vc.data;
    const bool apart_b = vc.data + vc.size <= vb.data || vb.data + vb.size <= vc.data;
    if (!(apart_a && apart_b)) {  // the error message names the operand
      check_no_overlap(out, vc, py::reinterpret_borrow<py::array>(ha), va, "a");
      check_no_overlap(out, vc, py::reinterpret_borrow<py::array>(hb), vb, "b");
    }
    if (M * N != 0) {
      GemmOptions opt;
      opt.trans_a = trans_a;
      opt.trans_b = trans_b;
      opt.alpha = alpha;
      opt.beta = beta;
      // Products of up to kKeepGilMacs multiply-adds (~2.5 us at 64^3) keep the GIL: releasing and
      // retaking it costs more than another Python thread could gain in that time.
      constexpr double kKeepGilMacs = 64.0 * 64 * 64;
      const index_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
      if (double(M) * double(N) * double(K) <= kKeepGilMacs) {
        sgemm(vc.data, N, va.data, lda, vb.data, ldb, {M, N, K}, opt);
      } else {
        py::gil_scoped_release nogil;
        sgemm(vc.data, N, va.data, lda, vb.data, ldb, {M, N, K}, opt);
      }
    }
    return out.release().ptr();
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const py::error_already_set& e) {
    py::error_already_set(e).restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}
// Checks that C does not share memory with an operand (GEMM reads them while it writes C).
void check_apart(const FloatView& vc, const FloatView& vx, const char* name) {
  const bool apart = vc.data + vc.size <= vx.data || vx.data + vx.size <= vc.data;
  FL_CHECK_ARG(apart || vc.size == 0 || vx.size == 0, "out: shares memory with ", name,
               "; GEMM cannot write over an operand, pass a separate array");
}

// gemm: out[t] = epilogue(alpha * op(a[t]) op(b[t]) + beta * out[t]) for t < batch, a (or b)
// holding one matrix when bcast_a (bcast_b); the epilogue adds a bias per column or per row
// (GemmBias), then applies `act` (None or an ActOp). The same call on both backends; precision
// applies to CUDA (the CPU computes in float32 always).
template <class B>
void bind_gemm(py::module_& m) {
  using Buf = typename B::Buf;
  m.def(B::name("gemm").c_str(), [](Buf out, Buf a, Buf b, index_t batch, index_t M, index_t N, index_t K,
                                    bool trans_a, bool trans_b, bool bcast_a, bool bcast_b, float alpha, float beta,
                                    py::object bias, GemmBias bias_mode, std::optional<ActOp> act, float act_param,
                                    GemmPrecision precision) {
    FL_CHECK_ARG(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm: negative shape");
    auto vc = B::floats(out, "out", true), va = B::floats(a, "a"), vb = B::floats(b, "b");
    check_size(va, (bcast_a ? 1 : batch) * M * K, "a");
    check_size(vb, (bcast_b ? 1 : batch) * K * N, "b");
    check_size(vc, batch * M * N, "out");
    check_apart(vc, va, "a");
    check_apart(vc, vb, "b");
    const int dev = B::device(out, {&a, &b});
    GemmOptions opt;
    opt.trans_a = trans_a;
    opt.trans_b = trans_b;
    opt.alpha = alpha;
    opt.beta = beta;
    if (bias_mode != GemmBias::none) {
      FloatView vbias = B::opt_floats(bias, bias_mode == GemmBias::per_col ? N : M, "bias", dev);
      FL_CHECK_ARG(vbias.data != nullptr || (bias_mode == GemmBias::per_col ? N : M) == 0,
                   "bias: expected an array for a bias per ", bias_mode == GemmBias::per_col ? "column" : "row");
      check_apart(vc, vbias, "bias");
      opt.ep.bias_mode = bias_mode;
      opt.ep.bias = vbias.data;
    }
    if (act) {
      opt.ep.has_act = true;
      opt.ep.act = *act;
      opt.ep.act_param = act_param;
    }
    if (vc.size == 0) return;
    const index_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    typename B::Scope scope(dev);
    if constexpr (B::kCudaKernels) {
      for (index_t t = 0; t < batch; ++t)
        sgemm_cuda(vc.data + t * M * N, va.data + (bcast_a ? 0 : t * M * K), vb.data + (bcast_b ? 0 : t * K * N), M,
                   N, K, lda, ldb, N, trans_a, trans_b, alpha, beta, opt.ep, precision, B::stream());
    } else {
      sgemm_batched(batch, vc.data, N, M * N, va.data, lda, bcast_a ? 0 : M * K, vb.data, ldb, bcast_b ? 0 : K * N,
                    {M, N, K}, opt);
    }
  },
  py::arg("out"), py::arg("a"), py::arg("b"), py::arg("batch"), py::arg("M"), py::arg("N"), py::arg("K"),
  py::arg("trans_a"), py::arg("trans_b"), py::arg("bcast_a"), py::arg("bcast_b"), py::arg("alpha"), py::arg("beta"),
  py::arg("bias").none(true), py::arg("bias_mode"), py::arg("act").none(true), py::arg("act_param"),
  py::arg("precision") = GemmPrecision::fp32);
}
}  // namespace

// The GEMM table of the current ISA level, for the test and tuning hooks that change it.
GemmKernels& current_level_table() { return g_gemm_kernels.level[static_cast<int>(isa_current())]; }

void init_gemm(py::module_& m) {
  py::enum_<GemmBias>(m, "GemmBias", "Where gemm adds its bias: none, per_col (linear), per_row")
      .value("none", GemmBias::none)
      .value("per_col", GemmBias::per_col)
      .value("per_row", GemmBias::per_row);
  py::enum_<GemmPrecision>(m, "GemmPrecision", "fp32, or tf32 (CUDA tensor cores)")
      .value("fp32", GemmPrecision::fp32)
      .value("tf32", GemmPrecision::tf32);
  FL_BIND_BOTH_BACKENDS(bind_gemm, m);
  // The common call of functional.matmul, checked and run in one step (matmul2d_fast above).
  static PyMethodDef matmul2d_def = {
      "matmul2d", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&matmul2d_fast)), METH_FASTCALL,
      "matmul2d(a, b, trans_a, trans_b, alpha, beta, out): the 2-D float32 C-contiguous matmul, or None"};
  m.add_object("matmul2d", py::reinterpret_steal<py::object>(PyCFunction_NewEx(&matmul2d_def, nullptr, nullptr)));
  m.def("gemm_path", [](index_t M, index_t N, index_t K, bool trans_a, bool trans_b) {
    GemmOptions opt;
    opt.trans_a = trans_a;
    opt.trans_b = trans_b;
    return std::string(sgemm_plan({M, N, K}, opt).path);
  });
  m.def("gemm_plan", [](index_t M, index_t N, index_t K, bool trans_a, bool trans_b) {
    GemmOptions opt;
    opt.trans_a = trans_a;
    opt.trans_b = trans_b;
    const GemmPlan plan = sgemm_plan({M, N, K}, opt);
    py::dict d;
    d["path"] = std::string(plan.path);
    d["threads"] = plan.threads;
    d["blocks"] = plan.blocks;
    return d;
  });
  m.def("gemm_block_sizes", [] {
    const GemmKernels& t = g_gemm_kernels.current();
    py::dict d;
    d["mr"] = t.mr;
    d["nr"] = t.nr;
    d["mc"] = t.mc;
    d["kc"] = t.kc;
    d["nc"] = t.nc;
    d["pack_rows_lda_blocks"] = t.pack_rows_lda_blocks;
    d["pack_rows_lda_shared"] = t.pack_rows_lda_shared;
    d["pack_rows_blocks"] = t.pack_rows_blocks;
    d["pack_rows_shared"] = t.pack_rows_shared;
    d["shared_macs"] = t.shared_macs;
    d["swap_max_m"] = t.swap_max_m;
    d["direct_max_a"] = t.direct_max_a;
    d["rows_outer_panel"] = t.rows_outer_panel;
    d["blocked"] = t.ukernel != nullptr;
    return d;
  });
  // For tests: sets pack_rows_blocks at the current ISA level (CPU-dependent by default), so
  // that both ways of reading A are covered on every machine; returns the previous value.
  m.def("_gemm_set_pack_rows_blocks", [](bool on) {
    GemmKernels& t = current_level_table();
    const bool before = t.pack_rows_blocks;
    t.pack_rows_blocks = on;
    return before;
  });
  // For tests and tuning scripts: sets pack_rows_lda_blocks and pack_rows_lda_shared (0: A with
  // contiguous rows never packed for its stride; < 0 keeps the value) at the current ISA level;
  // returns the previous pair.
  m.def("_gemm_set_pack_rows_lda", [](index_t blocks, index_t shared) {
    GemmKernels& t = current_level_table();
    py::tuple before = py::make_tuple(t.pack_rows_lda_blocks, t.pack_rows_lda_shared);
    if (blocks >= 0) t.pack_rows_lda_blocks = blocks;
    if (shared >= 0) t.pack_rows_lda_shared = shared;
    return before;
  });
  // For tests and tuning scripts: sets pack_rows_shared and shared_macs (a value < 0 keeps it)
  // at the current ISA level; returns the previous (pack_rows_shared, shared_macs).
  m.def("_gemm_set_shared", [](int pack_rows, double min_macs) {
    GemmKernels& t = current_level_table();
    py::tuple before = py::make_tuple(t.pack_rows_shared, t.shared_macs);
    if (pack_rows >= 0) t.pack_rows_shared = pack_rows != 0;
    if (min_macs >= 0) t.shared_macs = min_macs;
    return before;
  });
  // For tests and tuning scripts: sets swap_max_m (0: never swap; < 0 keeps it) at the current
  // ISA level; returns the previous value.
  m.def("_gemm_set_swap_max_m", [](index_t m_max) {
    GemmKernels& t = current_level_table();
    const index_t before = t.swap_max_m;
    if (m_max >= 0) t.swap_max_m = m_max;
    return before;
  });
  // For tests and tuning scripts: sets rows_outer_panel (floats; 0: never; < 0 keeps it) at the
  // current ISA level; returns the previous value.
  m.def("_gemm_set_rows_outer_panel", [](index_t floats) {
    GemmKernels& t = current_level_table();
    const index_t before = t.rows_outer_panel;
    if (floats >= 0) t.rows_outer_panel = floats;
    return before;
  });
  // For tuning scripts: sets the cache blocks (MC, KC, NC) at the current ISA level; a value
  // <= 0 keeps the present one. Returns the previous (mc, kc, nc). MC is rounded to MR.
  m.def("_gemm_set_blocks", [](index_t mc, index_t kc, index_t nc) {
    GemmKernels& t = current_level_table();
    py::tuple before = py::make_tuple(t.mc, t.kc, t.nc);
    if (t.ukernel) {
      if (mc > 0) t.mc = std::max(t.mr, mc / t.mr * t.mr);
      if (kc > 0) t.kc = std::max<index_t>(8, kc / 8 * 8);
      if (nc > 0) t.nc = std::max(t.nr, nc / t.nr * t.nr);
    }
    return before;
  });
}

}  // namespace fl
