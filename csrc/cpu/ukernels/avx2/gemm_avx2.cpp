// AVX2+FMA GEMM: the templates of gemm_impl.h on Vec8 with a 6 x 16 tile
// (12 ymm accumulators + 2 B vectors + broadcasts), whose packed k loop runs the hand-scheduled
// groups of four steps of gemm_step4_avx2.h.
// Cache blocks, measured on a 2-core Zen VM in session 1 (1 thread, square 512 and 2048; 4 x 24
// and 5 x 16 tiles and MC/KC of 144/256 and 72/768 were 2-8% slower): KC = 512 (a 32 KiB kc x 16
// B sliver, streamed from L2 by the tiles), MC = 96 (a 192 KiB A block in L2), NC = 4080 (a
// kc x nc B panel in L3). Re-measured on the Zen 3 VM (32 KiB L1d, 512 KiB L2) with the Step4
// loop, 1 thread, ratio to NumPy in one process, median of 4 runs: KC = 384 and 256 (MC 96 or
// 144) were 0-9% slower at square 512-2048 and linear 256 x 784 x 512, within the noise or not.
#include <immintrin.h>

#include <array>
#include <utility>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "ops/gemm.h"

// The ISA-generic headers go inside an anonymous namespace (their own includes are already
// satisfied above), so that this ISA's instantiations never merge with another's.
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/avx2/transpose_avx2.h"
#include "cpu/ukernels/gemm_impl.h"
#include "cpu/ukernels/avx2/gemm_step4_avx2.h"  // after gemm_impl.h: specialises its Step4
}  // namespace

namespace fl {
void register_gemm_avx2(GemmKernels& t) {
  gemm::register_kernels<Vec8, 6, 16>(t, 96, 512, 4080);
  // A with rows a multiple of 4 KiB apart is packed (cpu/gemm.cpp, packs_a)
  t.pack_rows_lda_blocks = t.pack_rows_lda_shared = 1024;
  // The direct path for op(A) of at most 64 KiB, not 256 KiB: on the Zen 3 VM (512 KiB L2)
  // 252 x 784 x 256 ran at 0.84x NumPy direct and 0.92-0.98x packed, 128 x 512 x 512 0.71x
  // and 0.97x, 64 x 1024 x 1024 (B rows 4 KiB apart) 0.28x and 0.94x; 192^3 and 256^3 within
  // 5% either way (1 thread, ratio to NumPy in one process, median of 8).
  t.direct_max_a = 16 * 1024;
  // Row tiles outer on B panels of up to 1 MiB, where L2 is 2 MiB (the Xeon VM: 1.02-1.04x,
  // cpu/gemm.cpp, macro_kernel); not measured on AMD's 512 KiB - 1 MiB L2, so off there.
  if (cpu_is_intel()) t.rows_outer_panel = 256 * 1024;
}
}  // namespace fl
