// GEMM driver: reference kernels, operand packing, cache blocking and threading. The ISA-specific
// micro-kernels live in gemm_x86.cc; this file also holds the portable scalar micro-kernel used
// when neither AVX2 nor AVX-512 is available.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_kernels.h"
#include "parallel.h"
#include "scratch.h"

namespace acestep::cpu {
using namespace gemm_detail;

namespace {

// Typed element access for the float dtypes operands may have.
template <DType D>
struct Elem;
template <>
struct Elem<DType::F32> {
  static float get(const void* p, int64_t o) { return static_cast<const float*>(p)[o]; }
};
template <>
struct Elem<DType::BF16> {
  static float get(const void* p, int64_t o) { return bf16_to_f32(static_cast<const uint16_t*>(p)[o]); }
};
template <>
struct Elem<DType::F16> {
  static float get(const void* p, int64_t o) { return f16_to_f32(static_cast<const uint16_t*>(p)[o]); }
};

template <typename F>
void with_elem(DType d, F&& f) {
  switch (d) {
    case DType::F32:
      return f(Elem<DType::F32>{});
    case DType::BF16:
      return f(Elem<DType::BF16>{});
    case DType::F16:
      return f(Elem<DType::F16>{});
    default:
      throw std::runtime_error(std::string("gemm: unsupported operand dtype ") + dtype_name(d));
  }
}

inline float round_bf16(float v) {
  return bf16_to_f32(f32_to_bf16(v));
}

float mat_get(const Mat& m, int64_t r, int64_t c) {
  int64_t o = r * m.rs + c * m.cs;
  switch (m.dtype) {
    case DType::F32:
      return static_cast<const float*>(m.data)[o];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(m.data)[o]);
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(m.data)[o]);
    default:
      throw std::runtime_error(std::string("gemm: unsupported operand dtype ") + dtype_name(m.dtype));
  }
}

thread_local Scratch t_bpack;  // B panels, one per thread
thread_local Scratch t_apack;  // the caller's shared A group

std::atomic<int> g_isa{-1};
std::atomic<int> g_bf16_dot{-1};

// ---- packing (portable) ----

// A rows [i0, i0 + mr) x k [k0, k0 + kc) into an f32 panel.
void pack_a_f32(const Mat& a, int64_t i0, int mr, int64_t k0, int64_t kc, bool rnd, float* dst, Isa isa) {
  if (a.dtype == DType::F32 && a.cs == 1 && mr == MR && !rnd && isa != Isa::Scalar)
    return pack_a_f32rows8_avx2(static_cast<const float*>(a.data) + i0 * a.rs + k0, a.rs, kc, dst);
  with_elem(a.dtype, [&](auto e) {
    using E = decltype(e);
    for (int i = 0; i < mr; i++) {
      int64_t base = (i0 + i) * a.rs + k0 * a.cs;
      for (int64_t k = 0; k < kc; k++) {
        float v = E::get(a.data, base + k * a.cs);
        dst[k * MR + i] = rnd ? round_bf16(v) : v;
      }
    }
  });
  for (int i = mr; i < MR; i++)
    for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = 0.f;
}

// A rows as bf16 pairs along k (odd tail padded with zero).
void pack_a_bf16(const Mat& a, int64_t i0, int mr, int64_t k0, int64_t kc, uint32_t* dst) {
  if (a.dtype == DType::F32 && a.cs == 1)
    return pack_a_f32rows_bf16_avx512(static_cast<const float*>(a.data) + i0 * a.rs + k0, a.rs, mr, kc, dst);
  int64_t kp = (kc + 1) / 2;
  with_elem(a.dtype, [&](auto e) {
    using E = decltype(e);
    for (int i = 0; i < mr; i++) {
      int64_t base = (i0 + i) * a.rs + k0 * a.cs;
      for (int64_t p = 0; p < kp; p++) {
        uint32_t lo = f32_to_bf16(E::get(a.data, base + 2 * p * a.cs));
        uint32_t hi = 2 * p + 1 < kc ? f32_to_bf16(E::get(a.data, base + (2 * p + 1) * a.cs)) : 0;
        dst[p * MR + i] = lo | hi << 16;
      }
    }
  });
  for (int i = mr; i < MR; i++)
    for (int64_t p = 0; p < kp; p++) dst[p * MR + i] = 0;
}

