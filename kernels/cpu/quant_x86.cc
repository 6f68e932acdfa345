// x86 kernels of the int8 weight family: the weight-streaming GEMV (AVX-512 and AVX2+FMA) and the
// row quantizer (AVX-512). Each function carries its own target attribute; quant.cc picks one at
// run time with the GEMM family's ISA choice.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant_kernels.h"

#define ACESTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define ACESTEP_AVX2 __attribute__((target("avx2,fma")))
#define ACESTEP_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512bf16,fma")))
#define ACESTEP_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace acestep::cpu::quant_detail {
namespace {

ACESTEP_AVX512 inline __m512 widen16(__m128i b) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
}

// One int8 row against M activation rows: 64 weights (one cache line) per step as four 16-wide
// f32 FMA chains per row, so the FMA latency is covered; the row is one sequential stream (the
// access pattern that reads DRAM fastest on the development machine, see gemm_x86.cc).
template <int M>
ACESTEP_AVX512 void gemv_row_i8_avx512(int64_t n, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                                       const float* bias, float* c, int64_t ldc) {
  __m512 acc[4][M];
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[j][m] = _mm512_setzero_ps();
  const int8_t* qr = q + n * ldq;
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    const __m512i line = _mm512_loadu_si512(qr + k);
    // Constant lane indices: the extract takes an immediate, and unoptimized builds do not unroll.
    const __m128i part[4] = {_mm512_castsi512_si128(line), _mm512_extracti32x4_epi32(line, 1), _mm512_extracti32x4_epi32(line, 2),
                             _mm512_extracti32x4_epi32(line, 3)};
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      const __m512 wv = widen16(part[j]);
#pragma GCC unroll 4
      for (int m = 0; m < M; m++) acc[j][m] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * K + k + 16 * j), acc[j][m]);
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 km = K - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 wv = widen16(_mm_maskz_loadu_epi8(km, qr + k));
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[0][m] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(km, x + m * K + k), acc[0][m]);
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) {
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0][m], acc[1][m]), _mm512_add_ps(acc[2][m], acc[3][m]));
    c[m * ldc + n] = _mm512_reduce_add_ps(sum) * scale[n] + (bias ? bias[n] : 0.f);
  }
}

// bf16 bytes of the integers 0..127 (exact: at most 7 significant bits), high and low byte apart,
// 128 entries each: the tables of vpermi2b.
struct Bf16ByteTables {
  alignas(64) uint8_t hi[128];
  alignas(64) uint8_t lo[128];
  Bf16ByteTables() {
    for (int i = 0; i < 128; i++) {
      const float f = static_cast<float>(i);
      uint32_t u;
      std::memcpy(&u, &f, 4);
      hi[i] = static_cast<uint8_t>(u >> 24);
      lo[i] = static_cast<uint8_t>(u >> 16);
    }
  }
};
const Bf16ByteTables kBf16Bytes;

// A 64-byte line of int8 weights becomes 64 bf16 values in six instructions: |q| indexes the two
// byte tables (vpermi2b), the sign bit of q goes onto the high byte, and the bytes are interleaved
// into words within each 128-bit lane (unpacklo: k = 16l + j, unpackhi: k = 16l + 8 + j, j < 8), the
// order kBf16LineOrder describes. Then one vdpbf16ps per 32 weights and activation row.
template <int M>
ACESTEP_AVX512BF16 void gemv_row_i8_bf16dot(int64_t n, int64_t K, const uint16_t* xb, const int8_t* q, int64_t ldq, const float* scale,
                                            const float* bias, float* c, int64_t ldc) {
  const int64_t KL = (K + kLine - 1) / kLine * kLine;
  const __m512i hi0 = _mm512_load_si512(kBf16Bytes.hi), hi1 = _mm512_load_si512(kBf16Bytes.hi + 64);
  const __m512i lo0 = _mm512_load_si512(kBf16Bytes.lo), lo1 = _mm512_load_si512(kBf16Bytes.lo + 64);
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[2][M];
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) acc[0][m] = acc[1][m] = _mm512_setzero_ps();
  const int8_t* qr = q + n * ldq;
  for (int64_t k = 0; k < K; k += kLine) {
    const __mmask64 km = K - k >= kLine ? ~__mmask64{0} : (__mmask64{1} << (K - k)) - 1;
    const __m512i d = _mm512_maskz_loadu_epi8(km, qr + k);
    const __m512i a = _mm512_abs_epi8(d);
    // hi = table byte | (d & 0x80): ternary logic A | (B & C) = 0xF0 | (0xCC & 0xAA) = 0xF8.
    const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, a, hi1), d, sign, 0xF8);
    const __m512i l = _mm512_permutex2var_epi8(lo0, a, lo1);
    const __m512bh p0 = (__m512bh)_mm512_unpacklo_epi8(l, h), p1 = (__m512bh)_mm512_unpackhi_epi8(l, h);
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) {
      acc[0][m] = _mm512_dpbf16_ps(acc[0][m], p0, (__m512bh)_mm512_loadu_si512(xb + m * KL + k));
      acc[1][m] = _mm512_dpbf16_ps(acc[1][m], p1, (__m512bh)_mm512_loadu_si512(xb + m * KL + k + 32));
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++)
    c[m * ldc + n] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][m], acc[1][m])) * scale[n] + (bias ? bias[n] : 0.f);
}

