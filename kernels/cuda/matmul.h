// CUDA linear and matmul; same semantics and signatures as kernels/cpu/gemm.h (precision F32, or
// BF16 operands with f32 accumulation).
#pragma once
#include "../cpu/gemm.h"
#include "../tensor_view.h"

namespace acestep::cuda {
void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, cpu::GemmPrecision precision);
void matmul(const TensorView& a, const TensorView& b, const TensorView& out, cpu::GemmPrecision precision);
}  // namespace acestep::cuda

namespace acestep::cuda {
// W8A8 linear and its weight row sums (kernels/cpu/gemm.h): the same activation rounding; integer
// sums by dp4a on activations shifted to s8 (xq - 128, corrected by 128 * rowsum).
void int8_row_sums(const TensorView& q, const TensorView& rowsum);
void linear_w8a8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                 const TensorView& out);
}  // namespace acestep::cuda
