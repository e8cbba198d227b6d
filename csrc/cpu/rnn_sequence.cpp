// The RNN family's sequence layout copy (ops/rnn.h, rnn_sequence_copy): the batch_first <->
// time-major transposes, the permutation of the batch into (and out of) length order, and the
// zeroing of padding rows that fastlayers.functional.rnn needs around the layer driver, one pass
// of row copies over threads. A plain copy (no ISA kernels): it moves memory once.
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/rnn.h"

namespace fl {

void rnn_sequence_copy(float* dst, const float* src, const RnnSequenceCopy& c, const index_t* perm,
                       const index_t* batch_sizes) {
  FL_CHECK_ARG(c.T >= 0 && c.B >= 0 && c.C >= 0, "rnn_sequence_copy: negative shape");
  if (perm)
    for (index_t b = 0; b < c.B; ++b)
      FL_CHECK_ARG(perm[b] >= 0 && perm[b] < c.B, "perm[", b, "] = ", perm[b], " is outside [0, ", c.B, ")");
  const index_t rows = c.T * c.B;
  if (rows == 0 || c.C == 0) return;
  auto at = [&](bool batch_first, index_t t, index_t b) { return (batch_first ? b * c.T + t : t * c.B + b) * c.C; };
  parallel_for(0, rows, std::max<index_t>(1, (index_t(1) << 14) / c.C), [&](index_t lo, index_t hi) {
    for (index_t row = lo; row < hi; ++row) {
      const index_t t = row / c.B, b = row % c.B;
      float* d = dst + at(c.dst_batch_first, t, b);
      if (!src || (batch_sizes && b >= batch_sizes[t]))
        std::memset(d, 0, sizeof(float) * c.C);
      else
        std::memcpy(d, src + at(c.src_batch_first, t, perm ? perm[b] : b), sizeof(float) * c.C);
    }
  });
}

}  // namespace fl
