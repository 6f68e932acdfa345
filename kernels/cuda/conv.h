// CUDA conv1d / convTranspose1d / snake; same semantics and signatures as kernels/cpu/conv.h. A
// bias, residual or input-Snake alpha view with data == nullptr means "none".
#pragma once
#include "../cpu/conv.h"
#include "../tensor_view.h"

namespace acestep::cuda {
void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p,
            const TensorView& residual, const cpu::InputSnake& act);
void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p,
                      const cpu::InputSnake& act);
void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale);
}  // namespace acestep::cuda