void pack_b_f32(const Mat& b, int64_t k0, int64_t kc, int64_t j0, int nr, bool rnd, float* dst, Isa isa) {
  if (b.rs == 1 && isa == Isa::Avx512) return pack_b_kcontig_f32_avx512(b.data, b.dtype, b.cs, k0, kc, j0, nr, rnd, dst);
  with_elem(b.dtype, [&](auto e) {
    using E = decltype(e);
    if (b.cs == 1) {  // rows of B contiguous along n
      for (int64_t k = 0; k < kc; k++) {
        int64_t base = (k0 + k) * b.rs + j0;
        float* d = dst + k * NR;
        for (int j = 0; j < nr; j++) d[j] = rnd ? round_bf16(E::get(b.data, base + j)) : E::get(b.data, base + j);
        for (int j = nr; j < NR; j++) d[j] = 0.f;
      }
    } else {  // columns (k-contiguous weights) or general strides
      for (int j = 0; j < nr; j++) {
        int64_t base = (j0 + j) * b.cs + k0 * b.rs;
        for (int64_t k = 0; k < kc; k++) {
          float v = E::get(b.data, base + k * b.rs);
          dst[k * NR + j] = rnd ? round_bf16(v) : v;
        }
      }
      for (int j = nr; j < NR; j++)
        for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = 0.f;
    }
  });
}

// Only used when the CPU has avx512_bf16, so the SIMD packer is always allowed here.
void pack_b_bf16(const Mat& b, int64_t k0, int64_t kc, int64_t j0, int nr, uint16_t* dst) {
  if (b.rs == 1) return pack_b_kcontig_bf16_avx512(b.data, b.dtype, b.cs, k0, kc, j0, nr, dst);
  int64_t kp = (kc + 1) / 2;
  std::memset(dst, 0, static_cast<size_t>(kp) * NR * 2 * sizeof(uint16_t));
  bool raw = b.dtype == DType::BF16;  // bf16 weights are copied bit for bit
  with_elem(b.dtype, [&](auto e) {
    using E = decltype(e);
    for (int j = 0; j < nr; j++) {
      int64_t base = (j0 + j) * b.cs + k0 * b.rs;
      for (int64_t k = 0; k < kc; k++) {
        int64_t o = base + k * b.rs;
        uint16_t v = raw ? static_cast<const uint16_t*>(b.data)[o] : f32_to_bf16(E::get(b.data, o));
        dst[((k / 2) * NR + j) * 2 + (k & 1)] = v;
      }
    }
  });
}

// Portable micro-kernel on the f32 panel format.
void ukr_f32_scalar(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mr, int nr, bool acc, const float* bias) {
  float t[MR][NR] = {};
  for (int64_t k = 0; k < kc; k++) {
    const float* a = A + k * MR;
    const float* b = B + k * NR;
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) t[i][j] += a[i] * b[j];
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) {
      float init = acc ? C[i * ldc + j] : bias ? bias[j] : 0.f;
      C[i * ldc + j] = init + t[i][j];
    }
}

int64_t cdiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// vdpbf16ps does twice the work of an f32 FMA per instruction, but some CPUs run it at a fraction
// of the FMA rate (measured 1/3 on the development machine). Both give identical bf16-precision
// semantics (bf16 products are exact in f32), so the faster one is picked once by timing both.
bool dpbf16_is_faster() {
  static const bool faster = [] {
    if (!has_avx512_bf16()) return false;
    using clk = std::chrono::steady_clock;
    double best_fma = 0, best_dp = 0;
    for (int r = 0; r < 3; r++) {
      auto t0 = clk::now();
      double f = fma_loop_avx512(1 << 16);
      auto t1 = clk::now();
      double d = dpbf16_loop_avx512(1 << 15);
      auto t2 = clk::now();
      best_fma = std::max(best_fma, f / std::chrono::duration<double>(t1 - t0).count());
      best_dp = std::max(best_dp, d / std::chrono::duration<double>(t2 - t1).count());
    }
    return best_dp > 1.25 * best_fma;
  }();
  return faster;
}

