// x86 SIMD kernels of the GEMM family: AVX-512 and AVX2+FMA micro-kernels over packed panels,
// the avx512_bf16 (vdpbf16ps) micro-kernel, weight-streaming GEMV for M <= 4, and the
// benchmark probes (streaming read, FMA peak). Each function carries its own target attribute;
// gemm.cc picks one at run time from CPUID, so no per-file compiler flags are needed.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "gemm_kernels.h"

#define ACESTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define ACESTEP_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c")))
#define ACESTEP_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")))
#define ACESTEP_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace acestep::cpu::gemm_detail {

Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return Isa::Avx2;
  return Isa::Scalar;
}

bool has_avx512_vnni() {
  __builtin_cpu_init();
  return detect_isa() == Isa::Avx512 && __builtin_cpu_supports("avx512vnni");
}

bool has_avx512_bf16() {
  __builtin_cpu_init();
  return detect_isa() == Isa::Avx512 && __builtin_cpu_supports("avx512bf16");
}

namespace {
inline __mmask16 mask_lo(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}
}  // namespace

// ---------------- micro-kernels ----------------

ACESTEP_AVX512 void ukr_f32_avx512(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mr, int nr, bool acc,
                                   const float* bias) {
  __m512 c[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 a = _mm512_set1_ps(A[i]);
      c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
    }
    A += MR;
    B += NR;
  }
  const __mmask16 m0 = mask_lo(nr), m1 = mask_lo(nr - 16);
  __m512 i0 = _mm512_setzero_ps(), i1 = _mm512_setzero_ps();
  if (!acc && bias) i0 = _mm512_maskz_loadu_ps(m0, bias), i1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    if (i >= mr) break;
    float* row = C + i * ldc;
    if (acc) i0 = _mm512_maskz_loadu_ps(m0, row), i1 = _mm512_maskz_loadu_ps(m1, row + 16);
    _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(i0, c[i][0]));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(i1, c[i][1]));
  }
}

ACESTEP_AVX512BF16 void ukr_bf16_avx512(int64_t kpairs, const uint32_t* A, const uint16_t* B, float* C, int64_t ldc, int mr, int nr,
                                        bool acc, const float* bias) {
  __m512 c[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kpairs; p++) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(B), b1 = (__m512bh)_mm512_load_si512(B + 32);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[i]));
      c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
    }
    A += MR;
    B += NR * 2;
  }
  const __mmask16 m0 = mask_lo(nr), m1 = mask_lo(nr - 16);
  __m512 i0 = _mm512_setzero_ps(), i1 = _mm512_setzero_ps();
  if (!acc && bias) i0 = _mm512_maskz_loadu_ps(m0, bias), i1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    if (i >= mr) break;
    float* row = C + i * ldc;
    if (acc) i0 = _mm512_maskz_loadu_ps(m0, row), i1 = _mm512_maskz_loadu_ps(m1, row + 16);
    _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(i0, c[i][0]));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(i1, c[i][1]));
  }
}

// AVX2 has 16 vector registers, so the MR x NR panel is computed as four 4 x 16 sub-tiles.
ACESTEP_AVX2 void ukr_f32_avx2(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mr, int nr, bool acc,
                               const float* bias) {
  alignas(32) float t[MR][NR];
  for (int ih = 0; ih < 2; ih++) {
    if (ih * 4 >= mr) break;
    for (int jh = 0; jh < 2; jh++) {
      if (jh * 16 >= nr) break;
      __m256 c[4][2];
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
      const float* a = A + ih * 4;
      const float* b = B + jh * 16;
      for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b + k * NR), b1 = _mm256_load_ps(b + k * NR + 8);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
          const __m256 av = _mm256_broadcast_ss(a + k * MR + i);
          c[i][0] = _mm256_fmadd_ps(av, b0, c[i][0]);
          c[i][1] = _mm256_fmadd_ps(av, b1, c[i][1]);
        }
      }
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        _mm256_store_ps(&t[ih * 4 + i][jh * 16], c[i][0]);
        _mm256_store_ps(&t[ih * 4 + i][jh * 16 + 8], c[i][1]);
      }
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) {
      float init = acc ? C[i * ldc + j] : bias ? bias[j] : 0.f;
      C[i * ldc + j] = init + t[i][j];
    }
}

// ---------------- packing ----------------

namespace {

// In-place transpose of a 16 x 16 matrix of 32-bit elements held in r[0..15] (row i in r[i]).
ACESTEP_AVX512 inline void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
#pragma GCC unroll 8
  for (int p = 0; p < 8; p++) {
    t[2 * p] = _mm512_unpacklo_epi32(r[2 * p], r[2 * p + 1]);
    t[2 * p + 1] = _mm512_unpackhi_epi32(r[2 * p], r[2 * p + 1]);
  }
  // u[4g + q] holds, in 128-bit lane l, column q + 4l of rows 4g..4g+3.
#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    const __m512i vlo = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x88), vhi = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xdd);
    const __m512i wlo = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x88), whi = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xdd);
    r[q] = _mm512_shuffle_i32x4(vlo, wlo, 0x88);
    r[q + 8] = _mm512_shuffle_i32x4(vlo, wlo, 0xdd);
    r[q + 4] = _mm512_shuffle_i32x4(vhi, whi, 0x88);
    r[q + 12] = _mm512_shuffle_i32x4(vhi, whi, 0xdd);
  }
}

