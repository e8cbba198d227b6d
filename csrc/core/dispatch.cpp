// Fills every family's kernel tables once, at import (see dispatch.h): reference kernels
// at every level, then the overrides of each ISA the CPU supports.
#include "core/dispatch.h"

#include "cpu/activation.h"
#include "cpu/peak.h"
#include "cpu/conv.h"
#include "cpu/dropout.h"
#include "cpu/gemm.h"
#include "cpu/loss.h"
#include "cpu/norm.h"
#include "cpu/optim.h"
#include "cpu/pool.h"

namespace fl {

namespace {
template <class Table>
void fill(KernelTables<Table>& t, void (*ref)(Table&), void (*avx2)(Table&), void (*avx512)(Table&)) {
  for (auto& level : t.level) ref(level);
  const int best = static_cast<int>(isa_detected());
  for (int l = static_cast<int>(Isa::avx2); avx2 && l <= best; ++l) avx2(t.level[l]);
  for (int l = static_cast<int>(Isa::avx512); avx512 && l <= best; ++l) avx512(t.level[l]);
}

}  // namespace

// Each family adds one line to each branch; off x86-64 the ISA files are not compiled.
void init_kernel_tables() {
#if defined(FL_X86)
  fill(g_activation_kernels, register_activation_ref, register_activation_avx2, register_activation_avx512);
  fill(g_gemm_kernels, register_gemm_ref, register_gemm_avx2, register_gemm_avx512);
  fill(g_peak_kernels, register_peak_ref, register_peak_avx2, register_peak_avx512);
  fill(g_pool_kernels, register_pool_ref, register_pool_avx2, register_pool_avx512);
  fill(g_norm_kernels, register_norm_ref, register_norm_avx2, register_norm_avx512);
  fill(g_conv_kernels, register_conv_ref, register_conv_avx2, register_conv_avx512);
  fill(g_optim_kernels, register_optim_ref, register_optim_avx2, register_optim_avx512);
  fill(g_loss_kernels, register_loss_ref, register_loss_avx2, register_loss_avx512);
  fill(g_dropout_kernels, register_dropout_ref, register_dropout_avx2, register_dropout_avx512);
#else
  fill(g_activation_kernels, register_activation_ref, nullptr, nullptr);
  fill(g_gemm_kernels, register_gemm_ref, nullptr, nullptr);
  fill(g_peak_kernels, register_peak_ref, nullptr, nullptr);
  fill(g_pool_kernels, register_pool_ref, nullptr, nullptr);
  fill(g_norm_kernels, register_norm_ref, nullptr, nullptr);
  fill(g_conv_kernels, register_conv_ref, nullptr, nullptr);
  fill(g_optim_kernels, register_optim_ref, nullptr, nullptr);
  fill(g_loss_kernels, register_loss_ref, nullptr, nullptr);
  fill(g_dropout_kernels, register_dropout_ref, nullptr, nullptr);
#endif
}

}  // namespace fl
