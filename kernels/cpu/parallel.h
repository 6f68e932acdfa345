// A persistent CPU thread pool shared by all CPU kernels; the calling thread takes part.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace acestep::cpu {

void set_num_threads(int n);  // n <= 0: one per hardware thread; capped at max_threads()
int max_threads();            // 4 per hardware thread, at least 16: more only costs memory and switches
int num_threads();

// Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end, thread_index)
// on the pool. Returns when all chunks are done. Nested calls run serially on the caller. An
// exception thrown by a chunk is rethrown here once every chunk has finished.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

// Polls ready() for up to `micros`, yielding the core between rounds; true once it holds. Threads
// that hand work to each other hundreds of times per LM decode step poll before they sleep on a
// condition variable: waking a sleeping thread costs tens of microseconds (more on a virtual
// machine), and the yield keeps a poller from holding a core that a thread with work needs.
template <class Ready>
bool spin_until(int micros, Ready ready) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (;;) {
    for (int i = 0; i < 32; i++) {
      if (ready()) return true;
#if defined(__x86_64__) || defined(_M_X64)
      _mm_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
}

}  // namespace acestep::cpu
