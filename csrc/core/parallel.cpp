// The process-wide thread count and the worker pool behind parallel_for (see parallel.h).
//
// One pool of get_num_threads() - 1 workers, started on first use. A job is `parts` ranges
// handed out by one atomic word, claim = (epoch << 32) | (parts << 16) | next: the caller and
// the workers take ranges with compare-exchange until none are left, so a worker that is slow
// to wake finds the job already done and the caller never waits for it; the caller waits only
// for ranges that were taken. Whoever claims a range of epoch e may read job e's function and
// bounds: the caller does not return (and no new job starts) until every range of e is done.
// Workers spin for kSpin after their last job, then sleep on a condition variable.
// The count starts from OMP_NUM_THREADS or the CPUs the process may use (initial_threads).
#include "core/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace fl {
namespace {
// The CPUs this process may run on (its affinity mask where the system has one, as OpenMP
// counts them), else the hardware's thread count; at least 1.
int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

// The thread count OMP_NUM_THREADS asks for: a positive integer, optionally the first entry
// of an OpenMP list ("4,2"), blanks around it allowed; 0 for anything else (unset, empty,
// "abc", "0", "-2", "3x", more than kMaxThreads).
constexpr long kMaxThreads = 0xFFFF;  // the most ranges a job has (claim_'s 16-bit fields)

int threads_from_env(const char* v) {
  if (!v) return 0;
  while (*v == ' ' || *v == '\t') ++v;
  long n = 0;
  const char* digits = v;
  for (; *v >= '0' && *v <= '9'; ++v) {
    n = n * 10 + (*v - '0');
    if (n > kMaxThreads) return 0;
  }
  if (v == digits || n < 1) return 0;
  while (*v == ' ' || *v == '\t') ++v;
  return *v == '\0' || *v == ',' ? static_cast<int>(n) : 0;
}

// OMP_NUM_THREADS where it holds a valid count, else every CPU this process may use. The
// library has no OpenMP runtime; it honours the variable so that the usual way of limiting a
// numerical library's threads works here too.
int initial_threads() {
  const int n = threads_from_env(std::getenv("OMP_NUM_THREADS"));
  return n > 0 ? n : available_cpus();
}
std::atomic<int> g_threads{initial_threads()};
thread_local bool t_in_parallel = false;

// How long an idle worker spins before it sleeps. A sleeping worker costs nothing and is not
// waited for, but on a VM waking it takes milliseconds, so the next job runs on fewer threads.
constexpr auto kSpin = std::chrono::milliseconds(20);

struct Job {
  detail::RangeFn fn = nullptr;
  const void* ctx = nullptr;
  index_t begin = 0, end = 0, chunk = 0;
};

class Pool {
 public:
  // Runs the job on the caller and the workers; false when another caller holds the pool.
  bool run(index_t begin, index_t end, index_t parts, detail::RangeFn fn, const void* ctx) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    ensure_workers(static_cast<int>(parts) - 1);
    job_ = Job{fn, ctx, begin, end, (end - begin + parts - 1) / parts};
    done_.store(0, std::memory_order_relaxed);
    const uint64_t e = ((claim_.load(std::memory_order_relaxed) >> 32) + 1) & 0xFFFFFFFFu;  // wraps
    // seq_cst on claim_ and sleepers_ (here and in worker_loop): a worker going to sleep and
    // this caller publishing a job must not both miss the other's write.
    claim_.store((e << 32) | (static_cast<uint64_t>(parts) << 16), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(sleep_mutex_);
      cv_.notify_all();
    }
    t_in_parallel = true;
    while (take_and_run(e)) {
    }
    t_in_parallel = false;
    const int want = static_cast<int>(parts);
    while (done_.load(std::memory_order_acquire) < want) cpu_relax();
    if (failed_.load(std::memory_order_acquire)) {  // every range is done: no thread touches error_ now
      std::exception_ptr e = error_;
      error_ = nullptr;
      failed_.store(false, std::memory_order_relaxed);
      std::rethrow_exception(e);  // on the caller; `busy` unlocks as it unwinds, the pool stays usable
    }
    return true;
  }

