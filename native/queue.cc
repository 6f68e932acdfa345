// Single-consumer task queue with sticky errors cleared at sync points.
#include "queue.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "buffer.h"

namespace acestep {
namespace {

struct Task {
  std::function<void()> run;
  std::function<void(QueueError)> sync;  // set for sync points
};

class Queue {
 public:
  Queue() : thread_([this] { loop(); }) { thread_.detach(); }

  void push(Task t) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      tasks_.push_back(std::move(t));
    }
    cv_.notify_one();
  }

  QueueError drain() {
    std::unique_lock<std::mutex> lk(mu_);
    idle_cv_.wait(lk, [this] { return tasks_.empty() && !busy_; });
    QueueError e = error_;
    error_ = QueueError{};
    return e;
  }

  size_t size() {
    std::lock_guard<std::mutex> lk(mu_);
    return tasks_.size() + (busy_ ? 1 : 0);
  }

 private:
  void loop() {
    for (;;) {
      Task t;
      bool skip;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return !tasks_.empty(); });
        t = std::move(tasks_.front());
        tasks_.pop_front();
        busy_ = true;
        skip = error_.kind != ErrorKind::None;
      }
      QueueError raised;
      if (t.sync) {
        QueueError e;
        {
          std::lock_guard<std::mutex> lk(mu_);
          e = error_;
          error_ = QueueError{};
        }
        t.sync(e);
      } else if (!skip) {
        try {
          t.run();
        } catch (const OutOfMemory& e) {
          raised = {ErrorKind::OutOfMemory, e.what()};
        } catch (const std::exception& e) {
          raised = {ErrorKind::Kernel, e.what()};
        } catch (...) {
          raised = {ErrorKind::Kernel, "unknown native error"};
        }
      }
      // Destroy the task (and the buffers it holds) before reporting idle.
      t = Task{};
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (raised.kind != ErrorKind::None && error_.kind == ErrorKind::None) error_ = raised;
        busy_ = false;
        if (tasks_.empty()) idle_cv_.notify_all();
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Task> tasks_;
  bool busy_ = false;
  QueueError error_;
  std::thread thread_;
};

Queue& queue() {
  static Queue* q = new Queue();  // never destroyed: the detached thread uses it until exit
  return *q;
}

}  // namespace

void enqueue(std::function<void()> task) {
  queue().push(Task{std::move(task), nullptr});
}
void enqueue_sync_point(std::function<void(QueueError)> done) {
  queue().push(Task{nullptr, std::move(done)});
}
QueueError drain() {
  return queue().drain();
}
size_t queued_tasks() {
  return queue().size();
}

}  // namespace acestep
