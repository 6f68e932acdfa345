// A persistent CPU thread pool shared by all CPU kernels; the calling thread takes part.
#pragma once
#include <cstdint>
#include <functional>

namespace acestep::cpu {

void set_num_threads(int n);  // n <= 0: one per hardware thread; capped at max_threads()
int max_threads();            // 4 per hardware thread, at least 16: more only costs memory and switches
int num_threads();

// Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end, thread_index)
// on the pool. Returns when all chunks are done. Nested calls run serially on the caller. An
// exception thrown by a chunk is rethrown here once every chunk has finished.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

}  // namespace acestep::cpu