// 16 consecutive k values of one weight row as f32 bits (masked: lanes past the end read as 0).
ACESTEP_AVX512 inline __m512i load_row_f32(const void* w, DType wd, int64_t off, __mmask16 m) {
  switch (wd) {
    case DType::F32:
      return _mm512_maskz_loadu_epi32(m, static_cast<const float*>(w) + off);
    case DType::BF16:
      return _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off)), 16);
    default:
      return _mm512_castps_si512(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off)));
  }
}

// 16 bf16 pairs (k, k+1) of one weight row starting at element off, `pairs` of them valid.
ACESTEP_AVX512BF16 inline __m512i load_row_pairs(const void* w, DType wd, int64_t off, int pairs) {
  if (wd == DType::BF16) return _mm512_maskz_loadu_epi32(mask_lo(pairs), static_cast<const uint16_t*>(w) + off);
  const __mmask16 lo = mask_lo(2 * pairs), hi = mask_lo(2 * pairs - 16);
  __m512 a, b;
  if (wd == DType::F32) {
    a = _mm512_maskz_loadu_ps(lo, static_cast<const float*>(w) + off);
    b = _mm512_maskz_loadu_ps(hi, static_cast<const float*>(w) + off + 16);
  } else {
    a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lo, static_cast<const uint16_t*>(w) + off));
    b = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(hi, static_cast<const uint16_t*>(w) + off + 16));
  }
  return (__m512i)_mm512_cvtne2ps_pbh(b, a);
}

// f32 bits rounded to the nearest bf16 (ties to even) and widened back; NaN stays NaN.
ACESTEP_AVX512 inline __m512i round_bf16_bits(__m512i u) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  r = _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
  const __mmask16 nan = _mm512_cmp_ps_mask(_mm512_castsi512_ps(u), _mm512_castsi512_ps(u), _CMP_UNORD_Q);
  const __m512i qnan = _mm512_and_si512(_mm512_or_si512(u, _mm512_set1_epi32(0x400000)), _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
  return _mm512_mask_blend_epi32(nan, r, qnan);
}

}  // namespace

ACESTEP_AVX512 void pack_b_kcontig_f32_avx512(const void* w, DType wd, int64_t ldw, int64_t k0, int64_t kc, int64_t j0, int nr,
                                              bool round_bf16, float* dst) {
  const bool rnd = round_bf16 && wd != DType::BF16;  // bf16 weights are already exact
  __m512i r[16];
  for (int jb = 0; jb < NR; jb += 16) {
    const int rows = nr - jb < 16 ? (nr - jb < 0 ? 0 : nr - jb) : 16;
    for (int64_t k = 0; k < kc; k += 16) {
      const int kn = kc - k < 16 ? static_cast<int>(kc - k) : 16;
      const __mmask16 m = mask_lo(kn);
#pragma GCC unroll 16
      for (int j = 0; j < 16; j++) r[j] = j < rows ? load_row_f32(w, wd, (j0 + jb + j) * ldw + k0 + k, m) : _mm512_setzero_si512();
      if (rnd) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) r[j] = round_bf16_bits(r[j]);
      }
      transpose16(r);
      for (int c = 0; c < kn; c++) _mm512_store_si512(dst + (k + c) * NR + jb, r[c]);
    }
  }
}

ACESTEP_AVX512BF16 void pack_b_kcontig_bf16_avx512(const void* w, DType wd, int64_t ldw, int64_t k0, int64_t kc, int64_t j0, int nr,
                                                   uint16_t* dst) {
  // Full pairs go through the transpose; an odd last k (only at the end of K) is patched in
  // afterwards so no load reads past a row's end.
  const int64_t full = kc / 2, kpairs = (kc + 1) / 2;
  uint32_t* d32 = reinterpret_cast<uint32_t*>(dst);
  __m512i r[16];
  for (int jb = 0; jb < NR; jb += 16) {
    const int rows = nr - jb < 16 ? (nr - jb < 0 ? 0 : nr - jb) : 16;
    for (int64_t p = 0; p < full; p += 16) {
      const int pn = full - p < 16 ? static_cast<int>(full - p) : 16;
#pragma GCC unroll 16
      for (int j = 0; j < 16; j++) r[j] = j < rows ? load_row_pairs(w, wd, (j0 + jb + j) * ldw + k0 + 2 * p, pn) : _mm512_setzero_si512();
      transpose16(r);
      for (int c = 0; c < pn; c++) _mm512_store_si512(d32 + (p + c) * NR + jb, r[c]);
    }
  }
  if (kpairs > full) {
    uint32_t* last = d32 + full * NR;
    for (int j = 0; j < NR; j++) {
      uint32_t v = 0;
      if (j < nr) {
        const int64_t o = (j0 + j) * ldw + k0 + kc - 1;
        if (wd == DType::BF16)
          v = static_cast<const uint16_t*>(w)[o];
        else if (wd == DType::F32)
          v = f32_to_bf16(static_cast<const float*>(w)[o]);
        else
          v = f32_to_bf16(f16_to_f32(static_cast<const uint16_t*>(w)[o]));
      }
      last[j] = v;
    }
  }
}

