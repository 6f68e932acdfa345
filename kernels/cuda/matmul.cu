// A plain shared-memory tiled GEMM for linear/matmul: correct for any strides and float dtypes,
// one output element per thread, f32 accumulation. Not tuned (no tensor cores yet).
#include "common.cuh"
#include "matmul.h"

namespace acestep::cuda {
namespace {

constexpr int kTile = 16;

// Element (r, c) of one batch's operand is at data[batch_off + r * rs + c * cs].
struct Operand {
  const void* data;
  DType dtype;
  int64_t rs, cs;
  int nbatch;  // leading dims of the batch index
  int64_t bshape[kMaxDims];
  int64_t bstride[kMaxDims];
};

Operand operand(const TensorView& v, int r_dim, int c_dim, int nbatch) {
  Operand o{};
  o.data = v.data;
  o.dtype = v.dtype;
  o.rs = v.strides[r_dim];
  o.cs = v.strides[c_dim];
  o.nbatch = nbatch;
  for (int d = 0; d < nbatch; d++) o.bshape[d] = v.shape[d], o.bstride[d] = v.strides[d];
  return o;
}

__device__ inline float load(const Operand& m, int64_t off, bool rnd) {
  float v;
  switch (m.dtype) {
    case DType::F16: v = __half2float(static_cast<const __half*>(m.data)[off]); break;
    case DType::BF16: v = __bfloat162float(static_cast<const __nv_bfloat16*>(m.data)[off]); break;
    default: v = static_cast<const float*>(m.data)[off]; break;
  }
  return rnd ? __bfloat162float(__float2bfloat16_rn(v)) : v;
}

__device__ inline int64_t batch_off(const Operand& m, int64_t b) {
  int64_t off = 0;
  for (int d = m.nbatch - 1; d >= 0; d--) {
    off += (b % m.bshape[d]) * m.bstride[d];
    b /= m.bshape[d];
  }
  return off;
}

// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] (+ bias[n]); C contiguous.
__global__ void gemm_kernel(Operand A, Operand B, Operand bias, bool has_bias, float* C, int64_t M, int64_t N,
                            int64_t K, int64_t batches, bool rnd) {
  __shared__ float as[kTile][kTile + 1];
  __shared__ float bs[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t m = blockIdx.y * (int64_t)kTile + ty, n = blockIdx.x * (int64_t)kTile + tx;
  for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const int64_t ao = batch_off(A, b), bo = batch_off(B, b);
    float acc = 0.f;
    for (int64_t k0 = 0; k0 < K; k0 += kTile) {
      const int64_t ka = k0 + tx, kb = k0 + ty;
      as[ty][tx] = (m < M && ka < K) ? load(A, ao + m * A.rs + ka * A.cs, rnd) : 0.f;
      bs[ty][tx] = (kb < K && n < N) ? load(B, bo + kb * B.rs + n * B.cs, rnd) : 0.f;
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kTile; k++) acc += as[ty][k] * bs[k][tx];
      __syncthreads();
    }
    if (m < M && n < N) {
      if (has_bias) acc += load(bias, n * bias.cs, false);
      C[b * M * N + m * N + n] = acc;
    }
  }
}

void launch(const Operand& a, const Operand& b, const Operand& bias, bool has_bias, float* c, int64_t M, int64_t N,
            int64_t K, int64_t batches, int precision) {
  if (M == 0 || N == 0 || batches == 0) return;
  if ((M + kTile - 1) / kTile > 65535) throw std::runtime_error("matmul (cuda): M too large for the grid");
  dim3 block(kTile, kTile);
  dim3 grid(static_cast<unsigned>((N + kTile - 1) / kTile), static_cast<unsigned>((M + kTile - 1) / kTile),
            static_cast<unsigned>(batches > 65535 ? 65535 : batches));
  gemm_kernel<<<grid, block, 0, current_stream()>>>(a, b, bias, has_bias, c, M, N, K, batches, precision == 1);
  check_launch("matmul");
}

}  // namespace

void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, int precision) {
  // B(k, n) = w(n, k)
  Operand a = operand(x, 0, 1, 0);
  Operand b = operand(w, 1, 0, 0);
  Operand bo{};
  if (bias) {
    bo.data = bias->data;
    bo.dtype = bias->dtype;
    bo.cs = bias->strides[0];
  }
  launch(a, b, bo, bias != nullptr, out.ptr<float>(), x.shape[0], w.shape[0], x.shape[1], 1, precision);
}

void matmul(const TensorView& a, const TensorView& b, const TensorView& out, int precision) {
  const int nd = out.ndim;
  int64_t batches = 1;
  for (int d = 0; d < nd - 2; d++) batches *= out.shape[d];
  launch(operand(a, nd - 2, nd - 1, nd - 2), operand(b, nd - 2, nd - 1, nd - 2), Operand{}, false, out.ptr<float>(),
         out.shape[nd - 2], out.shape[nd - 1], a.shape[nd - 1], batches, precision);
}

}  // namespace acestep::cuda
