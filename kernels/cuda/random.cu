// Standard normals on the device: one Philox call per element (subsequence offset + i), so the
// values match the CPU kernel up to the last ulp of the double-precision sin/log.
#include "../cpu/random.h"
#include "common.cuh"
#include "random.h"

namespace acestep::cuda {
namespace {

__global__ void randn_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint64_t sub = offset + static_cast<uint64_t>(i);
    Philox4 r = philox4x32_10(0, 0, static_cast<uint32_t>(sub), static_cast<uint32_t>(sub >> 32), static_cast<uint32_t>(seed),
                              static_cast<uint32_t>(seed >> 32));
    out[i] = static_cast<float>(normal_from_words(r.v[0], r.v[1]));
  }
}

}  // namespace

void randn(const TensorView& out, uint64_t seed, uint64_t offset) {
  int64_t n = out.numel();
  if (n == 0) return;
  randn_kernel<<<grid_for(n), 256, 0, current_stream()>>>(out.ptr<float>(), n, seed, offset);
  check_launch("randn");
}

}  // namespace acestep::cuda