namespace {

// Transposes the 8 x 8 matrix of 32-bit elements in r[0..7] (row i in r[i]; the lanes may hold
// int16 pairs as well as floats): interleave pairs, then quads, then swap 128-bit halves, so that
// r[j] ends up as column j.
ACESTEP_AVX2 inline void transpose8x8(__m256 r[8]) {
  __m256 t[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++) {
    t[j] = _mm256_permute2f128_ps(r[j], r[j + 4], 0x20);
    t[j + 4] = _mm256_permute2f128_ps(r[j], r[j + 4], 0x31);
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; j++) r[j] = t[j];
}

}  // namespace

static_assert(MR == 8, "pack_a_f32rows8_avx2 transposes 8 rows");
ACESTEP_AVX2 void pack_a_f32rows8_avx2(const float* a, int64_t lda, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(a + i * lda + k);
    transpose8x8(r);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (k + j) * MR, r[j]);
  }
  for (; k < kc; k++)
    for (int i = 0; i < 8; i++) dst[k * MR + i] = a[i * lda + k];
}

ACESTEP_AVX512BF16 void pack_a_f32rows_bf16_avx512(const float* a, int64_t lda, int mr, int64_t kc, uint32_t* dst) {
  const int64_t kpairs = (kc + 1) / 2;
  alignas(64) uint32_t tmp[16];
  for (int i = 0; i < MR; i++) {
    if (i >= mr) {
      for (int64_t p = 0; p < kpairs; p++) dst[p * MR + i] = 0;
      continue;
    }
    const float* row = a + i * lda;
    for (int64_t p = 0; p < kpairs; p += 16) {
      const int64_t k = 2 * p;
      const int kn = kc - k < 32 ? static_cast<int>(kc - k) : 32;
      const __m512 lo = _mm512_maskz_loadu_ps(mask_lo(kn), row + k);
      const __m512 hi = _mm512_maskz_loadu_ps(mask_lo(kn - 16), row + k + 16);
      _mm512_store_si512(tmp, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      const int pn = kpairs - p < 16 ? static_cast<int>(kpairs - p) : 16;
      for (int q = 0; q < pn; q++) dst[(p + q) * MR + i] = tmp[q];
    }
  }
}

// ---------------- bf16 weights read in place ----------------

namespace {
// A bf16 pair (k, k+1) of a weight row: weight rows start at any even byte offset.
typedef uint32_t pair_u32 __attribute__((may_alias, aligned(2)));
}  // namespace

ACESTEP_AVX512BF16 void pack_x_pairs_avx512(const float* a, int64_t lda, int mr, int64_t K, uint32_t* dst) {
  static_assert(XR % 16 == 0, "activation rows are transposed 16 at a time");
  const int64_t kpairs = (K + 1) / 2;
  __m512i r[16];
  for (int h = 0; h < XR / 16; h++) {
    for (int64_t p = 0; p < kpairs; p += 16) {
      const int64_t k = 2 * p;
      const int kn = K - k < 32 ? static_cast<int>(K - k) : 32;
      for (int j = 0; j < 16; j++) {
        const int m = 16 * h + j;
        if (m >= mr) {
          r[j] = _mm512_setzero_si512();
          continue;
        }
        const __m512 lo = _mm512_maskz_loadu_ps(mask_lo(kn), a + m * lda + k);
        const __m512 hi = _mm512_maskz_loadu_ps(mask_lo(kn - 16), a + m * lda + k + 16);
        r[j] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
      }
      transpose16(r);
      const int pn = kpairs - p < 16 ? static_cast<int>(kpairs - p) : 16;
      for (int q = 0; q < pn; q++) _mm512_store_si512(dst + (p + q) * XR + 16 * h, r[q]);
    }
  }
}

namespace {

// Writes the 8 x 16 block c[n] = C[16v + lane, n] (n < 8) as rows 16v.. of C, the columns in nm,
// rows past mcols skipped: each row added to the C row already there (acc), else to *init when
// given, else stored as is. After the unpacks, lane l of u[q] holds C[4l + q, 0..3] and lane l of
// u[4 + q] holds C[4l + q, 4..7]; one permute per row pair joins the two halves into row 4l + q
// (low 256 bits) and row 4(l + 1) + q (high 256 bits).
ACESTEP_AVX512 inline void store_8x16_rows(const __m512 c[8], int v, int mcols, __mmask8 nm, float* C, int64_t ldc, bool acc,
                                           const __m256* init) {
  const __m512i lo_pair = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
  const __m512i hi_pair = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
  __m512 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_unpacklo_ps(c[i], c[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(c[i], c[i + 1]);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {
    u[4 * h + 0] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    u[4 * h + 1] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
    u[4 * h + 2] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    u[4 * h + 3] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    // Rows 4l + q for l = 0, 1 (lo_pair) and l = 2, 3 (hi_pair).
    const __m512 r01 = _mm512_permutex2var_ps(u[q], lo_pair, u[4 + q]);
    const __m512 r23 = _mm512_permutex2var_ps(u[q], hi_pair, u[4 + q]);
    const __m256 rows4[4] = {_mm512_castps512_ps256(r01), _mm512_extractf32x8_ps(r01, 1), _mm512_castps512_ps256(r23),
                             _mm512_extractf32x8_ps(r23, 1)};
#pragma GCC unroll 4
    for (int l = 0; l < 4; l++) {
      const int m = 16 * v + 4 * l + q;
      if (m >= mcols) continue;
      float* row = C + m * ldc;
      const __m256 r = acc ? _mm256_add_ps(_mm256_maskz_loadu_ps(nm, row), rows4[l]) : init ? _mm256_add_ps(*init, rows4[l]) : rows4[l];
      _mm256_mask_storeu_ps(row, nm, r);
    }
  }
}

// The WR x (16 V) tile over kpairs pairs; V activation vectors (16 rows each) of the XR-row block.
template <int V>
ACESTEP_AVX512BF16 void ukr_bf16w_tile(int64_t kpairs, const uint32_t* X, const uint16_t* w, int64_t ldw, int rows, int mcols, float* C,
                                       int64_t ldc, bool acc, const float* bias) {
  static_assert(WR == 8 && V * 16 <= XR, "8 weight rows, V 16-lane activation vectors");
  const pair_u32* wr[WR];
#pragma GCC unroll 8
  for (int i = 0; i < WR; i++) wr[i] = reinterpret_cast<const pair_u32*>(w + (i < rows ? i : rows - 1) * ldw);
  __m512 c[WR][V];
#pragma GCC unroll 8
  for (int i = 0; i < WR; i++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) c[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kpairs; p++) {
    __m512bh x[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) x[v] = (__m512bh)_mm512_load_si512(X + p * XR + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < WR; i++) {
      const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(wr[i][p]));
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) c[i][v] = _mm512_dpbf16_ps(c[i][v], b, x[v]);
    }
  }
  // c[n][v] holds C[16v + lane, n]: stored as rows, onto the bias (or zero) unless accumulating.
  const __mmask8 nm = static_cast<__mmask8>(rows >= 8 ? 0xff : (1u << rows) - 1);
  const __m256 binit = !acc && bias ? _mm256_maskz_loadu_ps(nm, bias) : _mm256_setzero_ps();
#pragma GCC unroll 3
  for (int v = 0; v < V; v++) {
    __m512 cv[WR];
#pragma GCC unroll 8
    for (int i = 0; i < WR; i++) cv[i] = c[i][v];
    store_8x16_rows(cv, v, mcols, nm, C, ldc, acc, &binit);
  }
}

}  // namespace

ACESTEP_AVX512BF16 void ukr_bf16w_avx512(int64_t kpairs, const uint32_t* X, const uint16_t* w, int64_t ldw, int rows, int mcols, float* C,
                                         int64_t ldc, bool acc, const float* bias) {
  const int v = (mcols + 15) / 16;
  if (v >= 3) return ukr_bf16w_tile<3>(kpairs, X, w, ldw, rows, mcols, C, ldc, acc, bias);
  if (v == 2) return ukr_bf16w_tile<2>(kpairs, X, w, ldw, rows, mcols, C, ldc, acc, bias);
  return ukr_bf16w_tile<1>(kpairs, X, w, ldw, rows, mcols, C, ldc, acc, bias);
}

// ---------------- W8A8: int8 weights, u8 activations (vpdpbusd) ----------------

ACESTEP_AVX512 bool row_range_avx512(const float* x, int64_t K, float* lo, float* hi) {
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps(), bad = _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(mask_lo(static_cast<int>(std::min<int64_t>(16, K - k))), x + k);
    vlo = _mm512_min_ps(vlo, v);
    vhi = _mm512_max_ps(vhi, v);
    bad = _mm512_add_ps(bad, _mm512_mul_ps(v, zero));  // NaN once any value is NaN or infinite
  }
  *lo = _mm512_reduce_min_ps(vlo);
  *hi = _mm512_reduce_max_ps(vhi);
  return _mm512_reduce_add_ps(bad) == 0.f;
}

