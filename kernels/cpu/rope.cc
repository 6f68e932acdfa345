// RoPE kernels. Each output is two products and a sum rounded separately (torch evaluates
// q*cos + rotate_half(q)*sin as whole-tensor ops), so the fast path avoids FMA and matches the
// reference bit for bit. Fast path: f32 x with a unit-stride head dim, one (b, t) row per task.
#include "rope.h"

#include <algorithm>

#include "parallel.h"
#include "pointwise_math.h"
#include "strided.h"

namespace acestep::cpu {
using namespace pw;
namespace {

inline void rope_pair(float a, float b, float c, float s, float* lo, float* hi) {
  float ac = a * c, bs = b * s, bc = b * c, as = a * s;
  *lo = ac - bs;
  *hi = bc + as;
}

ACESTEP_AVX512 void rope_head512(const float* x, const float* c, const float* s, int64_t half, float* o) {
  for (int64_t i = 0; i < half; i += 16) {
    __mmask16 m = tail_mask(half - i);
    __m512 a = _mm512_maskz_loadu_ps(m, x + i), b = _mm512_maskz_loadu_ps(m, x + half + i);
    __m512 cv = _mm512_maskz_loadu_ps(m, c + i), sv = _mm512_maskz_loadu_ps(m, s + i);
    __m512 ac = mul_nc(a, cv), bs = mul_nc(b, sv), bc = mul_nc(b, cv), as = mul_nc(a, sv);
    _mm512_mask_storeu_ps(o + i, m, sub_nc(ac, bs));
    _mm512_mask_storeu_ps(o + half + i, m, add_nc(bc, as));
  }
}

ACESTEP_AVX2 void rope_head256(const float* x, const float* c, const float* s, int64_t half, float* o) {
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + half + i);
    __m256 cv = _mm256_loadu_ps(c + i), sv = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(o + i, _mm256_sub_ps(_mm256_mul_ps(a, cv), _mm256_mul_ps(b, sv)));
    _mm256_storeu_ps(o + half + i, _mm256_add_ps(_mm256_mul_ps(b, cv), _mm256_mul_ps(a, sv)));
  }
  for (; i < half; i++) rope_pair(x[i], x[i + half], c[i], s[i], o + i, o + i + half);
}

}  // namespace

namespace {

// Rows [lo, hi) of the flattened (b, t) range through strided scalar loads: the reference, and the
// fast path's fallback for non-f32 or head-dim-strided x.
void rope_rows_strided(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out, int64_t lo, int64_t hi) {
  int64_t T = x.shape[1], H = x.shape[2], D = x.shape[3], half = D / 2;
  for (int64_t bt = lo; bt < hi; bt++) {
    int64_t b = bt / T, t = bt % T;
    for (int64_t h = 0; h < H; h++) {
      int64_t xo = b * x.strides[0] + t * x.strides[1] + h * x.strides[2];
      float* orow = out.ptr<float>() + (bt * H + h) * D;
      for (int64_t i = 0; i < half; i++) {
        int64_t co = b * cos.strides[0] + t * cos.strides[1] + i * cos.strides[2];
        int64_t so = b * sin.strides[0] + t * sin.strides[1] + i * sin.strides[2];
        float a = load_as_f32(x, xo + i * x.strides[3]), bb = load_as_f32(x, xo + (i + half) * x.strides[3]);
        rope_pair(a, bb, cos.ptr<float>()[co], sin.ptr<float>()[so], orow + i, orow + i + half);
      }
    }
  }
}

}  // namespace

void rope_ref(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out) {
  rope_rows_strided(x, cos, sin, out, 0, x.shape[0] * x.shape[1]);
}

void rope(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out) {
  int64_t B = x.shape[0], T = x.shape[1], H = x.shape[2], D = x.shape[3], half = D / 2;
  if (B * T * H == 0) return;
  int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, H * D));
  bool fast = x.dtype == DType::F32 && x.strides[3] == 1 && cos.strides[2] == 1 && sin.strides[2] == 1;
  if (!fast) {
    return parallel_for(B * T, grain, [&](int64_t lo, int64_t hi, int) { rope_rows_strided(x, cos, sin, out, lo, hi); });
  }
  PwIsa isa = pw_isa();
  parallel_for(B * T, grain, [&](int64_t lo, int64_t hi, int) {
    for (int64_t bt = lo; bt < hi; bt++) {
      int64_t b = bt / T, t = bt % T;
      const float* c = cos.ptr<float>() + b * cos.strides[0] + t * cos.strides[1];
      const float* s = sin.ptr<float>() + b * sin.strides[0] + t * sin.strides[1];
      for (int64_t h = 0; h < H; h++) {
        const float* xr = x.ptr<float>() + b * x.strides[0] + t * x.strides[1] + h * x.strides[2];
        float* orow = out.ptr<float>() + (bt * H + h) * D;
        if (isa == PwIsa::Avx512) {
          rope_head512(xr, c, s, half, orow);
        } else if (isa == PwIsa::Avx2) {
          rope_head256(xr, c, s, half, orow);
        } else {
          for (int64_t i = 0; i < half; i++) rope_pair(xr[i], xr[i + half], c[i], s[i], orow + i, orow + i + half);
        }
      }
    }
  });
}

}  // namespace acestep::cpu
