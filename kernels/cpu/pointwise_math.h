// Scalar definitions of the pointwise ops (the reference semantics, in torch's float32 operation
// order) and the AVX-512 vector math the fast paths build on. Shared by the elementwise, norm,
// softmax and reduce kernels.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace acestep::cpu {

#define ACESTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

inline bool has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
}

// torch's float32 silu/sigmoid are x / (1 + exp(-x)) and 1 / (1 + exp(-x)).
inline float silu_f(float x) { return x / (1.0f + std::exp(-x)); }
inline float sigmoid_f(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// NaN-propagating maximum/minimum like torch.maximum/minimum.
inline float max_f(float a, float b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
inline float min_f(float a, float b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }

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
ACESTEP_AVX512 inline __m512 mul_nc(__m512 a, __m512 b) { return _mm512_mul_round_ps(a, b, _MM_FROUND_CUR_DIRECTION); }
ACESTEP_AVX512 inline __m512 add_nc(__m512 a, __m512 b) { return _mm512_add_round_ps(a, b, _MM_FROUND_CUR_DIRECTION); }
ACESTEP_AVX512 inline __m512 sub_nc(__m512 a, __m512 b) { return _mm512_sub_round_ps(a, b, _MM_FROUND_CUR_DIRECTION); }
ACESTEP_AVX512 inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

}  // namespace acestep::cpu
