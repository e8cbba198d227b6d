// Reference SGEMM: plain loops, one row of C at a time, accumulated in double (so its error
// does not grow with K as a float sum's would). It is the algorithmic
// reference the blocked driver is tested against, the scalar ISA level
// (FASTLAYERS_ISA=scalar) and the fallback off x86-64. The epilogue uses the reference
// activation kernels.
#include <vector>

#include "ops/gemm.h"

namespace fl {

namespace {
float a_at(const float* a, index_t lda, bool trans, index_t i, index_t k) {
  return trans ? a[k * lda + i] : a[i * lda + k];
}
}  // namespace

void sgemm_ref(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, GemmShape s,
               const GemmOptions& opt) {
  std::vector<double> acc(static_cast<size_t>(s.N));
  const ActForwardFn act = g_activation_kernels.at(Isa::scalar).forward[static_cast<int>(opt.ep.act)];
  for (index_t i = 0; i < s.M; ++i) {
    if (opt.trans_b) {  // b(k, j) contiguous along k: dot products
      for (index_t j = 0; j < s.N; ++j) {
        double sum = 0.0;
        for (index_t k = 0; k < s.K; ++k) sum += double(a_at(a, lda, opt.trans_a, i, k)) * b[j * ldb + k];
        acc[j] = sum;
      }
    } else {  // b(k, j) contiguous along j: axpy over rows of B
      for (index_t j = 0; j < s.N; ++j) acc[j] = 0.0;
      for (index_t k = 0; k < s.K; ++k) {
        const double av = a_at(a, lda, opt.trans_a, i, k);
        const float* bk = b + k * ldb;
        for (index_t j = 0; j < s.N; ++j) acc[j] += av * bk[j];
      }
    }
    float* ci = c + i * ldc;
    for (index_t j = 0; j < s.N; ++j) {
      float v = opt.alpha * static_cast<float>(acc[j]);
      if (opt.beta != 0.0f) v += opt.beta * ci[j];
      if (opt.ep.bias_mode == GemmBias::per_col) v += opt.ep.bias[j];
      if (opt.ep.bias_mode == GemmBias::per_row) v += opt.ep.bias[i];
      ci[j] = v;
    }
    if (opt.ep.has_act) act(ci, ci, s.N, opt.ep.act_param);
  }
}

void register_gemm_ref(GemmKernels& t) {
  t.reference = sgemm_ref;
  t.ukernel = nullptr;
  t.pack_a = nullptr;
  t.pack_b = nullptr;
  t.dot = nullptr;
  t.dot_rows = 0;
  t.mr = t.nr = t.vw = 1;
  t.mc = t.kc = t.nc = 0;
}

}  // namespace fl
