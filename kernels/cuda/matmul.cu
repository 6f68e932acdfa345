// CUDA linear and matmul with the CPU's operand semantics (kernels/cpu/gemm.h), three paths:
//  - precision BF16: a tensor-core GEMM (mma.sync m16n8k16 bf16 -> f32, ldmatrix, 3-stage
//    cp.async pipeline). Operands that are not already bf16 rows with 16-byte aligned, unit-stride K
//    are first packed into scratch, rounded to nearest even exactly as the CPU rounds them; bf16
//    products are exact in f32, so only the summation order differs from the CPU.
//  - linear with M <= 4 and unit-stride weight rows: a GEMV where one warp streams one or four
//    weight rows with 16-byte loads (decode is bound by reading the weights once).
//  - everything else (precision F32): register-blocked fp32 SIMT tiles. No TF32: the fp32 path must
//    keep exact f32 products for the parity tests.
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "matmul.h"

namespace acestep::cuda {
namespace {

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

__device__ inline float load_raw(const void* data, DType dt, int64_t off) {
  switch (dt) {
    case DType::F16:
      return __half2float(static_cast<const __half*>(data)[off]);
    case DType::BF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[off]);
    default:
      return static_cast<const float*>(data)[off];
  }
}

__device__ inline int64_t batch_off(const Operand& m, int64_t b) {
  int64_t off = 0;
  for (int d = m.nbatch - 1; d >= 0; d--) {
    off += (b % m.bshape[d]) * m.bstride[d];
    b /= m.bshape[d];
  }
  return off;
}

// ---------------------------------------------------------------------------------------------
// fp32 SIMT path: 64x64 tiles, 16x16 threads, each thread a 4x4 block of outputs at a 16-element
// stride so shared-memory reads stay conflict-free.

constexpr int kF32Tile = 64, kF32K = 16;

// a_kfast / b_kfast: the operand's k stride is the smaller one, so consecutive threads walk k and
// the global loads coalesce (activations [M,K] and linear weights [N,K] both do).
__global__ void __launch_bounds__(256) gemm_f32_kernel(Operand A, Operand B, Operand bias, bool has_bias, float* C, int64_t M, int64_t N,
                                                       int64_t K, int64_t batches, bool a_kfast, bool b_kfast) {
  __shared__ float as[kF32K][kF32Tile + 1];
  __shared__ float bs[kF32K][kF32Tile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
  const int64_t m0 = blockIdx.y * (int64_t)kF32Tile, n0 = blockIdx.x * (int64_t)kF32Tile;
  for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const int64_t ao = batch_off(A, b), bo = batch_off(B, b);
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += kF32K) {
      // 1024 elements per operand tile, 4 per thread.
      for (int e = tid; e < kF32Tile * kF32K; e += 256) {
        int r = a_kfast ? e / kF32K : e % kF32Tile, kk = a_kfast ? e % kF32K : e / kF32Tile;
        int64_t m = m0 + r, k = k0 + kk;
        as[kk][r] = (m < M && k < K) ? load_raw(A.data, A.dtype, ao + m * A.rs + k * A.cs) : 0.f;
        int kb = b_kfast ? e % kF32K : e / kF32Tile, c = b_kfast ? e / kF32K : e % kF32Tile;
        int64_t n = n0 + c, k2 = k0 + kb;
        bs[kb][c] = (n < N && k2 < K) ? load_raw(B.data, B.dtype, bo + k2 * B.rs + n * B.cs) : 0.f;
      }
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kF32K; k++) {
        float a[4], bb[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = as[k][ty + 16 * i], bb[i] = bs[k][tx + 16 * i];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
          for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], bb[j], acc[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
      int64_t m = m0 + ty + 16 * i;
      if (m >= M) continue;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        int64_t n = n0 + tx + 16 * j;
        if (n >= N) continue;
        float v = acc[i][j];
        if (has_bias) v += load_raw(bias.data, bias.dtype, n * bias.cs);
        C[b * M * N + m * N + n] = v;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// bf16 tensor-core path. C[b] (M x N, f32) = A[b] (M x K) * Bt[b]^T, where A and Bt hold bf16
// rows of K (K a multiple of 8, rows 16-byte aligned; packed operands are zero-padded to that).

constexpr int kBN = 128, kBK = 32, kStages = 3, kLds = kBK + 8;  // +8: ldmatrix rows hit distinct banks

struct Bf16Mat {
  const __nv_bfloat16* data;
  int64_t ld;       // elements between rows
  int64_t bstride;  // elements between batches
};

__device__ inline void cp_async16(void* smem, const void* gmem, bool valid) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  int n = valid ? 16 : 0;  // src-size 0 zero-fills the 16 bytes
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ inline void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ inline void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ inline void mma_bf16(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 8 warps as 2 (M) x 4 (N); warp tile (BM/2) x 32.
template <int BM>
__global__ void __launch_bounds__(256)
    gemm_bf16_kernel(Bf16Mat A, Bf16Mat Bt, Operand bias, bool has_bias, float* C, int64_t M, int64_t N, int64_t K, int64_t batches) {
  constexpr int WM = BM / 2, MT = WM / 16, NT = 4;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* sa = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* sb = sa + kStages * BM * kLds;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, wm = warp / 4, wn = warp % 4;
  const int64_t m0 = blockIdx.y * (int64_t)BM, n0 = blockIdx.x * (int64_t)kBN;
  const int64_t ktiles = (K + kBK - 1) / kBK;

  for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const __nv_bfloat16* ga = A.data + b * A.bstride;
    const __nv_bfloat16* gb = Bt.data + b * Bt.bstride;
    auto load_tile = [&](int stage, int64_t kt) {
      const int64_t k0 = kt * kBK;
#pragma unroll
      for (int c = tid; c < BM * 4; c += 256) {
        int r = c / 4, col = (c % 4) * 8;
        int64_t gr = m0 + r, gk = k0 + col;
        bool ok = gr < M && gk < K;
        cp_async16(sa + (stage * BM + r) * kLds + col, ok ? ga + gr * A.ld + gk : ga, ok);
      }
#pragma unroll
      for (int c = tid; c < kBN * 4; c += 256) {
        int r = c / 4, col = (c % 4) * 8;
        int64_t gr = n0 + r, gk = k0 + col;
        bool ok = gr < N && gk < K;
        cp_async16(sb + (stage * kBN + r) * kLds + col, ok ? gb + gr * Bt.ld + gk : gb, ok);
      }
    };

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
      for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
    for (int s = 0; s < kStages - 1; s++) {
      if (s < ktiles) load_tile(s, s);
      cp_async_commit();
    }
    for (int64_t kt = 0; kt < ktiles; kt++) {
      cp_async_wait<kStages - 2>();
      __syncthreads();  // tile kt landed for every thread, and stage (kt - 1) % kStages is free
      if (kt + kStages - 1 < ktiles) load_tile((kt + kStages - 1) % kStages, kt + kStages - 1);
      cp_async_commit();
      const int stage = kt % kStages;
      const __nv_bfloat16* ta = sa + stage * BM * kLds;
      const __nv_bfloat16* tb = sb + stage * kBN * kLds;
#pragma unroll
      for (int kk = 0; kk < kBK; kk += 16) {
        unsigned af[MT][4], bf[NT][2];
#pragma unroll
        for (int i = 0; i < MT; i++) {
          int r = wm * WM + i * 16 + lane % 16, c = kk + (lane / 16) * 8;
          ldmatrix_x4(af[i], ta + r * kLds + c);
        }
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
          // One x4 load gives b0/b1 of two adjacent n8 tiles.
          int r = wn * 32 + j * 8 + lane % 8 + (lane / 16) * 8, c = kk + ((lane / 8) % 2) * 8;
          unsigned t[4];
          ldmatrix_x4(t, tb + r * kLds + c);
          bf[j][0] = t[0], bf[j][1] = t[1], bf[j + 1][0] = t[2], bf[j + 1][1] = t[3];
        }
#pragma unroll
        for (int i = 0; i < MT; i++)
#pragma unroll
          for (int j = 0; j < NT; j++) mma_bf16(acc[i][j], af[i], bf[j][0], bf[j][1]);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next batch iteration refills the stages

#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
      for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int64_t m = m0 + wm * WM + i * 16 + lane / 4 + (e / 2) * 8;
          int64_t n = n0 + wn * 32 + j * 8 + 2 * (lane % 4) + (e % 2);
          if (m < M && n < N) {
            float v = acc[i][j][e];
            if (has_bias) v += load_raw(bias.data, bias.dtype, n * bias.cs);
            C[b * M * N + m * N + n] = v;
          }
        }
  }
}

// dst[b][r][c] = bf16(src(b, r, c)) for c < cols, 0 up to ld (so K-tail chunks read zeros).
__global__ void pack_bf16_kernel(Operand src, __nv_bfloat16* dst, int64_t rows, int64_t cols, int64_t ld, int64_t batches) {
  const int64_t total = batches * rows * ld;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t c = i % ld, r = (i / ld) % rows, b = i / (ld * rows);
    float v = c < cols ? load_raw(src.data, src.dtype, batch_off(src, b) + r * src.rs + c * src.cs) : 0.f;
    dst[i] = __float2bfloat16_rn(v);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMV for M <= 4: out[m, n] = sum_k x[m, k] * w[n, k]. A warp streams R weight rows with
// 16-byte loads; each chunk of x it loads (f32, M rows) feeds all R rows, so with R = 4 the x
// traffic through L1 drops to a quarter. R = 4 only when N leaves enough warps to fill the GPU.

constexpr int kGemvMaxM = 4, kGemvWarps = 8;

template <class T>
__device__ inline void unpack16(const uint4& u, float* f) {
  if constexpr (sizeof(T) == 4) {
    f[0] = __uint_as_float(u.x), f[1] = __uint_as_float(u.y), f[2] = __uint_as_float(u.z), f[3] = __uint_as_float(u.w);
  } else {
    const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int i = 0; i < 8; i++) {
      if constexpr (std::is_same<T, __half>::value)
        f[i] = __half2float(h[i]);
      else
        f[i] = __bfloat162float(h[i]);
    }
  }
}

template <class T>
constexpr DType dtype_of() {
  return sizeof(T) == 4 ? DType::F32 : std::is_same<T, __half>::value ? DType::F16 : DType::BF16;
}

template <class T, int R>
__global__ void __launch_bounds__(32 * kGemvWarps)
    gemv_kernel(const float* x, int64_t xrs, int64_t xcs, const T* w, int64_t wrs, Operand bias, bool has_bias, float* out, int M,
                int64_t N, int64_t K, bool rnd) {
  constexpr int V = 16 / sizeof(T);
  const int lane = threadIdx.x % 32;
  const int64_t n0 = (blockIdx.x * (int64_t)kGemvWarps + threadIdx.x / 32) * R;
  if (n0 >= N) return;
  const int rows = static_cast<int>(min((int64_t)R, N - n0));
  float acc[R][kGemvMaxM] = {};
  const int64_t kv = K / V * V;
  for (int64_t k = lane * V; k < kv; k += 32 * V) {
    float xv[kGemvMaxM][V];
#pragma unroll
    for (int m = 0; m < kGemvMaxM; m++)
#pragma unroll
      for (int i = 0; i < V; i++) {
        float t = m < M ? __ldg(x + m * xrs + (k + i) * xcs) : 0.f;
        xv[m][i] = rnd ? round_bf16(t) : t;
      }
#pragma unroll
    for (int r = 0; r < R; r++) {
      if (r >= rows) break;  // warp-uniform
      uint4 u = __ldg(reinterpret_cast<const uint4*>(w + (n0 + r) * wrs + k));
      float f[V];
      unpack16<T>(u, f);
#pragma unroll
      for (int i = 0; i < V; i++) {
        const float wv = rnd ? round_bf16(f[i]) : f[i];
#pragma unroll
        for (int m = 0; m < kGemvMaxM; m++) acc[r][m] = fmaf(xv[m][i], wv, acc[r][m]);
      }
    }
  }
  for (int64_t k = kv + lane; k < K; k += 32) {
    float xv[kGemvMaxM];
#pragma unroll
    for (int m = 0; m < kGemvMaxM; m++) {
      float t = m < M ? x[m * xrs + k * xcs] : 0.f;
      xv[m] = rnd ? round_bf16(t) : t;
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
      if (r >= rows) break;
      float wv = load_raw(w + (n0 + r) * wrs, dtype_of<T>(), k);
      if (rnd) wv = round_bf16(wv);
#pragma unroll
      for (int m = 0; m < kGemvMaxM; m++) acc[r][m] = fmaf(xv[m], wv, acc[r][m]);
    }
  }
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < kGemvMaxM; m++) {
      float s = acc[r][m];
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0 && m < M && r < rows) out[m * N + n0 + r] = s + (has_bias ? load_raw(bias.data, bias.dtype, (n0 + r) * bias.cs) : 0.f);
    }
}

// ---------------------------------------------------------------------------------------------

unsigned batch_grid(int64_t batches) {
  return static_cast<unsigned>(batches > 65535 ? 65535 : batches);
}

void launch_f32(const Operand& a, const Operand& b, const Operand& bias, bool has_bias, float* c, int64_t M, int64_t N, int64_t K,
                int64_t batches) {
  if ((M + kF32Tile - 1) / kF32Tile > 65535) throw std::runtime_error("matmul (CUDA): M too large for the grid");
  dim3 grid(static_cast<unsigned>((N + kF32Tile - 1) / kF32Tile), static_cast<unsigned>((M + kF32Tile - 1) / kF32Tile),
            batch_grid(batches));
  auto mag = [](int64_t s) { return s < 0 ? -s : s; };
  gemm_f32_kernel<<<grid, dim3(16, 16), 0, current_stream()>>>(a, b, bias, has_bias, c, M, N, K, batches, mag(a.cs) <= mag(a.rs),
                                                               mag(b.rs) < mag(b.cs));
  check_launch("matmul (CUDA fp32)");
}

template <int BM>
void launch_bf16_tiles(const Bf16Mat& a, const Bf16Mat& bt, const Operand& bias, bool has_bias, float* c, int64_t M, int64_t N, int64_t K,
                       int64_t batches) {
  constexpr int smem = kStages * (BM + kBN) * kLds * 2;
  static bool configured = false;  // queue thread only
  if (!configured) {
    cudaFuncSetAttribute(gemm_bf16_kernel<BM>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    configured = true;
  }
  if ((M + BM - 1) / BM > 65535) throw std::runtime_error("matmul (CUDA): M too large for the grid");
  dim3 grid(static_cast<unsigned>((N + kBN - 1) / kBN), static_cast<unsigned>((M + BM - 1) / BM), batch_grid(batches));
  gemm_bf16_kernel<BM><<<grid, 256, smem, current_stream()>>>(a, bt, bias, has_bias, c, M, N, K, batches);
  check_launch("matmul (CUDA bf16 tensor cores)");
}

int64_t round8(int64_t k) {
  return (k + 7) / 8 * 8;
}

// Packs a (batches x rows x cols) operand into bf16 scratch rows of round8(cols).
Bf16Mat pack(const Operand& src, int64_t rows, int64_t cols, int64_t batches, Scratch& s) {
  int64_t ld = round8(cols);
  __nv_bfloat16* dst = s.as<__nv_bfloat16>();
  pack_bf16_kernel<<<grid_for(batches * rows * ld), 256, 0, current_stream()>>>(src, dst, rows, cols, ld, batches);
  check_launch("matmul (CUDA bf16 pack)");
  return Bf16Mat{dst, ld, rows * ld};
}

// a: M x K (rows m), bt: N x K (rows n), as strided operands over `batches`.
void launch_bf16(const Operand& a, const Operand& bt, const Operand& bias, bool has_bias, float* c, int64_t M, int64_t N, int64_t K,
                 int64_t batches) {
  const int64_t ld = round8(K);
  Scratch sa(size_t(batches * M * ld) * 2, "the bf16 copy of the activations");
  Bf16Mat pa = pack(a, M, K, batches, sa);
  // Weights already in the kernel's layout are read in place (the common linear case).
  const bool direct = batches == 1 && bt.dtype == DType::BF16 && bt.cs == 1 && K % 8 == 0 && bt.rs % 8 == 0 &&
                      reinterpret_cast<uintptr_t>(bt.data) % 16 == 0;
  Scratch sb(direct ? 0 : size_t(batches * N * ld) * 2, "the bf16 copy of the weights");
  Bf16Mat pb = direct ? Bf16Mat{static_cast<const __nv_bfloat16*>(bt.data), bt.rs, 0} : pack(bt, N, K, batches, sb);
  // Small M wastes most of a 128-row tile; 64 rows also doubles the blocks for mid-sized GEMMs.
  if (M <= 64 || (M + 127) / 128 * ((N + kBN - 1) / kBN) * batches < 2 * sm_count())
    launch_bf16_tiles<64>(pa, pb, bias, has_bias, c, M, N, ld, batches);
  else
    launch_bf16_tiles<128>(pa, pb, bias, has_bias, c, M, N, ld, batches);
}

bool gemv_eligible(const TensorView& w, int64_t M) {
  if (M > kGemvMaxM || w.strides[1] != 1) return false;
  size_t es = dtype_size(w.dtype);
  return (w.strides[0] * es) % 16 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
}

template <class T>
void launch_gemv(const TensorView& x, const TensorView& w, const Operand& bias, bool has_bias, const TensorView& out, bool rnd) {
  const int64_t N = w.shape[0];
  const bool wide = N / (4 * kGemvWarps) >= 2 * sm_count();
  const int64_t per_block = kGemvWarps * (wide ? 4 : 1);
  const unsigned grid = static_cast<unsigned>((N + per_block - 1) / per_block);
  auto kernel = wide ? gemv_kernel<T, 4> : gemv_kernel<T, 1>;
  kernel<<<grid, 32 * kGemvWarps, 0, current_stream()>>>(x.ptr<const float>(), x.strides[0], x.strides[1], static_cast<const T*>(w.data),
                                                         w.strides[0], bias, has_bias, out.ptr<float>(), static_cast<int>(x.shape[0]), N,
                                                         x.shape[1], rnd);
  check_launch("linear (CUDA gemv)");
}

}  // namespace

void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, cpu::GemmPrecision precision) {
  const int64_t M = x.shape[0], K = x.shape[1], N = w.shape[0];
  if (M == 0 || N == 0) return;
  Operand bo{};
  if (bias) {
    bo.data = bias->data;
    bo.dtype = bias->dtype;
    bo.cs = bias->strides[0];
  }
  if (gemv_eligible(w, M)) {
    const bool rnd = precision == cpu::GemmPrecision::BF16;
    switch (w.dtype) {
      case DType::BF16:
        return launch_gemv<__nv_bfloat16>(x, w, bo, bias != nullptr, out, rnd);
      case DType::F16:
        return launch_gemv<__half>(x, w, bo, bias != nullptr, out, rnd);
      default:
        return launch_gemv<float>(x, w, bo, bias != nullptr, out, rnd);
    }
  }
  Operand a = operand(x, 0, 1, 0);
  if (precision == cpu::GemmPrecision::BF16) return launch_bf16(a, operand(w, 0, 1, 0), bo, bias != nullptr, out.ptr<float>(), M, N, K, 1);
  // B(k, n) = w(n, k)
  launch_f32(a, operand(w, 1, 0, 0), bo, bias != nullptr, out.ptr<float>(), M, N, K, 1);
}

void matmul(const TensorView& a, const TensorView& b, const TensorView& out, cpu::GemmPrecision precision) {
  const int nd = out.ndim;
  int64_t batches = 1;
  for (int d = 0; d < nd - 2; d++) batches *= out.shape[d];
  const int64_t M = out.shape[nd - 2], N = out.shape[nd - 1], K = a.shape[nd - 1];
  if (M == 0 || N == 0 || batches == 0) return;
  if (precision == cpu::GemmPrecision::BF16)
    // Bt(n, k) = b(k, n)
    return launch_bf16(operand(a, nd - 2, nd - 1, nd - 2), operand(b, nd - 1, nd - 2, nd - 2), Operand{}, false, out.ptr<float>(), M, N, K,
                       batches);
  launch_f32(operand(a, nd - 2, nd - 1, nd - 2), operand(b, nd - 2, nd - 1, nd - 2), Operand{}, false, out.ptr<float>(), M, N, K, batches);
}

}  // namespace acestep::cuda
