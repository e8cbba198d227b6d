// AVX2+FMA GEMM: the templates of gemm_impl.h on Vec8 with a 6 x 16 tile
// (12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of the 16 registers).
// Cache blocks, measured on the 2-core Zen VM (1 thread, square 512 and 2048; 4 x 24 and
// 5 x 16 tiles and MC/KC of 144/256 and 72/768 were 2-8% slower): KC = 512 keeps a 32 KiB
// kc x 16 B sliver in L1, MC = 96 a 192 KiB A block in L2, NC = 4080 a kc x nc B panel in L3.
#include <immintrin.h>

#include <array>
#include <utility>

#include "core/tensor.h"
#include "cpu/gemm.h"

// The ISA-generic headers go inside an anonymous namespace (their own includes are already
// satisfied above), so that this ISA's instantiations never merge with another's.
namespace {
#include "cpu/ukernels/avx2/vec_avx2.h"
#include "cpu/ukernels/avx2/transpose_avx2.h"
#include "cpu/ukernels/gemm_impl.h"
}  // namespace

namespace fl {
void register_gemm_avx2(GemmKernels& t) { gemm::register_kernels<Vec8, 6, 16>(t, 96, 512, 4080); }
}  // namespace fl