ACESTEP_AVX512VNNI void pack_xq_quads_avx512(const float* a, int64_t lda, int mr, int64_t K, const float* sa, const int32_t* zp,
                                             uint32_t* dst) {
  static_assert(XR % 16 == 0, "activation rows are transposed 16 at a time");
  const int64_t kquads = K / 4;
  const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.f);
  __m512i r[16];
  for (int h = 0; h < XR / 16; h++) {
    for (int64_t p = 0; p < kquads; p += 16) {
      const int64_t k = 4 * p;
      for (int j = 0; j < 16; j++) {
        const int m = 16 * h + j;
        if (m >= mr) {
          r[j] = _mm512_setzero_si512();
          continue;
        }
        const __m512 s = _mm512_set1_ps(sa[m]), z = _mm512_set1_ps(static_cast<float>(zp[m]));
        __m128i bytes[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
          const int kn = static_cast<int>(std::min<int64_t>(16, std::max<int64_t>(0, K - k - 16 * g)));
          const __m512 v = _mm512_maskz_loadu_ps(mask_lo(kn), a + m * lda + k + 16 * g);
          __m512 q = _mm512_add_ps(_mm512_roundscale_ps(_mm512_div_ps(v, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
          q = _mm512_min_ps(_mm512_max_ps(q, zero), top);
          bytes[g] = _mm512_cvtusepi32_epi8(_mm512_cvtps_epu32(q));
        }
        r[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(bytes[1], bytes[0])), _mm256_set_m128i(bytes[3], bytes[2]), 1);
      }
      transpose16(r);
      const int pn = kquads - p < 16 ? static_cast<int>(kquads - p) : 16;
      for (int q = 0; q < pn; q++) _mm512_store_si512(dst + (p + q) * XR + 16 * h, r[q]);
    }
  }
}

namespace {

typedef int32_t quad_i32 __attribute__((may_alias, aligned(1)));

// acc += u8 a x s8 b, four products per lane. As inline asm: GCC 12 compiles the intrinsic in
// this 24-accumulator loop with a copy and a stack spill per instruction (3x the loop's length).
ACESTEP_AVX512VNNI inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// The WR x (16 V) tile over kquads quads; V activation vectors (16 rows each) of the XR-row block.
template <int V>
ACESTEP_AVX512VNNI void ukr_w8a8_tile(int64_t kquads, const uint32_t* X, const int8_t* w, int64_t ldw, int rows, int mcols, float* C,
                                      int64_t ldc, const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum,
                                      const float* bias) {
  static_assert(WR == 8 && V * 16 <= XR, "8 weight rows, V 16-lane activation vectors");
  const quad_i32* wr[WR];
#pragma GCC unroll 8
  for (int i = 0; i < WR; i++) wr[i] = reinterpret_cast<const quad_i32*>(w + (i < rows ? i : rows - 1) * ldw);
  __m512i acc[WR][V];
#pragma GCC unroll 8
  for (int i = 0; i < WR; i++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_si512();
  for (int64_t p = 0; p < kquads; p++) {
    __m512i x[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) x[v] = _mm512_load_si512(X + p * XR + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < WR; i++) {
      const __m512i b = _mm512_set1_epi32(wr[i][p]);
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) acc[i][v] = dpbusd(acc[i][v], x[v], b);
    }
  }
  const __mmask8 nm = static_cast<__mmask8>(rows >= 8 ? 0xff : (1u << rows) - 1);
  const __m256 b8 = bias ? _mm256_maskz_loadu_ps(nm, bias) : _mm256_setzero_ps();
#pragma GCC unroll 3
  for (int v = 0; v < V; v++) {
    const __m512i zv = _mm512_loadu_si512(zp + 16 * v);
    const __m512 sv = _mm512_loadu_ps(sa + 16 * v);
    __m512 c[WR];
#pragma GCC unroll 8
    for (int i = 0; i < WR; i++) {
      const int n = i < rows ? i : rows - 1;
      const __m512i d = _mm512_sub_epi32(acc[i][v], _mm512_mullo_epi32(zv, _mm512_set1_epi32(rowsum[n])));
      c[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(sv, _mm512_set1_ps(sw[n])));
    }
    // Without a bias the value is stored as is (0 + -0 would turn a -0 into +0).
    store_8x16_rows(c, v, mcols, nm, C, ldc, false, bias ? &b8 : nullptr);
  }
}

}  // namespace

ACESTEP_AVX512VNNI void ukr_w8a8_avx512(int64_t kquads, const uint32_t* X, const int8_t* w, int64_t ldw, int rows, int mcols, float* C,
                                        int64_t ldc, const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum,
                                        const float* bias) {
  const int v = (mcols + 15) / 16;
  if (v >= 3) return ukr_w8a8_tile<3>(kquads, X, w, ldw, rows, mcols, C, ldc, sa, zp, sw, rowsum, bias);
  if (v == 2) return ukr_w8a8_tile<2>(kquads, X, w, ldw, rows, mcols, C, ldc, sa, zp, sw, rowsum, bias);
  return ukr_w8a8_tile<1>(kquads, X, w, ldw, rows, mcols, C, ldc, sa, zp, sw, rowsum, bias);
}

// ---------------- W8A8 on AVX2: int16 pairs (vpmaddwd) ----------------
// Without VNNI the u8 x s8 products go through vpmaddwd on both operands widened to int16: each
// lane's pair sum (<= 2 * 255 * 127) is exact, as are the int32 sums over K <= kW8A8MaxK, so the
// result is the reference's bit for bit. (vpmaddubsw would take the bytes as they are, but its
// int16 pair sums saturate.)

ACESTEP_AVX2 bool row_range_avx2(const float* x, int64_t K, float* lo, float* hi) {
  __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  const __m256 zero = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
    bad = _mm256_add_ps(bad, _mm256_mul_ps(v, zero));  // NaN once any value is NaN or infinite
  }
  alignas(32) float l[8], h[8], b[8];
  _mm256_store_ps(l, vlo);
  _mm256_store_ps(h, vhi);
  _mm256_store_ps(b, bad);
  float rlo = 0.f, rhi = 0.f, rbad = 0.f;
  for (int i = 0; i < 8; i++) {
    rlo = std::min(rlo, l[i]);
    rhi = std::max(rhi, h[i]);
    rbad += b[i];
  }
  for (; k < K; k++) {
    rlo = std::min(rlo, x[k]);
    rhi = std::max(rhi, x[k]);
    rbad += x[k] * 0.f;
  }
  *lo = rlo;
  *hi = rhi;
  return rbad == 0.f;
}

