// CUDA RoPE; same semantics as kernels/cpu/rope.h.
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void rope(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out);
}  // namespace acestep::cuda
