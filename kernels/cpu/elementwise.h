// Elementwise kernels: unary math, binary arithmetic with broadcasting (inputs arrive as views
// already expanded to the output shape, stride 0 on broadcast dims) and the fused DiT/MLP
// combinations (swiglu, modulate, gated add). Op codes are shared with src/runtime/ops/elementwise.ts
// and the CUDA kernels, so their numeric values are part of the native ABI.
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {

enum class UnaryOp : int {
  Neg = 0,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Abs,
  Tanh,
  Sigmoid,
  Silu,
  Gelu,
  GeluTanh,
  Softplus,
  Sin,
  Cos,
  Square,
  Relu,
  Affine,     // x * p0 + p1
  Clamp,      // min(max(x, p0), p1)
  DivScalar,  // x / p0 (a true division, not a multiply by the reciprocal)
  Count
};
enum class BinaryOp : int { Add = 0, Sub, Mul, Div, Max, Min, Swiglu /* silu(a) * b */, Count };
enum class TernaryOp : int {
  Modulate = 0,  // a * (1 + c) + b   (x, shift, scale)
  GatedAdd,      // a + b * c         (x, y, gate)
  Count
};

// out (contiguous f32) = op(x); x is any float dtype with any strides.
void unary_ref(const TensorView& x, const TensorView& out, UnaryOp op, float p0, float p1);
void unary(const TensorView& x, const TensorView& out, UnaryOp op, float p0, float p1);
// a, b have out's shape (broadcast dims have stride 0); any float dtype.
void binary_ref(const TensorView& a, const TensorView& b, const TensorView& out, BinaryOp op);
void binary(const TensorView& a, const TensorView& b, const TensorView& out, BinaryOp op);
void ternary_ref(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, TernaryOp op);
void ternary(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, TernaryOp op);

// Test hook: the vector ISA of all pointwise fast paths (0 scalar, 1 AVX2, 2 AVX-512). The best
// the CPU supports caps any request; set_pointwise_isa returns the level in effect.
int pointwise_isa_best();
int set_pointwise_isa(int level);

}  // namespace acestep::cpu
