// Bindings of the runtime: threads, ISA level, CPU name, build facts.
#include <chrono>
#include <new>
#include <thread>
#include <string>

#include "bindings/array.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "ops/peak.h"

namespace fl {

void init_core(py::module_& m) {
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    FL_CHECK_ARG(n >= 1, "n: expected a thread count >= 1, got ", n);
    set_num_threads(n);
  });
  // Tests only (tests/test_threads.py): parallel_for over n items where the range holding item
  // `fail_at` throws std::bad_alloc, as a scratch allocation that fails inside a range would.
  // fail_at -1: every range a pool worker runs throws, and the caller's own range waits 50 ms
  // first so that a worker surely takes one. Python sees MemoryError; the pool keeps working.
  m.def("_fault_in_parallel_range", [](index_t n, index_t fail_at) {
    FL_CHECK_ARG(n >= 1 && fail_at >= -1 && fail_at < n, "n, fail_at: expected -1 <= fail_at < n, got ", fail_at,
                 " and ", n);
    py::gil_scoped_release nogil;
    const std::thread::id caller = std::this_thread::get_id();
    parallel_for(0, n, 1, [&](index_t lo, index_t hi) {
      if (fail_at >= 0 && lo <= fail_at && fail_at < hi) throw std::bad_alloc();
      if (fail_at == -1 && std::this_thread::get_id() != caller) throw std::bad_alloc();
      if (fail_at == -1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
  });
  m.def("isa_current", [] { return std::string(isa_name(isa_current())); });
  m.def("isa_detected", [] { return std::string(isa_name(isa_detected())); });
  m.def("isa_available", [] {
    py::list out;
    for (int i = 0; i <= static_cast<int>(isa_detected()); ++i) out.append(isa_name(static_cast<Isa>(i)));
    return out;
  });
  m.def("set_isa", [](const std::string& name) {
    Isa isa;
    FL_CHECK_ARG(isa_parse(name, &isa), "isa: '", name, "' is not one of scalar, avx2, avx512");
    isa_set(isa);
  });
  m.def("cpu_name", &cpu_name);
  m.def("measure_fma_peak_gflops", [](double seconds) {
    py::gil_scoped_release nogil;
    return measure_fma_peak_gflops(seconds);
  }, py::arg("seconds") = 0.2, "FP32 FMA GFLOP/s of all threads together on the current ISA level");
#if defined(FL_WITH_CUDA)
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif
}

}  // namespace fl
