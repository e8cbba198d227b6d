// AVX-512 GEMM: the templates of gemm_impl.h on Vec16 with an 8 x 48 tile
// (24 zmm accumulators + 3 B vectors + 1 broadcast of the 32 registers: 3 loads and 8
// broadcasts feed 24 FMAs per k step).
// Chosen by measurement on the 2-core Zen VM (1 thread, square 128 to 2048): 8 x 48 ran at
// 258-272 GFLOP/s, 6 x 64 and 12 x 32 2-4% slower, 14 x 32 and 8 x 32 5-8% slower. (This VM's
// CPU reports family 26 and sustains two full-width zmm FMAs per cycle, twice the AVX2 rate.)
// Cache blocks: KC = 1024 (the kc x 48 B sliver, up to 192 KiB, streams from L2 at no
// measurable cost, and one K block for K <= 1024 means C is written once: linear with K = 784
// ran 2% faster than with KC = 512), MC = 128 (an A block of up to 512 KiB in the 1 MiB L2),
// NC = 2048 (an 8 MiB B panel: square 4096 ran at 271 GFLOP/s, against 255 with a 16 MiB panel
// at NC = 4096). K is cut into equal blocks of at most KC (cpu/gemm.cpp).
// The direct path also has a 6 x 64 tile (24 accumulators + 4 B vectors + 1 broadcast; 10 loads
// feed 24 FMAs) for N of 49 to 64, which otherwise runs two 2-vector slivers (8 x 32 tiles, 16
// FMAs per 10 loads): square 64 ran 3% faster.
// A with contiguous rows is read in place on the block path at every stride on Intel, and at
// every stride but multiples of 1024 floats elsewhere (pack_rows_lda_*, cpu/gemm.cpp). On
// Intel (the 2-core Xeon VM, family 6 model 167: 48 KiB L1d, 2 MiB L2) GCC's k loop ran slower
// on A in place than on packed A, so the per-thread block path packed it there (4f344db); the
// hand-scheduled loop (gemm_step4_avx512.h) reverses that: A in place against packed, 2 threads,
// in-process interleaved over 15 rounds: linear 256x784x512 1.065x, linear 64x784x512 1.059x,
// square 256 1.077x, 512 1.046x, 1024 1.007x (1 thread: 1.044x, 1.009x, 1.025x, 1.036x, 0.996x).
// At strides of 1024 floats too, on the block path (square 1024 1.024x, 512x1024x512 1.062x, 15
// rounds; 1 thread 1.003x, 1.029x), but not on the shared-B path, where packing for the stride
// stays (in place: square 2048 0.984x, 4096 0.962x).
// The shared-B path starts above 1024^3 on Intel (shared_macs), not at 2^29 MACs (~800^3): on
// the Xeon VM, 2 threads, in-process interleaved over 11 rounds, per-thread blocks (A in place)
// ran 1024^3 1.069x, 1536^3 1.033x and 2048^3 1.001x of shared B on a quiet machine, but with a
// 25%-duty busy loop on one core (blocks with A packed) 1024^3 1.030x, 2048^3 0.909x and 4096^3
// 0.889x: shared B keeps the larger products safe from a slowed core. With the block path's
// narrowed, rows-outer panels (2da063f) it starts at 2^32 MACs (~1620^3): in-process, 4-6
// rounds, blocks against shared B ran 1536^3 1.052x quiet and 1.007x with the busy loop, 2048^3
// 1.030x and 0.920x, 4096^3 0.972x quiet.
// Packed B panels of up to 1 MiB (in the 2 MiB L2) run row tile by row tile across all their
// slivers on Intel (rows_outer_panel, cpu/gemm.cpp): 2 threads linear 256x784x512 1.03x.
// The k loop of the full 8 x 48 tile is hand-scheduled (gemm_step4_avx512.h): against GCC's
// loop, 1 thread 256^3 1.035x, 384^3 1.074x, 1024^3 1.034x; 2 threads 512^3 1.053x, 1024^3
// 1.047x (process-level A/B, 6-8 rounds); its 8 x 32 and 8 x 16 tiles, for the swapped product of
// linear on a small batch, 1.07-1.15x there.
#include <immintrin.h>

#include <array>
#include <utility>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "ops/gemm.h"

// The ISA-generic headers go inside an anonymous namespace (their own includes are already
// satisfied above), so that this ISA's instantiations never merge with another's.
namespace {
#include "cpu/ukernels/avx512/vec_avx512.h"
#include "cpu/ukernels/avx2/transpose_avx2.h"
#include "cpu/ukernels/gemm_impl.h"
#include "cpu/ukernels/avx512/gemm_step4_avx512.h"  // after gemm_impl.h: specialises its Step4
}  // namespace

namespace fl {
void register_gemm_avx512(GemmKernels& t) {
  gemm::register_kernels<Vec16, 8, 48, 6, 64>(t, 128, 1024, 2048);
  // pack_rows_lda_* stay AVX2's 1024 (the table starts as a copy of it), but on Intel the block
  // path reads A in place at every stride, and shared B starts at 2^32 MACs (see above).
  if (cpu_is_intel()) {
    t.pack_rows_lda_blocks = 0;
    t.shared_macs = 4.0 * 1024 * 1024 * 1024;
    t.rows_outer_panel = 256 * 1024;  // row tiles outer on B panels of up to 1 MiB (see above)
  }
}
}  // namespace fl