ACESTEP_AVX2 void quantize_row_u8_i16_avx2(const float* x, int64_t K, float sa, int32_t zp, int16_t* dst) {
  const int64_t kp = (K + 1) / 2 * 2;
  if (!(sa == sa)) {  // a non-finite row: every xq is 0, its outputs come out NaN through sa
    std::fill(dst, dst + kp, int16_t{0});
    return;
  }
  const __m256 s = _mm256_set1_ps(sa), z = _mm256_set1_ps(static_cast<float>(zp)), zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.f);
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 q = _mm256_add_ps(_mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + k), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    q = _mm256_min_ps(_mm256_max_ps(q, zero), top);
    const __m256i i = _mm256_cvtps_epi32(q);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1)));
  }
  for (; k < K; k++) {
    const float v = std::nearbyintf(x[k] / sa) + static_cast<float>(zp);
    dst[k] = static_cast<int16_t>(std::min(std::max(v, 0.f), 255.f));
  }
  if (kp > K) dst[K] = 0;
}

ACESTEP_AVX2 void pack_w8_pairs_avx2(const int8_t* w, int64_t ldw, int rows, int64_t K, int16_t* dst) {
  const int64_t kpairs = (K + 1) / 2;
  const int8_t* r[W8A8_NR];
  for (int j = 0; j < W8A8_NR; j++) r[j] = w + (j < rows ? j : 0) * ldw;
  int64_t p = 0;
  if (rows == W8A8_NR) {
    // 8 pairs of 8 rows at a time: each row's 16 bytes widened to 8 int16 pairs, then an 8 x 8
    // transpose of the 32-bit pairs puts one k pair of the 8 rows in each register.
    for (; p + 8 <= K / 2; p += 8) {
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++) {
        __m256 v[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
          v[j] = _mm256_castsi256_ps(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r[8 * h + j] + 2 * p))));
        transpose8x8(v);
        float* d = reinterpret_cast<float*>(dst) + 8 * h;
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + (p + j) * W8A8_NR, v[j]);
      }
    }
  }
  for (; p < kpairs; p++)
    for (int j = 0; j < W8A8_NR; j++) {
      const bool live = j < rows;
      dst[(p * W8A8_NR + j) * 2] = live ? r[j][2 * p] : 0;
      dst[(p * W8A8_NR + j) * 2 + 1] = live && 2 * p + 1 < K ? r[j][2 * p + 1] : 0;
    }
}

