// CUDA linear and matmul; same semantics and signatures as kernels/cpu/gemm.h (precision F32, or
// BF16 operands with f32 accumulation).
#pragma once
#include "../cpu/gemm.h"
#include "../tensor_view.h"

namespace acestep::cuda {
void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, cpu::GemmPrecision precision);
void matmul(const TensorView& a, const TensorView& b, const TensorView& out, cpu::GemmPrecision precision);
}  // namespace acestep::cuda
