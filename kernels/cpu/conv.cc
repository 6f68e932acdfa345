// Conv1d / ConvTranspose1d / Snake on the CPU.
//
// The fast path reduces every convolution to one "tap GEMM":
//   Y[co, t] = bias[co] + sum_i A[co, i] * X[off[i] + t]
// where i runs over (input channel, tap) pairs and off[i] points at a row of a zero-padded input
// buffer already shifted by that tap. Strided convs first split the input into `stride` phases
// (row ci*stride + r holds x[ci, u*stride + r]), so every tap becomes a unit-stride row read;
// transposed convs are computed phase by phase (output positions with the same residue mod stride
// see the same taps) and scattered into the output. The micro-kernel keeps a 6 x 32 block of Y in
// AVX-512 registers (6 x 16 with AVX2) and streams packed A and contiguous X rows; work is split
// over time blocks and output-channel groups.
#include "conv.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "parallel.h"
#include "strided.h"

namespace acestep::cpu {
namespace {

// ---------------------------------------------------------------- scalar references

float bias_at(const TensorView& bias, int64_t co) {
  return bias.data ? load_as_f32(bias, co * bias.strides[0]) : 0.0f;
}

float at3(const TensorView& v, int64_t a, int64_t b, int64_t c) {
  return load_as_f32(v, a * v.strides[0] + b * v.strides[1] + c * v.strides[2]);
}

// ---------------------------------------------------------------- tap GEMM

constexpr int MR = 6;           // output channels per micro-tile
constexpr int64_t KC = 512;     // reduction chunk: keeps a micro-tile's A panel in L1
constexpr int64_t kMinTaskFlops = 1 << 18;

struct TapGemm {
  const float* X = nullptr;
  const int64_t* off = nullptr;  // [R]
  const float* A = nullptr;      // packed [ceil(Cout/MR)][R][MR]
  const float* bias = nullptr;   // [Cout] or null
  const float* res = nullptr;    // residual added to Y (same layout as Y) or null
  float* Y = nullptr;
  int64_t ldy = 0, R = 0, Cout = 0, T = 0;
};

// One micro-tile: rows co0..co0+rows, columns t0..t0+cols, reduction [r0, r1).
using MicroFn = void (*)(const TapGemm& g, int64_t cob, int rows, int64_t t0, int cols, int64_t r0, int64_t r1, bool init);

void micro_scalar(const TapGemm& g, int64_t cob, int rows, int64_t t0, int cols, int64_t r0, int64_t r1, bool init) {
  const float* A = g.A + cob * g.R * MR;
  int64_t co0 = cob * MR;
  for (int r = 0; r < rows; r++) {
    float* y = g.Y + (co0 + r) * g.ldy + t0;
    for (int c = 0; c < cols; c++) {
      float acc = y[c];
      if (init) acc = (g.bias ? g.bias[co0 + r] : 0.0f) + (g.res ? g.res[(co0 + r) * g.ldy + t0 + c] : 0.0f);
      for (int64_t i = r0; i < r1; i++) acc += A[i * MR + r] * g.X[g.off[i] + t0 + c];
      y[c] = acc;
    }
  }
}

__attribute__((target("avx512f"))) void micro_avx512(const TapGemm& g, int64_t cob, int rows, int64_t t0, int cols, int64_t r0,
                                                       int64_t r1, bool init) {
  const float* A = g.A + cob * g.R * MR;
  int64_t co0 = cob * MR;
  __mmask16 m0 = cols >= 16 ? 0xffff : static_cast<__mmask16>((1u << cols) - 1);
  __mmask16 m1 = cols >= 32 ? 0xffff : cols > 16 ? static_cast<__mmask16>((1u << (cols - 16)) - 1) : 0;
  __m512 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if (r < rows && !init) {
      const float* y = g.Y + (co0 + r) * g.ldy + t0;
      acc[r][0] = _mm512_maskz_loadu_ps(m0, y);
      acc[r][1] = _mm512_maskz_loadu_ps(m1, y + 16);
    } else {
      float b = (r < rows && g.bias) ? g.bias[co0 + r] : 0.0f;
      acc[r][0] = acc[r][1] = _mm512_set1_ps(b);
      if (r < rows && g.res) {
        const float* q = g.res + (co0 + r) * g.ldy + t0;
        acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, q));
        acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, q + 16));
      }
    }
  }
  const float* X = g.X + t0;
  for (int64_t i = r0; i < r1; i++) {
    const float* x = X + g.off[i];
    __m512 b0 = _mm512_maskz_loadu_ps(m0, x);
    __m512 b1 = _mm512_maskz_loadu_ps(m1, x + 16);
    const float* a = A + i * MR;
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
      __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if (r >= rows) break;
    float* y = g.Y + (co0 + r) * g.ldy + t0;
    _mm512_mask_storeu_ps(y, m0, acc[r][0]);
    _mm512_mask_storeu_ps(y + 16, m1, acc[r][1]);
  }
}

