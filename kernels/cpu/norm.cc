// RMSNorm / LayerNorm. The reference accumulates in double and rounds every step of the upstream
// expression to float32 in torch's order; the fast path keeps float32 accumulators in AVX-512 or
// AVX2 registers per row (rows spread over the thread pool), which moves results by a few ulp.
#include "norm.h"

#include <cmath>
#include <vector>

#include "parallel.h"
#include "pointwise_math.h"
#include "strided.h"

namespace acestep::cpu {
using namespace pw;
namespace {

// The optional [D] parameter as f32 (weights may be bf16/f16); empty when absent.
std::vector<float> param_f32(const TensorView& w, int64_t d) {
  std::vector<float> v;
  if (!w.data) return v;
  v.resize(d);
  for (int64_t i = 0; i < d; i++) v[i] = load_as_f32(w, i * w.strides[0]);
  return v;
}

ACESTEP_AVX512 float sum_sq512(const float* x, int64_t n) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int k = 0; k < 4; k++) {
      __m512 v = _mm512_loadu_ps(x + i + 16 * k);
      acc[k] = _mm512_fmadd_ps(v, v, acc[k]);
    }
  for (; i < n; i += 16) {
    __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    acc[0] = _mm512_fmadd_ps(v, v, acc[0]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

// Row sums for the LayerNorm mean run in double lanes: a large common offset would otherwise
// cost float32 precision in x - mean.
ACESTEP_AVX512 double sum512(const float* x, int64_t n) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

ACESTEP_AVX512 float sum_centered_sq512(const float* x, int64_t n, float mean) {
  __m512 acc = _mm512_setzero_ps(), mu = _mm512_set1_ps(mean);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mu);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// out = (x - shift) * r, then * w (if any), then + b (if any), each rounded like the reference.
ACESTEP_AVX512 void scale_row512(const float* x, int64_t n, float shift, float r, const float* w, const float* b, float* o) {
  __m512 sh = _mm512_set1_ps(shift), rv = _mm512_set1_ps(r);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 y = mul_nc(sub_nc(_mm512_maskz_loadu_ps(m, x + i), sh), rv);
    if (w) y = mul_nc(_mm512_maskz_loadu_ps(m, w + i), y);
    if (b) y = add_nc(y, _mm512_maskz_loadu_ps(m, b + i));
    _mm512_mask_storeu_ps(o + i, m, y);
  }
}

ACESTEP_AVX2 float sum_sq256(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 u = _mm256_loadu_ps(x + i), v = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_add_ps(a0, _mm256_mul_ps(u, u));
    a1 = _mm256_add_ps(a1, _mm256_mul_ps(v, v));
  }
  float s = hsum256(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += x[i] * x[i];
  return s;
}

ACESTEP_AVX2 double sum256(const float* x, int64_t n) {
  __m256d acc = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = widen_add256(acc, _mm256_loadu_ps(x + i));
  double s = hsum256d(acc);
  for (; i < n; i++) s += x[i];
  return s;
}

ACESTEP_AVX2 float sum_centered_sq256(const float* x, int64_t n, float mean) {
  __m256 acc = _mm256_setzero_ps(), mu = _mm256_set1_ps(mean);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + i), mu);
    acc = _mm256_add_ps(acc, _mm256_mul_ps(v, v));
  }
  float s = hsum256(acc);
  for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
  return s;
}

void scale_row(const float* x, int64_t n, float shift, float r, const float* w, const float* b, float* o);

ACESTEP_AVX2 void scale_row256(const float* x, int64_t n, float shift, float r, const float* w, const float* b, float* o) {
  __m256 sh = _mm256_set1_ps(shift), rv = _mm256_set1_ps(r);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), rv);
    if (w) y = _mm256_mul_ps(_mm256_loadu_ps(w + i), y);
    if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(o + i, y);
  }
  scale_row(x + i, n - i, shift, r, w ? w + i : nullptr, b ? b + i : nullptr, o + i);
}

void scale_row(const float* x, int64_t n, float shift, float r, const float* w, const float* b, float* o) {
  for (int64_t i = 0; i < n; i++) {
    float y = (x[i] - shift) * r;
    if (w) y = w[i] * y;
    if (b) y = y + b[i];
    o[i] = y;
  }
}

}  // namespace

