// CUDA elementwise kernels; same semantics and op codes as kernels/cpu/elementwise.h.
#pragma once
#include "../cpu/elementwise.h"

namespace acestep::cuda {
void unary(const TensorView& x, const TensorView& out, cpu::UnaryOp op, float p0, float p1);
void binary(const TensorView& a, const TensorView& b, const TensorView& out, cpu::BinaryOp op);
void ternary(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, cpu::TernaryOp op);
}  // namespace acestep::cuda
