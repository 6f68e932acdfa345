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
// x' = x at F32 precision, x rounded to bf16 at BF16 (the q values are integers, exact either way).
// The fast path sums in f32: a weight-streaming GEMV for M <= 4 (int8 widened in registers), and
// above that blocks of rows widened to f32 / bf16 through the GEMM, the scale applied after.
// The reference sums in double.
void linear_int8_ref(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                     GemmPrecision p);
void linear_int8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                 GemmPrecision p);

}  // namespace acestep::cpu
