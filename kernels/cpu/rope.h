// Rotary position embedding, NeoX half-split layout (Qwen3's rotate_half).
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {

// x: [B, T, H, D] any float dtype and strides; cos/sin: f32 [B, T, D/2] (batch stride may be 0);
// out: contiguous f32 [B, T, H, D].
// out[i] = x[i] cos[i] - x[i + D/2] sin[i];  out[i + D/2] = x[i + D/2] cos[i] + x[i] sin[i].
void rope_ref(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out);
void rope(const TensorView& x, const TensorView& cos, const TensorView& sin, const TensorView& out);

}  // namespace acestep::cpu
