// Device probe, a size-bucketed caching allocator, kernel scratch, synchronous transfers on one
// stream, and CUDA graph capture/replay of that stream.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "runtime.h"

namespace acestep::cuda {
namespace {
cudaStream_t g_stream = nullptr;
int g_sms = 1;
std::mutex g_mu;
std::multimap<size_t, void*> g_free;  // cached blocks by size
void (*g_oom)(const std::string&) = nullptr;

// Graph capture state (queue thread only, so no lock beyond g_mu for the free list).
std::atomic<bool> g_capturing{false};
std::vector<std::pair<void*, size_t>> g_held;  // blocks freed while capturing
struct Graph {
  cudaGraphExec_t exec;
  std::vector<std::pair<void*, size_t>> held;
};
std::map<int64_t, Graph> g_graphs;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
size_t bucket(size_t bytes) {
  return (bytes + 511) & ~size_t(511);
}
// Ends an open capture and discards it. Used when something that cannot be captured arrives
// mid-capture: an op that failed inside the capture makes the queue skip the cudaGraphEnd that
// follows, and without this every later kernel would be captured instead of run.
void abort_capture() {
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(g_stream, &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
  std::lock_guard<std::mutex> lk(g_mu);
  g_capturing = false;
  for (auto& [p, b] : g_held) g_free.emplace(b, p);
  g_held.clear();
}
void no_capture(const char* what) {
  if (!g_capturing) return;
  abort_capture();
  throw std::runtime_error(std::string(what) + " is not allowed while a CUDA graph capture is open; the capture was discarded");
}
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
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
    *status = "CUDA unavailable: could not read the properties of device 0";
    return false;
  }
  if (p.major < 8) {
    *status = "CUDA unavailable: " + std::string(p.name) + " is sm_" + std::to_string(p.major) + std::to_string(p.minor) +
              "; the kernels need sm_80 or newer";
    return false;
  }
  g_sms = p.multiProcessorCount;
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
  cudaError_t e = cudaMalloc(&p, b);
  if (e != cudaSuccess) {
    cudaGetLastError();
    // Only a real shortage is out of memory; a sticky fault from an earlier kernel must not be
    // reported as one.
    if (e != cudaErrorMemoryAllocation) check(e, "cudaMalloc");
    // Release the cache and retry once before reporting out of memory (not possible mid-capture:
    // synchronising a capturing stream would invalidate the capture).
    if (g_capturing) return nullptr;
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
  if (g_capturing)
    g_held.emplace_back(p, bucket(bytes));
  else
    g_free.emplace(bucket(bytes), p);
}

void set_oom_handler(void (*handler)(const std::string&)) {
  g_oom = handler;
}

Scratch::Scratch(size_t bytes, const char* what) : bytes_(bytes) {
  if (bytes == 0) return;
  p_ = device_alloc(bytes);
  if (p_ == nullptr) {
    std::string msg = std::string("out of memory on cuda: ") + what + " needs " + std::to_string(bytes >> 20) + " MiB of scratch";
    if (g_oom) g_oom(msg);
    throw std::runtime_error(msg);
  }
}
Scratch::~Scratch() {
  if (p_ != nullptr) device_free(p_, bytes_);
}

void copy_h2d(void* dst, const void* src, size_t bytes) {
  no_capture("a host-to-device copy");
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpy host to device");
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
}
void copy_d2h(void* dst, const void* src, size_t bytes) {
  no_capture("a device-to-host copy");
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpy device to host");
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
}
void synchronize() {
  no_capture("synchronize");
  check(cudaStreamSynchronize(g_stream), "CUDA kernel");
}
void* stream() {
  return g_stream;
}
int sm_count() {
  return g_sms;
}

void graph_begin() {
  if (g_capturing) {
    abort_capture();
    throw std::runtime_error("a CUDA graph capture was already open (its cudaGraphEnd never ran); it was discarded");
  }
  // Relaxed mode: the caching allocator may still call cudaMalloc for a new size mid-capture.
  check(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  g_capturing = true;
}

void graph_end(int64_t handle) {
  if (!g_capturing) throw std::runtime_error("no CUDA graph capture is open");
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(g_stream, &graph);
  std::vector<std::pair<void*, size_t>> held;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_capturing = false;
    held.swap(g_held);
  }
  auto release = [&] {
    std::lock_guard<std::mutex> lk(g_mu);
    for (auto& [p, b] : held) g_free.emplace(b, p);
  };
  if (e != cudaSuccess) {
    release();
    check(e, "cudaStreamEndCapture (an op in the captured region could not be captured)");
  }
  cudaGraphExec_t exec = nullptr;
  e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    release();
    check(e, "cudaGraphInstantiate");
  }
  g_graphs[handle] = Graph{exec, std::move(held)};
}

void graph_launch(int64_t handle) {
  auto it = g_graphs.find(handle);
  if (it == g_graphs.end()) throw std::runtime_error("unknown CUDA graph handle " + std::to_string(handle));
  check(cudaGraphLaunch(it->second.exec, g_stream), "cudaGraphLaunch");
}

void graph_destroy(int64_t handle) {
  auto it = g_graphs.find(handle);
  if (it == g_graphs.end()) throw std::runtime_error("unknown CUDA graph handle " + std::to_string(handle));
  // The graph may still be running; its held blocks return to the cache only after it finishes.
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
  cudaGraphExecDestroy(it->second.exec);
  {
    std::lock_guard<std::mutex> lk(g_mu);
    for (auto& [p, b] : it->second.held) g_free.emplace(b, p);
  }
  g_graphs.erase(it);
}

}  // namespace acestep::cuda
