// Softmax kernels. Reference: libm exp, sum in double. Fast: AVX-512/AVX2 max, vector exp (~1-2 ulp)
// with a double running sum, then one multiply by 1/sum (torch's CPU kernel does the same).
#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel.h"
#include "pointwise_math.h"

namespace acestep::cpu {
using namespace pw;
namespace {

ACESTEP_AVX512 void softmax_row512(const float* x, int64_t n, float* o, bool log) {
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    mx = _mm512_mask_mov_ps(mx, m, max512(mx, _mm512_maskz_loadu_ps(m, x + i)));
  }
  float mval = _mm512_reduce_max_ps(mx);
  // reduce_max drops NaN lanes; recover NaN propagation explicitly.
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (_mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q)) {
      mval = std::numeric_limits<float>::quiet_NaN();
      break;
    }
  }
  // The sum runs in double lanes: vocab-sized rows (150k) would lose ~1e-5 in float32.
  __m512 mv = _mm512_set1_ps(mval);
  __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv);
    __m512 e = _mm512_maskz_mov_ps(m, exp512(d));
    if (!log) _mm512_mask_storeu_ps(o + i, m, e);
    sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  float s = static_cast<float>(_mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi)));
  if (log) {
    __m512 sh = _mm512_set1_ps(std::log(s));
    for (int64_t i = 0; i < n; i += 16) {
      __mmask16 m = tail_mask(n - i);
      _mm512_mask_storeu_ps(o + i, m, _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv), sh));
    }
  } else {
    __m512 inv = _mm512_set1_ps(1.0f / s);
    for (int64_t i = 0; i < n; i += 16) {
      __mmask16 m = tail_mask(n - i);
      _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + i), inv));
    }
  }
}

void softmax_row_scalar(const float* x, int64_t n, float* o, bool log);

ACESTEP_AVX2 void softmax_row256(const float* x, int64_t n, float* o, bool log) {
  if (n < 8) return softmax_row_scalar(x, n, o, log);
  float mval = -std::numeric_limits<float>::infinity();
  __m256 mx = _mm256_set1_ps(mval);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = max256(mx, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  for (float v : lanes) mval = max_f(mval, v);
  for (; i < n; i++) mval = max_f(mval, x[i]);
  __m256 mv = _mm256_set1_ps(mval);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    if (!log) _mm256_storeu_ps(o + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double dl[4];
  _mm256_store_pd(dl, _mm256_add_pd(s0, s1));
  double sum = dl[0] + dl[1] + dl[2] + dl[3];
  for (int64_t j = i; j < n; j++) {
    float e = std::exp(x[j] - mval);
    if (!log) o[j] = e;
    sum += e;
  }
  float s = static_cast<float>(sum);
  if (log) {
    float ls = std::log(s);
    for (int64_t j = 0; j < n; j++) o[j] = (x[j] - mval) - ls;
  } else {
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), inv));
    for (; i < n; i++) o[i] = o[i] * (1.0f / s);
  }
}

void softmax_row_scalar(const float* x, int64_t n, float* o, bool log) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i++) mx = max_f(mx, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float e = std::exp(x[i] - mx);
    if (!log) o[i] = e;
    sum += e;
  }
  float s = static_cast<float>(sum);
  if (log) {
    float ls = std::log(s);
    for (int64_t i = 0; i < n; i++) o[i] = (x[i] - mx) - ls;
  } else {
    for (int64_t i = 0; i < n; i++) o[i] = o[i] / s;
  }
}

}  // namespace

void softmax_ref(const TensorView& x, const TensorView& out, bool log) {
  int64_t n = x.shape[x.ndim - 1], rows = n ? x.numel() / n : 0;
  for (int64_t r = 0; r < rows; r++) softmax_row_scalar(x.ptr<float>() + r * n, n, out.ptr<float>() + r * n, log);
}

void softmax(const TensorView& x, const TensorView& out, bool log) {
  int64_t n = x.shape[x.ndim - 1], rows = n ? x.numel() / n : 0;
  PwIsa isa = pw_isa();
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; r++) {
      const float* xr = x.ptr<float>() + r * n;
      float* o = out.ptr<float>() + r * n;
      if (isa == PwIsa::Avx512)
        softmax_row512(xr, n, o, log);
      else if (isa == PwIsa::Avx2)
        softmax_row256(xr, n, o, log);
      else
        softmax_row_scalar(xr, n, o, log);
    }
  });
}

}  // namespace acestep::cpu
