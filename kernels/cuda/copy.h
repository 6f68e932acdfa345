// CUDA copy/cast and fill; same semantics as kernels/cpu/copy.h.
#pragma once
#include "../tensor_view.h"

namespace acestep::cuda {
void copy(const TensorView& src, const TensorView& out);
void fill(const TensorView& out, double value);
}  // namespace acestep::cuda
