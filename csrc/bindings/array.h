// NumPy array -> raw float view, for the bindings. The Python layer (fastlayers._array)
// converts dtypes and allocates outputs; here we only verify what it promised (float32,
// C-contiguous, writable outputs, sizes that agree) so that a direct call into _core can never
// read or write out of bounds.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/check.h"
#include "core/tensor.h"

namespace fl {
namespace py = pybind11;

struct FloatView {
  float* data;
  index_t size;
};

inline FloatView float_view(const py::array& a, const char* name, bool writable = false) {
  if (!py::isinstance<py::array_t<float>>(a) || a.dtype().kind() != 'f' || a.itemsize() != 4)
    throw type_error(str_cat(name, ": expected a float32 array, got dtype ", std::string(py::str(a.dtype()))));
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(str_cat(name, ": expected a C-contiguous array"));
  if (writable && !a.writeable()) throw std::invalid_argument(str_cat(name, ": array is read-only"));
  return {static_cast<float*>(const_cast<void*>(a.data())), static_cast<index_t>(a.size())};
}

inline void check_size(const FloatView& v, index_t expected, const char* name) {
  FL_CHECK_ARG(v.size == expected, name, ": expected ", expected, " elements, got ", v.size);
}

}  // namespace fl
