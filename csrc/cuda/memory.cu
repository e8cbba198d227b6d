// The device caching allocator (see memory.cuh for the bucket and stream contract).
#include <map>
#include <mutex>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/memory.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr std::size_t kMinBucket = 512;
constexpr std::size_t kSmallLimit = std::size_t(1) << 20;

std::size_t bucket_size(std::size_t bytes) {
  std::size_t p = kMinBucket;
  while (p < bytes) p <<= 1;  // smallest power of two >= bytes
  if (p <= kSmallLimit) return p;
  const std::size_t step = p / 16;  // eighths of the octave [p/2, p]
  return (bytes + step - 1) / step * step;
}

struct DeviceCache {
  std::map<std::size_t, std::vector<void*>> free_lists;  // bucket size -> blocks
  MemoryStats stats;
};

struct Allocator {
  std::mutex mu;
  std::map<int, DeviceCache> devices;

  // Frees the cached blocks of one device; the caller holds mu.
  void release_cached(int device, DeviceCache& dc) {
    DeviceGuard guard(device);
    for (auto& kv : dc.free_lists)
      for (void* p : kv.second) cudaFree(p);
    dc.free_lists.clear();
    dc.stats.cached = 0;
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: blocks may be released at exit
  return *a;
}

}  // namespace

DeviceBlock device_alloc(int device, std::size_t bytes) {
  if (bytes == 0) return {};
  const std::size_t cap = bucket_size(bytes);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  DeviceCache& dc = a.devices[device];
  auto it = dc.free_lists.find(cap);
  void* p = nullptr;
  if (it != dc.free_lists.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    dc.stats.cached -= cap;
  } else {
    DeviceGuard guard(device);
    cudaError_t err = cudaMalloc(&p, cap);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      a.release_cached(device, dc);
      err = cudaMalloc(&p, cap);
    }
    check(err, str_cat("cudaMalloc of ", cap, " bytes on device ", device).c_str());
    ++dc.stats.mallocs;
  }
  dc.stats.in_use += cap;
  if (dc.stats.in_use > dc.stats.peak) dc.stats.peak = dc.stats.in_use;
  return {p, cap};
}

void device_release(int device, const DeviceBlock& block) noexcept {
  if (block.ptr == nullptr) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  DeviceCache& dc = a.devices[device];
  dc.free_lists[block.capacity].push_back(block.ptr);
  dc.stats.in_use -= block.capacity;
  dc.stats.cached += block.capacity;
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  for (auto& kv : a.devices) a.release_cached(kv.first, kv.second);
}

MemoryStats memory_stats(int device) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.devices[device].stats;
}

}  // namespace cuda
}  // namespace fl
