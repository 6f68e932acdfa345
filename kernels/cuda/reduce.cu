// CUDA reductions over [outer, n, inner]: a last-dim reduction (inner == 1) uses one block per
// row; otherwise one thread per output walks n with coalesced reads across inner. Sums are double.
#include "pointwise.cuh"
#include "reduce.h"

namespace acestep::cuda {
using cpu::ReduceOp;
namespace {

__global__ void reduce_rows(const float* x, float* out, ReduceOp op, int64_t n) {
  const float* row = x + blockIdx.x * n;
  if (op == ReduceOp::Max) {
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = max_d(m, row[i]);
    m = block_max(m);
    if (threadIdx.x == 0) out[blockIdx.x] = m;
    return;
  }
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += row[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[blockIdx.x] = (float)(op == ReduceOp::Mean ? s / (double)n : s);
}

__global__ void reduce_cols(const float* x, float* out, ReduceOp op, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner; t += (int64_t)gridDim.x * blockDim.x) {
    const float* p = x + (t / inner) * n * inner + t % inner;
    if (op == ReduceOp::Max) {
      float m = -INFINITY;
      for (int64_t k = 0; k < n; k++) m = max_d(m, p[k * inner]);
      out[t] = m;
    } else {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += p[k * inner];
      out[t] = (float)(op == ReduceOp::Mean ? s / (double)n : s);
    }
  }
}

// (value, index) pairs: the larger value wins, NaN beats everything, ties go to the lower index.
__device__ inline bool better(float v, int64_t i, float bv, int64_t bi) {
  bool vn = v != v, bn = bv != bv;
  if (vn || bn) return vn && (!bn || i < bi);
  return v > bv || (v == bv && i < bi);
}

__global__ void argmax_rows(const float* x, int32_t* out, int64_t n) {
  const float* row = x + blockIdx.x * n;
  float bv = row[0];
  int64_t bi = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (better(row[i], i, bv, bi)) {
      bv = row[i];
      bi = i;
    }
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  __shared__ float sv[32];
  __shared__ int64_t si[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); w++)
      if (better(sv[w], si[w], bv, bi)) {
        bv = sv[w];
        bi = si[w];
      }
    out[blockIdx.x] = (int32_t)bi;
  }
}

__global__ void argmax_cols(const float* x, int32_t* out, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner; t += (int64_t)gridDim.x * blockDim.x) {
    const float* p = x + (t / inner) * n * inner + t % inner;
    float bv = p[0];
    int64_t bi = 0;
    for (int64_t k = 1; k < n && bv == bv; k++) {
      float v = p[k * inner];
      if (v > bv || v != v) {
        bv = v;
        bi = k;
      }
    }
    out[t] = (int32_t)bi;
  }
}

}  // namespace

void reduce(const TensorView& x, const TensorView& out, ReduceOp op, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner == 0) return;
  if (inner == 1)
    reduce_rows<<<(unsigned)outer, 256, 0, current_stream()>>>(x.ptr<const float>(), out.ptr<float>(), op, n);
  else
    reduce_cols<<<grid_for(outer * inner), 256, 0, current_stream()>>>(x.ptr<const float>(), out.ptr<float>(), op, outer, n, inner);
  check_launch("reduce");
}

void argmax(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner == 0) return;
  if (inner == 1)
    argmax_rows<<<(unsigned)outer, 256, 0, current_stream()>>>(x.ptr<const float>(), out.ptr<int32_t>(), n);
  else
    argmax_cols<<<grid_for(outer * inner), 256, 0, current_stream()>>>(x.ptr<const float>(), out.ptr<int32_t>(), outer, n, inner);
  check_launch("argmax");
}

}  // namespace acestep::cuda
