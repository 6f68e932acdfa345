// Buffer allocation with per-device accounting and an optional limit.
#include "buffer.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace acestep {
namespace {
std::atomic<size_t> g_in_use[2];
std::atomic<size_t> g_peak[2];
std::atomic<size_t> g_limit[2];
DeviceAllocator g_cuda;

std::string human(size_t b) { return std::to_string(b / (1024.0 * 1024.0)).substr(0, 8) + " MiB"; }

void account(Device d, size_t bytes) {
  int i = static_cast<int>(d);
  size_t now = g_in_use[i].fetch_add(bytes) + bytes;
  size_t lim = g_limit[i].load();
  if (lim != 0 && now > lim) {
    g_in_use[i].fetch_sub(bytes);
    throw OutOfMemory("out of memory on " + std::string(d == Device::CPU ? "cpu" : "cuda") + ": request of " +
                      human(bytes) + " exceeds the limit of " + human(lim) + " (" + human(now - bytes) + " in use)");
  }
  size_t p = g_peak[i].load();
  while (now > p && !g_peak[i].compare_exchange_weak(p, now)) {
  }
}
}  // namespace

Buffer::Buffer(size_t bytes, Device device) : bytes_(bytes), device_(device) {}

Buffer::Buffer(void* ptr, size_t bytes, Device device, std::function<void(void*, size_t)> release)
    : ptr_(ptr), bytes_(bytes), device_(device), release_(std::move(release)) {}

uint8_t* Buffer::data() {
  if (ptr_ != nullptr || bytes_ == 0) return static_cast<uint8_t*>(ptr_);
  account(device_, bytes_);
  if (device_ == Device::CPU) {
    // 64-byte alignment for full-width AVX-512 loads; size rounded up as aligned_alloc requires.
    size_t rounded = (bytes_ + 63) & ~size_t(63);
    ptr_ = std::aligned_alloc(64, rounded);
  } else if (g_cuda.alloc != nullptr) {
    ptr_ = g_cuda.alloc(bytes_);
  }
  if (ptr_ == nullptr) {
    g_in_use[static_cast<int>(device_)].fetch_sub(bytes_);
    throw OutOfMemory(std::string("out of memory on ") + (device_ == Device::CPU ? "cpu" : "cuda") +
                      ": could not allocate " + human(bytes_));
  }
  return static_cast<uint8_t*>(ptr_);
}

Buffer::~Buffer() {
  if (ptr_ == nullptr) return;
  if (release_) {
    release_(ptr_, bytes_);
    return;
  }
  g_in_use[static_cast<int>(device_)].fetch_sub(bytes_);
  if (device_ == Device::CPU) {
    std::free(ptr_);
  } else if (g_cuda.free != nullptr) {
    g_cuda.free(ptr_, bytes_);
  }
}

size_t bytes_in_use(Device d) { return g_in_use[static_cast<int>(d)].load(); }
size_t peak_bytes(Device d) { return g_peak[static_cast<int>(d)].load(); }
void set_memory_limit(Device d, size_t bytes) { g_limit[static_cast<int>(d)].store(bytes); }
size_t memory_limit(Device d) { return g_limit[static_cast<int>(d)].load(); }
void set_cuda_allocator(DeviceAllocator a) { g_cuda = a; }

}  // namespace acestep