__attribute__((target("avx2,fma"))) void micro_avx2(const TapGemm& g, int64_t cob, int rows, int64_t t0, int cols, int64_t r0,
                                                      int64_t r1, bool init) {
  const float* A = g.A + cob * g.R * MR;
  int64_t co0 = cob * MR;
  alignas(32) int32_t lanes[16];
  for (int c = 0; c < 16; c++) lanes[c] = c < cols ? -1 : 0;
  __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  __m256i m1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes + 8));
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if (r < rows && !init) {
      const float* y = g.Y + (co0 + r) * g.ldy + t0;
      acc[r][0] = _mm256_maskload_ps(y, m0);
      acc[r][1] = _mm256_maskload_ps(y + 8, m1);
    } else {
      float b = (r < rows && g.bias) ? g.bias[co0 + r] : 0.0f;
      acc[r][0] = acc[r][1] = _mm256_set1_ps(b);
      if (r < rows && g.res) {
        const float* q = g.res + (co0 + r) * g.ldy + t0;
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_maskload_ps(q, m0));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_maskload_ps(q + 8, m1));
      }
    }
  }
  const float* X = g.X + t0;
  for (int64_t i = r0; i < r1; i++) {
    const float* x = X + g.off[i];
    __m256 b0 = _mm256_maskload_ps(x, m0);
    __m256 b1 = _mm256_maskload_ps(x + 8, m1);
    const float* a = A + i * MR;
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
      __m256 av = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if (r >= rows) break;
    float* y = g.Y + (co0 + r) * g.ldy + t0;
    _mm256_maskstore_ps(y, m0, acc[r][0]);
    _mm256_maskstore_ps(y + 8, m1, acc[r][1]);
  }
}

struct Micro {
  MicroFn fn;
  int nr;  // columns per micro-tile
};

Micro pick_micro() {
  if (__builtin_cpu_supports("avx512f")) return {micro_avx512, 32};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {micro_avx2, 16};
  return {micro_scalar, 16};
}

void run_tap_gemm(const TapGemm& g) {
  static const Micro micro = pick_micro();
  const int nr = micro.nr;
  const int64_t n_cob = (g.Cout + MR - 1) / MR;
  // Time block: wide enough that one pass over a large weight is amortised over many columns.
  const int64_t nb = g.R * g.Cout > (1 << 20) ? 512 : 256;
  const int64_t n_tb = (g.T + nb - 1) / nb;
  // Split output channels into groups until there are enough tasks for the pool.
  int64_t cob_per = n_cob;
  const int64_t want = 8 * static_cast<int64_t>(num_threads());
  while (cob_per > 1 && n_tb * ((n_cob + cob_per - 1) / cob_per) < want) cob_per = (cob_per + 1) / 2;
  const int64_t n_cg = (n_cob + cob_per - 1) / cob_per;
  const int64_t task_flops = 2 * MR * cob_per * nb * std::max<int64_t>(1, g.R);
  const int64_t grain = std::max<int64_t>(1, kMinTaskFlops / task_flops);
  parallel_for(n_tb * n_cg, grain, [&](int64_t b, int64_t e, int) {
    for (int64_t task = b; task < e; task++) {
      int64_t tb = task / n_cg, cg = task % n_cg;
      int64_t t_begin = tb * nb, t_end = std::min(g.T, t_begin + nb);
      int64_t cob_begin = cg * cob_per, cob_end = std::min(n_cob, cob_begin + cob_per);
      for (int64_t r0 = 0; r0 < std::max<int64_t>(g.R, 1); r0 += KC) {
        int64_t r1 = std::min(g.R, r0 + KC);
        for (int64_t cob = cob_begin; cob < cob_end; cob++) {
          int rows = static_cast<int>(std::min<int64_t>(MR, g.Cout - cob * MR));
          for (int64_t t0 = t_begin; t0 < t_end; t0 += nr) {
            int cols = static_cast<int>(std::min<int64_t>(nr, t_end - t0));
            micro.fn(g, cob, rows, t0, cols, r0, r1, r0 == 0);
          }
        }
      }
    }
  });
}