// Cache-blocked GEMM over packed panels. A is packed for a group of k blocks (as many as fit
// kAPackBytes) by one pool job and shared; then one pool job runs the tasks (a range of N
// columns and, when N alone gives too few tasks, a range of M panels), which threads take from a
// shared counter so that a thread slowed by another process does not hold the others back. A task
// loops over the group's k blocks itself: it packs its B block into a per-thread buffer that stays
// in L2 and sweeps A micro-panels (L1 resident) across it. Two pool jobs per k group instead of two
// per k block: each wake-up of the pool costs a futex round trip.
constexpr int64_t kAPackBytes = 512 << 10;  // the group stays in L2 while the tasks sweep it

void gemm_blocked(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const float* bias, float* c, int64_t ldc, GemmPrecision p,
                  Isa isa) {
  const bool dp = p == GemmPrecision::BF16 && isa == Isa::Avx512 && bf16_dot_in_use();
  const bool rnd = p == GemmPrecision::BF16 && !dp;  // bf16 semantics on the f32 kernels
  const int64_t KC = dp ? 512 : 256;
  const int64_t nkb = cdiv(K, KC);
  const int threads = std::max(1, num_threads());
  // Several tasks per thread, so that the shared counter can balance uneven progress.
  const int64_t want_tasks = threads > 1 ? 4 * threads : 1;
  int64_t NC = 512;
  int64_t ntn = cdiv(N, NC);
  while (ntn < want_tasks && NC > 128) {  // narrower column blocks would re-read A too often
    NC = cdiv(NC / 2, NR) * NR;
    ntn = cdiv(N, NC);
  }
  const int64_t mp = cdiv(M, MR);
  int64_t mchunks = 1;
  if (ntn < want_tasks) mchunks = std::min<int64_t>(mp, cdiv(want_tasks, ntn));
  const int64_t panels_per_chunk = cdiv(mp, mchunks);
  mchunks = cdiv(mp, panels_per_chunk);
  const int64_t ntasks = ntn * mchunks;

  UkrF32 ukr = isa == Isa::Avx512 ? ukr_f32_avx512 : isa == Isa::Avx2 ? ukr_f32_avx2 : ukr_f32_scalar;
  const int64_t a_panel = dp ? (KC / 2) * MR : KC * MR;  // elements (u32 or f32) per A panel and k block
  const int64_t group = std::clamp<int64_t>(kAPackBytes / (mp * a_panel * 4), 1, nkb);
  const size_t a_bytes = static_cast<size_t>(group * mp * a_panel) * 4;
  void* apack = t_apack.get(a_bytes, "gemm (packing A)");

  for (int64_t kg = 0; kg < nkb; kg += group) {
    const int64_t kg1 = std::min(nkb, kg + group);
    auto a_at = [&](int64_t kb, int64_t ip) { return static_cast<uint32_t*>(apack) + ((kb - kg) * mp + ip) * a_panel; };
    parallel_for((kg1 - kg) * mp, 4, [&](int64_t b0, int64_t b1, int) {
      for (int64_t t = b0; t < b1; t++) {
        const int64_t kb = kg + t / mp, ip = t % mp, pc = kb * KC, kc = std::min(KC, K - pc);
        const int mr = static_cast<int>(std::min<int64_t>(MR, M - ip * MR));
        if (dp)
          pack_a_bf16(a, ip * MR, mr, pc, kc, a_at(kb, ip));
        else
          pack_a_f32(a, ip * MR, mr, pc, kc, rnd, reinterpret_cast<float*>(a_at(kb, ip)), isa);
      }
    });
    std::atomic<int64_t> next{0};
    parallel_for(threads, 1, [&](int64_t, int64_t, int) {
      for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) {
        const int64_t jn = t / mchunks, mc = t % mchunks;
        const int64_t n0 = jn * NC, nc = std::min(NC, N - n0);
        const int64_t np = cdiv(nc, NR);
        const int64_t ip0 = mc * panels_per_chunk, ip1 = std::min(mp, ip0 + panels_per_chunk);
        for (int64_t kb = kg; kb < kg1; kb++) {
          const int64_t pc = kb * KC, kc = std::min(KC, K - pc), kpairs = (kc + 1) / 2;
          const bool accumulate = kb > 0;
          const int64_t b_panel = dp ? kpairs * NR * 2 : kc * NR;  // u16 or f32 elements
          void* bp = t_bpack.get(static_cast<size_t>(np * b_panel) * (dp ? 2 : 4), "gemm (packing B)");
          for (int64_t jp = 0; jp < np; jp++) {
            int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
            if (dp)
              pack_b_bf16(b, pc, kc, n0 + jp * NR, nr, static_cast<uint16_t*>(bp) + jp * b_panel);
            else
              pack_b_f32(b, pc, kc, n0 + jp * NR, nr, rnd, static_cast<float*>(bp) + jp * b_panel, isa);
          }
          for (int64_t ip = ip0; ip < ip1; ip++) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, M - ip * MR));
            for (int64_t jp = 0; jp < np; jp++) {
              const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
              const int64_t col = n0 + jp * NR;
              float* cij = c + ip * MR * ldc + col;
              const float* bj = bias ? bias + col : nullptr;
              if (dp) {
                ukr_bf16_avx512(kpairs, a_at(kb, ip), static_cast<const uint16_t*>(bp) + jp * b_panel, cij, ldc, mr, nr, accumulate, bj);
              } else {
                ukr(kc, reinterpret_cast<const float*>(a_at(kb, ip)), static_cast<const float*>(bp) + jp * b_panel, cij, ldc, mr, nr,
                    accumulate, bj);
              }
            }
          }
        }
      }
    });
  }
}

