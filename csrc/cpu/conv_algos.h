// Private to the convolution driver of conv2d (cpu/conv*.cpp): what the driver (conv.cpp) calls in each
// algorithm's file, and the task machinery they share: per-thread buffers, the exception guard
// of a parallel region, run_tasks / run_reduce_tasks. The algorithms:
//   conv_im2col.cpp    im2col (or the image itself at 1 x 1) + the packed SGEMM of ops/gemm.h
//   conv_winograd.cpp  Winograd F(2x2, 3x3): forward and weight gradient
//   conv_direct.cpp    a direct kernel on a zero-padded copy, for short reductions C R S
//   conv_depthwise.cpp the ISA's depthwise kernels (groups == C == K)
// Each *_applies / is_* predicate says whether its algorithm takes a shape; the driver picks.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "core/parallel.h"
#include "ops/conv.h"

namespace fl::conv_detail {

// Column tile budget: 4 MB per thread. Measured on 3x3 layers: a tile of a whole 28x28 image
// (or half a 56x56 one) runs 15-25% faster than 512 KB tiles, because each GEMM call packs
// all of A (the filters) again and wide tiles amortise that.
constexpr index_t kColFloats = 1 << 20;

// Per-thread grow-only buffers (core/scratch.h), kept between calls: the column (im2col, padded
// copy, transform) buffer of a task, the accumulators of run_reduce_tasks, a temporary output.
// Each returns at least n floats or throws std::bad_alloc (MemoryError in Python); inside a
// parallel region the exception is caught by run_tasks / run_reduce_tasks (Guard), the other
// threads stop taking tasks, and it is rethrown once the region has ended (an exception
// escaping a parallel range would end the process).
float* thread_col(index_t n);
float* thread_acc(index_t n);
float* thread_tmp(index_t n);

// Carries the first exception out of a parallel region: run(f) calls f unless a thread has
// already failed, catching what it throws; rethrow() throws it after the region.
class Guard {
 public:
  template <class F> void run(const F& f) {
    if (failed_) return;
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> hold(lock_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
  bool failed() const { return failed_; }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex lock_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// A thread team costs a few microseconds to wake, far more on a busy machine: each thread
// gets at least this many multiply-adds (about 8 us of work), else fewer threads run.
constexpr index_t kMacsPerThread = 1 << 20;

inline index_t task_grain(index_t macs_per_task) {
  return std::max<index_t>(1, kMacsPerThread / std::max<index_t>(macs_per_task, 1));
}

// Runs body(task, col) over [0, tasks) of macs_per_task multiply-adds each, with a column
// buffer of col_floats per thread: in parallel with single-threaded GEMMs when there is
// enough work for every thread, else in order with GEMMs that thread themselves when large
// enough. Parallel tasks are handed out one at a time from a shared counter, so a thread
// whose core is taken by another process delays only the task it holds.
template <class Body>
void run_tasks(index_t tasks, index_t macs_per_task, index_t col_floats, const Body& body) {
  const index_t grain = task_grain(macs_per_task);
  if (tasks < get_num_threads() * grain) {
    float* col = thread_col(col_floats);
    for (index_t i = 0; i < tasks; ++i) body(i, col);
    return;
  }
  std::atomic<index_t> next{0};
  Guard guard;
  parallel_for(0, std::min<index_t>(get_num_threads(), tasks / grain), 1, [&](index_t, index_t) {
    guard.run([&] {
      float* col = thread_col(col_floats);
      for (index_t i = next++; i < tasks && !guard.failed(); i = next++) body(i, col);
    });
  });
  guard.rethrow();
}

// As run_tasks, for tasks that accumulate: body(task, col, acc) adds into a zeroed per-range
// buffer of acc_floats. Threads take fixed ranges of tasks and the buffers are returned in
// range order, so the caller's sum of them does not depend on timing.
template <class Body>
std::vector<const float*> run_reduce_tasks(index_t tasks, index_t macs_per_task, index_t col_floats,
                                           index_t acc_floats, const Body& body) {
  // Fixed ranges, each with its own accumulator in the calling thread's buffer (ranges are not
  // tied to threads: one thread may run several, core/parallel.h), returned in range order.
  const index_t grain = task_grain(macs_per_task);
  const index_t threads = get_num_threads();
  const index_t ranges = tasks >= threads * grain ? threads : 1;
  const index_t chunk = (tasks + ranges - 1) / ranges;
  float* const accs = thread_acc(ranges * acc_floats);
  Guard guard;
  auto run_range = [&](index_t r) {
    guard.run([&] {
      float* col = thread_col(col_floats);
      float* acc = accs + r * acc_floats;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(acc_floats));
      for (index_t i = r * chunk; i < std::min(tasks, (r + 1) * chunk) && !guard.failed(); ++i) body(i, col, acc);
    });
  };
  parallel_for(0, ranges, 1, [&](index_t lo, index_t hi) {
    for (index_t r = lo; r < hi; ++r) run_range(r);
  });
  guard.rethrow();
  std::vector<const float*> out;
  for (index_t r = 0; r < ranges && r * chunk < tasks; ++r) out.push_back(accs + r * acc_floats);
  return out;
}

// dx[n, c] += bias[c] for the channels [c0, c1) of image n (dx is N x C x H x W; bias: C floats
// or null, then nothing is added).
inline void add_bias_planes(float* dx, const float* bias, const Conv2dShape& s, index_t n, index_t c0, index_t c1) {
  if (!bias) return;
  const index_t hw = s.H * s.W;
  for (index_t c = c0; c < c1; ++c) {
    float* plane = dx + (n * s.C + c) * hw;
    for (index_t i = 0; i < hw; ++i) plane[i] += bias[c];
  }
}

// 1 x 1, stride 1, no padding: the image is already the GEMM's column matrix (C x HW).
inline bool is_pointwise(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
         s.P == s.H && s.Q == s.W;
}

// ---- conv_im2col.cpp: every shape (the fallback of the others) ----
void im2col_forward(float* y, const float* x, const float* w, const float* bias, const Conv2dShape& s);
// dx (overwritten) = col2im(W^T dy) + bias, by (image, group) tasks.
void im2col_backward_input(float* dx, const float* dy, const float* w, const float* bias, const Conv2dShape& s);
// dw += dy col^T (dw zeroed by the caller).
void im2col_backward_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s);

// ---- conv_winograd.cpp: 3 x 3, stride 1, undilated, >= 8 channels per group, >= 14 x 14 outputs ----
bool winograd_applies(const ConvKernels& k, const Conv2dShape& s);
void winograd_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                      const Conv2dShape& s);
// dw (overwritten) = the weight gradient.
void winograd_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                              const Conv2dShape& s);

// ---- conv_direct.cpp: stride 1, groups 1, C R S <= 64, not 1 x 1 ----
bool direct_applies(const ConvKernels& k, const Conv2dShape& s);
void direct_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                    const Conv2dShape& s);
// dw += the weight gradient (dw zeroed by the caller).
void direct_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                            const Conv2dShape& s);

// ---- conv_depthwise.cpp: groups == C == K, where the ISA has the kernels ----
bool is_depthwise(const ConvKernels& k, const Conv2dShape& s);
void depthwise_forward(const ConvKernels& k, float* y, const float* x, const float* w, const float* bias,
                       const Conv2dShape& s);
// The backward-input where its kernel takes the shape (column stride <= 2, S <= kDepthwiseMaxTaps):
// dx (overwritten) + bias, returning true; false (nothing written) elsewhere.
bool depthwise_backward_input(const ConvKernels& k, float* dx, const float* dy, const float* w, const float* bias,
                              const Conv2dShape& s);
// dw += the weight gradient where the ISA has its kernel (true); false elsewhere.
bool depthwise_backward_weight(const ConvKernels& k, float* dw, const float* dy, const float* x,
                               const Conv2dShape& s);

}  // namespace fl::conv_detail