// Packs A[co, i] = get(co, i) into [ceil(Cout/MR)][R][MR] (zero rows past Cout).
template <typename Get>
std::vector<float> pack_a(int64_t Cout, int64_t R, Get get) {
  int64_t n_cob = (Cout + MR - 1) / MR;
  std::vector<float> A(static_cast<size_t>(n_cob * R * MR), 0.0f);
  parallel_for(n_cob, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t cob = b; cob < e; cob++) {
      float* dst = A.data() + cob * R * MR;
      for (int r = 0; r < MR; r++) {
        int64_t co = cob * MR + r;
        if (co >= Cout) break;
        for (int64_t i = 0; i < R; i++) dst[i * MR + r] = get(co, i);
      }
    }
  });
  return A;
}

std::vector<float> bias_f32(const TensorView& bias, int64_t Cout) {
  std::vector<float> b;
  if (!bias.data) return b;
  b.resize(static_cast<size_t>(Cout));
  for (int64_t co = 0; co < Cout; co++) b[co] = bias_at(bias, co);
  return b;
}

// ---------------------------------------------------------------- snake helpers

// sin(z)^2 needs no sign: reduce z by multiples of pi (three-part Cody-Waite), then an odd
// Taylor polynomial to degree 11 on [-pi/2, pi/2] (truncation error < 6e-8).
constexpr float kInvPi = 0.31830988618379067f;
constexpr float kPiA = 3.140625f, kPiB = 9.67502593994140625e-4f, kPiC = 1.509957990978376432e-7f;
constexpr float kS3 = -1.0f / 6, kS5 = 1.0f / 120, kS7 = -1.0f / 5040, kS9 = 1.0f / 362880, kS11 = -1.0f / 39916800;

__attribute__((target("avx512f"))) void snake_row_avx512(const float* x, float* y, int64_t n, float a, float ib) {
  const __m512 va = _mm512_set1_ps(a), vib = _mm512_set1_ps(ib);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    __m512 z = _mm512_mul_ps(va, xv);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(kInvPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiA), z);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiB), r);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiC), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kS11), r2, _mm512_set1_ps(kS9));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS7));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS5));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS3));
    p = _mm512_mul_ps(p, r2);
    __m512 s = _mm512_fmadd_ps(p, r, r);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(_mm512_mul_ps(s, s), vib, xv));
  }
}

__attribute__((target("avx2,fma"))) void snake_row_avx2(const float* x, float* y, int64_t n, float a, float ib) {
  const __m256 va = _mm256_set1_ps(a), vib = _mm256_set1_ps(ib);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv = _mm256_loadu_ps(x + i);
    __m256 z = _mm256_mul_ps(va, xv);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(kInvPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiA), z);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiB), r);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiC), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kS11), r2, _mm256_set1_ps(kS9));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS7));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS5));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS3));
    p = _mm256_mul_ps(p, r2);
    __m256 s = _mm256_fmadd_ps(p, r, r);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_mul_ps(s, s), vib, xv));
  }
  for (; i < n; i++) {
    float s = std::sin(a * x[i]);
    y[i] = x[i] + ib * (s * s);
  }
}

void snake_row_scalar(const float* x, float* y, int64_t n, float a, float ib) {
  for (int64_t i = 0; i < n; i++) {
    float s = std::sin(a * x[i]);
    y[i] = x[i] + ib * (s * s);
  }
}

// Per-channel (alpha, 1/(beta + 1e-9)) in the order torch evaluates them, in f32.
void snake_coeffs(const TensorView& alpha, const TensorView& beta, int64_t c, bool log_scale, float* a, float* ib) {
  float al = load_as_f32(alpha, c * alpha.strides[0]);
  float be = load_as_f32(beta, c * beta.strides[0]);
  if (log_scale) {
    al = std::exp(al);
    be = std::exp(be);
  }
  *a = al;
  *ib = 1.0f / (be + 1e-9f);
}

}  // namespace

// ---------------------------------------------------------------- references

void conv1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                const TensorView& residual) {
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  const int64_t cin_g = Cin / p.groups, cout_g = Cout / p.groups;
  for (int64_t b = 0; b < B; b++)
    for (int64_t co = 0; co < Cout; co++) {
      const int64_t g = co / cout_g;
      for (int64_t t = 0; t < Tout; t++) {
        double acc = bias_at(bias, co);
        if (residual.data) acc += at3(residual, b, co, t);
        for (int64_t ci = 0; ci < cin_g; ci++)
          for (int64_t k = 0; k < K; k++) {
            int64_t s = t * p.stride + k * p.dilation - p.padding;
            if (s < 0 || s >= T) continue;
            acc += static_cast<double>(at3(w, co, ci, k)) * at3(x, b, g * cin_g + ci, s);
          }
        store_from_f32(out, b * out.strides[0] + co * out.strides[1] + t * out.strides[2], static_cast<float>(acc));
      }
    }
}

