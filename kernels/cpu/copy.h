// Strided copy with dtype conversion (contiguous(), casts, concat/slice writes) and fill.
#pragma once
#include "../tensor_view.h"

namespace acestep::cpu {
// out[i] = convert(src[i]) over identical shapes; any strides on both sides.
void copy_ref(const TensorView& src, const TensorView& out);
void copy(const TensorView& src, const TensorView& out);
void fill_ref(const TensorView& out, double value);
void fill(const TensorView& out, double value);
}  // namespace acestep::cpu
