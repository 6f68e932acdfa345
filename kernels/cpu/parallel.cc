// Thread pool behind parallel_for: workers sleep on a condition variable between jobs.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace acestep::cpu {
namespace {

// True on pool workers, and on the caller while it runs its own chunk: nested parallel_for runs serially.
thread_local bool t_in_pool = false;

class Pool {
 public:
  ~Pool() { resize(1); }

  void resize(int n) {
    std::lock_guard<std::mutex> run_lock(run_mu_);
    stop_workers();
    stop_ = false;
    // The OS may refuse threads (a process or user limit): the pool keeps those it got.
    int want = std::max(1, n);
    n_ = 1;
    for (int i = 1; i < want; i++) {
      try {
        workers_.emplace_back([this, i, g = generation_] { worker(i, g); });
      } catch (const std::system_error&) {
        break;
      }
      n_ = i + 1;
    }
  }
  int size() const { return n_.load(std::memory_order_relaxed); }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
    if (n <= 0) return;
    if (t_in_pool) {
      fn(0, n, 0);
      return;
    }
    int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
    // The pool size is read under the run lock: a resize from another thread between reading it
    // and starting the job would leave the job waiting for workers that no longer exist.
    std::unique_lock<std::mutex> run_lock(run_mu_);
    int threads = static_cast<int>(std::min<int64_t>(n_, max_chunks));
    if (threads <= 1) {
      run_lock.unlock();
      fn(0, n, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      total_ = n;
      active_threads_ = threads;
      pending_ = threads - 1;
      generation_++;
    }
    cv_.notify_all();
    t_in_pool = true;
    chunk(0);
    t_in_pool = false;
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    fn_ = nullptr;
    std::exception_ptr err = error_;
    error_ = nullptr;
    lk.unlock();
    if (err) std::rethrow_exception(err);
  }

 private:
  // A chunk's exception is kept for the caller: thrown on a worker it would end the process, and
  // thrown past the caller's wait it would leave workers running a destroyed job.
  void chunk(int idx) {
    int64_t per = (total_ + active_threads_ - 1) / active_threads_;
    int64_t b = idx * per, e = std::min(total_, b + per);
    if (b >= e) return;
    try {
      (*fn_)(b, e, idx);
    } catch (...) {
      std::lock_guard<std::mutex> g(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void worker(int idx, uint64_t seen) {
    t_in_pool = true;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      bool mine = idx < active_threads_;
      lk.unlock();
      if (mine) {
        chunk(idx);
        std::lock_guard<std::mutex> g(mu_);
        if (--pending_ == 0) done_cv_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  std::exception_ptr error_;  // the running job's first exception
  int64_t total_ = 0;
  int active_threads_ = 1, pending_ = 0;
  std::atomic<int> n_{1};  // written under run_mu_; read without it by size()
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();  // leaked on purpose: workers must outlive static destructors of callers
    q->resize(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    return q;
  }();
  return *p;
}

}  // namespace

int max_threads() {
  return static_cast<int>(std::max(16u, 4 * std::max(1u, std::thread::hardware_concurrency())));
}

void set_num_threads(int n) {
  pool().resize(n > 0 ? std::min(n, max_threads()) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}
int num_threads() {
  return pool().size();
}
int memory_bound_threads() {
  return std::max(1, pool().size() - 1);
}
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
  pool().run(n, grain, fn);
}

}  // namespace acestep::cpu
