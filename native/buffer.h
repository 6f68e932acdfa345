// Reference-counted device memory shared by tensors, queued ops and memory-mapped files.
// Allocation is lazy: a buffer gets its memory the first time a queued kernel touches it,
// so the queue's peak memory matches eager execution.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace acestep {

enum class Device : int32_t { CPU = 0, CUDA = 1 };

// Raised when an allocation fails or would exceed the configured memory limit.
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Buffer {
 public:
  Buffer(size_t bytes, Device device);
  // Wraps memory owned elsewhere (e.g. an mmap); `release` runs when the last reference drops.
  Buffer(void* ptr, size_t bytes, Device device, std::function<void(void*, size_t)> release);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Returns the memory, allocating it on first use. Throws OutOfMemory.
  uint8_t* data();
  bool allocated() const { return ptr_ != nullptr; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

  // State a kernel derives from this buffer's contents and keeps between calls (the packed forms of
  // a constant conv weight): one object of type T, made on first use, freed with the buffer. A
  // buffer holds one kind of derived state; asking for another type throws.
  template <class T>
  T& derived() {
    std::lock_guard<std::mutex> lock(derived_mu_);
    if (!derived_) {
      derived_ = std::make_shared<T>();
      derived_type_ = &typeid(T);
    } else if (*derived_type_ != typeid(T)) {
      throw std::logic_error("buffer already holds derived state of another type");
    }
    return *static_cast<T*>(derived_.get());
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
  Device device_;
  std::function<void(void*, size_t)> release_;
  std::mutex derived_mu_;
  std::shared_ptr<void> derived_;
  const std::type_info* derived_type_ = nullptr;
};

using BufferPtr = std::shared_ptr<Buffer>;

// Process-wide accounting, per device, used to enforce an optional limit.
size_t bytes_in_use(Device d);
size_t peak_bytes(Device d);
void set_memory_limit(Device d, size_t bytes);  // 0 = unlimited
size_t memory_limit(Device d);

// The CPU block cache: bytes held for reuse (not counted as in use), dropping it, and its cap.
size_t cpu_cached_bytes();
size_t release_cpu_cache();
void set_cpu_cache_limit(size_t bytes);

// CUDA allocation hooks, installed by the CUDA backend when it is compiled in.
struct DeviceAllocator {
  void* (*alloc)(size_t bytes) = nullptr;  // returns nullptr on failure
  void (*free)(void* p, size_t bytes) = nullptr;
};
void set_cuda_allocator(DeviceAllocator a);

}  // namespace acestep