namespace {

typedef int32_t pair_i32 __attribute__((may_alias, aligned(1)));

// acc += the pair sums of b x a. As inline asm: GCC 12 gives this loop's vpaddd the wrong operand
// order and then copies or spills every accumulator once per step.
ACESTEP_AVX2 inline __m256i madd_add(__m256i acc, __m256i b, __m256i a) {
  __m256i t;
  __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(t) : "x"(b), "x"(a));
  return acc;
}

template <int R>
ACESTEP_AVX2 void ukr_w8a8_avx2_rows(int64_t kpairs, const int16_t* X, int64_t ldx, const int16_t* B, int rows, float* C, int64_t ldc,
                                     const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum, const float* bias) {
  const pair_i32* x[R];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) x[i] = reinterpret_cast<const pair_i32*>(X + i * ldx);
  __m256i acc[R][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const __m256i* b = reinterpret_cast<const __m256i*>(B);
  for (int64_t p = 0; p < kpairs; p++) {
    const __m256i b0 = _mm256_load_si256(b + 2 * p), b1 = _mm256_load_si256(b + 2 * p + 1);
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      const __m256i a = _mm256_set1_epi32(x[i][p]);
      acc[i][0] = madd_add(acc[i][0], b0, a);
      acc[i][1] = madd_add(acc[i][1], b1, a);
    }
  }
  alignas(32) float out[W8A8_NR];
  for (int i = 0; i < R; i++) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      const __m256i rs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rowsum + 8 * h));
      const __m256i d = _mm256_sub_epi32(acc[i][h], _mm256_mullo_epi32(_mm256_set1_epi32(zp[i]), rs));
      _mm256_store_ps(out + 8 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(_mm256_set1_ps(sa[i]), _mm256_loadu_ps(sw + 8 * h))));
    }
    // The bias is added from memory: GCC would fuse a vector multiply and add into one FMA, which
    // rounds once where the reference rounds twice. Without a bias the value is stored as is
    // (0 + -0 would turn a -0 into +0).
    float* c = C + i * ldc;
    if (bias)
      for (int j = 0; j < rows; j++) c[j] = out[j] + bias[j];
    else
      std::copy(out, out + rows, c);
  }
}

}  // namespace

