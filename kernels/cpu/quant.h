// Int8 weights with one f32 scale per output row (the LM's optional weight quantization, about half
// the bytes of bf16 per decode step): quantization at load, and linear layers that read the int8
// rows directly. Scalar references beside the fast paths, as for every family.
#pragma once
#include "../tensor_view.h"
#include "gemm.h"

namespace acestep::cpu {

// Symmetric per-row quantization of w [N, K] (f32, bf16 or f16, any strides) into q [N, K] (i8,
// contiguous) and scale [N] (f32, contiguous), all in f32 arithmetic:
//   amax = max_k |w[n, k]|, scale[n] = amax / 127, inv = 127 / amax,
//   q[n, k] = round_half_even(w[n, k] * inv) clamped to [-127, 127]; a row of zeros gets scale 0 and q 0.
// So |q[n, k] * scale[n] - w[n, k]| <= scale[n] / 2 up to the f32 rounding of the product.
void quantize_int8_ref(const TensorView& w, const TensorView& q, const TensorView& scale);
void quantize_int8(const TensorView& w, const TensorView& q, const TensorView& scale);

// out[M, N] = scale[n] * sum_k x'[m, k] * q[n, k] + bias[n]: x [M, K] f32 (any strides), q [N, K] i8
// with unit-stride rows, scale [N] f32, bias [N] (any float dtype) or null, out contiguous f32.
// x' = x at F32 precision. At BF16 precision, x' = x rounded to bf16, except for decode sizes
// (M <= kGemvRows) without outliers, where x' = the decode activations: each row m quantized to
// int16 as xs[m] * x16[m, k], xs[m] = amax_m / 32767, x16 = round_half_even(x * (32767 / amax_m))
// (f32 operations), used when every row has a finite amax_m <= kI16OutlierRatio * mean_k |x[m, k]|. Their step
// xs[m] is then at most 2^-8 of an average |x|, no coarser than bf16's on a typical element, and the
// dot products are exact integer sums (vpdpwssd), twice the weight rate of widening int8 to bf16.
// (The q values are integers, exact in every form.) The fast path sums in f32: a weight-streaming
// GEMV for M <= kGemvRows (int8 widened in registers), and above that blocks of rows widened to f32 /
// bf16 through the GEMM, the scale applied after. The reference sums in double.
constexpr int64_t kGemvRows = 4;
constexpr float kI16OutlierRatio = 128.f;
void linear_int8_ref(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                     GemmPrecision p);
void linear_int8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                 GemmPrecision p);

}  // namespace acestep::cpu
