// A persistent CPU thread pool shared by all CPU kernels; the calling thread takes part.
#pragma once
#include <cstdint>
#include <functional>

namespace acestep::cpu {

void set_num_threads(int n);  // n <= 0: one per hardware thread; capped at max_threads()
int max_threads();            // 4 per hardware thread, at least 16: more only costs memory and switches
int num_threads();
// Threads for a small memory-bound kernel of a decode step (the int8 GEMV on int16 activations
// under 8 MiB of weights, decode attention): one fewer than the pool, at least one. One core nearly
// keeps up with memory there, a second adds a wake-up and a wait per op, and the core left free
// runs the thread that queues the step's next ops. On the 2-core development machine the 0.6B LM
// step went from 25.0-25.7 to 22.1-24.5 ms; the 1.7B's (larger weights) from 52.4-53.0 to 52.5-55.1.
int memory_bound_threads();

// Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end, thread_index)
// on the pool. Returns when all chunks are done. Nested calls run serially on the caller. An
// exception thrown by a chunk is rethrown here once every chunk has finished.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

}  // namespace acestep::cpu
