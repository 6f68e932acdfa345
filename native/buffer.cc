// Buffer allocation with per-device accounting and an optional limit. CPU blocks of 64 KiB and
// more go back to a size-keyed cache when freed: model steps allocate the same sizes over and
// over, and reusing warm pages avoids a page fault per 4 KiB on every fresh allocation.
#include "buffer.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include <unistd.h>

namespace acestep {
namespace {
std::atomic<size_t> g_in_use[2];
std::atomic<size_t> g_peak[2];
std::atomic<size_t> g_limit[2];
DeviceAllocator g_cuda;

constexpr size_t kPoolMin = 64 * 1024;

// A quarter of physical memory, 2-16 GiB: a 30 s VAE decode cycles ~4 GiB of large activations,
// and re-faulting them costs a quarter of its time when they do not fit in the cache.
size_t default_pool_cap() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  size_t total = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
  return std::min(size_t(16) << 30, std::max(size_t(2) << 30, total / 4));
}
std::atomic<size_t> g_pool_cap{default_pool_cap()};

class CpuPool {
 public:
  // A cached block at least `bytes` and at most 25% larger, or nullptr.
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    void* p = it->second.ptr;
    cached_ -= it->first;
    sizes_[p] = it->first;
    free_.erase(it);
    return p;
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    auto s = sizes_.find(p);
    size_t real = s != sizes_.end() ? s->second : bytes;
    if (s != sizes_.end()) sizes_.erase(s);
    size_t cap = g_pool_cap.load();
    if (real < kPoolMin || real > cap) {
      std::free(p);
      return;
    }
    // Make room by dropping the least recently cached blocks: the sizes a model stage uses now
    // are the ones worth keeping warm (a VAE decode after the DiT steps, say).
    while (cached_ + real > cap && !free_.empty()) {
      auto oldest = free_.begin();
      for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second.seq < oldest->second.seq) oldest = it;
      std::free(oldest->second.ptr);
      cached_ -= oldest->first;
      free_.erase(oldest);
    }
    free_.emplace(real, Block{p, ++seq_});
    cached_ += real;
  }
  void remember(void* p, size_t real) {
    std::lock_guard<std::mutex> lk(mu_);
    sizes_[p] = real;
  }
  size_t release() {
    std::lock_guard<std::mutex> lk(mu_);
    size_t n = cached_;
    for (auto& [sz, b] : free_) std::free(b.ptr);
    free_.clear();
    cached_ = 0;
    return n;
  }
  size_t cached() {
    std::lock_guard<std::mutex> lk(mu_);
    return cached_;
  }

 private:
  struct Block {
    void* ptr;
    uint64_t seq;  // insertion order, for evicting the oldest
  };
  std::mutex mu_;
  std::multimap<size_t, Block> free_;
  std::map<void*, size_t> sizes_;  // real size of blocks handed out from the pool or the heap
  size_t cached_ = 0;
  uint64_t seq_ = 0;
};

CpuPool& pool() {
  static CpuPool* p = new CpuPool();  // outlives every Buffer destroyed at exit
  return *p;
}

void* cpu_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) & ~size_t(63);
  if (rounded >= kPoolMin) {
    if (void* p = pool().take(rounded)) return p;
  }
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr && pool().release() > 0) p = std::aligned_alloc(64, rounded);
  if (p != nullptr && rounded >= kPoolMin) pool().remember(p, rounded);
  return p;
}

void cpu_free(void* p, size_t bytes) {
  size_t rounded = (bytes + 63) & ~size_t(63);
  if (rounded >= kPoolMin)
    pool().give(p, rounded);
  else
    std::free(p);
}

std::string human(size_t b) {
  return std::to_string(b / (1024.0 * 1024.0)).substr(0, 8) + " MiB";
}

void account(Device d, size_t bytes) {
  int i = static_cast<int>(d);
  size_t now = g_in_use[i].fetch_add(bytes) + bytes;
  size_t lim = g_limit[i].load();
  if (lim != 0 && now > lim) {
    g_in_use[i].fetch_sub(bytes);
    throw OutOfMemory("out of memory on " + std::string(d == Device::CPU ? "cpu" : "cuda") + ": request of " + human(bytes) +
                      " exceeds the limit of " + human(lim) + " (" + human(now - bytes) + " in use)");
  }
  // Under a limit, memory held by the block cache counts too: drop the cache rather than let
  // in-use plus cached blocks exceed what the caller allowed.
  if (lim != 0 && d == Device::CPU && now + pool().cached() > lim) pool().release();
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
    ptr_ = cpu_alloc(bytes_);  // 64-byte aligned for full-width AVX-512 loads
  } else if (g_cuda.alloc != nullptr) {
    ptr_ = g_cuda.alloc(bytes_);
  }
  if (ptr_ == nullptr) {
    g_in_use[static_cast<int>(device_)].fetch_sub(bytes_);
    throw OutOfMemory(std::string("out of memory on ") + (device_ == Device::CPU ? "cpu" : "cuda") + ": could not allocate " +
                      human(bytes_));
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
    cpu_free(ptr_, bytes_);
  } else if (g_cuda.free != nullptr) {
    g_cuda.free(ptr_, bytes_);
  }
}

size_t bytes_in_use(Device d) {
  return g_in_use[static_cast<int>(d)].load();
}
size_t peak_bytes(Device d) {
  return g_peak[static_cast<int>(d)].load();
}
void set_memory_limit(Device d, size_t bytes) {
  g_limit[static_cast<int>(d)].store(bytes);
}
size_t memory_limit(Device d) {
  return g_limit[static_cast<int>(d)].load();
}
void set_cuda_allocator(DeviceAllocator a) {
  g_cuda = a;
}
size_t cpu_cached_bytes() {
  return pool().cached();
}
size_t release_cpu_cache() {
  return pool().release();
}
void set_cpu_cache_limit(size_t bytes) {
  g_pool_cap.store(bytes);
  if (pool().cached() > bytes) pool().release();
}

}  // namespace acestep
