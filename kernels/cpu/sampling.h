// Logit processing and sampling for the LM: repetition penalty, CFG mix, top-k / top-p
// filtering and exponential-race sampling. Logits are contiguous [B, V] f32; outputs are new
// contiguous tensors. Data-dependent errors (a token id out of range, a row with no finite
// logit) throw std::runtime_error naming the row and value.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu {

// Counter word 3 of the Philox draws used by sample_race, so its stream never meets randn's
// (which has word 0 = word 1 = 0 and the element index in words 2-3).
constexpr uint32_t kSampleRaceTag = 0x52414345u;

// out = logits with each distinct token of prev[b, :] (i32 or i64, -1 = padding) penalised:
// score < 0 ? score * penalty : score / penalty.
void repetition_penalty_ref(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out);
void repetition_penalty(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out);

// out = uncond + scale * (cond - uncond), elementwise over contiguous tensors of one shape.
void cfg_combine_ref(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out);
void cfg_combine(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out);

// Values below the k-th largest of their row become -inf (ties with it are kept); 0 < k < V.
void top_k_ref(const TensorView& logits, int64_t k, const TensorView& out);
void top_k(const TensorView& logits, int64_t k, const TensorView& out);

// HF TopPLogitsWarper: ascending sort, drop tokens whose cumulative softmax mass is <= 1 - p,
// always keep the largest; 0 <= p < 1.
void top_p_ref(const TensorView& logits, double p, const TensorView& out);
void top_p(const TensorView& logits, double p, const TensorView& out);

// out[b] (i32) = argmax_i logits[b, i] - log(E_i), E_i = -log(u_i) ~ Exp(1), u_i from Philox keyed
// by seed at counter (i, b, step, kSampleRaceTag). Equivalent to argmax p_i / E_i.
void sample_race_ref(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out);
void sample_race(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out);

}  // namespace acestep::cpu
