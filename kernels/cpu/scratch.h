// Per-thread scratch buffers that grow on demand and are kept between calls. A kernel that needs a
// few MiB of packing space per call would otherwise get it from malloc, which maps large blocks
// fresh and unmaps them on free: every call then page-faults its whole scratch in again.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace acestep::cpu {

// 64-byte aligned; get() keeps the memory when it is large enough (contents are not preserved).
// Declare each use as its own thread_local, one per role, so nested users never share one. A block
// over kKeepBytes is given back at the next smaller request, so one huge call does not pin memory.
struct Scratch {
  static constexpr size_t kKeepBytes = size_t(64) << 20;
  void* p = nullptr;
  size_t cap = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p); }
  void* get(size_t bytes, const char* what) {
    if (bytes > cap || (cap > kKeepBytes && bytes <= kKeepBytes)) {
      std::free(p);
      cap = (bytes + 63) / 64 * 64;
      p = std::aligned_alloc(64, cap);
      if (!p) {
        cap = 0;
        throw std::runtime_error(std::string(what) + ": out of memory for a " + std::to_string(bytes) + "-byte scratch buffer");
      }
    }
    return p;
  }
};

}  // namespace acestep::cpu
