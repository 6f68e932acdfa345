// CUDA attention; same contract as kernels/cpu/attention.h (AttentionParams comes from there).
#pragma once
#include "../cpu/attention.h"
#include "../tensor_view.h"

namespace acestep::cuda {
// key_mask.data == nullptr: no mask. Head dims above 256 are rejected with std::runtime_error.
void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask, const TensorView& out,
               const cpu::AttentionParams& p);
}  // namespace acestep::cuda
