// Int8 weight family (quant.h): the scalar references, the row quantizer, and the linear driver
// (weight-streaming GEMV for decode-sized M, widened blocks through the GEMM above that).
#include "quant.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_kernels.h"
#include "parallel.h"
#include "quant_kernels.h"
#include "scratch.h"
#include "strided.h"

namespace acestep::cpu {
using gemm_detail::current_isa;
using gemm_detail::Isa;
using namespace quant_detail;

namespace {

float round_bf16(float v) {
  return bf16_to_f32(f32_to_bf16(v));
}

// The quantizer's arithmetic on one row, element (n, k) of w at w.strides; the fast path's SIMD
// row does the same f32 operations.
void quantize_row_scalar(const TensorView& w, int64_t n, int8_t* q, float* scale) {
  const int64_t K = w.shape[1];
  const int64_t base = n * w.strides[0], cs = w.strides[1];
  float amax = 0.f;
  for (int64_t k = 0; k < K; k++) amax = std::max(amax, std::fabs(load_as_f32(w, base + k * cs)));
  *scale = amax / 127.f;
  const float inv = amax > 0.f ? 127.f / amax : 0.f;
  for (int64_t k = 0; k < K; k++) {
    const float r = std::nearbyint(load_as_f32(w, base + k * cs) * inv);
    q[k] = static_cast<int8_t>(std::clamp(r, -127.f, 127.f));
  }
}

// Activations as contiguous f32 rows (rounded to bf16 at BF16 precision), for the GEMV kernels.
std::vector<float> gather_rows(const TensorView& x, bool rnd) {
  const int64_t M = x.shape[0], K = x.shape[1];
  std::vector<float> buf(static_cast<size_t>(M * K));
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < K; k++) {
      const float v = load_as_f32(x, m * x.strides[0] + k * x.strides[1]);
      buf[m * K + k] = rnd ? round_bf16(v) : v;
    }
  return buf;
}

std::vector<float> bias_f32(const TensorView* bias, int64_t N) {
  std::vector<float> b;
  if (!bias) return b;
  b.resize(N);
  for (int64_t n = 0; n < N; n++) b[n] = load_as_f32(*bias, n * bias->strides[0]);
  return b;
}

void gemv_i8_scalar(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                    const float* bias, float* c, int64_t ldc) {
  for (int64_t n = n0; n < n1; n++)
    for (int64_t m = 0; m < M; m++) {
      float s = 0.f;
      for (int64_t k = 0; k < K; k++) s += static_cast<float>(q[n * ldq + k]) * x[m * K + k];
      c[m * ldc + n] = s * scale[n] + (bias ? bias[n] : 0.f);
    }
}

// x as bf16 in the line order of gemv_i8_bf16dot_avx512: row stride ceil(K / 64) * 64, zero padded.
std::vector<uint16_t> gather_rows_bf16_lines(const TensorView& x) {
  const int64_t M = x.shape[0], K = x.shape[1], KL = (K + kLine - 1) / kLine * kLine;
  std::vector<uint16_t> buf(static_cast<size_t>(M * KL), 0);
  for (int64_t m = 0; m < M; m++)
    for (int64_t k0 = 0; k0 < K; k0 += kLine)
      for (int p = 0; p < kLine; p++) {
        const int64_t k = k0 + kBf16LineOrder(p);
        if (k < K) buf[m * KL + k0 + p] = f32_to_bf16(load_as_f32(x, m * x.strides[0] + k * x.strides[1]));
      }
  return buf;
}

// Decode activations (quant.h): every row of x as int16 with one scale, in f32 operations (amax,
// sum of |x|, divide, multiply, round half even), unless some row has an outlier. Rows have stride
// ceil(K / 64) * 64, zero padded, as gemv_i8_i16dot_avx512 reads them.
struct I16Rows {
  std::vector<int16_t> x;
  std::vector<float> scale;
  int64_t stride = 0;
};
bool quantize_rows_i16(const TensorView& x, I16Rows& r) {
  const int64_t M = x.shape[0], K = x.shape[1];
  r.stride = (K + kLine - 1) / kLine * kLine;
  r.x.assign(static_cast<size_t>(M * r.stride), 0);
  r.scale.assign(static_cast<size_t>(M), 0.f);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t m = 0; m < M; m++) {
    float amax = 0.f, sum = 0.f;
    for (int64_t k = 0; k < K; k++) {
      row[k] = load_as_f32(x, m * x.strides[0] + k * x.strides[1]);
      amax = std::max(amax, std::fabs(row[k]));
      sum += std::fabs(row[k]);
    }
    // Infinities and NaN go the bf16 way too, where they propagate as in any product.
    if (!(std::isfinite(amax) && amax <= kI16OutlierRatio * (sum / static_cast<float>(K)))) return false;
    r.scale[m] = amax / 32767.f;
    const float inv = amax > 0.f ? 32767.f / amax : 0.f;
    for (int64_t k = 0; k < K; k++)
      r.x[m * r.stride + k] = static_cast<int16_t>(std::clamp(std::nearbyint(row[k] * inv), -32767.f, 32767.f));
  }
  return true;
}

