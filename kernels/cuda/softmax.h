// CUDA softmax / log-softmax over the last dim; same semantics as kernels/cpu/softmax.h.
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void softmax(const TensorView& x, const TensorView& out, bool log);
}  // namespace acestep::cuda
