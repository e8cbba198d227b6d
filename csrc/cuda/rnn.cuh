// CUDA launchers of the RNN family (ops/rnn.h): the fused gate kernels of every RnnCell (one
// timestep; the CPU table's RnnForwardArgs / RnnBackwardArgs contracts, with device pointers),
// the layer drivers with the CPU driver's entry points and contracts (rnn_layer_forward /
// rnn_layer_backward: h_seq, c_seq, gates layouts, packed batch sizes, accumulate), and the
// sequence layout copy of functional.rnn (rnn_sequence_copy).
//
// The drivers run on sgemm_cuda (cuda/gemm.cuh, FP32): the input projection of all T*B rows as
// one GEMM per direction (the folded bias in its epilogue), per timestep the recurrent product
// and one gate kernel; backward per timestep (latest first) the product that carries the gate
// gradients to h, then the gate-gradient kernel; at the end dX, dW_ih, dW_hh and the bias
// gradients as one GEMM each over all T*B rows. batch_sizes is a host array (the step loop runs
// on the host and sizes each product by it); every other pointer is device memory. Scratch comes
// from the caching allocator of the current device. Launchers never synchronise; a bad launch
// throws std::runtime_error. Unverified on a GPU at the time of writing (checked by host emulation
// against the CPU reference kernels and driver, tools/cuda_emu/emu_rnn.cpp).
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/rnn.h"

namespace fl {

// One timestep of `cell`: a.rows rows, units [0, a.n) (the drivers pass n = H).
void rnn_gate_forward_cuda(RnnCell cell, const RnnForwardArgs& a, cudaStream_t stream);
void rnn_gate_backward_cuda(RnnCell cell, const RnnBackwardArgs& a, cudaStream_t stream);

// rnn_layer_forward / rnn_layer_backward of ops/rnn.h on device memory (batch_sizes on the host).
void rnn_layer_forward_cuda(RnnCell cell, RnnShape s, index_t dirs, float* y, float* h_seq, float* c_seq,
                            float* gates, const float* x, const RnnWeights* w, const index_t* batch_sizes,
                            cudaStream_t stream);
void rnn_layer_backward_cuda(RnnCell cell, RnnShape s, index_t dirs, float* dx, float* dh, float* dc,
                             const RnnWeightGrads* g, bool accumulate, const float* dy, const float* x,
                             const RnnWeights* w, const float* h_seq, const float* c_seq, const float* gates,
                             const index_t* batch_sizes, cudaStream_t stream);

// rnn_sequence_copy of ops/rnn.h with perm and batch_sizes in device memory; a perm entry outside
// [0, B) gives a NaN row (never a read outside src).
void rnn_sequence_copy_cuda(float* dst, const float* src, const RnnSequenceCopy& c, const index_t* perm,
                            const index_t* batch_sizes, cudaStream_t stream);

}  // namespace fl
