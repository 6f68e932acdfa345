// CUDA linear and matmul; same semantics as kernels/cpu/gemm.h (precision 0 = fp32, 1 = bf16
// operands with f32 accumulation).
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void linear(const TensorView& x, const TensorView& w, const TensorView* bias, const TensorView& out, int precision);
void matmul(const TensorView& a, const TensorView& b, const TensorView& out, int precision);
}  // namespace acestep::cuda
