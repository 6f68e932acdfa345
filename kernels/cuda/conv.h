// CUDA conv1d / convTranspose1d / snake; same semantics and signatures as kernels/cpu/conv.h. A
// bias or residual view with data == nullptr means "none".
#pragma once
#include "../cpu/conv.h"
#include "../tensor_view.h"

namespace acestep::cuda {
void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p,
            const TensorView& residual);
void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p);
void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale);
}  // namespace acestep::cuda
