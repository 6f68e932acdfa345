// Bridges the N-API layer to kernels/cuda/runtime when CUDA is compiled in (ACESTEP_CUDA).
#include "backend_cuda.h"

#include <stdexcept>

#include "buffer.h"

#ifdef ACESTEP_CUDA
#include "../kernels/cuda/runtime.h"
#endif

namespace acestep {

#ifdef ACESTEP_CUDA
namespace {
struct Init {
  bool ok = false;
  std::string status;
  Init() {
    ok = cuda::init(&status);
    if (ok) set_cuda_allocator({cuda::device_alloc, cuda::device_free});
  }
};
const Init& init_once() {
  static Init i;
  return i;
}
}  // namespace

bool cuda_compiled() { return true; }
bool cuda_available() { return init_once().ok; }
std::string cuda_status() { return init_once().status; }
void cuda_copy_h2d(void* dst, const void* src, size_t bytes) { cuda::copy_h2d(dst, src, bytes); }
void cuda_copy_d2h(void* dst, const void* src, size_t bytes) { cuda::copy_d2h(dst, src, bytes); }
#else
bool cuda_compiled() { return false; }
bool cuda_available() { return false; }
std::string cuda_status() { return "this build has no CUDA backend (nvcc was not found, or it was built with node-gyp)"; }
void cuda_copy_h2d(void*, const void*, size_t) { throw std::runtime_error("CUDA backend not compiled"); }
void cuda_copy_d2h(void*, const void*, size_t) { throw std::runtime_error("CUDA backend not compiled"); }
#endif

}  // namespace acestep
