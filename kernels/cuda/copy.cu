// Strided copy with dtype conversion and fill on the queue's stream.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"
#include "copy.h"

namespace acestep::cuda {
namespace {

__global__ void copy_kernel(StridedArgs src, StridedArgs out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t so = src.offset(i), oo = out.offset(i);
    if (is_int(src.dtype) && is_int(out.dtype))
      store_int(out, oo, load_int(src, so));
    else
      store_f32(out, oo, load_f32(src, so));
  }
}

__global__ void fill_kernel(StridedArgs out, int64_t n, double v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t oo = out.offset(i);
    if (is_int(out.dtype))
      store_int(out, oo, (int64_t)v);
    else
      store_f32(out, oo, (float)v);
  }
}

}  // namespace

void copy(const TensorView& src, const TensorView& out) {
  int64_t n = out.numel();
  if (n == 0) return;
  copy_kernel<<<grid_for(n), 256, 0, current_stream()>>>(StridedArgs(src), StridedArgs(out), n);
  check_launch("copy");
}

void fill(const TensorView& out, double value) {
  int64_t n = out.numel();
  if (n == 0) return;
  fill_kernel<<<grid_for(n), 256, 0, current_stream()>>>(StridedArgs(out), n, value);
  check_launch("fill");
}

}  // namespace acestep::cuda
