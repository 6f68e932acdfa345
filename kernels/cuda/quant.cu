// CUDA int8 weight family (kernels/cpu/quant.h semantics): per-row quantization, one block per row,
// in the CPU's f32 operations (so q and scale match it exactly); and linear over int8 rows, one warp
// per output column reading the row once per group of four activation rows with f32 sums (integer
// sums for the int16 decode activations). Decode (M <= kGemvRows) reads each weight row once;
// prompts re-read rows from cache, which is simple, not fast.
#include <cstdint>

#include "../cpu/quant.h"
#include "common.cuh"
#include "quant.h"
#include "runtime.h"

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

// The decode activations' per-row terms (cpu/quant.h): xs = amax / 32767, inv = 32767 / amax, and
// whether the row is free of outliers (amax <= kI16OutlierRatio * mean |x|; the f32 sum is a tree
// here, sequential on the CPU, so a row within rounding of the bound may be judged differently).
__global__ void __launch_bounds__(kThreads) decode_rows_kernel(StridedArgs x, int64_t K, float* xs, float* inv, int* ok) {
  const int64_t m = blockIdx.x;
  float amax = 0.f, sum = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) {
    const float v = fabsf(load_f32(x, m * x.strides[0] + k * x.strides[1]));
    amax = fmaxf(amax, v);
    sum += v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    sum += __shfl_xor_sync(0xffffffffu, sum, o);
  }
  __shared__ float pmax[kWarps], psum[kWarps];
  if (threadIdx.x % 32 == 0) {
    pmax[threadIdx.x / 32] = amax;
    psum[threadIdx.x / 32] = sum;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  amax = pmax[0];
  sum = psum[0];
  for (int i = 1; i < kWarps; i++) {
    amax = fmaxf(amax, pmax[i]);
    sum += psum[i];
  }
  xs[m] = __fdiv_rn(amax, 32767.f);
  inv[m] = amax > 0.f ? __fdiv_rn(32767.f, amax) : 0.f;
  ok[m] = isfinite(amax) && amax <= cpu::kI16OutlierRatio * __fdiv_rn(sum, static_cast<float>(K)) ? 1 : 0;
}

// Decode rows (xs, inv, ok: from decode_rows_kernel, null for prompts) are int16 when every row is
// free of outliers: integer products summed in 64 bits, then xs[m] * scale[n].
__global__ void __launch_bounds__(kThreads)
    linear_kernel(StridedArgs x, const int8_t* q, int64_t ldq, const float* scale, StridedArgs bias, bool has_bias, float* out, int64_t M,
                  int64_t N, int64_t K, bool rnd, const float* xs, const float* inv, const int* ok) {
  const int lane = threadIdx.x % 32;
  const int64_t n = blockIdx.x * (int64_t)kWarps + threadIdx.x / 32;
  if (n >= N) return;
  bool i16 = ok != nullptr;
  for (int64_t m = 0; i16 && m < M; m++) i16 = ok[m] != 0;
  const int8_t* qr = q + n * ldq;
  const float b = has_bias ? load_f32(bias, n * bias.strides[0]) : 0.f;
  for (int64_t m0 = 0; m0 < M; m0 += kRowsPerPass) {
    float acc[kRowsPerPass] = {};
    long long iacc[kRowsPerPass] = {};
    for (int64_t k = lane; k < K; k += 32) {
      const int w = qr[k];
#pragma unroll
      for (int r = 0; r < kRowsPerPass; r++) {
        if (m0 + r >= M) break;
        float xv = load_f32(x, (m0 + r) * x.strides[0] + k * x.strides[1]);
        if (i16) {
          iacc[r] += static_cast<long long>(min(32767, max(-32767, __float2int_rn(__fmul_rn(xv, inv[m0 + r]))))) * w;
          continue;
        }
        if (rnd) xv = round_bf16(xv);
        acc[r] = fmaf(xv, static_cast<float>(w), acc[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerPass; r++) {
      float s;
      if (i16) {
        long long t = iacc[r];
        for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
        s = static_cast<float>(t) * (m0 + r < M ? xs[m0 + r] : 0.f);
      } else {
        s = acc[r];
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      }
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
  const bool rnd = precision == cpu::GemmPrecision::BF16;
  const bool decode = rnd && M <= cpu::kGemvRows && K > 0;
  Scratch rows(decode ? size_t(M) * 12 : 0, "the decode activations' row scales");
  float* xs = decode ? rows.as<float>() : nullptr;
  float* inv = decode ? xs + M : nullptr;
  int* ok = decode ? reinterpret_cast<int*>(inv + M) : nullptr;
  if (decode) {
    decode_rows_kernel<<<static_cast<unsigned>(M), kThreads, 0, current_stream()>>>(StridedArgs(x), K, xs, inv, ok);
    check_launch("linearInt8 decode rows (CUDA)");
  }
  const unsigned grid = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  linear_kernel<<<grid, kThreads, 0, current_stream()>>>(StridedArgs(x), q.ptr<int8_t>(), q.strides[0], scale.ptr<float>(),
                                                         StridedArgs(bias ? *bias : x), bias != nullptr, out.ptr<float>(), M, N, K, rnd, xs,
                                                         inv, ok);
  check_launch("linearInt8 (CUDA)");
}

}  // namespace acestep::cuda
