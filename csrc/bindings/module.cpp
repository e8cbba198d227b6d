// fastlayers._core: the one extension module. Each family's bindings live in their own file
// and register through init_<family>(m).
#include <pybind11/pybind11.h>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/registry.h"

namespace py = pybind11;

namespace fl {
void init_core(py::module_& m);
void init_activation(py::module_& m);
void init_pool(py::module_& m);
void init_norm(py::module_& m);
void init_conv(py::module_& m);
void init_gemm(py::module_& m);
void init_optim(py::module_& m);
void init_loss(py::module_& m);
void init_dropout(py::module_& m);
void init_resample(py::module_& m);
void init_attention(py::module_& m);
void init_layer_norm(py::module_& m);
void init_rnn(py::module_& m);
void init_embedding(py::module_& m);
void init_cuda(py::module_& m);
}  // namespace fl

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastlayers native kernels (private; use fastlayers.functional)";
  py::register_exception<fl::type_error>(m, "FastlayersTypeError", PyExc_TypeError);
  fl::isa_current();  // reads FASTLAYERS_ISA now: a bad value fails the import with its message
  fl::init_kernel_tables();
  fl::init_core(m);
  fl::init_activation(m);
  fl::init_pool(m);
  fl::init_norm(m);
  fl::init_conv(m);
  fl::init_gemm(m);
  fl::init_optim(m);
  fl::init_loss(m);
  fl::init_dropout(m);
  fl::init_resample(m);
  fl::init_attention(m);
  fl::init_layer_norm(m);
  fl::init_rnn(m);
  fl::init_embedding(m);
  fl::init_cuda(m);
}
