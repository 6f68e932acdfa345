// CUDA W8A8 linear and the weight row sums it needs, the semantics of kernels/cpu/gemm.h: one block
// per row for the row sums (at load) and the activation quantization (per call), then 16 x 16
// output tiles whose integer sums use dp4a on activations shifted to s8 (exact, like the CPU's
// u8 x s8).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.cuh"
#include "matmul.h"
#include "runtime.h"

namespace acestep::cuda {
namespace {

constexpr int kRowThreads = 256, kTile = 16, kTileWords = 16;

__device__ float block_reduce(float v, bool is_max, float* sh) {
  const int t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = is_max ? fmaxf(sh[t], sh[t + s]) : fminf(sh[t], sh[t + s]);
    __syncthreads();
  }
  const float r = sh[0];
  __syncthreads();
  return r;
}

// rowsum[n] = sum_k q[n, k], one block per row.
__global__ void __launch_bounds__(kRowThreads) row_sums_kernel(const int8_t* q, int64_t ldq, int64_t K, int32_t* rowsum) {
  __shared__ int isum[kRowThreads];
  const int64_t n = blockIdx.x;
  int sum = 0;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) sum += q[n * ldq + k];
  isum[threadIdx.x] = sum;
  __syncthreads();
  for (int st = blockDim.x / 2; st > 0; st >>= 1) {
    if (threadIdx.x < st) isum[threadIdx.x] += isum[threadIdx.x + st];
    __syncthreads();
  }
  if (threadIdx.x == 0) rowsum[n] = isum[0];
}

// Activations row m: sa, zp and xq - 128 as s8 (NaN sa and zeros for a row with a non-finite value).
__global__ void __launch_bounds__(kRowThreads)
    quantize_acts_kernel(const float* x, int64_t ldx, int64_t K, int8_t* xs, int64_t ldxs, float* sa, int32_t* zp) {
  __shared__ float sh[kRowThreads];
  __shared__ int any_bad;
  const int64_t m = blockIdx.x;
  const float* xr = x + m * ldx;
  if (threadIdx.x == 0) any_bad = 0;
  __syncthreads();
  float lo = 0.f, hi = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    const float v = xr[k];
    if (!isfinite(v)) any_bad = 1;
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  lo = block_reduce(lo, false, sh);
  hi = block_reduce(hi, true, sh);
  const bool finite = any_bad == 0;
  float s = (hi - lo) / 255.f;
  if (!(s > 0.f)) s = 1.f;
  const int32_t z = finite ? static_cast<int32_t>(fminf(fmaxf(-rintf(lo / s), 0.f), 255.f)) : 0;
  if (!finite) s = __int_as_float(0x7fc00000);
  for (int64_t k = threadIdx.x; k < ldxs; k += blockDim.x) {
    int v = 0;
    if (k < K && finite) v = static_cast<int>(fminf(fmaxf(rintf(xr[k] / s) + static_cast<float>(z), 0.f), 255.f));
    xs[m * ldxs + k] = static_cast<int8_t>(v - 128);
  }
  if (threadIdx.x == 0) {
    sa[m] = s;
    zp[m] = z;
  }
}

// Four consecutive k bytes of a row of K bytes as one dp4a word, zeros past K.
__device__ inline int load_word(const int8_t* row, int64_t wi, int64_t K, bool aligned) {
  const int64_t k = 4 * wi;
  if (aligned && k + 4 <= K) return reinterpret_cast<const int*>(row)[wi];
  int v = 0;
  for (int e = 0; e < 4; e++)
    if (k + e < K) v |= (static_cast<int>(row[k + e]) & 0xff) << (8 * e);
  return v;
}

// out[m, n] = float(sum_k (xs + 128) q - zp * rowsum) * (sa * scale) (+ bias); xs and q are rows
// of K bytes.
__global__ void __launch_bounds__(kTile* kTile)
    w8a8_tile_kernel(const int8_t* xs, const int8_t* q, int64_t K, int64_t M, int64_t N, const float* sa, const int32_t* zp,
                     const float* scale, const int32_t* rowsum, StridedArgs bias, bool has_bias, float* out) {
  __shared__ int a[kTile][kTileWords + 1], b[kTile][kTileWords + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int64_t m = blockIdx.y * kTile + ty, n = blockIdx.x * kTile + tx;
  const int64_t words = (K + 3) / 4;
  const bool aligned = K % 4 == 0;
  int sum = 0;
  for (int64_t w0 = 0; w0 < words; w0 += kTileWords) {
    const int64_t ar = blockIdx.y * kTile + ty, br = blockIdx.x * kTile + ty, wi = w0 + tx;
    a[ty][tx] = ar < M && wi < words ? load_word(xs + ar * K, wi, K, aligned) : 0;
    b[ty][tx] = br < N && wi < words ? load_word(q + br * K, wi, K, aligned) : 0;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kTileWords; j++) sum = __dp4a(a[ty][j], b[tx][j], sum);
    __syncthreads();
  }
  if (m >= M || n >= N) return;
  const int32_t total = sum + 128 * rowsum[n] - zp[m] * rowsum[n];
  // _rn: no contraction into an FMA, so the rounding matches the CPU step for step.
  float y = __fmul_rn(static_cast<float>(total), __fmul_rn(sa[m], scale[n]));
  if (has_bias) y = __fadd_rn(y, load_f32(bias, n * bias.strides[0]));
  out[m * N + n] = y;
}

}  // namespace

void int8_row_sums(const TensorView& q, const TensorView& rowsum) {
  const int64_t N = q.shape[0];
  if (N == 0) return;
  if (q.strides[1] != 1) throw std::runtime_error("int8_row_sums (CUDA): q rows must be contiguous");
  row_sums_kernel<<<static_cast<unsigned>(N), kRowThreads, 0, current_stream()>>>(q.ptr<const int8_t>(), q.strides[0], q.shape[1],
                                                                                  rowsum.ptr<int32_t>());
  check_launch("int8_row_sums (CUDA)");
}

void linear_w8a8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                 const TensorView& out) {
  const int64_t M = x.shape[0], K = x.shape[1], N = q.shape[0];
  if (M == 0 || N == 0) return;
  Scratch xs(size_t(M * K), "the quantized activations"), sa(size_t(M) * 4, "activation scales"), zp(size_t(M) * 4, "zero points");
  quantize_acts_kernel<<<static_cast<unsigned>(M), kRowThreads, 0, current_stream()>>>(
      x.ptr<const float>(), x.strides[0], K, xs.as<int8_t>(), K, sa.as<float>(), zp.as<int32_t>());
  check_launch("linear_w8a8 (CUDA activation quantization)");
  const dim3 grid(static_cast<unsigned>((N + kTile - 1) / kTile), static_cast<unsigned>((M + kTile - 1) / kTile));
  w8a8_tile_kernel<<<grid, kTile * kTile, 0, current_stream()>>>(
      xs.as<int8_t>(), static_cast<const int8_t*>(q.data), K, M, N, sa.as<float>(), zp.as<int32_t>(), scale.ptr<const float>(),
      rowsum.ptr<const int32_t>(), StridedArgs(bias ? *bias : scale), bias != nullptr, out.ptr<float>());
  check_launch("linear_w8a8 (CUDA)");
}

}  // namespace acestep::cuda
