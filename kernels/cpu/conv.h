// 1-D convolution, transposed convolution and the Snake activation (the Oobleck VAE's ops).
// Layout is channels-first: x [B, Cin, T]. Activations and outputs are f32; weights and biases
// may be f32, bf16 or f16. A bias view with data == nullptr means "no bias"; an InputSnake with
// alpha.data == nullptr means "no input activation".
#pragma once
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "../tensor_view.h"
#include "gemm.h"

namespace acestep::cpu {

struct PackedConvWeight;

// The packed forms of one conv weight that does not change between calls. The glue keeps one per
// weight buffer and frees it with the buffer; the fast paths pack each form (conv or transposed
// conv geometry, f32 or bf16 operands) on its first call and read it on later ones instead of
// repacking the weight every call. Each form costs about the weight's f32 size (bf16 forms half).
class ConvWeightCache {
 public:
  struct Key {
    const void* data;
    DType dtype;
    int64_t shape[3], strides[3];
    int64_t stride, dilation, groups;
    bool transposed;
    int form;  // which operand layout (f32, bf16-rounded f32, bf16 pairs)
    bool operator==(const Key& o) const;
  };
  template <class Make>
  std::shared_ptr<const PackedConvWeight> get(const Key& key, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : entries_)
      if (e.first == key) return e.second;
    entries_.emplace_back(key, make());
    return entries_.back().second;
  }
  size_t bytes() const;  // held by the packed forms

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<Key, std::shared_ptr<const PackedConvWeight>>> entries_;
};

// precision BF16: x and w rounded to bf16 (nearest even), products accumulated in f32 (bias and
// residual stay f32), as GemmPrecision means for linear; F32 is exact.
// weight_cache: where the packed weight is kept between calls (null: packed per call); the caller
// promises the weight's values do not change while the cache lives.
struct Conv1dParams {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  GemmPrecision precision = GemmPrecision::F32;
  ConvWeightCache* weight_cache = nullptr;
};

// Snake (see snake below) applied to a conv's input as the conv reads it, so snake(x) is never
// stored: the VAE's every conv consumes a Snake. alpha/beta [Cin] in any float dtype.
struct InputSnake {
  TensorView alpha, beta;
  bool log_scale = false;
};

// out[b, co, t] = bias[co] + sum_{ci in group, k} w[co, ci', k] * x[b, ci, t*stride + k*dilation - padding]
//                 (+ residual[b, co, t] when residual.data is set: the VAE's fused skip connection)
// x [B, Cin, T], w [Cout, Cin/groups, K], out and residual [B, Cout, Tout]. With act.alpha set,
// x reads as snake(x) (padding stays zero: snake(0) = 0). out may be residual itself (the skip
// accumulated in place: every element's residual is read before its output is written), never x.
void conv1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                const TensorView& residual, const InputSnake& act);
void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
            const TensorView& residual, const InputSnake& act);

// The adjoint of conv1d (groups 1): x[b, ci, t] scatters w[ci, co, k] to out[b, co, t*stride + k*dilation - padding].
// x [B, Cin, T], w [Cin, Cout, K], out [B, Cout, Tout]; output padding is implied by Tout. act as for conv1d.
void conv_transpose1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                          const InputSnake& act);
void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                      const InputSnake& act);

// out = x + 1/(beta + 1e-9) * sin(alpha * x)^2 per channel; alpha/beta [C] are exponentiated first
// when log_scale. x and out [B, C, T] contiguous.
void snake_ref(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale);
void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale);

}  // namespace acestep::cpu
