// ScratchBuffer: a grow-only, 64-byte aligned float buffer owned by one thread and kept between
// calls (as a thread_local): freshly mapped pages cost more here than the packing or im2col
// that fills them. get(n) returns nullptr when the allocation fails; callers decide what that
// means (GEMM falls back to its reference kernel).
#pragma once
#include <algorithm>
#include <cstdlib>

#include "core/tensor.h"

namespace fl {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(p_); }

  float* get(index_t n) {
    const size_t bytes = static_cast<size_t>(std::max<index_t>(n, 16)) * sizeof(float);
    if (bytes > cap_) {
      std::free(p_);
      cap_ = (std::max(bytes, cap_ + cap_ / 2) + 4095) / 4096 * 4096;
      p_ = static_cast<float*>(std::aligned_alloc(64, cap_));
      if (!p_) cap_ = 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace fl
