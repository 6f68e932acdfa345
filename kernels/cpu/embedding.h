// Embedding lookup: rows of a [V, H] table gathered by integer ids.
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {

// weight: [V, H] any float dtype with a unit-stride last dim; ids: contiguous i32/i64 (N ids);
// out: contiguous f32 [N, H]. Throws std::runtime_error naming the first id outside [0, V).
void embedding_ref(const TensorView& weight, const TensorView& ids, const TensorView& out);
void embedding(const TensorView& weight, const TensorView& ids, const TensorView& out);

}  // namespace acestep::cpu