template <int M>
void rows_bf16dot(int64_t n0, int64_t n1, int64_t K, const uint16_t* xb, const int8_t* q, int64_t ldq, const float* scale,
                  const float* bias, float* c, int64_t ldc) {
  for (int64_t n = n0; n < n1; n++) gemv_row_i8_bf16dot<M>(n, K, xb, q, ldq, scale, bias, c, ldc);
}

// How far ahead of the line being read the int16 GEMV asks for weights. With both cores streaming,
// the hardware prefetchers alone kept the GEMV at 17-24 GB/s of the ~45 GB/s two cores read on the
// development machine; 4-16 KB ahead gave 22-35 GB/s, 16 KB the most (a prefetch past the end of
// the weights is harmless: it never faults).
constexpr int64_t kPrefetchAhead = 16384;

// One int8 row against M int16 activation rows with vpdpwssd: each 64-byte line of q is sign
// extended to two vectors of 32 int16 (two instructions) and dotted in pairs with each row, exactly
// in int32. A lane gains at most 2 * 127 * 32767 per instruction, so the int32 sums are moved to
// f32 every kI16Chunk weights (2 * kI16Chunk / 64 instructions per lane pair stay below 2^31).
template <int M>
ACESTEP_AVX512VNNI void gemv_row_i8_i16dot(int64_t n, int64_t K, const int16_t* x16, const float* xscale, const int8_t* q, int64_t ldq,
                                           const float* scale, const float* bias, float* c, int64_t ldc) {
  const int64_t KL = (K + kLine - 1) / kLine * kLine;
  __m512 sum[M];
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) sum[m] = _mm512_setzero_ps();
  const int8_t* qr = q + n * ldq;
  for (int64_t k0 = 0; k0 < K; k0 += kI16Chunk) {
    const int64_t k1 = std::min(K, k0 + kI16Chunk);
    __m512i acc[2][M];
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[0][m] = acc[1][m] = _mm512_setzero_si512();
    for (int64_t k = k0; k < k1; k += kLine) {
      _mm_prefetch(reinterpret_cast<const char*>(qr + k) + kPrefetchAhead, _MM_HINT_T0);
      __m512i w0, w1;
      if (k + kLine <= K) {
        w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qr + k)));
        w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qr + k + 32)));
      } else {
        // The row's tail: no byte past K is read (the activations are zero there).
        const int64_t r = K - k;
        const __mmask32 m0 = r >= 32 ? ~__mmask32{0} : (__mmask32{1} << r) - 1;
        const __mmask32 m1 = r >= 64 ? ~__mmask32{0} : r <= 32 ? 0 : (__mmask32{1} << (r - 32)) - 1;
        w0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m0, qr + k));
        w1 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m1, qr + k + 32));
      }
