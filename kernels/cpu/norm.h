// Row normalisations over the last dimension: RMSNorm (Qwen3RMSNorm order) and LayerNorm.
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {

// x, out: contiguous f32 [rows, D]; weight/bias: [D] any float dtype, or data == nullptr for none.
// rms: y = x * (1 / sqrt(mean(x^2) + eps)), then out = weight * y.
void rms_norm_ref(const TensorView& x, const TensorView& weight, const TensorView& out, float eps);
void rms_norm(const TensorView& x, const TensorView& weight, const TensorView& out, float eps);
// layer: y = (x - mean) / sqrt(var + eps) with the biased variance, then out = y * weight + bias.
void layer_norm_ref(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& out, float eps);
void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& out, float eps);

}  // namespace acestep::cpu