// bf16 precision against k-contiguous bf16 weights (every linear layer of the models): the weights
// are read in place by the micro-kernel (no per-call packing), only the activations are packed,
// once, as bf16 pairs. The loops are BLIS-like with the operands' roles swapped. One pool job per
// block of kPairBlock k pairs (so k block b + 1 adds onto finished C tiles of block b); in it, tasks
// from a shared counter are (activation slice, weight group) pairs, slice-major: a slice (kRowBlock
// rows x kPairBlock pairs, <= 864 KB) stays in L2 while the weights stream past it once per slice,
// each weight block (WR rows x kPairBlock pairs) swept across the slice's XR-row blocks, and the two
// threads write different C columns. Long k blocks matter most: every k block ends in a transpose
// and a read-modify-write of the C tile (k blocks of 256 / 512 / 1024 / 1536 pairs measured 180 /
// 200 / 210 / 213 GFLOP/s on one core at M = 375, K = N = 2048). The hardware prefetcher keeps up
// with the weight rows: software prefetch of the next block measured no faster (T1) or slower (T0).
constexpr int64_t kPairBlock = 1536, kRowBlock = 3 * XR, kWBlocksPerTask = 8;

// The packed activations of the calling thread, kept between calls: a fresh multi-megabyte buffer
// per call costs a page fault per 4 KB page.
thread_local Scratch t_xpack;

void gemm_bf16w(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const float* bias, float* c, int64_t ldc) {
  const int64_t kpairs = K / 2, xb = cdiv(M, XR);
  uint32_t* xp = static_cast<uint32_t*>(t_xpack.get(static_cast<size_t>(xb * kpairs * XR) * 4, "gemm (packing x)"));
  const float* x = static_cast<const float*>(a.data);
  parallel_for(xb, 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t i = b0; i < b1; i++) {
      const int mr = static_cast<int>(std::min<int64_t>(XR, M - i * XR));
      pack_x_pairs_avx512(x + i * XR * a.rs, a.rs, mr, K, xp + i * kpairs * XR);
    }
  });
  const uint16_t* w = static_cast<const uint16_t*>(b.data);
  const int64_t ldw = b.cs, wblocks = cdiv(N, WR), groups = cdiv(wblocks, kWBlocksPerTask);
  const int64_t xb_per_slice = kRowBlock / XR, ntasks = cdiv(xb, xb_per_slice) * groups;
  for (int64_t p0 = 0; p0 < kpairs; p0 += kPairBlock) {
    const int64_t kp = std::min(kPairBlock, kpairs - p0);
    std::atomic<int64_t> next{0};
    parallel_for(std::max(1, num_threads()), 1, [&](int64_t, int64_t, int) {
      for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) {
        const int64_t i0 = t / groups * xb_per_slice, i1 = std::min(xb, i0 + xb_per_slice);
        const int64_t wb0 = t % groups * kWBlocksPerTask, wb1 = std::min(wblocks, wb0 + kWBlocksPerTask);
        for (int64_t wb = wb0; wb < wb1; wb++) {
          const int64_t n0 = wb * WR;
          const int rows = static_cast<int>(std::min<int64_t>(WR, N - n0));
          for (int64_t i = i0; i < i1; i++) {
            const int mcols = static_cast<int>(std::min<int64_t>(XR, M - i * XR));
            ukr_bf16w_avx512(kp, xp + (i * kpairs + p0) * XR, w + n0 * ldw + 2 * p0, ldw, rows, mcols, c + i * XR * ldc + n0, ldc, p0 > 0,
                             bias ? bias + n0 : nullptr);
          }
        }
      }
    });
  }
}