#pragma GCC unroll 4
      for (int m = 0; m < M; m++) {
        acc[0][m] = _mm512_dpwssd_epi32(acc[0][m], w0, _mm512_loadu_si512(x16 + m * KL + k));
        acc[1][m] = _mm512_dpwssd_epi32(acc[1][m], w1, _mm512_loadu_si512(x16 + m * KL + k + 32));
      }
    }
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) sum[m] = _mm512_add_ps(sum[m], _mm512_add_ps(_mm512_cvtepi32_ps(acc[0][m]), _mm512_cvtepi32_ps(acc[1][m])));
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) c[m * ldc + n] = _mm512_reduce_add_ps(sum[m]) * xscale[m] * scale[n] + (bias ? bias[n] : 0.f);
}

template <int M>
void rows_i16dot(int64_t n0, int64_t n1, int64_t K, const int16_t* x16, const float* xscale, const int8_t* q, int64_t ldq,
                 const float* scale, const float* bias, float* c, int64_t ldc) {
  for (int64_t n = n0; n < n1; n++) gemv_row_i8_i16dot<M>(n, K, x16, xscale, q, ldq, scale, bias, c, ldc);
}

ACESTEP_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int M>
ACESTEP_AVX2 void gemv_row_i8_avx2(int64_t n, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                                   const float* bias, float* c, int64_t ldc) {
  __m256 acc[4][M];
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[j][m] = _mm256_setzero_ps();
  const int8_t* qr = q + n * ldq;
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qr + k + 8 * j));
      const __m256 wv = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
#pragma GCC unroll 4
      for (int m = 0; m < M; m++) acc[j][m] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + m * K + k + 8 * j), acc[j][m]);
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) {
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[0][m], acc[1][m]), _mm256_add_ps(acc[2][m], acc[3][m])));
    for (int64_t t = k; t < K; t++) s += static_cast<float>(qr[t]) * x[m * K + t];
    c[m * ldc + n] = s * scale[n] + (bias ? bias[n] : 0.f);
  }
}

template <int M>
ACESTEP_AVX512 void rows_avx512(int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                                const float* bias, float* c, int64_t ldc) {
  for (int64_t n = n0; n < n1; n++) gemv_row_i8_avx512<M>(n, K, x, q, ldq, scale, bias, c, ldc);
}

template <int M>
ACESTEP_AVX2 void rows_avx2(int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                            const float* bias, float* c, int64_t ldc) {
  for (int64_t n = n0; n < n1; n++) gemv_row_i8_avx2<M>(n, K, x, q, ldq, scale, bias, c, ldc);
}

ACESTEP_AVX512 inline __m512 load16(const void* w, DType wd, int64_t k, __mmask16 km) {
  if (wd == DType::F32) return _mm512_maskz_loadu_ps(km, static_cast<const float*>(w) + k);
  const __m256i h = _mm256_maskz_loadu_epi16(km, static_cast<const uint16_t*>(w) + k);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // bf16
}

}  // namespace

void gemv_i8_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                    const float* bias, float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return rows_avx512<1>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    case 2:
      return rows_avx512<2>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    case 3:
      return rows_avx512<3>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    default:
      return rows_avx512<4>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
  }
}

bool has_bf16dot_i8() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
}

void gemv_i8_bf16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const uint16_t* xb, const int8_t* q, int64_t ldq,
                            const float* scale, const float* bias, float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return rows_bf16dot<1>(n0, n1, K, xb, q, ldq, scale, bias, c, ldc);
    case 2:
      return rows_bf16dot<2>(n0, n1, K, xb, q, ldq, scale, bias, c, ldc);
    case 3:
      return rows_bf16dot<3>(n0, n1, K, xb, q, ldq, scale, bias, c, ldc);
    default:
      return rows_bf16dot<4>(n0, n1, K, xb, q, ldq, scale, bias, c, ldc);
  }
}

bool has_i16dot_i8() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
}

void gemv_i8_i16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const int16_t* x16, const float* xscale, const int8_t* q,
                           int64_t ldq, const float* scale, const float* bias, float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return rows_i16dot<1>(n0, n1, K, x16, xscale, q, ldq, scale, bias, c, ldc);
    case 2:
      return rows_i16dot<2>(n0, n1, K, x16, xscale, q, ldq, scale, bias, c, ldc);
    case 3:
      return rows_i16dot<3>(n0, n1, K, x16, xscale, q, ldq, scale, bias, c, ldc);
    default:
      return rows_i16dot<4>(n0, n1, K, x16, xscale, q, ldq, scale, bias, c, ldc);
  }
}

