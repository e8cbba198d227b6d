// The device caching allocator: cudaMalloc is slow and synchronising, so freed blocks are kept
// in size-bucketed free lists per device and handed out again to requests of the same bucket.
//
// Buckets: requests up to 1 MiB round up to a power of two (at least 512 bytes); larger ones
// round up to a multiple of 1/8 of their power-of-two octave, so a block wastes at most 12.5%.
// A request is served from the free list of exactly its bucket, otherwise by cudaMalloc; when
// cudaMalloc runs out of memory, every cached block of that device is freed and it retries once.
//
// Stream contract: every fastlayers kernel and copy runs on the legacy default stream, so a
// block released to the cache and handed out again is ordered after all work that used it.
// Thread-safe (one mutex); plain C++ declarations, usable from host-compiled bindings.
#pragma once
#include <cstddef>

namespace fl {
namespace cuda {

struct DeviceBlock {
  void* ptr = nullptr;       // nullptr for a zero-byte request
  std::size_t capacity = 0;  // bucket size: pass back to device_release
};

struct MemoryStats {
  std::size_t in_use = 0;   // bytes (bucket sizes) handed out and not yet released
  std::size_t cached = 0;   // bytes held in free lists
  std::size_t peak = 0;     // highest in_use seen
  std::size_t mallocs = 0;  // cudaMalloc calls (cache misses)
};

// A block of at least `bytes` bytes on `device`; throws std::runtime_error with the CUDA
// error text when the device cannot supply it.
DeviceBlock device_alloc(int device, std::size_t bytes);
// Returns a block to its device's free list (never throws).
void device_release(int device, const DeviceBlock& block) noexcept;
// Frees every cached block of every device (blocks in use are untouched).
void empty_cache();
MemoryStats memory_stats(int device);

}  // namespace cuda
}  // namespace fl