// bf16 precision against bf16 weights: the activations as bf16 once, then weight rows in blocks
// that the threads take from a shared counter (a thread slowed by another process does not hold
// the step back). The weight stream is the whole cost, so vdpbf16ps is used whenever the CPU has
// it and it is not switched off (set_bf16_dot(0)); the FMA-rate probe does not apply here.
void gemm_gemv_bf16dot(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const float* bias, float* c, int64_t ldc) {
  std::vector<uint16_t> x(static_cast<size_t>(M * K));
  with_elem(a.dtype, [&](auto e) {
    using E = decltype(e);
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++) {
        const float v = round_bf16(E::get(a.data, m * a.rs + k * a.cs));
        uint32_t u;
        std::memcpy(&u, &v, 4);
        x[m * K + k] = static_cast<uint16_t>(u >> 16);
      }
  });
  constexpr int64_t kRows = 64;
  const int64_t blocks = cdiv(N, kRows);
  std::atomic<int64_t> next{0};
  parallel_for(std::min<int64_t>(blocks, std::max(1, num_threads())), 1, [&](int64_t, int64_t, int) {
    for (int64_t blk; (blk = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      const int64_t n0 = blk * kRows;
      gemv_bf16dot_avx512(M, n0, std::min(N, n0 + kRows), K, x.data(), static_cast<const uint16_t*>(b.data), b.cs, bias, c, ldc);
    }
  });
}

// Decode-sized products against k-contiguous weights: every weight row is read once.
void gemm_gemv(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const float* bias, float* c, int64_t ldc, bool rnd, Isa isa) {
  if (rnd && b.dtype == DType::BF16 && isa == Isa::Avx512 && bf16_dot_for_gemv()) return gemm_gemv_bf16dot(M, N, K, a, b, bias, c, ldc);
  std::vector<float> x(static_cast<size_t>(M * K));
  with_elem(a.dtype, [&](auto e) {
    using E = decltype(e);
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++) {
        float v = E::get(a.data, m * a.rs + k * a.cs);
        x[m * K + k] = rnd ? round_bf16(v) : v;
      }
  });
  // Blocks of 64 weight rows from a shared counter, as in gemm_gemv_bf16dot.
  constexpr int64_t kRows = 64;
  const int64_t blocks = cdiv(N, kRows);
  std::atomic<int64_t> next{0};
  parallel_for(std::min<int64_t>(blocks, std::max(1, num_threads())), 1, [&](int64_t, int64_t, int) {
    for (int64_t blk; (blk = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      const int64_t n0 = blk * kRows, n1 = std::min(N, n0 + kRows);
      if (isa == Isa::Avx512)
        gemv_avx512(M, n0, n1, K, x.data(), b.data, b.dtype, b.cs, bias, c, ldc);
      else
        gemv_avx2(M, n0, n1, K, x.data(), b.data, b.dtype, b.cs, bias, c, ldc);
    }
  });
}

// Offsets (in elements) of batch index `bi` over the leading ndim-2 dims of the views.
int64_t batch_offset(const TensorView& v, int64_t bi) {
  int64_t off = 0;
  for (int d = v.ndim - 3; d >= 0; d--) {
    off += (bi % v.shape[d]) * v.strides[d];
    bi /= v.shape[d];
  }
  return off;
}

