// Bindings of the GEMM family: validate views, release the GIL, call the driver.
// The Python layer (functional/gemm.py) shapes the arguments; here every operand is a
// C-contiguous float32 array holding `batch` (or 1, when broadcast) row-major matrices.
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array.h"
#include "cpu/gemm.h"

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

// functional.matmul's common call, checked and run in one step: 2-D float32 C-contiguous a and
// b, trans flags that are bools, alpha and beta that are floats, out None or a matching float32
// C-contiguous writable array not overlapping a or b. Returns the result, or None when anything
// differs (the Python layer then takes the general path, which converts or reports the error).
// A plain METH_FASTCALL function rather than a pybind11 one: at 64^3 (about 2.5 us) pybind11's
// argument dispatch cost as much as 5% of the call.
PyObject* matmul2d_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 7) {
    PyErr_SetString(PyExc_TypeError, "matmul2d: expected 7 arguments");
    return nullptr;
  }
  PyObject *ha = args[0], *hb = args[1], *hta = args[2], *htb = args[3], *hal = args[4], *hbe = args[5],
           *hout = args[6];
  if (!PyBool_Check(hta) || !PyBool_Check(htb) || !PyFloat_CheckExact(hal) || !PyFloat_CheckExact(hbe)) Py_RETURN_NONE;
  const bool trans_a = hta == Py_True, trans_b = htb == Py_True;
  const float alpha = static_cast<float>(PyFloat_AS_DOUBLE(hal)), beta = static_cast<float>(PyFloat_AS_DOUBLE(hbe));
  try {
    if (!py::isinstance<py::array_t<float, 0>>(ha) || !py::isinstance<py::array_t<float, 0>>(hb)) Py_RETURN_NONE;
    auto a = py::reinterpret_borrow<py::array>(ha), b = py::reinterpret_borrow<py::array>(hb);
    const int c_style = py::array::c_style;
    if (a.ndim() != 2 || b.ndim() != 2 || !(a.flags() & c_style) || !(b.flags() & c_style)) Py_RETURN_NONE;
    const index_t M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
    const index_t Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
    if (K != Kb) Py_RETURN_NONE;
    py::array out;
    if (hout == Py_None) {
      if (beta != 0.0f) Py_RETURN_NONE;
      out = py::array_t<float>({M, N});
    } else {
      if (!py::isinstance<py::array_t<float, 0>>(hout)) Py_RETURN_NONE;
      out = py::reinterpret_borrow<py::array>(hout);
      if (out.ndim() != 2 || out.shape(0) != M || out.shape(1) != N || !(out.flags() & c_style) || !out.writeable())
        Py_RETURN_NONE;
    }
    FloatView vc{static_cast<float*>(out.mutable_data()), M * N};
    FloatView va{static_cast<float*>(const_cast<void*>(a.data())), M * K};
    FloatView vb{static_cast<float*>(const_cast<void*>(b.data())), K * N};
    check_no_overlap(out, vc, a, va, "a");
    check_no_overlap(out, vc, b, vb, "b");
    if (M * N != 0) {
      GemmOptions opt;
      opt.trans_a = trans_a;
      opt.trans_b = trans_b;
      opt.alpha = alpha;
      opt.beta = beta;
      py::gil_scoped_release nogil;
      sgemm(vc.data, N, va.data, trans_a ? M : K, vb.data, trans_b ? K : N, {M, N, K}, opt);
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
}  // namespace

void init_gemm(py::module_& m) {
  // out[t] = epilogue(alpha * op(a[t]) op(b[t]) + beta * out[t]) for t < batch; a (or b) holds
  // one matrix when bcast_a (bcast_b). bias_mode: 0 none, 1 per column (N), 2 per row (M);
  // act: -1 none, else an ActOp code.
  m.def("gemm", [](py::array out, py::array a, py::array b, index_t batch, index_t M, index_t N, index_t K,
                   bool trans_a, bool trans_b, bool bcast_a, bool bcast_b, float alpha, float beta,
                   py::object bias, int bias_mode, int act, float act_param) {
    FL_CHECK_ARG(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm: negative shape");
    FL_CHECK_ARG(bias_mode >= 0 && bias_mode <= 2, "bias_mode: unknown mode ", bias_mode);
    FL_CHECK_ARG(act >= -1 && act < kActOpCount, "activation: unknown op ", act);
    auto vc = float_view(out, "out", true), va = float_view(a, "a"), vb = float_view(b, "b");
    check_size(va, (bcast_a ? 1 : batch) * M * K, "a");
    check_size(vb, (bcast_b ? 1 : batch) * K * N, "b");
    check_size(vc, batch * M * N, "out");
    check_no_overlap(out, vc, a, va, "a");
    check_no_overlap(out, vc, b, vb, "b");
    GemmOptions opt;
    opt.trans_a = trans_a;
    opt.trans_b = trans_b;
    opt.alpha = alpha;
    opt.beta = beta;
    if (bias_mode != 0) {
      FL_CHECK_ARG(!bias.is_none(), "bias: expected an array for bias_mode ", bias_mode);
      auto vbias = float_view(bias.cast<py::array>(), "bias");
      check_size(vbias, bias_mode == 1 ? N : M, "bias");
      check_no_overlap(out, vc, bias.cast<py::array>(), vbias, "bias");
      opt.ep.bias_mode = static_cast<GemmBias>(bias_mode);
      opt.ep.bias = vbias.data;
    }
    if (act >= 0) {
      opt.ep.has_act = true;
      opt.ep.act = static_cast<ActOp>(act);
      opt.ep.act_param = act_param;
    }
    if (vc.size == 0) return;
    const index_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    py::gil_scoped_release nogil;
    sgemm_batched(batch, vc.data, N, M * N, va.data, lda, bcast_a ? 0 : M * K, vb.data, ldb, bcast_b ? 0 : K * N,
                  {M, N, K}, opt);
  });
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
    d["blocked"] = t.ukernel != nullptr;
    return d;
  });
}

}  // namespace fl
