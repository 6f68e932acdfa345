// Math shared by the pointwise kernels (elementwise, norm, rope, softmax, reduce): scalar silu /
// sigmoid in torch's float32 form, NaN-propagating max/min, the run-time ISA choice, and the
// AVX-512 / AVX2 vector math (exp and the functions built on it) the fast paths use.
#pragma once
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// In their own namespace so other kernel files' private helpers of the same names never collide.
namespace acestep::cpu::pw {

#define ACESTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
// AVX2 without FMA on purpose: GCC would otherwise fuse mul+add pairs, and these paths must round
// every step like the reference.
#define ACESTEP_AVX2 __attribute__((target("avx2")))

// The vector ISA the pointwise fast paths use: the best the CPU has, optionally capped by the
// environment variable ACESTEP_CPU_ISA=avx2|scalar or at run time by set_pw_isa (lets tests run the
// AVX2 and scalar paths on an AVX-512 machine).
enum class PwIsa { Scalar = 0, Avx2 = 1, Avx512 = 2 };
inline PwIsa pw_best_isa() {
  static const PwIsa best = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
      return PwIsa::Avx512;
    return __builtin_cpu_supports("avx2") ? PwIsa::Avx2 : PwIsa::Scalar;
  }();
  return best;
}
// Named apart from the GEMM's Isa/detect_isa (kernels/cpu/gemm_kernels.h), which dispatch separately.
inline std::atomic<int>& pw_isa_state() {
  static std::atomic<int> state{[] {
    int best = static_cast<int>(pw_best_isa());
    const char* cap = std::getenv("ACESTEP_CPU_ISA");
    if (cap && std::strcmp(cap, "scalar") == 0) return 0;
    if (cap && std::strcmp(cap, "avx2") == 0) return best < 1 ? best : 1;
    return best;
  }()};
  return state;
}
inline PwIsa pw_isa() {
  return static_cast<PwIsa>(pw_isa_state().load(std::memory_order_relaxed));
}
// Requests an ISA; the CPU's best caps it. Returns the one in effect.
inline PwIsa set_pw_isa(PwIsa want) {
  int w = static_cast<int>(want), best = static_cast<int>(pw_best_isa());
  pw_isa_state().store(w < best ? w : best);
  return pw_isa();
}

// torch's float32 silu/sigmoid are x / (1 + exp(-x)) and 1 / (1 + exp(-x)).
inline float silu_f(float x) {
  return x / (1.0f + std::exp(-x));
}
inline float sigmoid_f(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
// NaN-propagating maximum/minimum like torch.maximum/minimum.
inline float max_f(float a, float b) {
  return a != a ? a : (b != b ? b : (a > b ? a : b));
}
inline float min_f(float a, float b) {
  return a != a ? a : (b != b ? b : (a < b ? a : b));
}

// exp(x) for 16 lanes: n = round(x / ln2), r = x - n ln2 (two-part constant), a degree-7 Taylor-like
// polynomial (Cephes expf coefficients) on |r| <= ln2/2, then scale by 2^n with scalef, which
// also produces overflow to inf and underflow to 0. About 1-2 ulp from the libm result.
ACESTEP_AVX512 inline __m512 exp512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-104.0f), hi = _mm512_set1_ps(89.0f);
  __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512 y = _mm512_scalef_ps(p, n);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);  // NaN stays NaN
}

ACESTEP_AVX512 inline __m512 sigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
ACESTEP_AVX512 inline __m512 silu512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(x, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
// tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|): no overflow; absolute error ~1e-7.
ACESTEP_AVX512 inline __m512 tanh512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 ax = _mm512_abs_ps(x);
  __m512 e = exp512(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
  __m512 t = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(int32_t(0x80000000u)));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}
ACESTEP_AVX512 inline __m512 max512(__m512 a, __m512 b) {  // NaN-propagating
  __m512 m = _mm512_max_ps(a, b);
  m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), m, b);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), m, a);
}
ACESTEP_AVX512 inline __m512 min512(__m512 a, __m512 b) {
  __m512 m = _mm512_min_ps(a, b);
  m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), m, b);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), m, a);
}
// Multiply/add that the compiler may not fuse into an FMA (GCC contracts plain vector mul+add):
// keeps fast paths rounding each step like the float32 reference.
ACESTEP_AVX512 inline __m512 mul_nc(__m512 a, __m512 b) {
  return _mm512_mul_round_ps(a, b, _MM_FROUND_CUR_DIRECTION);
}
ACESTEP_AVX512 inline __m512 add_nc(__m512 a, __m512 b) {
  return _mm512_add_round_ps(a, b, _MM_FROUND_CUR_DIRECTION);
}
ACESTEP_AVX512 inline __m512 sub_nc(__m512 a, __m512 b) {
  return _mm512_sub_round_ps(a, b, _MM_FROUND_CUR_DIRECTION);
}
ACESTEP_AVX512 inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// ---- AVX2 (8 lanes, no FMA, scalar tails) ----

// exp as exp512 above, without scalef: 2^n is applied as two factors 2^h * 2^(n-h), each a valid
// float exponent, so overflow to inf and gradual underflow to 0 come out of the multiplies.
ACESTEP_AVX2 inline __m256 exp256(__m256 x) {
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201E-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  __m256 e2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, e1), e2);
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
ACESTEP_AVX2 inline __m256 silu256(__m256 x) {
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
ACESTEP_AVX2 inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
ACESTEP_AVX2 inline __m256 tanh256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  __m256 ax = _mm256_andnot_ps(sign, x);
  __m256 e = exp256(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  return _mm256_or_ps(t, _mm256_and_ps(x, sign));
}
ACESTEP_AVX2 inline __m256 max256(__m256 a, __m256 b) {  // NaN-propagating
  __m256 m = _mm256_max_ps(a, b);
  m = _mm256_blendv_ps(m, b, _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
  return _mm256_blendv_ps(m, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
ACESTEP_AVX2 inline __m256 min256(__m256 a, __m256 b) {
  __m256 m = _mm256_min_ps(a, b);
  m = _mm256_blendv_ps(m, b, _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
  return _mm256_blendv_ps(m, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
// Sum of 8 floats widened to double lanes (for long rows where float32 sums drift).
ACESTEP_AVX2 inline __m256d widen_add256(__m256d acc, __m256 v) {
  return _mm256_add_pd(_mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v))), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
ACESTEP_AVX2 inline double hsum256d(__m256d v) {
  alignas(32) double d[4];
  _mm256_store_pd(d, v);
  return (d[0] + d[1]) + (d[2] + d[3]);
}
ACESTEP_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

}  // namespace acestep::cpu::pw