void rms_norm_ref(const TensorView& x, const TensorView& weight, const TensorView& out, float eps) {
  int64_t d = x.shape[x.ndim - 1], rows = d ? x.numel() / d : 0;
  std::vector<float> w = param_f32(weight, d);
  const float* xs = x.ptr<float>();
  float* o = out.ptr<float>();
  for (int64_t r = 0; r < rows; r++) {
    const float* row = xs + r * d;
    double acc = 0;
    for (int64_t i = 0; i < d; i++) acc += static_cast<double>(row[i] * row[i]);
    float var = static_cast<float>(acc / static_cast<double>(d));
    float inv = 1.0f / std::sqrt(var + eps);
    scale_row(row, d, 0.0f, inv, w.empty() ? nullptr : w.data(), nullptr, o + r * d);
  }
}

void rms_norm(const TensorView& x, const TensorView& weight, const TensorView& out, float eps) {
  int64_t d = x.shape[x.ndim - 1], rows = d ? x.numel() / d : 0;
  std::vector<float> w = param_f32(weight, d);
  const float* wp = w.empty() ? nullptr : w.data();
  PwIsa isa = pw_isa();
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; r++) {
      const float* row = x.ptr<float>() + r * d;
      float* o = out.ptr<float>() + r * d;
      if (isa == PwIsa::Avx512) {
        float inv = 1.0f / std::sqrt(sum_sq512(row, d) / static_cast<float>(d) + eps);
        scale_row512(row, d, 0.0f, inv, wp, nullptr, o);
      } else if (isa == PwIsa::Avx2) {
        float inv = 1.0f / std::sqrt(sum_sq256(row, d) / static_cast<float>(d) + eps);
        scale_row256(row, d, 0.0f, inv, wp, nullptr, o);
      } else {
        float acc = 0;
        for (int64_t i = 0; i < d; i++) acc += row[i] * row[i];
        scale_row(row, d, 0.0f, 1.0f / std::sqrt(acc / static_cast<float>(d) + eps), wp, nullptr, o);
      }
    }
  });
}

void layer_norm_ref(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& out, float eps) {
  int64_t d = x.shape[x.ndim - 1], rows = d ? x.numel() / d : 0;
  std::vector<float> w = param_f32(weight, d), bv = param_f32(bias, d);
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x.ptr<float>() + r * d;
    double s = 0;
    for (int64_t i = 0; i < d; i++) s += row[i];
    double mean = s / static_cast<double>(d), ss = 0;
    for (int64_t i = 0; i < d; i++) ss += (row[i] - mean) * (row[i] - mean);
    float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(d)) + eps);
    scale_row(row, d, static_cast<float>(mean), inv, w.empty() ? nullptr : w.data(), bv.empty() ? nullptr : bv.data(),
              out.ptr<float>() + r * d);
  }
}

void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& out, float eps) {
  int64_t d = x.shape[x.ndim - 1], rows = d ? x.numel() / d : 0;
  std::vector<float> w = param_f32(weight, d), bv = param_f32(bias, d);
  const float* wp = w.empty() ? nullptr : w.data();
  const float* bp = bv.empty() ? nullptr : bv.data();
  PwIsa isa = pw_isa();
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; r++) {
      const float* row = x.ptr<float>() + r * d;
      float* o = out.ptr<float>() + r * d;
      if (isa == PwIsa::Avx512) {
        float mean = static_cast<float>(sum512(row, d) / static_cast<double>(d));
        float inv = 1.0f / std::sqrt(sum_centered_sq512(row, d, mean) / static_cast<float>(d) + eps);
        scale_row512(row, d, mean, inv, wp, bp, o);
      } else if (isa == PwIsa::Avx2) {
        float mean = static_cast<float>(sum256(row, d) / static_cast<double>(d));
        float inv = 1.0f / std::sqrt(sum_centered_sq256(row, d, mean) / static_cast<float>(d) + eps);
        scale_row256(row, d, mean, inv, wp, bp, o);
      } else {
        double s = 0;
        float ss = 0;
        for (int64_t i = 0; i < d; i++) s += row[i];
        float mean = static_cast<float>(s / static_cast<double>(d));
        for (int64_t i = 0; i < d; i++) ss += (row[i] - mean) * (row[i] - mean);
        scale_row(row, d, mean, 1.0f / std::sqrt(ss / static_cast<float>(d) + eps), wp, bp, o);
      }
    }
  });
}

}  // namespace acestep::cpu
