// CUDA attention, f32 throughout (the CPU contract's softmax precision), two kernels:
//  - flash: a block of 4 warps owns 16 queries of one (batch, head); K/V tiles of 32 keys are
//    staged in shared memory, lane j scores key j for each of its warp's queries, one online
//    softmax update per tile (a single warp max/sum per 32 keys), and lanes split the head dim
//    for the P·V accumulation. Only the key range some query of the block can see is visited.
//  - decode (Tq == 1): split-K. Each block takes one (batch, head, key chunk); its warps walk
//    32-key sub-tiles straight from global memory (no reuse to stage for a single query), the
//    block merges its warps, and a second kernel merges the chunks, so a long KV cache fills
//    the GPU even at batch 2.
// GQA, causal with q_offset, the bidirectional window and the key mask follow
// kernels/cpu/attention.h; K/V may be strided cache views (unit stride in D only), f32 or bf16 (a
// bf16 KV cache: both kernels are templated on the K/V element and widen it on load).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "attention.h"
#include "common.cuh"

namespace acestep::cuda {
namespace {

constexpr int kWarps = 4, kQPerWarp = 4, kQTile = kWarps * kQPerWarp, kKTile = 32;
constexpr int kMaxPerLane = 8;  // head dim <= 32 * 8

struct Geometry {
  const float* q;
  const void *k, *v;
  float* out;
  int64_t B, Tq, Tk, Hq, Hkv, D;
  int64_t qs0, qs1, qs2, ks0, ks1, ks2, vs0, vs1, vs2;
  StridedArgs mask;
  bool has_mask;
  float scale;
  bool causal;
  int64_t q_offset, window;
};

// Visible key range [lo, hi] of the query at absolute position pos (before the key mask).
__device__ inline void key_range(const Geometry& g, int64_t pos, int64_t& lo, int64_t& hi) {
  lo = 0;
  hi = g.Tk - 1;
  if (g.causal) hi = min(hi, pos);
  if (g.window >= 0) {
    lo = max(lo, pos - g.window);
    hi = min(hi, pos + g.window);
  }
}

__device__ inline float kv_f32(float x) {
  return x;
}
__device__ inline float kv_f32(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

__device__ inline bool mask_allows(const Geometry& g, int64_t b, int64_t j) {
  if (!g.has_mask) return true;
  int64_t off = b * g.mask.strides[0] + j * g.mask.strides[1];
  return is_int(g.mask.dtype) ? load_int(g.mask, off) != 0 : load_f32(g.mask, off) != 0.f;
}

// Online-softmax state of one query in one warp: lane holds acc for dims lane + 32 c.
struct Row {
  float m, l, acc[kMaxPerLane];
};

// Folds a tile's scores (lane j holds s for key j, -inf when hidden) into r; vrow(j) gives V row j.
template <class VRow>
__device__ inline void fold_tile(Row& r, float s, int64_t D, VRow vrow) {
  const int lane = threadIdx.x % 32;
  float tmax = s;
  for (int o = 16; o > 0; o >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
  if (tmax == -INFINITY) return;  // no visible key in this tile
  const float m_new = fmaxf(r.m, tmax);
  const float alpha = r.m == -INFINITY ? 0.f : expf(r.m - m_new);
  const float p = s == -INFINITY ? 0.f : expf(s - m_new);
  float psum = p;
  for (int o = 16; o > 0; o >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, o);
  r.l = r.l * alpha + psum;
#pragma unroll
  for (int c = 0; c < kMaxPerLane; c++) r.acc[c] *= alpha;
  for (int j = 0; j < 32; j++) {
    const float pj = __shfl_sync(0xffffffffu, p, j);
    if (pj == 0.f) continue;  // warp-uniform: every lane holds the same pj
    const auto* vr = vrow(j);
#pragma unroll
    for (int c = 0; c < kMaxPerLane; c++) {
      int64_t e = lane + 32 * c;
      if (e < D) r.acc[c] = fmaf(pj, kv_f32(vr[e]), r.acc[c]);
    }
  }
  r.m = m_new;
}

// Shared memory: K tile [32][D + 1] (odd row stride: lane j reading row j is conflict-free),
// V tile [32][D], each warp's queries [4][D] pre-scaled. kv_vec4: K and V rows are 16-byte
// aligned with D % 4 == 0, so the tiles are fetched as float4 (f32 K/V only).
template <class T>
__global__ void __launch_bounds__(32 * kWarps) flash_kernel(Geometry g, bool kv_vec4) {
  extern __shared__ __align__(16) float smem[];
  const int64_t D = g.D, ldk = D + 1;
  float* sk = smem;
  float* sv = sk + kKTile * ldk;
  float* sq = sv + kKTile * D;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t bh = blockIdx.y, h = bh % g.Hq, b = bh / g.Hq, hk = h / (g.Hq / g.Hkv);
  const int64_t i0 = blockIdx.x * (int64_t)kQTile;
  const int64_t nq = min((int64_t)kQTile, g.Tq - i0);

  float* wq = sq + warp * kQPerWarp * D;
  for (int qi = 0; qi < kQPerWarp; qi++) {
    int64_t i = i0 + warp * kQPerWarp + qi;
    for (int64_t e = lane; e < D; e += 32) wq[qi * D + e] = i < g.Tq ? g.q[b * g.qs0 + i * g.qs1 + h * g.qs2 + e] * g.scale : 0.f;
  }
  // Keys any query of the block can see: the union of the per-query ranges (positions increase with i).
  int64_t lo_first, hi_first, lo_last, hi_last;
  key_range(g, i0 + g.q_offset, lo_first, hi_first);
  key_range(g, i0 + nq - 1 + g.q_offset, lo_last, hi_last);
  const int64_t j_lo = min(lo_first, lo_last), j_hi = max(hi_first, hi_last);

  Row rows[kQPerWarp];
  for (int qi = 0; qi < kQPerWarp; qi++) {
    rows[qi].m = -INFINITY;
    rows[qi].l = 0.f;
    for (int c = 0; c < kMaxPerLane; c++) rows[qi].acc[c] = 0.f;
  }
  const T* kbase = static_cast<const T*>(g.k) + b * g.ks0 + hk * g.ks2;
  const T* vbase = static_cast<const T*>(g.v) + b * g.vs0 + hk * g.vs2;
  for (int64_t t0 = j_lo / kKTile * kKTile; t0 <= j_hi; t0 += kKTile) {
    __syncthreads();  // previous tile fully consumed (and the query rows written on the first pass)
    if (kv_vec4) {    // only ever set for f32 K/V (the launch passes false for bf16)
      // float4 global reads; K's padded rows are not 16-byte aligned, so it is stored per float.
      const int64_t D4 = D / 4;
      for (int64_t e = threadIdx.x; e < kKTile * D4; e += blockDim.x) {
        int64_t j = e / D4, d = (e % D4) * 4, key = t0 + j;
        bool in = key < g.Tk;
        float4 kk = in ? *reinterpret_cast<const float4*>(kbase + key * g.ks1 + d) : make_float4(0.f, 0.f, 0.f, 0.f);
        float4 vv = in ? *reinterpret_cast<const float4*>(vbase + key * g.vs1 + d) : make_float4(0.f, 0.f, 0.f, 0.f);
        float* kd = sk + j * ldk + d;
        kd[0] = kk.x, kd[1] = kk.y, kd[2] = kk.z, kd[3] = kk.w;
        *reinterpret_cast<float4*>(sv + j * D + d) = vv;
      }
    } else {
      for (int64_t e = threadIdx.x; e < kKTile * D; e += blockDim.x) {
        int64_t j = e / D, d = e % D, key = t0 + j;
        bool in = key < g.Tk;
        sk[j * ldk + d] = in ? kv_f32(kbase[key * g.ks1 + d]) : 0.f;
        sv[j * D + d] = in ? kv_f32(vbase[key * g.vs1 + d]) : 0.f;
      }
    }
    __syncthreads();
    const int64_t key = t0 + lane;
    const bool key_ok = key < g.Tk && mask_allows(g, b, key);
    for (int qi = 0; qi < kQPerWarp; qi++) {
      const int64_t i = i0 + warp * kQPerWarp + qi;
      if (i >= g.Tq) break;  // warp-uniform
      int64_t lo, hi;
      key_range(g, i + g.q_offset, lo, hi);
      float s = -INFINITY;
      if (key_ok && key >= lo && key <= hi) {
        const float* qr = wq + qi * D;
        const float* kr = sk + lane * ldk;
        float acc = 0.f;
        for (int64_t d = 0; d < D; d++) acc = fmaf(qr[d], kr[d], acc);
        s = acc;
      }
      fold_tile(rows[qi], s, D, [&](int j) { return sv + j * D; });
    }
  }
  for (int qi = 0; qi < kQPerWarp; qi++) {
    const int64_t i = i0 + warp * kQPerWarp + qi;
    if (i >= g.Tq) break;
    float* orow = g.out + ((b * g.Tq + i) * g.Hq + h) * D;
    const float inv = rows[qi].l > 0.f ? 1.f / rows[qi].l : 0.f;  // no visible key: zeros
    for (int c = 0; c < kMaxPerLane; c++) {
      int64_t e = lane + 32 * c;
      if (e < D) orow[e] = rows[qi].acc[c] * inv;
    }
  }
}

// Split-K decode: grid (B * Hq, chunks). Writes the chunk's (m, l) and unnormalised acc[D] to
// partial storage, or the final row when there is a single chunk.
// k_vec4: K rows and the query are 16-byte aligned with D % 4 == 0, so lanes read them as float4.
template <class T>
__global__ void __launch_bounds__(32 * kWarps) decode_kernel(Geometry g, int64_t chunk, bool k_vec4, float* part_ml, float* part_acc) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t bh = blockIdx.x, h = bh % g.Hq, b = bh / g.Hq, hk = h / (g.Hq / g.Hkv), D = g.D;
  const float* qr = g.q + b * g.qs0 + h * g.qs2;
  const T* kbase = static_cast<const T*>(g.k) + b * g.ks0 + hk * g.ks2;
  const T* vbase = static_cast<const T*>(g.v) + b * g.vs0 + hk * g.vs2;
  int64_t lo, hi;
  key_range(g, g.q_offset, lo, hi);
  const int64_t c_lo = max(lo, (int64_t)blockIdx.y * chunk), c_hi = min(hi, ((int64_t)blockIdx.y + 1) * chunk - 1);

  // Each lane keeps the full scaled query in registers for its own key's dot product.
  Row r;
  r.m = -INFINITY;
  r.l = 0.f;
  for (int c = 0; c < kMaxPerLane; c++) r.acc[c] = 0.f;
  for (int64_t t0 = c_lo + warp * 32; t0 <= c_hi; t0 += 32 * kWarps) {
    const int64_t key = t0 + lane;
    float s = -INFINITY;
    if (key <= c_hi && mask_allows(g, b, key)) {
      const T* kr = kbase + key * g.ks1;
      float acc = 0.f;
      if (k_vec4) {
        for (int64_t d = 0; d < D; d += 4) {
          float4 a = __ldg(reinterpret_cast<const float4*>(qr + d)), c = __ldg(reinterpret_cast<const float4*>(kr + d));
          acc = fmaf(a.x, c.x, fmaf(a.y, c.y, fmaf(a.z, c.z, fmaf(a.w, c.w, acc))));
        }
      } else {
        for (int64_t d = 0; d < D; d++) acc = fmaf(__ldg(qr + d), kv_f32(kr[d]), acc);
      }
      s = acc * g.scale;
    }
    fold_tile(r, s, D, [&](int j) { return vbase + (t0 + j) * g.vs1; });
  }

  __shared__ float sm[kWarps], sl[kWarps];
  __shared__ float sacc[kWarps][32 * kMaxPerLane];
  if (lane == 0) sm[warp] = r.m, sl[warp] = r.l;
  for (int c = 0; c < kMaxPerLane; c++) sacc[warp][lane + 32 * c] = r.acc[c];
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kWarps; w++) M = fmaxf(M, sm[w]);
  float L = 0.f;
  for (int w = 0; w < kWarps; w++)
    if (sm[w] != -INFINITY) L += sl[w] * expf(sm[w] - M);
  const bool single = gridDim.y == 1;
  for (int64_t e = threadIdx.x; e < D; e += blockDim.x) {
    float A = 0.f;
    for (int w = 0; w < kWarps; w++)
      if (sm[w] != -INFINITY) A += sacc[w][e] * expf(sm[w] - M);
    if (single)
      g.out[bh * D + e] = L > 0.f ? A / L : 0.f;
    else
      part_acc[(bh * gridDim.y + blockIdx.y) * D + e] = A;
  }
  if (!single && threadIdx.x == 0) {
    part_ml[(bh * gridDim.y + blockIdx.y) * 2] = M;
    part_ml[(bh * gridDim.y + blockIdx.y) * 2 + 1] = L;
  }
}

__global__ void decode_combine_kernel(int64_t D, int chunks, const float* part_ml, const float* part_acc, float* out) {
  const int64_t bh = blockIdx.x;
  const float* ml = part_ml + bh * chunks * 2;
  float M = -INFINITY;
  for (int c = 0; c < chunks; c++) M = fmaxf(M, ml[2 * c]);
  float L = 0.f;
  for (int c = 0; c < chunks; c++)
    if (ml[2 * c] != -INFINITY) L += ml[2 * c + 1] * expf(ml[2 * c] - M);
  for (int64_t e = threadIdx.x; e < D; e += blockDim.x) {
    float A = 0.f;
    for (int c = 0; c < chunks; c++)
      if (ml[2 * c] != -INFINITY) A += part_acc[(bh * chunks + c) * D + e] * expf(ml[2 * c] - M);
    out[bh * D + e] = L > 0.f ? A / L : 0.f;
  }
}

}  // namespace

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask, const TensorView& out,
               const cpu::AttentionParams& p) {
  const int64_t B = q.shape[0], Tq = q.shape[1], Hq = q.shape[2], D = q.shape[3], Tk = k.shape[1];
  if (B * Tq * Hq == 0 || D == 0) return;
  if (D > 32 * kMaxPerLane) throw std::runtime_error("attention (CUDA): head dim above 256 is not supported");
  if (B * Hq > 65535) throw std::runtime_error("attention (CUDA): batch x heads above 65535 is not supported");
  const bool bf16 = k.dtype == DType::BF16;
  Geometry g{q.ptr<const float>(),
             k.data,
             v.data,
             out.ptr<float>(),
             B,
             Tq,
             Tk,
             Hq,
             k.shape[2],
             D,
             q.strides[0],
             q.strides[1],
             q.strides[2],
             k.strides[0],
             k.strides[1],
             k.strides[2],
             v.strides[0],
             v.strides[1],
             v.strides[2],
             StridedArgs(key_mask),
             key_mask.data != nullptr,
             p.scale,
             p.causal,
             p.q_offset,
             p.window};
  auto al16 = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  if (Tq == 1) {
    // Enough chunks for ~2 blocks per SM, but at least 128 keys each so the merge stays cheap.
    const int64_t bh = B * Hq, want = (2 * sm_count() + bh - 1) / bh;
    int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(want, (Tk + 127) / 128));
    chunks = std::min<int64_t>(chunks, 1024);
    const int64_t chunk = std::max<int64_t>(1, (Tk + chunks - 1) / chunks);
    chunks = std::max<int64_t>(1, (Tk + chunk - 1) / chunk);
    Scratch part(chunks > 1 ? size_t(bh * chunks * (D + 2)) * sizeof(float) : 0, "split-K attention partials");
    float* ml = part.as<float>();
    float* acc = chunks > 1 ? ml + bh * chunks * 2 : nullptr;
    const bool k_vec4 = !bf16 && D % 4 == 0 && al16(q.data) && al16(k.data) && q.strides[0] % 4 == 0 && q.strides[2] % 4 == 0 &&
                        k.strides[0] % 4 == 0 && k.strides[1] % 4 == 0 && k.strides[2] % 4 == 0;
    const dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(chunks));
    if (bf16)
      decode_kernel<__nv_bfloat16><<<grid, 32 * kWarps, 0, current_stream()>>>(g, chunk, false, ml, acc);
    else
      decode_kernel<float><<<grid, 32 * kWarps, 0, current_stream()>>>(g, chunk, k_vec4, ml, acc);
    check_launch("attention (CUDA decode)");
    if (chunks > 1) {
      decode_combine_kernel<<<static_cast<unsigned>(bh), 128, 0, current_stream()>>>(D, static_cast<int>(chunks), ml, acc,
                                                                                     out.ptr<float>());
      check_launch("attention (CUDA decode combine)");
    }
    return;
  }
  const size_t smem = size_t(kKTile * (D + 1) + kKTile * D + kQTile * D) * sizeof(float);
  static size_t configured = 48 * 1024;  // queue thread only
  if (smem > configured) {
    cudaError_t e = cudaFuncSetAttribute(flash_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e == cudaSuccess) e = cudaFuncSetAttribute(flash_kernel<__nv_bfloat16>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess)
      throw std::runtime_error(std::string("attention (CUDA): head dim ") + std::to_string(D) + " needs " + std::to_string(smem) +
                               " bytes of shared memory: " + cudaGetErrorString(e));
    configured = smem;
  }
  dim3 grid(static_cast<unsigned>((Tq + kQTile - 1) / kQTile), static_cast<unsigned>(B * Hq));
  if (grid.x > 0x7fffffffu) throw std::runtime_error("attention (CUDA): too many queries");
  const bool kv_vec4 = !bf16 && D % 4 == 0 && al16(k.data) && al16(v.data) && k.strides[0] % 4 == 0 && k.strides[1] % 4 == 0 &&
                       k.strides[2] % 4 == 0 && v.strides[0] % 4 == 0 && v.strides[1] % 4 == 0 && v.strides[2] % 4 == 0;
  if (bf16)
    flash_kernel<__nv_bfloat16><<<grid, 32 * kWarps, smem, current_stream()>>>(g, false);
  else
    flash_kernel<float><<<grid, 32 * kWarps, smem, current_stream()>>>(g, kv_vec4);
  check_launch("attention (CUDA flash)");
}

}  // namespace acestep::cuda
