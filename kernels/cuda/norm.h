// CUDA RMSNorm / LayerNorm; same semantics as kernels/cpu/norm.h.
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void rms_norm(const TensorView& x, const TensorView& weight, const TensorView& out, float eps);
void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& out, float eps);
}  // namespace acestep::cuda