ACESTEP_AVX2 void ukr_w8a8_avx2(int64_t kpairs, const int16_t* X, int64_t ldx, int mr, const int16_t* B, int rows, float* C, int64_t ldc,
                                const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum, const float* bias) {
  static_assert(W8A8_MR == 6, "tiles of 1..6 rows");
  switch (mr) {
    case 6:
      return ukr_w8a8_avx2_rows<6>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
    case 5:
      return ukr_w8a8_avx2_rows<5>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
    case 4:
      return ukr_w8a8_avx2_rows<4>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
    case 3:
      return ukr_w8a8_avx2_rows<3>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
    case 2:
      return ukr_w8a8_avx2_rows<2>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
    default:
      return ukr_w8a8_avx2_rows<1>(kpairs, X, ldx, B, rows, C, ldc, sa, zp, sw, rowsum, bias);
  }
}

// ---------------- GEMV ----------------

namespace {

template <DType D>
ACESTEP_AVX512 inline __m512 load16(const void* w, int64_t off, __mmask16 m) {
  if constexpr (D == DType::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + off);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off);
    if constexpr (D == DType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else
      return _mm512_cvtph_ps(h);
  }
}

// One weight row against M activation rows; each weight vector is loaded once and used M times.
template <int M, DType D>
ACESTEP_AVX512 void gemv_col_avx512(int64_t n, int64_t K, const float* x, const void* w, int64_t ldw, const float* bias, float* c,
                                    int64_t ldc) {
  __m512 acc[M];
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) acc[m] = _mm512_setzero_ps();
  const int64_t K16 = K & ~int64_t{15};
  const __mmask16 full = 0xffff;
  for (int64_t k = 0; k < K16; k += 16) {
    const __m512 wv = load16<D>(w, n * ldw + k, full);
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[m] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * K + k), acc[m]);
  }
  if (K16 < K) {
    const __mmask16 tm = mask_lo(static_cast<int>(K - K16));
    const __m512 wv = load16<D>(w, n * ldw + K16, tm);
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[m] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tm, x + m * K + K16), acc[m]);
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) c[m * ldc + n] = _mm512_reduce_add_ps(acc[m]) + (bias ? bias[n] : 0.f);
}

template <int M, DType D>
ACESTEP_AVX512 void gemv_range_avx512(int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, int64_t ldw, const float* bias,
                                      float* c, int64_t ldc) {
  // One weight row at a time: a single sequential stream reads DRAM at ~0.7-0.8 of the streaming
  // read rate on the development machine's AMD core, four interleaved rows (the kernel before, faster
  // only on cache-resident weights) at ~0.35-0.5. Each column's sum is the same either way.
  for (int64_t n = n0; n < n1; n++) gemv_col_avx512<M, D>(n, K, x, w, ldw, bias, c, ldc);
}

template <int M>
void gemv_m_avx512(int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias, float* c,
                   int64_t ldc) {
  switch (wd) {
    case DType::F32:
      return gemv_range_avx512<M, DType::F32>(n0, n1, K, x, w, ldw, bias, c, ldc);
    case DType::BF16:
      return gemv_range_avx512<M, DType::BF16>(n0, n1, K, x, w, ldw, bias, c, ldc);
    default:
      return gemv_range_avx512<M, DType::F16>(n0, n1, K, x, w, ldw, bias, c, ldc);
  }
}

// bf16 precision against bf16 weights: one weight row at a time, read front to back as one
// sequential stream (on the development machine's AMD core, four interleaved row streams reached
// only ~0.35-0.6 of the streaming read rate from DRAM, one stream ~0.95), 32 k per vdpbf16ps and
// four partial sums per activation row to cover the instruction's latency.
template <int M>
ACESTEP_AVX512BF16 void gemv_row_bf16dot(int64_t n, int64_t K, const uint16_t* x, const uint16_t* w, int64_t ldw, const float* bias,
                                         float* c, int64_t ldc) {
  __m512 acc[4][M];
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[j][m] = _mm512_setzero_ps();
  const uint16_t* wr = w + n * ldw;
  int64_t k = 0;
  for (; k + 128 <= K; k += 128) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      const __m512bh wv = (__m512bh)_mm512_loadu_si512(wr + k + 32 * j);
#pragma GCC unroll 4
      for (int m = 0; m < M; m++) acc[j][m] = _mm512_dpbf16_ps(acc[j][m], wv, (__m512bh)_mm512_loadu_si512(x + m * K + k + 32 * j));
    }
  }
  for (; k < K; k += 32) {
    const __mmask32 km = K - k >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint64_t{1} << (K - k)) - 1);
    const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(km, wr + k);
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[0][m] = _mm512_dpbf16_ps(acc[0][m], wv, (__m512bh)_mm512_maskz_loadu_epi16(km, x + m * K + k));
  }
#pragma GCC unroll 4
  for (int m = 0; m < M; m++) {
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0][m], acc[1][m]), _mm512_add_ps(acc[2][m], acc[3][m]));
    c[m * ldc + n] = _mm512_reduce_add_ps(sum) + (bias ? bias[n] : 0.f);
  }
}

template <int M>
void gemv_rows_bf16dot(int64_t n0, int64_t n1, int64_t K, const uint16_t* x, const uint16_t* w, int64_t ldw, const float* bias, float* c,
                       int64_t ldc) {
  for (int64_t n = n0; n < n1; n++) gemv_row_bf16dot<M>(n, K, x, w, ldw, bias, c, ldc);
}