 private:
  // Claims one range of epoch e and runs it; false when e has none left.
  bool take_and_run(uint64_t e) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((c >> 32) != e) return false;
      const uint64_t next = c & 0xFFFF, parts = (c >> 16) & 0xFFFF;
      if (next >= parts) return false;
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        const Job& j = job_;
        const index_t i = static_cast<index_t>(next);
        const index_t lo = std::min(j.end, j.begin + i * j.chunk), hi = std::min(j.end, lo + j.chunk);
        if (lo < hi && !failed_.load(std::memory_order_relaxed)) run_range(j, lo, hi);
        done_.fetch_add(1, std::memory_order_acq_rel);
        return true;
      }
    }
  }

  // One range, on whichever thread claimed it. An exception (std::bad_alloc from a scratch
  // buffer) must not leave a worker thread, where it would end the process: the first one is
  // kept for run() to rethrow on the caller, and the job's ranges not yet started are skipped.
  void run_range(const Job& j, index_t lo, index_t hi) {
    try {
      j.fn(j.ctx, lo, hi);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mutex_);
      if (!failed_.load(std::memory_order_relaxed)) {
        error_ = std::current_exception();
        failed_.store(true, std::memory_order_release);
      }
    }
  }

  void ensure_workers(int n) {
    const uint64_t now = claim_.load(std::memory_order_relaxed) >> 32;  // before the new job
    while (static_cast<int>(workers_) < n) {
      try {
        std::thread(&Pool::worker_loop, this, now).detach();
      } catch (...) {  // no more threads to be had: the caller runs what no worker takes
        return;
      }
      ++workers_;
    }
  }

  void worker_loop(uint64_t seen) {
    t_in_parallel = true;
    for (;;) {
      // Spin for a new epoch, then sleep until one is published.
      auto t0 = std::chrono::steady_clock::now();
      uint64_t e;
      for (int k = 0;; ++k) {
        e = claim_.load(std::memory_order_acquire) >> 32;
        if (e != seen) break;
        cpu_relax();
        if ((k & 1023) == 1023 && std::chrono::steady_clock::now() - t0 > kSpin) {
          std::unique_lock<std::mutex> lk(sleep_mutex_);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          cv_.wait(lk, [&] { return (claim_.load(std::memory_order_seq_cst) >> 32) != seen; });
          sleepers_.fetch_sub(1, std::memory_order_acq_rel);
          t0 = std::chrono::steady_clock::now();
        }
      }
      seen = e;
      while (take_and_run(e)) {
      }
    }
  }

  std::mutex run_mutex_;                // one job at a time; other callers run inline
  std::atomic<uint64_t> claim_{0};      // (epoch << 32) | (parts << 16) | next range; 32-bit epoch
  std::atomic<int> done_{0};            // ranges finished in the current job
  Job job_;
  std::mutex error_mutex_;               // guards error_ while ranges run
  std::exception_ptr error_;             // the current job's first exception
  std::atomic<bool> failed_{false};
  unsigned workers_ = 0;
  std::mutex sleep_mutex_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

// Never destroyed: detached workers may still be spinning at exit.
Pool* g_pool = nullptr;
std::once_flag g_pool_once;

#if defined(__unix__) || defined(__APPLE__)
// A forked child has none of the parent's workers: it starts a pool of its own.
void reset_pool_in_child() {
  g_pool = new Pool();
}
#endif

Pool& pool() {
  std::call_once(g_pool_once, [] {
    g_pool = new Pool();
#if defined(__unix__) || defined(__APPLE__)
    pthread_atfork(nullptr, nullptr, reset_pool_in_child);
#endif
  });
  return *g_pool;
}
}  // namespace

int get_num_threads() { return g_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_threads.store(std::max(1, n)); }
bool in_parallel() { return t_in_parallel; }

namespace detail {
bool run_on_pool(index_t begin, index_t end, index_t parts, RangeFn fn, const void* ctx) {
  if (parts > 0xFFFF) parts = 0xFFFF;
  return pool().run(begin, end, parts, fn, ctx);
}
}  // namespace detail

}  // namespace fl
