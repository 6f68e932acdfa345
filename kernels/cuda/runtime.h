// CUDA device management for the addon: driver probe, pooled device allocator, kernel scratch,
// host transfers, the stream every kernel launches on, and optional CUDA graph capture of that
// stream. Plain C++ interface; no N-API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace acestep::cuda {

// Probes the driver and device 0. On failure returns false with the reason in *status.
bool init(std::string* status);
void* device_alloc(size_t bytes);  // nullptr when out of memory; throws on other CUDA errors
void device_free(void* p, size_t bytes);
void copy_h2d(void* dst, const void* src, size_t bytes);
void copy_d2h(void* dst, const void* src, size_t bytes);
void synchronize();  // throws std::runtime_error with the CUDA error string
void* stream();      // cudaStream_t of the queue thread
int sm_count();      // multiprocessors of device 0 (sizes split-K grids)

// The native layer installs a function that throws its typed out-of-memory exception, so a failed
// scratch allocation inside a kernel reaches JS as OutOfMemoryError rather than a kernel error.
void set_oom_handler(void (*handler)(const std::string& what));

// Stream-ordered temporary device memory for one kernel launch (packed operands, split-K
// partials). Freed into the allocator cache on destruction; later launches on the same stream
// are ordered after the users of this block, so reuse is safe.
class Scratch {
 public:
  Scratch(size_t bytes, const char* what);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// CUDA graph capture of the queue stream (queue thread only). While a capture is open, blocks
// freed into the allocator are held back until the graph is destroyed: the graph keeps their
// addresses, so handing them to another tensor would corrupt a later replay.
void graph_begin();
void graph_end(int64_t handle);  // the caller picks the handle (the JS thread returns it before this runs)
void graph_launch(int64_t handle);
void graph_destroy(int64_t handle);

}  // namespace acestep::cuda