Mat mat_of(const TensorView& v, int64_t off, int r_dim, int c_dim) {
  return Mat{static_cast<const uint8_t*>(v.data) + off * dtype_size(v.dtype), v.dtype, v.strides[r_dim], v.strides[c_dim]};
}

using GemmFn = void (*)(int64_t, int64_t, int64_t, const Mat&, const Mat&, const Mat*, float*, int64_t, GemmPrecision);

void linear_with(GemmFn fn, const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, GemmPrecision p) {
  // B(k, n) = w(n, k)
  Mat a = mat_of(x, 0, 0, 1);
  Mat b{w.data, w.dtype, w.strides[1], w.strides[0]};
  Mat bm{};
  if (bias) bm = Mat{bias->data, bias->dtype, 0, bias->strides[0]};
  fn(x.shape[0], w.shape[0], x.shape[1], a, b, bias ? &bm : nullptr, out.ptr<float>(), out.shape[1], p);
}

void matmul_with(GemmFn fn, const TensorView& a, const TensorView& b, const TensorView& out, GemmPrecision p) {
  int nd = out.ndim;
  int64_t M = out.shape[nd - 2], N = out.shape[nd - 1], K = a.shape[nd - 1];
  int64_t batches = 1;
  for (int d = 0; d < nd - 2; d++) batches *= out.shape[d];
  auto run = [&](int64_t b0, int64_t b1, int) {
    for (int64_t bi = b0; bi < b1; bi++) {
      Mat am = mat_of(a, batch_offset(a, bi), nd - 2, nd - 1);
      Mat bm = mat_of(b, batch_offset(b, bi), nd - 2, nd - 1);
      fn(M, N, K, am, bm, nullptr, out.ptr<float>() + bi * M * N, N, p);
    }
  };
  // Many small products (per-head scores, ...) are spread across threads one product each; inside
  // the pool each product then runs single-threaded. Large ones parallelise internally.
  if (batches > 1 && fn != gemm_ref && M * N * K < (int64_t{1} << 22))
    parallel_for(batches, 1, run);
  else
    run(0, batches, 0);
}

}  // namespace

namespace gemm_detail {
Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    // ACESTEP_CPU_ISA=avx2|scalar caps every CPU kernel family alike (see pointwise_math.h).
    v = static_cast<int>(detect_isa());
    const char* cap = std::getenv("ACESTEP_CPU_ISA");
    if (cap && std::strcmp(cap, "scalar") == 0) v = static_cast<int>(Isa::Scalar);
    if (cap && std::strcmp(cap, "avx2") == 0) v = std::min(v, static_cast<int>(Isa::Avx2));
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}
bool bf16_dot_for(int mode) {
  if (mode < 0) return dpbf16_is_faster();
  return mode > 0 && has_avx512_bf16();
}
bool bf16_dot_in_use() {
  return bf16_dot_for(g_bf16_dot.load(std::memory_order_relaxed));
}
bool bf16_dot_for_gemv() {
  return g_bf16_dot.load(std::memory_order_relaxed) != 0 && has_avx512_bf16();
}
bool set_bf16_dot(int mode) {
  g_bf16_dot.store(mode < 0 ? -1 : mode > 0 ? 1 : 0, std::memory_order_relaxed);
  return bf16_dot_in_use();
}
Isa resolve_isa(Isa want) {
  Isa best = detect_isa();
  return static_cast<int>(want) > static_cast<int>(best) ? best : want;
}
Isa set_isa(Isa want) {
  Isa use = resolve_isa(want);
  g_isa.store(static_cast<int>(use), std::memory_order_relaxed);
  return use;
}
}  // namespace gemm_detail

void gemm_ref(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const Mat* bias, float* c, int64_t ldc, GemmPrecision p) {
  const bool rnd = p == GemmPrecision::BF16;
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double s = bias ? mat_get(*bias, 0, n) : 0.0;
      for (int64_t k = 0; k < K; k++) {
        float x = mat_get(a, m, k), y = mat_get(b, k, n);
        if (rnd) x = round_bf16(x), y = round_bf16(y);
        s += static_cast<double>(x) * y;
      }
      c[m * ldc + n] = static_cast<float>(s);
    }
}

