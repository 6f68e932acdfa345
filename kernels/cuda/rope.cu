// CUDA RoPE: one thread per rotated pair (b, t, h, i < D/2); products and sums rounded separately
// like the CPU reference.
#include "pointwise.cuh"
#include "rope.h"

namespace acestep::cuda {
namespace {

struct RopeArgs {
  const void* x;
  DType xdt;
  int64_t xs[4];
  const float* c;
  const float* s;
  int64_t cs[3], ss[3];
  float* out;
  int64_t B, T, H, half;
};

__device__ inline float load_x(const RopeArgs& a, int64_t off) {
  switch (a.xdt) {
    case DType::F16:
      return __half2float(static_cast<const __half*>(a.x)[off]);
    case DType::BF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(a.x)[off]);
    default:
      return static_cast<const float*>(a.x)[off];
  }
}

__global__ void rope_kernel(RopeArgs a, int64_t n) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n; idx += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = idx % a.half, r = idx / a.half;
    int64_t h = r % a.H, bt = r / a.H, t = bt % a.T, b = bt / a.T;
    int64_t xo = b * a.xs[0] + t * a.xs[1] + h * a.xs[2];
    float x0 = load_x(a, xo + i * a.xs[3]), x1 = load_x(a, xo + (i + a.half) * a.xs[3]);
    float c = a.c[b * a.cs[0] + t * a.cs[1] + i * a.cs[2]], s = a.s[b * a.ss[0] + t * a.ss[1] + i * a.ss[2]];
    float* o = a.out + r * 2 * a.half;
    o[i] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    o[i + a.half] = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
  }
}

}  // namespace

void rope(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out) {
  RopeArgs a{};
  a.x = x.data;
  a.xdt = x.dtype;
  for (int k = 0; k < 4; k++) a.xs[k] = x.strides[k];
  a.c = cos.ptr<const float>();
  a.s = sin.ptr<const float>();
  for (int k = 0; k < 3; k++) {
    a.cs[k] = cos.strides[k];
    a.ss[k] = sin.strides[k];
  }
  a.out = out.ptr<float>();
  a.B = x.shape[0];
  a.T = x.shape[1];
  a.H = x.shape[2];
  a.half = x.shape[3] / 2;
  int64_t n = a.B * a.T * a.H * a.half;
  if (n == 0) return;
  rope_kernel<<<grid_for(n), 256, 0, current_stream()>>>(a, n);
  check_launch("rope");
}

}  // namespace acestep::cuda
