// CUDA launchers of the resample family: interpolation (nearest, nearest-exact, linear /
// bilinear) and padding (constant, reflect, replicate, circular) of the planes of NCHW
// tensors, forward and backward, with the semantics and index maps of csrc/ops/resample.h.
// Plain C++ declarations: raw device pointers, the stream the kernels are queued on; launchers
// never synchronise. Unverified on a GPU at the time of writing (checked by host emulation
// against the CPU reference kernels).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/resample.h"

namespace fl {

// y (planes x P x Q) from x (planes x H x W).
void interp_forward_cuda(float* y, const float* x, index_t planes, const InterpShape& s, cudaStream_t stream);
// dx (planes x H x W, overwritten) = the adjoint of the forward.
void interp_backward_cuda(float* dx, const float* dy, index_t planes, const InterpShape& s, cudaStream_t stream);
// y (planes x d.out x h.out x w.out) from x (planes x d.in x h.in x w.in).
void pad_forward_cuda(float* y, const float* x, index_t planes, const PadShape& s, cudaStream_t stream);
// dx (overwritten) = the sum of dy over the outputs that read each input.
void pad_backward_cuda(float* dx, const float* dy, index_t planes, const PadShape& s, cudaStream_t stream);

}  // namespace fl
