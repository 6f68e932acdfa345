// Matrix products for linear layers and matmul: a scalar reference and a blocked, packed,
// multi-threaded fast path (AVX-512 / AVX2+FMA / portable), plus a weight-streaming GEMV for
// decode-sized M. Activations are read as f32; the B operand (weights) may be f32, bf16 or f16.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu {

// A strided 2-D operand: element (r, c) is data[r * rs + c * cs], of type dtype.
struct Mat {
  const void* data;
  DType dtype;
  int64_t rs, cs;
};

// F32: products of f32 activations and weights upcast exactly to f32, f32 accumulation.
// BF16: both operands rounded to bf16 (nearest even), products accumulated in f32 (vdpbf16ps).
enum class GemmPrecision : int { F32 = 0, BF16 = 1 };

// C[M,N] = A[M,K] * B[K,N] (+ bias[N] on every row). C is f32 with unit column stride and row
// stride ldc. The reference accumulates in double in plain k order.
void gemm_ref(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const Mat* bias, float* c, int64_t ldc, GemmPrecision p);
void gemm(int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b, const Mat* bias, float* c, int64_t ldc, GemmPrecision p);

// out[M,N] = x[M,K] * w[N,K]^T + bias[N]; any strides on x and w, out contiguous.
void linear_ref(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, GemmPrecision p);
void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, GemmPrecision p);

// out[..., M, N] = a[..., M, K] * b[..., K, N]; all three have the same rank and batch shape
// (broadcast batch dims arrive as stride-0 views), out contiguous.
void matmul_ref(const TensorView& a, const TensorView& b, const TensorView& out, GemmPrecision p);
void matmul(const TensorView& a, const TensorView& b, const TensorView& out, GemmPrecision p);

// W8A8 linear (upstream's `w8a8_dynamic` DiT quantization): int8 weights quantized per output row
// once (q [N, K] i8 and scale [N] f32 from quantize_int8, cpu/quant.h), their row sums, and
// activations quantized per row at every call (asymmetric u8 with a zero point, the range widened
// to include 0), exact integer products.
//   int8_row_sums: q [N, K] i8 -> rowsum [N] i32 = sum_k q[n, k] (the zero-point correction).
//   linear_w8a8: x [M, K] f32 (unit column stride), row m quantized as
//     lo = min(min_k x, 0), hi = max(max_k x, 0), sa = (hi - lo) / 255 (1 if 0),
//     zp = clamp(-round(lo / sa), 0, 255), xq = clamp(round(x / sa) + zp, 0, 255)
//     (round: nearest even), then
//     out[m, n] = float(sum_k xq[m, k] q[n, k] - zp * rowsum[n]) * (sa * scale[n]) (+ bias[n]).
//     A row with a non-finite value comes out NaN. K <= kW8A8MaxK keeps every sum in int32.
// The fast path is bit-identical to the reference (same rounding steps, exact integer sums).
constexpr int64_t kW8A8MaxK = 16384;
void int8_row_sums_ref(const TensorView& q, const TensorView& rowsum);
void int8_row_sums(const TensorView& q, const TensorView& rowsum);
void linear_w8a8_ref(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                     const TensorView& out);
void linear_w8a8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                 const TensorView& out);

// Benchmark helpers. stream_read sums every element of a contiguous tensor (reading its bytes
// once, at memory bandwidth) so GEMV throughput can be compared with a plain streaming read.
float stream_read(const TensorView& t);
// Runs a register-only FMA loop on every pool thread and returns the measured GFLOP/s; the
// isa argument picks "avx512", "avx2" or the best available ("").
double peak_gflops(double seconds, const char* isa);

}  // namespace acestep::cpu
