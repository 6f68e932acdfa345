// CUDA logit ops; same contracts as kernels/cpu/sampling.h.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cuda {
void repetition_penalty(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out);
void cfg_combine(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out);
void top_k(const TensorView& logits, int64_t k, const TensorView& out);
void top_p(const TensorView& logits, double p, const TensorView& out);
void sample_race(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out);
}  // namespace acestep::cuda
