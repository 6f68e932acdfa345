// Buffer allocation with per-device accounting and an optional limit. CPU blocks of 64 KiB and
// more go back to a size-keyed cache when freed: model steps allocate the same sizes over and
// over, and reusing warm pages avoids a page fault per 4 KiB on every fresh allocation. Blocks of
// 4 MiB and more are mappings of their own and are reused across sizes: a request takes the
// smallest larger cached block whole, or else grows the largest smaller one with mremap (its pages
// move along; only the difference is fresh memory). A VAE decode's activations grow stage after
// stage (and start small again on the next decode), and on some virtual machines every fresh page
// costs ~2 s per GiB of system time.
#include "buffer.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

namespace acestep {
namespace {
std::atomic<size_t> g_in_use[2];
std::atomic<size_t> g_peak[2];
std::atomic<size_t> g_limit[2];
DeviceAllocator g_cuda;

constexpr size_t kPoolMin = 64 * 1024;
constexpr size_t kMapMin = 4 << 20;

size_t page_round(size_t bytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

// Blocks of kMapMin bytes and more are mmap'd (page-aligned, sizes in whole pages), smaller ones
// come from aligned_alloc; the size a block was made with says which.
void* block_alloc(size_t bytes) {
  if (bytes < kMapMin) return std::aligned_alloc(64, bytes);
  void* p = mmap(nullptr, page_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void block_free(void* p, size_t bytes) {
  if (bytes < kMapMin)
    std::free(p);
  else
    munmap(p, page_round(bytes));
}

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
  // The smallest cached block of at least `bytes`: at most 25% larger below kMapMin, any size for
  // a mapped request (its pages are touched already: a larger block than needed costs address
  // space, a new one fresh memory) unless a CPU memory limit is set (the accounting counts the
  // request, so the slack stays bounded there). Else, for a mapped request, the largest smaller
  // mapped block grown to `bytes`; else nullptr. Blocks only grow, so a repeated pattern of
  // requests soon finds every block it needs in the cache.
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.lower_bound(bytes);
    const bool any_larger = bytes >= kMapMin && g_limit[static_cast<int>(Device::CPU)].load() == 0;
    if (it != free_.end() && (it->first <= bytes + bytes / 4 || any_larger)) {
      void* p = it->second.ptr;
      cached_ -= it->first;
      sizes_[p] = it->first;
      free_.erase(it);
      return p;
    }
#ifdef MREMAP_MAYMOVE  // Linux; elsewhere a request with no larger block gets a new one
    if (bytes < kMapMin || it == free_.begin()) return nullptr;
    --it;
    if (it->first < kMapMin) return nullptr;
    const size_t real = page_round(bytes);
    void* p = mremap(it->second.ptr, page_round(it->first), real, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return nullptr;
    cached_ -= it->first;
    free_.erase(it);
    sizes_[p] = real;
    return p;
#else
    return nullptr;
#endif
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    auto s = sizes_.find(p);
    size_t real = s != sizes_.end() ? s->second : bytes;
    if (s != sizes_.end()) sizes_.erase(s);
    size_t cap = g_pool_cap.load();
    if (real < kPoolMin || real > cap) {
      block_free(p, real);
      return;
    }
    // Make room by dropping the least recently cached blocks: the sizes a model stage uses now
    // are the ones worth keeping warm (a VAE decode after the DiT steps, say).
    while (cached_ + real > cap && !free_.empty()) {
      auto oldest = free_.begin();
      for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second.seq < oldest->second.seq) oldest = it;
      block_free(oldest->second.ptr, oldest->first);
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
    for (auto& [sz, b] : free_) block_free(b.ptr, sz);
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
  const size_t real = rounded >= kMapMin ? page_round(rounded) : rounded;
  void* p = block_alloc(real);
  if (p == nullptr && pool().release() > 0) p = block_alloc(real);
  if (p != nullptr && rounded >= kPoolMin) pool().remember(p, real);
  return p;
}

void cpu_free(void* p, size_t bytes) {
  size_t rounded = (bytes + 63) & ~size_t(63);
  if (rounded >= kPoolMin)
    pool().give(p, rounded);
  else
    block_free(p, rounded);
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
