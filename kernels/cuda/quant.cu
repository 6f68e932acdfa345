// CUDA int8 weight family (kernels/cpu/quant.h semantics): per-row quantization, one block per row,
// in the CPU's f32 operations (so q and scale match it exactly); and linear over int8 rows, one warp
// per output column reading the row once per group of four activation rows with f32 sums. Decode
// (M <= 4) reads each weight row once; prompts re-read rows from cache, which is simple, not fast.
#include <cstdint>

#include "common.cuh"
#include "quant.h"

namespace acestep::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerPass = 4;

__global__ void __launch_bounds__(kThreads) quantize_kernel(StridedArgs w, int8_t* q, float* scale, int64_t K) {
  const int64_t n = blockIdx.x;
  const int64_t base = n * w.strides[0], cs = w.strides[1];
  float amax = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) amax = fmaxf(amax, fabsf(load_f32(w, base + k * cs)));
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  __shared__ float part[kWarps];
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = amax;
  __syncthreads();
  amax = part[0];
  for (int i = 1; i < kWarps; i++) amax = fmaxf(amax, part[i]);
  if (threadIdx.x == 0) scale[n] = __fdiv_rn(amax, 127.f);
  const float inv = amax > 0.f ? __fdiv_rn(127.f, amax) : 0.f;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) {
    const int v = __float2int_rn(__fmul_rn(load_f32(w, base + k * cs), inv));
    q[n * K + k] = static_cast<int8_t>(min(127, max(-127, v)));
  }
}

__global__ void __launch_bounds__(kThreads) linear_kernel(StridedArgs x, const int8_t* q, int64_t ldq, const float* scale, StridedArgs bias,
                                                          bool has_bias, float* out, int64_t M, int64_t N, int64_t K, bool rnd) {
  const int lane = threadIdx.x % 32;
  const int64_t n = blockIdx.x * (int64_t)kWarps + threadIdx.x / 32;
  if (n >= N) return;
  const int8_t* qr = q + n * ldq;
  const float b = has_bias ? load_f32(bias, n * bias.strides[0]) : 0.f;
  for (int64_t m0 = 0; m0 < M; m0 += kRowsPerPass) {
    float acc[kRowsPerPass] = {};
    for (int64_t k = lane; k < K; k += 32) {
      const float wv = static_cast<float>(qr[k]);
#pragma unroll
      for (int r = 0; r < kRowsPerPass; r++) {
        if (m0 + r >= M) break;
        float xv = load_f32(x, (m0 + r) * x.strides[0] + k * x.strides[1]);
        if (rnd) xv = round_bf16(xv);
        acc[r] = fmaf(xv, wv, acc[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerPass; r++) {
      float s = acc[r];
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0 && m0 + r < M) out[(m0 + r) * N + n] = s * scale[n] + b;
    }
  }
}

}  // namespace

void quantize_int8(const TensorView& w, const TensorView& q, const TensorView& scale) {
  const int64_t N = w.shape[0], K = w.shape[1];
  if (N == 0) return;
  quantize_kernel<<<static_cast<unsigned>(N), kThreads, 0, current_stream()>>>(StridedArgs(w), q.ptr<int8_t>(), scale.ptr<float>(), K);
  check_launch("quantizeInt8 (CUDA)");
}

void linear_int8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                 cpu::GemmPrecision precision) {
  const int64_t M = x.shape[0], K = x.shape[1], N = q.shape[0];
  if (M == 0 || N == 0) return;
  const unsigned grid = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  linear_kernel<<<grid, kThreads, 0, current_stream()>>>(StridedArgs(x), q.ptr<int8_t>(), q.strides[0], scale.ptr<float>(),
                                                         StridedArgs(bias ? *bias : x), bias != nullptr, out.ptr<float>(), M, N, K,
                                                         precision == cpu::GemmPrecision::BF16);
  check_launch("linearInt8 (CUDA)");
}

}  // namespace acestep::cuda
