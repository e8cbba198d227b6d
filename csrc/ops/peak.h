// Measured FP32 FMA peak of this machine, for the "% of peak" column of the benchmarks.
// A kernel per ISA runs independent FMA chains (enough to cover the FMA latency on every
// current x86 core) over registers only; the driver runs it on every thread at once.
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

// Runs `iters` rounds of FMAs on register-resident vectors; returns the FLOP count done
// (2 per lane per FMA) and a value that depends on the result (so nothing is optimised away).
using FmaLoopFn = double (*)(index_t iters, float* sink);

struct PeakKernels {
  FmaLoopFn fma_loop;
};

extern KernelTables<PeakKernels> g_peak_kernels;
void register_peak_ref(PeakKernels& t);
void register_peak_avx2(PeakKernels& t);
void register_peak_avx512(PeakKernels& t);

// GFLOP/s of all get_num_threads() threads running fma_loop together for about `seconds`.
double measure_fma_peak_gflops(double seconds);

}  // namespace fl
