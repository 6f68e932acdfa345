// Reductions over one dimension of a contiguous tensor viewed as [outer, n, inner].
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu {

enum class ReduceOp : int { Sum = 0, Mean, Max, Count };

// x: contiguous f32 (numel = outer * n * inner); out: contiguous f32 [outer, inner].
// Max propagates NaN like torch.
void reduce_ref(const TensorView& x, const TensorView& out, ReduceOp op, int64_t outer, int64_t n, int64_t inner);
void reduce(const TensorView& x, const TensorView& out, ReduceOp op, int64_t outer, int64_t n, int64_t inner);
// out: contiguous i32 [outer, inner], the first index of the maximum (a NaN counts as the maximum).
void argmax_ref(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner);
void argmax(const TensorView& x, const TensorView& out, int64_t outer, int64_t n, int64_t inner);

}  // namespace acestep::cpu
