// CUDA int8 weight family; same semantics and signatures as kernels/cpu/quant.h.
#pragma once
#include "../cpu/gemm.h"
#include "../tensor_view.h"

namespace acestep::cuda {
void quantize_int8(const TensorView& w, const TensorView& q, const TensorView& scale);
void linear_int8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView* bias, const TensorView& out,
                 cpu::GemmPrecision precision);
}  // namespace acestep::cuda
