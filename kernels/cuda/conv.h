// CUDA conv1d / convTranspose1d / snake; same semantics as kernels/cpu/conv.h. A bias or residual
// view with data == nullptr means "none".
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cuda {
void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, int64_t stride,
            int64_t padding, int64_t dilation, int64_t groups, const TensorView& residual);
void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out,
                      int64_t stride, int64_t padding, int64_t dilation);
void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale);
}  // namespace acestep::cuda