void conv_transpose1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out,
                          const Conv1dParams& p) {
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  std::vector<double> acc(static_cast<size_t>(Tout));
  for (int64_t b = 0; b < B; b++)
    for (int64_t co = 0; co < Cout; co++) {
      std::fill(acc.begin(), acc.end(), static_cast<double>(bias_at(bias, co)));
      for (int64_t ci = 0; ci < Cin; ci++)
        for (int64_t t = 0; t < T; t++) {
          double xv = at3(x, b, ci, t);
          for (int64_t k = 0; k < K; k++) {
            int64_t j = t * p.stride + k * p.dilation - p.padding;
            if (j >= 0 && j < Tout) acc[j] += xv * at3(w, ci, co, k);
          }
        }
      for (int64_t j = 0; j < Tout; j++)
        store_from_f32(out, b * out.strides[0] + co * out.strides[1] + j * out.strides[2], static_cast<float>(acc[j]));
    }
}

void snake_ref(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale) {
  const int64_t B = x.shape[0], C = x.shape[1], T = x.shape[2];
  for (int64_t c = 0; c < C; c++) {
    float a, ib;
    snake_coeffs(alpha, beta, c, log_scale, &a, &ib);
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++) {
        float v = at3(x, b, c, t);
        float s = std::sin(a * v);
        store_from_f32(out, b * out.strides[0] + c * out.strides[1] + t * out.strides[2], v + ib * (s * s));
      }
  }
}

// ---------------------------------------------------------------- fast paths

void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
            const TensorView& residual) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous() ||
      (residual.data && (residual.dtype != DType::F32 || !residual.contiguous())))
    return conv1d_ref(x, w, bias, out, p, residual);
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  const int64_t G = p.groups, cin_g = Cin / G, cout_g = Cout / G, S = p.stride;
  if (B == 0 || Cout == 0 || Tout == 0) return;
  // Tap k reads x[u*S + r_k] at u = t + q_k, with k*dilation = q_k*S + r_k.
  std::vector<int64_t> q(K), r(K);
  int64_t qmax = 0;
  for (int64_t k = 0; k < K; k++) {
    q[k] = k * p.dilation / S;
    r[k] = k * p.dilation % S;
    qmax = std::max(qmax, q[k]);
  }
  const int64_t U = Tout + qmax;  // columns of each phase row
  const int64_t R = cin_g * K;
  // Without padding or stride, x rows are already the phase rows.
  const bool direct = S == 1 && p.padding == 0;
  std::vector<int64_t> off(static_cast<size_t>(R));
  const int64_t ldx = direct ? T : U;
  for (int64_t ci = 0; ci < cin_g; ci++)
    for (int64_t k = 0; k < K; k++) off[ci * K + k] = (ci * S + r[k]) * ldx + q[k];
  std::vector<std::vector<float>> A(static_cast<size_t>(G));
  for (int64_t g = 0; g < G; g++)
    A[g] = pack_a(cout_g, R, [&](int64_t co, int64_t i) { return at3(w, g * cout_g + co, i / K, i % K); });
  std::vector<float> bf = bias_f32(bias, Cout);
  std::vector<float> xs(direct ? 0 : static_cast<size_t>(cin_g * S * U));
  const float* xd = x.ptr<float>();
  float* yd = out.ptr<float>();
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++) {
      const float* xg = xd + (b * Cin + g * cin_g) * T;
      if (!direct) {
        parallel_for(cin_g * S, 4, [&](int64_t rb, int64_t re, int) {
          for (int64_t row = rb; row < re; row++) {
            int64_t ci = row / S, ph = row % S;
            const float* src = xg + ci * T;
            float* dst = xs.data() + row * U;
            for (int64_t u = 0; u < U; u++) {
              int64_t s = u * S + ph - p.padding;
              dst[u] = s >= 0 && s < T ? src[s] : 0.0f;
            }
          }
        });
      }
      TapGemm tg;
      tg.X = direct ? xg : xs.data();
      tg.off = off.data();
      tg.A = A[g].data();
      tg.bias = bf.empty() ? nullptr : bf.data() + g * cout_g;
      tg.Y = yd + (b * Cout + g * cout_g) * Tout;
      tg.res = residual.data ? residual.ptr<float>() + (b * Cout + g * cout_g) * Tout : nullptr;
      tg.ldy = Tout;
      tg.R = R;
      tg.Cout = cout_g;
      tg.T = Tout;
      run_tap_gemm(tg);
    }
}

