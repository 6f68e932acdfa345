// CUDA attention: one block of 4 warps per (batch, query, query head). Each warp walks a strided
// subset of the reachable keys with its own online softmax (lanes split the head dim, a shuffle
// reduction forms each dot product); the warps' partial states are merged at the end.
#include <cmath>

#include "attention.h"
#include "common.cuh"

namespace acestep::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head dim <= 32 * 8

struct Geometry {
  const float *q, *k, *v;
  float* out;
  int64_t B, Tq, Tk, Hq, Hkv, D;
  int64_t qs0, qs1, qs2, ks0, ks1, ks2, vs0, vs1, vs2;
  StridedArgs mask;
  bool has_mask;
  float scale;
  bool causal;
  int64_t q_offset, window;
};

__device__ bool visible(const Geometry& g, int64_t b, int64_t i, int64_t j) {
  int64_t pos = i + g.q_offset;
  if (g.causal && j > pos) return false;
  if (g.window >= 0 && (j < pos - g.window || j > pos + g.window)) return false;
  if (g.has_mask) {
    int64_t off = b * g.mask.strides[0] + j * g.mask.strides[1];
    if (is_int(g.mask.dtype) ? load_int(g.mask, off) == 0 : load_f32(g.mask, off) == 0.f) return false;
  }
  return true;
}

__global__ void attention_kernel(Geometry g) {
  int64_t row = blockIdx.x;  // (b, i, h) in output order
  int64_t h = row % g.Hq, i = (row / g.Hq) % g.Tq, b = row / (g.Hq * g.Tq);
  int64_t hk = h / (g.Hq / g.Hkv);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const float* qr = g.q + b * g.qs0 + i * g.qs1 + h * g.qs2;
  float qreg[kMaxPerLane], acc[kMaxPerLane];
  for (int c = 0; c < kMaxPerLane; c++) {
    int64_t e = lane + 32 * c;
    qreg[c] = e < g.D ? qr[e] * g.scale : 0.f;
    acc[c] = 0.f;
  }
  int64_t pos = i + g.q_offset, j_lo = 0, j_hi = g.Tk - 1;
  if (g.causal) j_hi = min(j_hi, pos);
  if (g.window >= 0) {
    j_lo = max(j_lo, pos - g.window);
    j_hi = min(j_hi, pos + g.window);
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t j = j_lo + warp; j <= j_hi; j += kWarps) {
    if (!visible(g, b, i, j)) continue;
    const float* kr = g.k + b * g.ks0 + j * g.ks1 + hk * g.ks2;
    float s = 0.f;
    for (int c = 0; c < kMaxPerLane; c++) {
      int64_t e = lane + 32 * c;
      if (e < g.D) s += qreg[c] * kr[e];
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float m_new = fmaxf(m, s);
    float alpha = m == -INFINITY ? 0.f : expf(m - m_new), w = expf(s - m_new);
    l = l * alpha + w;
    const float* vr = g.v + b * g.vs0 + j * g.vs1 + hk * g.vs2;
    for (int c = 0; c < kMaxPerLane; c++) {
      int64_t e = lane + 32 * c;
      acc[c] = acc[c] * alpha + (e < g.D ? w * vr[e] : 0.f);
    }
    m = m_new;
  }
  __shared__ float sm[kWarps], sl[kWarps];
  __shared__ float sacc[kWarps][32 * kMaxPerLane];
  if (lane == 0) {
    sm[warp] = m;
    sl[warp] = l;
  }
  for (int c = 0; c < kMaxPerLane; c++) sacc[warp][lane + 32 * c] = acc[c];
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kWarps; w++) M = fmaxf(M, sm[w]);
  float* orow = g.out + row * g.D;
  for (int64_t e = threadIdx.x; e < g.D; e += blockDim.x) {
    if (M == -INFINITY) {
      orow[e] = 0.f;
      continue;
    }
    float L = 0.f, A = 0.f;
    for (int w = 0; w < kWarps; w++) {
      if (sm[w] == -INFINITY) continue;
      float f = expf(sm[w] - M);
      L += sl[w] * f;
      A += sacc[w][e] * f;
    }
    orow[e] = A / L;
  }
}

}  // namespace

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask,
               const TensorView& out, const cpu::AttentionParams& p) {
  int64_t rows = q.shape[0] * q.shape[1] * q.shape[2];
  if (rows == 0) return;
  if (q.shape[3] > 32 * kMaxPerLane) throw std::runtime_error("attention (CUDA): head dim above 256 is not supported");
  Geometry g{q.ptr<const float>(), k.ptr<const float>(), v.ptr<const float>(), out.ptr<float>(),
             q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2], q.shape[3],
             q.strides[0], q.strides[1], q.strides[2], k.strides[0], k.strides[1], k.strides[2],
             v.strides[0], v.strides[1], v.strides[2], StridedArgs(key_mask), key_mask.data != nullptr,
             p.scale, p.causal, p.q_offset, p.window};
  attention_kernel<<<static_cast<unsigned>(rows), 32 * kWarps, 0, current_stream()>>>(g);
  check_launch("attention");
}

}  // namespace acestep::cuda