// The int16 rows back in f32 (x16 * scale, one rounding), for the kernels without integer dots.
std::vector<float> dequantized_rows(const I16Rows& r, int64_t M, int64_t K) {
  std::vector<float> buf(static_cast<size_t>(M * K));
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < K; k++) buf[m * K + k] = static_cast<float>(r.x[m * r.stride + k]) * r.scale[m];
  return buf;
}

// Decode-sized M: every int8 row is read once. Blocks of 64 rows go to the threads from a shared
// counter (a thread slowed by another process does not hold the step back), as in the GEMM's GEMV.
// At bf16 precision on CPUs with avx512_vnni the int16 activations are dotted with vpdpwssd: two
// instructions widen a 64-byte line of weights, one per 32 weights and row multiplies and sums
// them. Widening int8 to bf16 (six instructions through byte tables, then vdpbf16ps) stays for
// rows with outliers; it was bound by those instructions (12-20 GB/s of int8 rows on two cores of
// the development machine against 31-45 GB/s for a plain read). The f32 kernels, a third as fast
// again, serve fp32 precision and CPUs without the dot-product instructions.
// Weight bytes from which the int16 GEMV takes every thread of the pool.
constexpr int64_t kWholePoolBytes = int64_t{8} << 20;
void linear_i8_gemv(const TensorView& x, const int8_t* q, int64_t ldq, const float* scale, const float* bias, float* c, int64_t N,
                    GemmPrecision p, Isa isa) {
  const int64_t M = x.shape[0], K = x.shape[1];
  static const bool i16dot_ok = has_i16dot_i8(), bf16dot_ok = has_bf16dot_i8();
  const bool dots = isa == Isa::Avx512 && gemm_detail::bf16_dot_for_gemv();
  I16Rows r;
  const bool i16 = p == GemmPrecision::BF16 && quantize_rows_i16(x, r);
  const bool i16dot = i16 && dots && i16dot_ok;
  const bool bf16dot = !i16 && p == GemmPrecision::BF16 && dots && bf16dot_ok;
  std::vector<float> xs;
  if (i16 && !i16dot)
    xs = dequantized_rows(r, M, K);
  else if (!i16 && !bf16dot)
    xs = gather_rows(x, p == GemmPrecision::BF16);
  const std::vector<uint16_t> xb = bf16dot ? gather_rows_bf16_lines(x) : std::vector<uint16_t>();
  constexpr int64_t kRows = 64;
  const int64_t blocks = (N + kRows - 1) / kRows;
  auto kernel = isa == Isa::Avx512 ? gemv_i8_avx512 : isa == Isa::Avx2 ? gemv_i8_avx2 : gemv_i8_scalar;
  std::atomic<int64_t> next{0};
  // The int16 kernel is light enough that one core fewer loses little on a small weight (parallel.h);
  // a large one (the 1.7B's MLP and q/k/v, an LM head) still takes every core.
  const int threads = i16dot && N * K < kWholePoolBytes ? memory_bound_threads() : std::max(1, num_threads());
  parallel_for(std::min<int64_t>(blocks, threads), 1, [&](int64_t, int64_t, int) {
    for (int64_t blk; (blk = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      const int64_t n0 = blk * kRows, n1 = std::min(N, n0 + kRows);
      if (i16dot)
        gemv_i8_i16dot_avx512(M, n0, n1, K, r.x.data(), r.scale.data(), q, ldq, scale, bias, c, N);
      else if (bf16dot)
        gemv_i8_bf16dot_avx512(M, n0, n1, K, xb.data(), q, ldq, scale, bias, c, N);
      else
        kernel(M, n0, n1, K, xs.data(), q, ldq, scale, bias, c, N);
    }
  });
}

// Larger M (prompts): rows of q widened block by block (exactly: the values are integers) to f32,
// or to bf16 at BF16 precision so the GEMM reads them in place, multiplied through the GEMM, then
// scaled per column. A block is ~16 MB widened: fewer, larger GEMM calls (each packs x and splits
// its work anew) ran 8-25 % faster than ~4 MB blocks for 1.7B prompts of 8-116 tokens on the
// development machine (32 MB: the same, 64 MB: slower again, 1 MB: 50 % slower).
void linear_i8_blocks(const TensorView& x, const int8_t* q, int64_t ldq, const float* scale, const float* bias, float* c, int64_t N,
                      GemmPrecision p) {
  const int64_t M = x.shape[0], K = x.shape[1];
  const bool bf16 = p == GemmPrecision::BF16;
  const int64_t esize = bf16 ? 2 : 4;
  const Isa isa = current_isa();
  const int64_t rows = std::min<int64_t>(N, std::max<int64_t>(64, (int64_t{16} << 20) / (K * esize) / 64 * 64));
  thread_local Scratch widened;
  void* buf = widened.get(static_cast<size_t>(rows * K * esize), "linear_int8 (a widened block)");
  const Mat a{x.data, DType::F32, x.strides[0], x.strides[1]};
  for (int64_t n0 = 0; n0 < N; n0 += rows) {
    const int64_t nb = std::min(rows, N - n0);
    parallel_for(nb, 16, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; r++) {
        const int8_t* src = q + (n0 + r) * ldq;
        if (isa == Isa::Avx512) {
          widen_row_i8_avx512(src, K, static_cast<uint8_t*>(buf) + r * K * esize, bf16);
        } else if (isa == Isa::Avx2) {
          widen_row_i8_avx2(src, K, static_cast<uint8_t*>(buf) + r * K * esize, bf16);
        } else if (bf16) {
          uint16_t* dst = static_cast<uint16_t*>(buf) + r * K;
          for (int64_t k = 0; k < K; k++) dst[k] = f32_to_bf16(static_cast<float>(src[k]));
        } else {
          float* dst = static_cast<float*>(buf) + r * K;
          for (int64_t k = 0; k < K; k++) dst[k] = static_cast<float>(src[k]);
        }
      }
    });
    // B(k, n) = block row n, element k.
    const Mat b{buf, bf16 ? DType::BF16 : DType::F32, 1, K};
    gemm(M, nb, K, a, b, nullptr, c + n0, N, p);
    parallel_for(M, 4, [&](int64_t m0, int64_t m1, int) {
      for (int64_t m = m0; m < m1; m++) {
        float* row = c + m * N + n0;
        for (int64_t j = 0; j < nb; j++) row[j] = row[j] * scale[n0 + j] + (bias ? bias[n0 + j] : 0.f);
      }
    });
  }
}

}  // namespace