void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out,
                      const Conv1dParams& p) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous())
    return conv_transpose1d_ref(x, w, bias, out, p);
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2], S = p.stride;
  if (B == 0 || Cout == 0 || Tout == 0) return;
  // Output position o = j + padding = u*S + rho receives tap k (k*dilation = m_k*S + rho) from x[u - m_k].
  int64_t mmax = 0;
  for (int64_t k = 0; k < K; k++) mmax = std::max(mmax, k * p.dilation / S);
  const int64_t umax = (Tout - 1 + p.padding) / S;
  const int64_t L = mmax, W = L + std::max(T, umax + 1);  // left zero pad, row width
  struct Phase {
    int64_t rho, u0, n;
    std::vector<int64_t> taps;
    std::vector<int64_t> off;
    std::vector<float> A;
  };
  std::vector<Phase> phases;
  for (int64_t rho = 0; rho < S; rho++) {
    int64_t u0 = p.padding > rho ? (p.padding - rho + S - 1) / S : 0;
    int64_t last = Tout - 1 + p.padding - rho;
    if (last < 0) continue;
    int64_t u1 = last / S;
    if (u1 < u0) continue;
    Phase ph{rho, u0, u1 - u0 + 1, {}, {}, {}};
    for (int64_t k = 0; k < K; k++)
      if (k * p.dilation % S == rho) ph.taps.push_back(k);
    const int64_t nt = static_cast<int64_t>(ph.taps.size()), R = Cin * nt;
    ph.off.resize(static_cast<size_t>(R));
    for (int64_t ci = 0; ci < Cin; ci++)
      for (int64_t j = 0; j < nt; j++) ph.off[ci * nt + j] = ci * W + L + u0 - ph.taps[j] * p.dilation / S;
    ph.A = pack_a(Cout, R, [&](int64_t co, int64_t i) { return at3(w, i / nt, co, ph.taps[i % nt]); });
    phases.push_back(std::move(ph));
  }
  std::vector<float> bf = bias_f32(bias, Cout);
  std::vector<float> xp(static_cast<size_t>(Cin * W), 0.0f);
  int64_t ymax = 0;
  for (const Phase& ph : phases) ymax = std::max(ymax, ph.n);
  std::vector<float> ybuf(static_cast<size_t>(Cout * ymax));
  const float* xd = x.ptr<float>();
  float* od = out.ptr<float>();
  for (int64_t b = 0; b < B; b++) {
    for (int64_t ci = 0; ci < Cin; ci++) std::copy_n(xd + (b * Cin + ci) * T, T, xp.data() + ci * W + L);
    float* ob = od + b * Cout * Tout;
    for (const Phase& ph : phases) {
      TapGemm tg;
      tg.X = xp.data();
      tg.off = ph.off.data();
      tg.A = ph.A.data();
      tg.bias = bf.empty() ? nullptr : bf.data();
      tg.Y = ybuf.data();
      tg.ldy = ph.n;
      tg.R = static_cast<int64_t>(ph.off.size());
      tg.Cout = Cout;
      tg.T = ph.n;
      run_tap_gemm(tg);
      const int64_t j0 = ph.u0 * S + ph.rho - p.padding;
      parallel_for(Cout, 8, [&](int64_t cb, int64_t ce, int) {
        for (int64_t co = cb; co < ce; co++) {
          const float* src = ybuf.data() + co * ph.n;
          float* dst = ob + co * Tout + j0;
          for (int64_t u = 0; u < ph.n; u++) dst[u * S] = src[u];
        }
      });
    }
  }
}

void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous())
    return snake_ref(x, alpha, beta, out, log_scale);
  const int64_t B = x.shape[0], C = x.shape[1], T = x.shape[2];
  std::vector<float> a(static_cast<size_t>(C)), ib(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; c++) snake_coeffs(alpha, beta, c, log_scale, &a[c], &ib[c]);
  using RowFn = void (*)(const float*, float*, int64_t, float, float);
  static const RowFn row = __builtin_cpu_supports("avx512f") ? snake_row_avx512
                           : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? snake_row_avx2
                                                                                               : snake_row_scalar;
  const float* xd = x.ptr<float>();
  float* yd = out.ptr<float>();
  // Rows are split into pieces so short-T / many-channel and long-T / few-channel both parallelise.
  const int64_t piece = 4096, per_row = (T + piece - 1) / piece;
  parallel_for(B * C * per_row, 4, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) {
      int64_t rowi = i / per_row, t0 = (i % per_row) * piece;
      int64_t c = rowi % C;
      row(xd + rowi * T + t0, yd + rowi * T + t0, std::min(piece, T - t0), a[c], ib[c]);
    }
  });
}

}  // namespace acestep::cpu
