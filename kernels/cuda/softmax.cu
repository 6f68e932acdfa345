// CUDA softmax: one block per row (max, then a double sum of exp(x - max), then the scale), which
// suits both short attention-like rows and 150k-entry vocab rows.
#include "pointwise.cuh"
#include "softmax.h"

namespace acestep::cuda {
namespace {

__global__ void softmax_kernel(const float* x, float* out, int64_t n, bool log) {
  const float* row = x + blockIdx.x * n;
  float* o = out + blockIdx.x * n;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = max_d(m, row[i]);
  m = block_max(m);
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float e = expf(__fsub_rn(row[i], m));
    if (!log) o[i] = e;
    s += e;
  }
  float sum = (float)block_sum(s);
  if (log) {
    float ls = logf(sum);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = __fsub_rn(__fsub_rn(row[i], m), ls);
  } else {
    float inv = __fdiv_rn(1.0f, sum);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = __fmul_rn(o[i], inv);
  }
}

}  // namespace

void softmax(const TensorView& x, const TensorView& out, bool log) {
  int64_t n = x.shape[x.ndim - 1], rows = n ? x.numel() / n : 0;
  if (rows == 0) return;
  int threads = n >= 4096 ? 1024 : n >= 512 ? 256 : 64;
  softmax_kernel<<<(unsigned)rows, threads, 0, current_stream()>>>(x.ptr<const float>(), out.ptr<float>(), n, log);
  check_launch("softmax");
}

}  // namespace acestep::cuda