void quantize_int8_ref(const TensorView& w, const TensorView& q, const TensorView& scale) {
  const int64_t N = w.shape[0], K = w.shape[1];
  for (int64_t n = 0; n < N; n++) quantize_row_scalar(w, n, q.ptr<int8_t>() + n * K, scale.ptr<float>() + n);
}

void quantize_int8(const TensorView& w, const TensorView& q, const TensorView& scale) {
  const int64_t N = w.shape[0], K = w.shape[1];
  const Isa isa = w.strides[1] == 1 && (w.dtype == DType::F32 || w.dtype == DType::BF16) ? current_isa() : Isa::Scalar;
  parallel_for(N, 16, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; n++) {
      int8_t* qr = q.ptr<int8_t>() + n * K;
      float* s = scale.ptr<float>() + n;
      const void* row = static_cast<const uint8_t*>(w.data) + n * w.strides[0] * dtype_size(w.dtype);
      if (isa == Isa::Avx512)
        quantize_row_avx512(row, w.dtype, K, qr, s);
      else if (isa == Isa::Avx2)
        quantize_row_avx2(row, w.dtype, K, qr, s);
      else
        quantize_row_scalar(w, n, qr, s);
    }
  });
}

void linear_int8_ref(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                     GemmPrecision p) {
  const int64_t M = x.shape[0], K = x.shape[1], N = q.shape[0];
  const int8_t* qd = q.ptr<int8_t>();
  I16Rows r;
  const bool i16 = p == GemmPrecision::BF16 && M <= kGemvRows && quantize_rows_i16(x, r);
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++) {
        const int8_t w = qd[n * q.strides[0] + k * q.strides[1]];
        if (i16) {
          s += static_cast<double>(r.x[m * r.stride + k]) * w;
          continue;
        }
        float xv = load_as_f32(x, m * x.strides[0] + k * x.strides[1]);
        if (p == GemmPrecision::BF16) xv = round_bf16(xv);
        s += static_cast<double>(xv) * w;
      }
      if (i16) s *= r.scale[m];
      s = s * load_as_f32(scale, n * scale.strides[0]) + (bias ? load_as_f32(*bias, n * bias->strides[0]) : 0.0);
      out.ptr<float>()[m * N + n] = static_cast<float>(s);
    }
}

void linear_int8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                 GemmPrecision p) {
  const int64_t M = x.shape[0], K = x.shape[1], N = q.shape[0];
  if (M == 0 || N == 0) return;
  const std::vector<float> bf = bias_f32(bias, N);
  const float* bp = bias ? bf.data() : nullptr;
  float* c = out.ptr<float>();
  if (K == 0) {
    for (int64_t i = 0; i < M * N; i++) c[i] = bp ? bp[i % N] : 0.f;
    return;
  }
  const float* sc = scale.ptr<float>();  // contiguous f32 (checked by the glue)
  if (M <= kGemvRows) return linear_i8_gemv(x, q.ptr<int8_t>(), q.strides[0], sc, bp, c, N, p, current_isa());
  linear_i8_blocks(x, q.ptr<int8_t>(), q.strides[0], sc, bp, c, N, p);
}

}  // namespace acestep::cpu
