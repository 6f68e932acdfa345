// CUDA embedding lookup; same semantics as kernels/cpu/embedding.h.
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void embedding(const TensorView& weight, const TensorView& ids, const TensorView& out);
}  // namespace acestep::cuda
