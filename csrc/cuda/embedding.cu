// CUDA kernels of the embedding family (launchers in embedding.cuh; contract ops/embedding.h).
// Unverified on a GPU at the time of writing; tools/cuda_emu checks them bit for bit against
// the CPU reference kernels (cpu/ref/embedding_ref.cpp).
//
// Check: one block scans the N indices (each thread its own increasing positions, stopping at
// its first bad one) and reduces the first bad position through a fixed tree: no atomics, one
// launch. Memory-bound and small next to the gather it guards.
// Forward: a grid-stride gather over the N * D output elements (coalesced rows of w and y).
// Backward, deterministic under repeated indices: (1) count the positions of each row (integer
// atomics: the counts do not depend on their order), (2) one block turns the counts into row
// starts (an exclusive prefix sum), (3) each position is placed into its row's segment (integer
// atomics: the order within a segment is arbitrary), (4) one block per weight row sorts its
// segment's positions (a bitonic sort in shared memory; rows with more than kSortMax positions
// instead scan all N indices in order) and adds dy's rows into dw in increasing position
// order, each column in one thread: exactly the reference's additions, so dw is the CPU's bit
// for bit, whatever the scheduling. No float atomics anywhere.
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/embedding.cuh"
#include "cuda/memory.cuh"

namespace fl {
namespace cuda {
namespace {

constexpr int kThreads = 256;
// Positions of a row sorted in shared memory (8 KiB); a row with more scans the indices.
constexpr int kSortMax = 1024;
constexpr index_t kNone = INT64_MAX;

struct MinOp {
  __device__ index_t operator()(index_t a, index_t b) const { return a < b ? a : b; }
};

__device__ __forceinline__ bool in_range(index_t v, index_t V) { return v >= 0 && v < V; }

// One block: bad = {the first position whose index lies outside [0, V), that index} or {-1, 0}.
__global__ void __launch_bounds__(kThreads) embedding_check_kernel(index_t* bad, const index_t* idx, index_t N,
                                                                   index_t V) {
  __shared__ index_t smem[kThreads];
  index_t first = kNone;
  for (index_t i = threadIdx.x; i < N; i += kThreads)
    if (!in_range(idx[i], V)) {
      first = i;
      break;
    }
  first = block_reduce<kThreads>(first, smem, MinOp());
  if (threadIdx.x == 0) {
    bad[0] = first == kNone ? -1 : first;
    bad[1] = first == kNone ? 0 : idx[first];
  }
}

__global__ void embedding_forward_kernel(float* y, const float* w, const index_t* idx, EmbeddingShape s) {
  const index_t total = s.N * s.D;
  for (index_t e = global_index(); e < total; e += grid_stride()) {
    const index_t r = e / s.D, j = e - r * s.D, v = idx[r];
    y[e] = in_range(v, s.V) ? w[v * s.D + j] : NAN;
  }
}

// count[v] = the positions with index v (count zeroed before).
__global__ void embedding_count_kernel(unsigned long long* count, const index_t* idx, EmbeddingShape s) {
  for (index_t i = global_index(); i < s.N; i += grid_stride()) {
    const index_t v = idx[i];
    if (in_range(v, s.V)) atomicAdd(count + v, 1ull);
  }
}

// One block: start[v] = count[0] + ... + count[v - 1] for v <= V, cursor[v] = start[v] (v < V).
__global__ void __launch_bounds__(kThreads) embedding_starts_kernel(index_t* start, index_t* cursor,
                                                                    const unsigned long long* count, index_t V) {
  __shared__ index_t smem[kThreads];
  index_t carry = 0;
  for (index_t v0 = 0; v0 <= V; v0 += kThreads) {
    const index_t v = v0 + threadIdx.x;
    const index_t c = v < V ? static_cast<index_t>(count[v]) : 0;
    index_t chunk = 0;
    const index_t incl = block_inclusive_scan<kThreads>(c, smem, &chunk);
    if (v <= V) start[v] = carry + incl - c;
    if (v < V) cursor[v] = carry + incl - c;
    carry += chunk;
  }
}

// pos[cursor[v]++] = i for every position i of index v (in an arbitrary order within a row).
__global__ void embedding_place_kernel(index_t* pos, unsigned long long* cursor, const index_t* idx,
                                       EmbeddingShape s) {
  for (index_t i = global_index(); i < s.N; i += grid_stride()) {
    const index_t v = idx[i];
    if (in_range(v, s.V)) pos[atomicAdd(cursor + v, 1ull)] = static_cast<index_t>(i);
  }
}

// Ascending bitonic sort of a[0:n] (n a power of two) by the whole block.
__device__ void bitonic_sort(index_t* a, int n) {
  for (int k = 2; k <= n; k *= 2)
    for (int j = k / 2; j > 0; j /= 2) {
      for (int i = threadIdx.x; i < n; i += kThreads) {
        const int p = i ^ j;
        if (p > i) {
          const bool up = (i & k) == 0;
          const index_t x = a[i], y = a[p];
          if ((x > y) == up) a[i] = y, a[p] = x;
        }
      }
      __syncthreads();
    }
}

// dst[j] (+)= dy[list[k] * D + j] for k < n in order, each column by one thread; first: start
// from 0 unless accumulating (the reference's acc = accumulate ? dst : 0).
__device__ void add_rows(float* dst, const float* dy, const index_t* list, int n, index_t D, bool start_zero) {
  for (index_t j = threadIdx.x; j < D; j += kThreads) {
    float acc = start_zero ? 0.0f : dst[j];
    for (int k = 0; k < n; ++k) acc += dy[list[k] * D + j];
    dst[j] = acc;
  }
}

// One block per weight row (grid-stride over rows): the row's gradient in position order.
__global__ void __launch_bounds__(kThreads)
    embedding_rows_kernel(float* dw, const float* dy, const index_t* idx, const index_t* pos, const index_t* start,
                          EmbeddingShape s, index_t padding_idx, bool accumulate) {
  __shared__ index_t list[kSortMax];
  __shared__ index_t scan[kThreads];
  for (index_t v = blockIdx.x; v < s.V; v += gridDim.x) {
    float* dst = dw + v * s.D;
    const index_t count = start[v + 1] - start[v];
    if (v == padding_idx || count == 0) {
      if (!accumulate)
        for (index_t j = threadIdx.x; j < s.D; j += kThreads) dst[j] = 0.0f;
      continue;
    }
    if (count <= kSortMax) {
      int n = 1;
      while (n < count) n *= 2;
      __syncthreads();  // list may still be read for the previous row
      for (int i = threadIdx.x; i < n; i += kThreads) list[i] = i < count ? pos[start[v] + i] : kNone;
      __syncthreads();
      bitonic_sort(list, n);
      add_rows(dst, dy, list, static_cast<int>(count), s.D, !accumulate);
      continue;
    }
    // Many positions: collect them in order, kThreads indices at a time (a prefix sum compacts
    // the matches of a chunk into list, in order), and add each chunk's rows in turn.
    bool first = true;
    for (index_t i0 = 0; i0 < s.N; i0 += kThreads) {
      const index_t i = i0 + threadIdx.x;
      const index_t hit = i < s.N && idx[i] == v ? 1 : 0;
      index_t found = 0;
      const index_t at = block_inclusive_scan<kThreads>(hit, scan, &found) - hit;
      if (hit) list[at] = i;
      __syncthreads();
      if (found > 0) {
        add_rows(dst, dy, list, static_cast<int>(found), s.D, first && !accumulate);
        first = false;
      }
      __syncthreads();  // list is rewritten by the next chunk
    }
  }
}

}  // namespace
}  // namespace cuda

void embedding_check_cuda(index_t* bad, const index_t* idx, EmbeddingShape s, cudaStream_t stream) {
  using namespace cuda;
  embedding_check_kernel<<<1, kThreads, 0, stream>>>(bad, idx, s.N, s.V);
  check_launch("embedding_check_kernel");
}

void embedding_forward_cuda(float* y, const float* w, const index_t* idx, EmbeddingShape s, cudaStream_t stream) {
  using namespace cuda;
  if (s.N <= 0 || s.D <= 0) return;
  embedding_forward_kernel<<<grid_for(s.N * s.D), kBlock, 0, stream>>>(y, w, idx, s);
  check_launch("embedding_forward_kernel");
}

void embedding_backward_cuda(float* dw, const float* dy, const index_t* idx, EmbeddingShape s, index_t padding_idx,
                             bool accumulate, cudaStream_t stream) {
  using namespace cuda;
  if (s.V <= 0 || s.D <= 0) return;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  // count (V), start (V + 1), cursor (V), pos (N): one block, released after the launches (the
  // allocator's blocks are ordered by the one stream all work runs on, cuda/memory.cuh)
  const index_t words = 3 * s.V + 1 + s.N;
  const DeviceBlock block = device_alloc(device, static_cast<std::size_t>(words) * sizeof(index_t));
  index_t* count = static_cast<index_t*>(block.ptr);
  index_t* start = count + s.V;
  index_t* cursor = start + s.V + 1;
  index_t* pos = cursor + s.V;
  auto* ucount = reinterpret_cast<unsigned long long*>(count);
  try {
    check(cudaMemsetAsync(count, 0, sizeof(index_t) * s.V, stream), "embedding_backward: clear the counts");
    if (s.N > 0) {
      embedding_count_kernel<<<grid_for(s.N), kBlock, 0, stream>>>(ucount, idx, s);
      check_launch("embedding_count_kernel");
    }
    embedding_starts_kernel<<<1, kThreads, 0, stream>>>(start, cursor, ucount, s.V);
    check_launch("embedding_starts_kernel");
    if (s.N > 0) {
      embedding_place_kernel<<<grid_for(s.N), kBlock, 0, stream>>>(pos, reinterpret_cast<unsigned long long*>(cursor),
                                                                   idx, s);
      check_launch("embedding_place_kernel");
    }
    const unsigned rows = static_cast<unsigned>(s.V < kMaxBlocks ? s.V : kMaxBlocks);
    embedding_rows_kernel<<<rows, kThreads, 0, stream>>>(dw, dy, idx, pos, start, s, padding_idx, accumulate);
    check_launch("embedding_rows_kernel");
  } catch (...) {
    device_release(device, block);
    throw;
  }
  device_release(device, block);
}

}  // namespace fl
