// Scaled dot-product attention over [B, T, H, D] f32 tensors with GQA, causal / sliding-window
// visibility and a per-key padding mask. Softmax runs in fp32 (the reference in double).
#pragma once
#include <cstdint>

#include "../tensor_view.h"
#include "gemm.h"

namespace acestep::cpu {

struct AttentionParams {
  float scale = 1.f;
  bool causal = false;
  int64_t q_offset = 0;  // absolute position of query 0 (KV-cache decode)
  int64_t window = -1;   // < 0: no sliding window; else key j visible iff |i + q_offset - j| <= window
  // F32: exact products. BF16 (what GemmPrecision means for linear): the scaled queries, K and V
  // rounded to bf16 (nearest even), QK^T and P·V accumulated in f32, the softmax and its running
  // max / sum in f32 from the f32 scores; the probabilities enter P·V rounded to bf16. The
  // reference rounds them after the two-pass softmax (relative to the row's max), the AVX-512
  // vdpbf16ps path relative to the running max of its online softmax, and the other paths not at
  // all (f32 kernels on bf16-rounded copies): per output the three differ by at most
  // 2^-8 * sum_j p_j |v_j| / sum_j p_j (each probability carries at most 2^-9 relative rounding).
  GemmPrecision precision = GemmPrecision::F32;
};

// Whether key j is visible to query i under the causal / window rules (the key mask is separate).
inline bool attention_key_visible(const AttentionParams& p, int64_t i, int64_t j) {
  int64_t pos = i + p.q_offset;
  if (p.causal && j > pos) return false;
  if (p.window >= 0 && (j < pos - p.window || j > pos + p.window)) return false;
  return true;
}

// q [B, Tq, Hq, D] f32, k/v [B, Tk, Hkv, D] (both f32 or both bf16, e.g. a bf16 KV cache; unit
// stride in D, any other strides); key_mask
// [B, Tk] of any dtype, nonzero = attend (data == nullptr: no mask); out [B, Tq, Hq, D] contiguous f32.
// Query head h reads kv head h / (Hq / Hkv). A query that sees no key outputs zeros.
// Which fast path attention() takes; Auto = the widest the CPU supports. Forcing a narrower one
// lets tests cover the AVX2 and baseline paths on an AVX-512 host; a wider one than the CPU has
// is ignored. resolve_attention_isa says which path a setting gives on this CPU.
enum class AttentionIsa { Auto = 0, Avx512 = 1, Avx2 = 2, Generic = 3 };
void set_attention_isa(AttentionIsa isa);
AttentionIsa resolve_attention_isa(AttentionIsa isa);

void attention_ref(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask, const TensorView& out,
                   const AttentionParams& p);
void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask, const TensorView& out,
               const AttentionParams& p);

}  // namespace acestep::cpu
