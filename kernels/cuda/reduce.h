// CUDA reductions; same semantics as kernels/cpu/reduce.h.
#pragma once
#include "../cpu/reduce.h"

namespace acestep::cuda {
void reduce(const TensorView& x, const TensorView& out, cpu::ReduceOp op, int64_t outer, int64_t n, int64_t inner);
void argmax(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner);
}  // namespace acestep::cuda
