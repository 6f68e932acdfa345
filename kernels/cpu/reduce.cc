// Reduction kernels. Reference: sums in double, one element at a time. Fast: rows spread over the
// thread pool; a last-dim sum (inner == 1) uses AVX-512/AVX2 float32 accumulators, an outer
// one (inner > 1) accumulates whole inner rows in float32, both a few ulp from the reference.
#include "reduce.h"

#include <algorithm>
#include <limits>

#include "parallel.h"
#include "pointwise_math.h"

namespace acestep::cpu {
using namespace pw;
namespace {

ACESTEP_AVX512 float row_sum512(const float* x, int64_t n) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int k = 0; k < 4; k++) acc[k] = _mm512_add_ps(acc[k], _mm512_loadu_ps(x + i + 16 * k));
  for (; i < n; i += 16) acc[0] = _mm512_add_ps(acc[0], _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

ACESTEP_AVX2 float row_sum256(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  float s = hsum256(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += x[i];
  return s;
}

float reduce_row_scalar(ReduceOp op, const float* x, int64_t n, int64_t stride) {
  if (op == ReduceOp::Max) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; i++) m = max_f(m, x[i * stride]);
    return m;
  }
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i * stride];
  return static_cast<float>(op == ReduceOp::Mean ? s / static_cast<double>(n) : s);
}

}  // namespace

void reduce_ref(const TensorView& x, const TensorView& out, ReduceOp op, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++)
      out.ptr<float>()[o * inner + j] = reduce_row_scalar(op, x.ptr<float>() + o * n * inner + j, n, inner);
}

void reduce(const TensorView& x, const TensorView& out, ReduceOp op, int64_t outer, int64_t n, int64_t inner) {
  const float* xs = x.ptr<float>();
  float* os = out.ptr<float>();
  if (inner == 1) {
    PwIsa isa = op == ReduceOp::Max ? PwIsa::Scalar : pw_isa();
    parallel_for(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e, int) {
      for (int64_t o = b; o < e; o++) {
        if (isa != PwIsa::Scalar) {
          float s = isa == PwIsa::Avx512 ? row_sum512(xs + o * n, n) : row_sum256(xs + o * n, n);
          os[o] = op == ReduceOp::Mean ? s / static_cast<float>(n) : s;
        } else {
          os[o] = reduce_row_scalar(op, xs + o * n, n, 1);
        }
      }
    });
    return;
  }
  // Reduce over a middle dim: accumulate contiguous inner rows; parallel over (outer, inner chunks).
  const int64_t chunk = 1024;
  int64_t chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      int64_t o = t / chunks, j0 = (t % chunks) * chunk, len = std::min(chunk, inner - j0);
      float* acc = os + o * inner + j0;
      const float* base = xs + o * n * inner + j0;
      for (int64_t j = 0; j < len; j++) acc[j] = op == ReduceOp::Max ? -std::numeric_limits<float>::infinity() : 0.0f;
      for (int64_t k = 0; k < n; k++) {
        const float* row = base + k * inner;
        if (op == ReduceOp::Max)
          for (int64_t j = 0; j < len; j++) acc[j] = max_f(acc[j], row[j]);
        else
          for (int64_t j = 0; j < len; j++) acc[j] += row[j];
      }
      if (op == ReduceOp::Mean)
        for (int64_t j = 0; j < len; j++) acc[j] /= static_cast<float>(n);
    }
  });
}

void argmax_ref(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      const float* p = x.ptr<float>() + o * n * inner + j;
      int64_t best = 0;
      for (int64_t k = 1; k < n; k++) {
        float v = p[k * inner], b = p[best * inner];
        if (b != b) break;  // the first NaN wins
        if (v > b || v != v) best = k;
      }
      out.ptr<int32_t>()[o * inner + j] = static_cast<int32_t>(best);
    }
}

void argmax(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner) {
  parallel_for(outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      int64_t o = t / inner, j = t % inner;
      const float* p = x.ptr<float>() + o * n * inner + j;
      float bv = p[0];
      int64_t best = 0;
      for (int64_t k = 1; k < n && bv == bv; k++) {
        float v = p[k * inner];
        if (v > bv || v != v) {
          bv = v;
          best = k;
        }
      }
      out.ptr<int32_t>()[t] = static_cast<int32_t>(best);
    }
  });
}

}  // namespace acestep::cpu