template <DType D>
ACESTEP_AVX2 inline __m256 load8(const void* w, int64_t off) {
  if constexpr (D == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + off);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + off));
    if constexpr (D == DType::BF16)
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else
      return _mm256_cvtph_ps(h);
  }
}

template <DType D>
inline float load1(const void* w, int64_t off) {
  if constexpr (D == DType::F32)
    return static_cast<const float*>(w)[off];
  else if constexpr (D == DType::BF16)
    return bf16_to_f32(static_cast<const uint16_t*>(w)[off]);
  else
    return f16_to_f32(static_cast<const uint16_t*>(w)[off]);
}

ACESTEP_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int M, DType D>
ACESTEP_AVX2 void gemv_range_avx2(int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, int64_t ldw, const float* bias,
                                  float* c, int64_t ldc) {
  const int64_t K8 = K & ~int64_t{7};
  for (int64_t n = n0; n < n1; n++) {
    __m256 acc[M];
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) acc[m] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K8; k += 8) {
      const __m256 wv = load8<D>(w, n * ldw + k);
#pragma GCC unroll 4
      for (int m = 0; m < M; m++) acc[m] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + m * K + k), acc[m]);
    }
#pragma GCC unroll 4
    for (int m = 0; m < M; m++) {
      float s = hsum8(acc[m]);
      for (int64_t k = K8; k < K; k++) s += load1<D>(w, n * ldw + k) * x[m * K + k];
      c[m * ldc + n] = s + (bias ? bias[n] : 0.f);
    }
  }
}

template <int M>
void gemv_m_avx2(int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias, float* c,
                 int64_t ldc) {
  switch (wd) {
    case DType::F32:
      return gemv_range_avx2<M, DType::F32>(n0, n1, K, x, w, ldw, bias, c, ldc);
    case DType::BF16:
      return gemv_range_avx2<M, DType::BF16>(n0, n1, K, x, w, ldw, bias, c, ldc);
    default:
      return gemv_range_avx2<M, DType::F16>(n0, n1, K, x, w, ldw, bias, c, ldc);
  }
}

}  // namespace

void gemv_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias,
                 float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return gemv_m_avx512<1>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    case 2:
      return gemv_m_avx512<2>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    case 3:
      return gemv_m_avx512<3>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    default:
      return gemv_m_avx512<4>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
  }
}

void gemv_bf16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const uint16_t* x, const uint16_t* w, int64_t ldw, const float* bias,
                         float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return gemv_rows_bf16dot<1>(n0, n1, K, x, w, ldw, bias, c, ldc);
    case 2:
      return gemv_rows_bf16dot<2>(n0, n1, K, x, w, ldw, bias, c, ldc);
    case 3:
      return gemv_rows_bf16dot<3>(n0, n1, K, x, w, ldw, bias, c, ldc);
    default:
      return gemv_rows_bf16dot<4>(n0, n1, K, x, w, ldw, bias, c, ldc);
  }
}

void gemv_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias,
               float* c, int64_t ldc) {
  switch (M) {
    case 1:
      return gemv_m_avx2<1>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    case 2:
      return gemv_m_avx2<2>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    case 3:
      return gemv_m_avx2<3>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
    default:
      return gemv_m_avx2<4>(n0, n1, K, x, w, wd, ldw, bias, c, ldc);
  }
}

// ---------------- benchmark probes ----------------

ACESTEP_AVX512 float stream_sum_avx512(const float* p, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
  }
  for (; i < n; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(mask_lo(static_cast<int>(n - i)), p + i));
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

// 16 independent FMA chains hide the FMA latency on both ports.
ACESTEP_AVX512 double fma_loop_avx512(int64_t iters) {
  __m512 a[16];
  for (int j = 0; j < 16; j++) a[j] = _mm512_set1_ps(1.0f + j * 1e-3f);
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) a[j] = _mm512_fmadd_ps(a[j], mul, add);
  }
  __m512 s = a[0];
  for (int j = 1; j < 16; j++) s = _mm512_add_ps(s, a[j]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * 16 * 16 * 2;
}

ACESTEP_AVX512BF16 double dpbf16_loop_avx512(int64_t iters) {
  __m512 a[16];
  for (int j = 0; j < 16; j++) a[j] = _mm512_set1_ps(1.0f + j * 1e-3f);
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) a[j] = _mm512_dpbf16_ps(a[j], x, y);
  }
  __m512 s = a[0];
  for (int j = 1; j < 16; j++) s = _mm512_add_ps(s, a[j]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * 16 * 16 * 4;
}

ACESTEP_AVX2 double fma_loop_avx2(int64_t iters) {
  __m256 a[12];
  for (int j = 0; j < 12; j++) a[j] = _mm256_set1_ps(1.0f + j * 1e-3f);
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], mul, add);
  }
  __m256 s = a[0];
  for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, a[j]);
  volatile float sink = hsum8(s);
  (void)sink;
  return static_cast<double>(iters) * 12 * 8 * 2;
}

}  // namespace acestep::cpu::gemm_detail
