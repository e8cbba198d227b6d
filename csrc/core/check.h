// Error reporting below the bindings. Kernels never throw; drivers and bindings validate
// first and throw these standard exceptions, which pybind11 turns into Python's:
//   std::invalid_argument -> ValueError   (shapes, parameters)
//   fl::type_error        -> TypeError    (registered in bindings/module.cpp)
//   std::runtime_error    -> RuntimeError (missing device, CUDA errors)
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fl {

struct type_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace fl

#define FL_CHECK_ARG(cond, ...)                                      \
  do {                                                               \
    if (!(cond)) throw std::invalid_argument(::fl::str_cat(__VA_ARGS__)); \
  } while (0)
