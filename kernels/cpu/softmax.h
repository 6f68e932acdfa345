// Softmax / log-softmax over the last dimension of contiguous f32 rows.
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {

// x, out: contiguous f32 [rows, N]. softmax: exp(x - max) / sum; log: x - max - log(sum).
// A row that is all -inf gives NaN, as in torch.
void softmax_ref(const TensorView& x, const TensorView& out, bool log);
void softmax(const TensorView& x, const TensorView& out, bool log);

}  // namespace acestep::cpu
