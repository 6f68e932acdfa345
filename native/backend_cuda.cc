// Bridges the N-API layer to kernels/cuda/runtime when CUDA is compiled in (ACESTEP_CUDA): device
// probe, transfers, the typed out-of-memory path for kernel scratch, and the experimental CUDA
// graph exports (cudaGraphBegin/End/Launch/Destroy, enabled only with ACESTEP_CUDA_GRAPHS=1).
#include "backend_cuda.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "../kernels/cuda/runtime.h"
#include "buffer.h"
#include "registry.h"

namespace acestep {

#ifdef ACESTEP_CUDA
namespace {
[[noreturn]] void throw_oom(const std::string& what) {
  throw OutOfMemory(what);
}

struct Init {
  bool ok = false;
  std::string status;
  Init() {
    ok = cuda::init(&status);
    if (ok) {
      set_cuda_allocator({cuda::device_alloc, cuda::device_free});
      cuda::set_oom_handler(throw_oom);
    }
  }
};
const Init& init_once() {
  static Init i;
  return i;
}
}  // namespace

bool cuda_compiled() {
  return true;
}
bool cuda_available() {
  return init_once().ok;
}
std::string cuda_status() {
  return init_once().status;
}
void cuda_copy_h2d(void* dst, const void* src, size_t bytes) {
  cuda::copy_h2d(dst, src, bytes);
}
void cuda_copy_d2h(void* dst, const void* src, size_t bytes) {
  cuda::copy_d2h(dst, src, bytes);
}
void cuda_graph_begin() {
  cuda::graph_begin();
}
void cuda_graph_end(int64_t handle) {
  cuda::graph_end(handle);
}
void cuda_graph_launch(int64_t handle) {
  cuda::graph_launch(handle);
}
void cuda_graph_destroy(int64_t handle) {
  cuda::graph_destroy(handle);
}
#else
namespace {
[[noreturn]] void not_compiled() {
  throw std::runtime_error("CUDA backend not compiled");
}
}  // namespace
bool cuda_compiled() {
  return false;
}
bool cuda_available() {
  return false;
}
std::string cuda_status() {
  return "this build has no CUDA backend (nvcc was not found, or it was built with node-gyp)";
}
void cuda_copy_h2d(void*, const void*, size_t) {
  not_compiled();
}
void cuda_copy_d2h(void*, const void*, size_t) {
  not_compiled();
}
void cuda_graph_begin() {
  not_compiled();
}
void cuda_graph_end(int64_t) {
  not_compiled();
}
void cuda_graph_launch(int64_t) {
  not_compiled();
}
void cuda_graph_destroy(int64_t) {
  not_compiled();
}
#endif

}  // namespace acestep

using namespace acestep;

namespace {
// Graph capture bakes buffer addresses into the graph: every tensor the captured ops touch must
// stay alive (and be refilled in place with assign) until cudaGraphDestroy. That contract is
// the caller's, so the exports stay off unless the environment opts in (in every build, so the
// refusal reads the same with and without CUDA compiled in).
void require_graphs(const OpArgs& a) {
  const char* flag = std::getenv("ACESTEP_CUDA_GRAPHS");
  if (flag == nullptr || std::strcmp(flag, "1") != 0) a.fail("CUDA graphs are experimental; set ACESTEP_CUDA_GRAPHS=1 to enable them");
  if (!cuda_available()) a.fail("CUDA is unavailable: " + cuda_status());
}
std::atomic<int64_t> g_next_graph{1};
}  // namespace

// cudaGraphBegin(): ops queued from here until cudaGraphEnd are captured instead of run.
ACESTEP_EXPORT(cudaGraphBegin) {
  OpArgs a{info, "cudaGraphBegin"};
  require_graphs(a);
  enqueue_op([] { cuda_graph_begin(); });
  return info.Env().Undefined();
}

// cudaGraphEnd() -> handle of the captured graph (capture errors surface at the next sync).
ACESTEP_EXPORT(cudaGraphEnd) {
  OpArgs a{info, "cudaGraphEnd"};
  require_graphs(a);
  int64_t h = g_next_graph.fetch_add(1);
  enqueue_op([h] { cuda_graph_end(h); });
  return Napi::Number::New(info.Env(), static_cast<double>(h));
}

// cudaGraphLaunch(handle): replays the captured ops on the queue stream.
ACESTEP_EXPORT(cudaGraphLaunch) {
  OpArgs a{info, "cudaGraphLaunch"};
  require_graphs(a);
  int64_t h = a.integer(0, "handle");
  enqueue_op([h] { cuda_graph_launch(h); });
  return info.Env().Undefined();
}

// cudaGraphDestroy(handle): frees the graph and returns the blocks it held to the allocator.
ACESTEP_EXPORT(cudaGraphDestroy) {
  OpArgs a{info, "cudaGraphDestroy"};
  require_graphs(a);
  int64_t h = a.integer(0, "handle");
  enqueue_op([h] { cuda_graph_destroy(h); });
  return info.Env().Undefined();
}
