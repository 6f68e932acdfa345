// Threading stress of the native runtime core for the sanitizer run (scripts/sanitize.sh): the
// execution queue, the CPU buffer cache and the CPU thread pool, driven the way the addon drives
// them, built with ThreadSanitizer and with AddressSanitizer + UndefinedBehaviorSanitizer.
//  - a producer thread (the JS main thread's role) enqueues tasks that allocate buffers (cached
//    block sizes and small ones), fill them with parallel_for and drop them, plus sync points;
//  - the same thread drops buffer references while the queue uses others, changes the cache cap
//    and memory limit without draining, and resizes the pool (1, 2, 8, oversized) after draining;
//  - a second thread runs parallel_for jobs of its own against the same pool;
//  - chunks throw (on workers and on the caller): the job's exception must reach the caller;
//  - a memory limit makes tasks fail with OutOfMemory, reported at the next sync point.
// Exits non-zero on a wrong result; the sanitizers abort on a race, overflow or use after free.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "native/buffer.h"
#include "native/queue.h"

using namespace acestep;

namespace {

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

// Fills a buffer of n floats with i * k through the pool and returns the sum check.
bool fill_and_verify(Buffer& b, int64_t n, float k) {
  float* p = reinterpret_cast<float*>(b.data());
  cpu::parallel_for(n, 256, [&](int64_t s, int64_t e, int) {
    for (int64_t i = s; i < e; i++) p[i] = static_cast<float>(i % 1000) * k;
  });
  for (int64_t i = 0; i < n; i += 97)
    if (p[i] != static_cast<float>(i % 1000) * k) return false;
  return true;
}

void queue_and_cache(int rounds) {
  std::atomic<int> wrong{0}, done{0};
  std::vector<BufferPtr> held;
  for (int r = 0; r < rounds; r++) {
    for (int t = 0; t < 16; t++) {
      // Sizes straddle the cache's minimum block so both the cache and plain malloc are used.
      int64_t n = (t % 3 == 0) ? 64 + t : (1 << 14) + 1024 * t;
      auto buf = std::make_shared<Buffer>(static_cast<size_t>(n) * sizeof(float), Device::CPU);
      held.push_back(buf);
      enqueue([buf, n, t, &wrong, &done] {
        if (!fill_and_verify(*buf, n, 0.5f + t)) wrong++;
        done++;
      });
      // The producer drops references the queue still holds (JS finalizers do this).
      if (held.size() > 8) held.erase(held.begin(), held.begin() + 4);
    }
    if (r % 4 == 1) set_cpu_cache_limit(r % 8 == 1 ? 0 : (64u << 20));
    std::promise<QueueError> sync;
    enqueue_sync_point([&sync](QueueError e) { sync.set_value(e); });
    check(sync.get_future().get().kind == ErrorKind::None, "sync point without error");
    if (r % 5 == 4) {
      drain();
      release_cpu_cache();
      const int sizes[] = {1, 2, 8, 100000};
      cpu::set_num_threads(sizes[(r / 5) % 4]);
      check(cpu::num_threads() >= 1 && cpu::num_threads() <= cpu::max_threads(), "pool size within the cap");
    }
  }
  held.clear();
  drain();
  check(wrong.load() == 0, "every task saw its own data");
  check(done.load() == rounds * 16, "every task ran");
}

void out_of_memory() {
  drain();
  size_t base = bytes_in_use(Device::CPU);
  set_memory_limit(Device::CPU, base + (1u << 20));
  auto big = std::make_shared<Buffer>(8u << 20, Device::CPU);
  enqueue([big] { big->data(); });
  std::atomic<bool> skipped{true};
  enqueue([&skipped] { skipped = false; });
  QueueError e = drain();
  check(e.kind == ErrorKind::OutOfMemory, "an allocation over the limit is an OutOfMemory error");
  check(skipped.load(), "work after a failed task is skipped until the sync point");
  set_memory_limit(Device::CPU, 0);
  check(drain().kind == ErrorKind::None, "the error is cleared once reported");
}

void throwing_chunks() {
  for (int threads : {2, 8}) {
    cpu::set_num_threads(threads);
    for (int k = 0; k < 50; k++) {
      bool caught = false;
      try {
        cpu::parallel_for(1 << 12, 1, [k](int64_t s, int64_t, int idx) {
          if (idx == k % 3 || s == 0) throw std::runtime_error("chunk failed");
        });
      } catch (const std::runtime_error&) {
        caught = true;
      }
      check(caught, "a chunk's exception reaches the caller");
      std::atomic<int64_t> sum{0};
      cpu::parallel_for(1000, 1, [&](int64_t s, int64_t e, int) {
        for (int64_t i = s; i < e; i++) sum += i;
      });
      check(sum.load() == 999 * 1000 / 2, "the pool works after a failed job");
    }
  }
}

void second_caller(std::atomic<bool>& stop, std::atomic<int>& wrong) {
  std::vector<int64_t> v(1 << 12);
  while (!stop.load()) {
    cpu::parallel_for(static_cast<int64_t>(v.size()), 64, [&](int64_t s, int64_t e, int) {
      for (int64_t i = s; i < e; i++) v[i] = i * 3;
    });
    for (size_t i = 0; i < v.size(); i += 31)
      if (v[i] != static_cast<int64_t>(i) * 3) wrong++;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 40;
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread other(second_caller, std::ref(stop), std::ref(wrong));
  queue_and_cache(rounds);
  out_of_memory();
  stop = true;
  other.join();
  check(wrong.load() == 0, "the second caller's jobs were complete");
  throwing_chunks();
  queue_and_cache(rounds / 4 + 1);
  std::printf("runtime stress: %d rounds, %d failure(s)\n", rounds, failures);
  return failures == 0 ? 0 : 1;
}
