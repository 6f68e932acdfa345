// The execution queue: one native thread runs queued kernels in order, off the JS main thread.
// JS calls enqueue work and return at once; sync points (promises or blocking waits) report the
// first error raised since the previous sync point. After an error the remaining work up to the
// next sync point is skipped, so a failed step never computes on garbage.
#pragma once
#include <functional>
#include <string>

namespace acestep {

enum class ErrorKind { None, OutOfMemory, Kernel };

struct QueueError {
  ErrorKind kind = ErrorKind::None;
  std::string message;
};

void enqueue(std::function<void()> task);
// Runs `done(error)` on the queue thread once all earlier tasks have finished (or were skipped),
// and clears the error state.
void enqueue_sync_point(std::function<void(QueueError)> done);
// Blocks the caller until the queue is empty; returns and clears the pending error.
QueueError drain();
size_t queued_tasks();

}  // namespace acestep