void gemv_i8_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                  const float* bias, float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return rows_avx2<1>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    case 2:
      return rows_avx2<2>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    case 3:
      return rows_avx2<3>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
    default:
      return rows_avx2<4>(n0, n1, K, x, q, ldq, scale, bias, c, ldc);
  }
}

// Int8 values as bf16 or f32 (exact: integers of at most 8 bits), 16 per step: sign extend to
// int32, convert to f32, and for bf16 keep the upper half of each f32 (its lower 16 bits are zero).
ACESTEP_AVX512 void widen_row_i8_avx512(const int8_t* src, int64_t K, void* dst, bool bf16) {
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 km = K - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(km, src + k)));
    if (bf16)
      _mm256_mask_storeu_epi16(static_cast<uint16_t*>(dst) + k, km, _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(f), 16)));
    else
      _mm512_mask_storeu_ps(static_cast<float*>(dst) + k, km, f);
  }
}

// Same f32 operations as the scalar row (quant.cc): |w| max, scale = amax / 127, inv = 127 / amax,
// q = round_half_even(w * inv) (vcvtps2dq under the default rounding mode) clamped to +-127.
ACESTEP_AVX512 void quantize_row_avx512(const void* w, DType wd, int64_t K, int8_t* q, float* scale) {
  __m512 mx = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 km = K - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (K - k)) - 1);
    mx = _mm512_max_ps(mx, _mm512_abs_ps(load16(w, wd, k, km)));
  }
  const float amax = _mm512_reduce_max_ps(mx);
  *scale = amax / 127.f;
  const __m512 inv = _mm512_set1_ps(amax > 0.f ? 127.f / amax : 0.f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 km = K - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(load16(w, wd, k, km), inv));
    v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    _mm_mask_storeu_epi8(q + k, km, _mm512_cvtepi32_epi8(v));
  }
}

// The AVX2 forms of the two row helpers above, same arithmetic; tails element by element.
ACESTEP_AVX2 void widen_row_i8_avx2(const int8_t* src, int64_t K, void* dst, bool bf16) {
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + k))));
    if (bf16) {
      const __m256i hi = _mm256_srli_epi32(_mm256_castps_si256(f), 16);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(dst) + k),
                       _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
    } else {
      _mm256_storeu_ps(static_cast<float*>(dst) + k, f);
    }
  }
  for (; k < K; k++) {
    const float f = static_cast<float>(src[k]);
    if (bf16) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      static_cast<uint16_t*>(dst)[k] = static_cast<uint16_t>(u >> 16);
    } else {
      static_cast<float*>(dst)[k] = f;
    }
  }
}

namespace {
ACESTEP_AVX2 inline __m256 load8_weights(const void* w, DType wd, int64_t k) {
  if (wd == DType::F32) return _mm256_loadu_ps(static_cast<const float*>(w) + k);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + k));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float weight_at(const void* w, DType wd, int64_t k) {
  if (wd == DType::F32) return static_cast<const float*>(w)[k];
  const uint32_t u = static_cast<uint32_t>(static_cast<const uint16_t*>(w)[k]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

ACESTEP_AVX2 void quantize_row_avx2(const void* w, DType wd, int64_t K, int8_t* q, float* scale) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256 mx = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) mx = _mm256_max_ps(_mm256_andnot_ps(sign, load8_weights(w, wd, k)), mx);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float amax = 0.f;
  for (int i = 0; i < 8; i++) amax = std::max(amax, lanes[i]);
  for (; k < K; k++) amax = std::max(amax, std::fabs(weight_at(w, wd, k)));
  *scale = amax / 127.f;
  const float inv = amax > 0.f ? 127.f / amax : 0.f;
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (k = 0; k + 8 <= K; k += 8) {
    __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(load8_weights(w, wd, k), vinv));
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), _mm_packs_epi16(w16, w16));
  }
  for (; k < K; k++) q[k] = static_cast<int8_t>(std::clamp(std::nearbyint(weight_at(w, wd, k) * inv), -127.f, 127.f));
}

}  // namespace acestep::cpu::quant_detail
