// CUDA randn; same contract and the same Philox integers as kernels/cpu/random.h.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cuda {
void randn(const TensorView& out, uint64_t seed, uint64_t offset);
}  // namespace acestep::cuda
