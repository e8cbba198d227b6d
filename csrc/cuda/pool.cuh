// CUDA launchers of the pool family: max / average / adaptive-average pooling over the planes
// of NCHW tensors, forward and backward, with the semantics of csrc/ops/pool.h (same
// Pool2dShape and AvgPoolOptions; 1-D pooling is H = 1, global pooling is adaptive 1 x 1).
// x holds planes * H * W floats, y planes * P * Q; max-pool indices are int64 flat positions
// h * W + w within the plane. Plain C++ declarations: raw device pointers, the stream the
// kernels are queued on; launchers never synchronise. Unverified on a GPU at the time of
// writing (checked by host emulation against the CPU reference kernels).
#pragma once
#include "cuda/stream.h"

#include <cstdint>

#include "core/tensor.h"
#include "ops/pool.h"

namespace fl {

// y = max over each window, idx (may be null) the winner's flat position; first max wins,
// NaN wins over numbers.
void max_pool2d_forward_cuda(float* y, int64_t* idx, const float* x, index_t planes, const Pool2dShape& s,
                             cudaStream_t stream);
// dx (planes x H x W) = sum of dy over the outputs whose index points at each input (s.P and
// s.Q give grad_out's plane; the window fields are unused). Indices outside [0, H W) are
// ignored (the Python layer cannot check device indices cheaply).
void max_pool2d_backward_cuda(float* dx, const float* dy, const int64_t* idx, index_t planes, const Pool2dShape& s,
                              cudaStream_t stream);
void avg_pool2d_forward_cuda(float* y, const float* x, index_t planes, const Pool2dShape& s, const AvgPoolOptions& o,
                             cudaStream_t stream);
void avg_pool2d_backward_cuda(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                              const AvgPoolOptions& o, cudaStream_t stream);
// Output (p, q) averages rows [floor(p H / P), ceil((p + 1) H / P)) and the columns likewise.
void adaptive_avg_pool2d_forward_cuda(float* y, const float* x, index_t planes, const Pool2dShape& s,
                                      cudaStream_t stream);
void adaptive_avg_pool2d_backward_cuda(float* dx, const float* dy, index_t planes, const Pool2dShape& s,
                                       cudaStream_t stream);

}  // namespace fl
