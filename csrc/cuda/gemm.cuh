// CUDA SGEMM launcher (no cuBLAS): row-major, all transposes, alpha / beta, and a fused
// epilogue (bias per column, then an activation), so a linear layer writes its output once.
//
//   C[m, n] = act(alpha * sum_k opA[m, k] * opB[k, n] + beta * C[m, n] + bias[n])
//   opA = A (M x K, lda >= K) or A^T with A stored K x M (lda >= M) when trans_a;
//   opB = B (K x N, ldb >= N) or B^T with B stored N x K (ldb >= K) when trans_b.
// beta == 0 never reads C (NaN in an uninitialised C does not leak, as in BLAS). The epilogue is
// the CPU's (ops/gemm.h): a bias per column (GemmBias::per_row is not supported here:
// std::invalid_argument) and an optional ActOp with its parameter.
//
// Precision: GemmPrecision::fp32 computes in FP32 FMA (CUDA cores). GemmPrecision::tf32 rounds
// A and B to TF32 (10-bit mantissa, round to nearest, ties away) and multiplies on the tensor
// cores (mma.sync m16n8k8) with FP32 accumulation: each product carries a relative error up
// to about 2^-10, so expect |error| ~ 1e-3 * sqrt(K) * rms(a) * rms(b). Needs sm_80 or newer.
// Plain C++ declarations; the launcher queues work on `stream` and never synchronises.
#pragma once
#include "cuda/stream.h"

#include "core/tensor.h"
#include "ops/gemm.h"

namespace fl {

void sgemm_cuda(float* c, const float* a, const float* b, index_t M, index_t N, index_t K, index_t lda,
                index_t ldb, index_t ldc, bool trans_a, bool trans_b, float alpha, float beta,
                const GemmEpilogue& epilogue, GemmPrecision precision, cudaStream_t stream);

}  // namespace fl