void gemm(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const Mat* bias, float* c, int64_t ldc, GemmPrecision p) {
  if (M <= 0 || N <= 0) return;
  std::vector<float> biasf;
  if (bias) {
    biasf.resize(N);
    for (int64_t n = 0; n < N; n++) biasf[n] = mat_get(*bias, 0, n);
  }
  const float* bf = bias ? biasf.data() : nullptr;
  if (K == 0) {
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) c[m * ldc + n] = bf ? bf[n] : 0.f;
    return;
  }
  Isa isa = current_isa();
  // GEMV streams weights when that keeps the requested semantics exactly: fp32, or bf16 with
  // weights that already are bf16 (then only the activations need rounding).
  bool gemv_ok = M <= 4 && b.rs == 1 && isa != Isa::Scalar && (p == GemmPrecision::F32 || b.dtype == DType::BF16);
  if (gemv_ok) return gemm_gemv(M, N, K, a, b, bf, c, ldc, p == GemmPrecision::BF16, isa);
  const bool in_place = p == GemmPrecision::BF16 && b.dtype == DType::BF16 && b.rs == 1 && K % 2 == 0 && a.dtype == DType::F32 &&
                        a.cs == 1 && isa == Isa::Avx512 && bf16_dot_in_use();
  if (in_place) return gemm_bf16w(M, N, K, a, b, bf, c, ldc);
  gemm_blocked(M, N, K, a, b, bf, c, ldc, p, isa);
}

void linear_ref(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, GemmPrecision p) {
  linear_with(gemm_ref, x, w, bias, out, p);
}
void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, GemmPrecision p) {
  linear_with(gemm, x, w, bias, out, p);
}
void matmul_ref(const TensorView& a, const TensorView& b, const TensorView& out, GemmPrecision p) {
  matmul_with(gemm_ref, a, b, out, p);
}
void matmul(const TensorView& a, const TensorView& b, const TensorView& out, GemmPrecision p) {
  matmul_with(gemm, a, b, out, p);
}

float stream_read(const TensorView& t) {
  const int64_t n = t.numel() * dtype_size(t.dtype) / 4;
  const float* p = static_cast<const float*>(t.data);
  const int threads = std::max(1, num_threads());
  std::vector<float> part(threads, 0.f);
  bool simd = current_isa() == Isa::Avx512;
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e, int tid) {
    if (simd) {
      part[tid] += stream_sum_avx512(p + b, e - b);
    } else {
      float s = 0.f;
      for (int64_t i = b; i < e; i++) s += p[i];
      part[tid] += s;
    }
  });
  float s = 0.f;
  for (float v : part) s += v;
  return s;
}

double peak_gflops(double seconds, const char* isa_name) {
  std::string want = isa_name ? isa_name : "";
  Isa best = detect_isa();
  Isa isa = want == "avx2" ? Isa::Avx2 : want == "avx512" ? Isa::Avx512 : best;
  if (static_cast<int>(isa) > static_cast<int>(best) || isa == Isa::Scalar)
    throw std::runtime_error("peak_gflops: ISA '" + want + "' is not supported by this CPU");
  auto loop = isa == Isa::Avx512 ? fma_loop_avx512 : fma_loop_avx2;
  using clk = std::chrono::steady_clock;
  // Rounds of about 2 ms on every thread; the best round is the peak (on a shared machine most
  // rounds lose time to other processes, a short round often does not).
  int64_t iters = 1 << 14;
  auto t0 = clk::now();
  loop(iters);
  double one = std::chrono::duration<double>(clk::now() - t0).count();
  iters = std::max<int64_t>(1 << 10, static_cast<int64_t>(iters * 2e-3 / std::max(one, 1e-7)));
  const int threads = std::max(1, num_threads());
  std::vector<double> flops(threads);
  double best_rate = 0, spent = 0;
  for (int round = 0; round < 10000 && (round < 20 || spent < seconds); round++) {
    std::fill(flops.begin(), flops.end(), 0.0);
    t0 = clk::now();
    parallel_for(threads, 1, [&](int64_t b, int64_t e, int tid) {
      for (int64_t i = b; i < e; i++) flops[tid] += loop(iters);
    });
    double dt = std::chrono::duration<double>(clk::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    best_rate = std::max(best_rate, total / dt);
    spent += dt;
  }
  return best_rate / 1e9;
}

}  // namespace acestep::cpu
