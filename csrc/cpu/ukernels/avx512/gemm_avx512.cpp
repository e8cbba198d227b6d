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
// Packing A with contiguous rows: on Intel (the 2-core Xeon VM, family 6 model 167: 48 KiB L1d,
// 2 MiB L2) the per-thread block path packs it at every row stride (pack_rows_blocks), as it
// does transposed A; reading it in place, as on AMD, ran slower (2 threads, in-process A/B,
// median over 21 rounds of the paired ratio: square 512 1.047x, linear 64x784x512 1.028x,
// square 256 1.011x, linear 256x784x512 1.003x; earlier runs of 7-9 rounds gave 5-10% at 256
// to 768). The shared-B path keeps A in place: packed, 1024^3 ran 0.906x (before the asm loop of
// gemm_step4_avx512.h; with it, packed and in place ran alike: 0.998x 1024^3, 1.000x 2048^3).
// The shared-B path starts above 1024^3 on Intel (shared_macs), not at 2^29 MACs (~800^3): on
// the Xeon VM, 2 threads, in-process interleaved over 15 rounds, per-thread blocks ran 1024^3
// 1.048x and 2048^3 1.019x of shared B on a quiet machine (another run: 1024 1.035x, 1536 1.037x,
// 4096 1.022x), but with a 25%-duty busy loop on one core 1024^3 1.030x, 2048^3 0.909x and
// 4096^3 0.889x: shared B keeps the larger products safe from a slowed core.
// The k loop of the full 8 x 48 tile is hand-scheduled (gemm_step4_avx512.h): against GCC's
// loop, 1 thread 256^3 1.035x, 384^3 1.074x, 1024^3 1.034x; 2 threads 512^3 1.053x, 1024^3
// 1.047x (process-level A/B, 6-8 rounds). The same loop for the 8 x 32 and 8 x 16 edge tiles
// gained nothing (square 512 0.988x, 1 thread) and is not kept.
#include <immintrin.h>

#include <array>
#include <utility>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "cpu/gemm.h"

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
  t.pack_rows_blocks = cpu_is_intel();
  if (cpu_is_intel()) t.shared_macs = 1.5 * 1024 * 1024 * 1024;  // square 1024 on blocks, 1280 shared
}
}  // namespace fl
