// Device probe, a size-bucketed caching allocator and synchronous transfers on one stream.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "runtime.h"

namespace acestep::cuda {
namespace {
cudaStream_t g_stream = nullptr;
std::mutex g_mu;
std::multimap<size_t, void*> g_free;  // cached blocks by size

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
size_t bucket(size_t bytes) { return (bytes + 511) & ~size_t(511); }
}  // namespace

bool init(std::string* status) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    *status = std::string("CUDA unavailable: ") + cudaGetErrorString(e);
    return false;
  }
  if (n == 0) {
    *status = "CUDA unavailable: no device found";
    return false;
  }
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  if (cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) != cudaSuccess) {
    *status = "CUDA unavailable: could not create a stream";
    return false;
  }
  *status = std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
            std::to_string(p.totalGlobalMem >> 20) + " MiB)";
  return true;
}

void* device_alloc(size_t bytes) {
  size_t b = bucket(bytes);
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_free.find(b);
    if (it != g_free.end()) {
      void* p = it->second;
      g_free.erase(it);
      return p;
    }
  }
  void* p = nullptr;
  if (cudaMalloc(&p, b) != cudaSuccess) {
    cudaGetLastError();
    // Release the cache and retry once before reporting out of memory.
    std::lock_guard<std::mutex> lk(g_mu);
    cudaStreamSynchronize(g_stream);
    for (auto& [sz, q] : g_free) cudaFree(q);
    g_free.clear();
    if (cudaMalloc(&p, b) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
  }
  return p;
}

void device_free(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lk(g_mu);
  g_free.emplace(bucket(bytes), p);
}

void copy_h2d(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpy host to device");
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
}
void copy_d2h(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpy device to host");
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
}
void synchronize() { check(cudaStreamSynchronize(g_stream), "CUDA kernel"); }
void* stream() { return g_stream; }

}  // namespace acestep::cuda
