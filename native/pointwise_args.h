// Argument checks shared by the pointwise op families' glue (elementwise, norm, rope, softmax,
// reduce, embedding).
#pragma once
#include <string>

#include "registry.h"

namespace acestep {

inline void expect_shape_of(const OpArgs& a, const TensorArg& t, const TensorArg& ref, const char* name) {
  bool same = t.view.ndim == ref.view.ndim;
  for (int i = 0; same && i < t.view.ndim; i++) same = t.view.shape[i] == ref.view.shape[i];
  if (!same) a.fail(std::string("'") + name + "' has shape " + shape_str(t.view) + ", expected " + shape_str(ref.view));
}

// Outputs are allocated by the TS wrappers as contiguous f32 (i32 for argmax).
inline void expect_out(const OpArgs& a, const TensorArg& out, DType dtype = DType::F32) {
  expect_dtype(a, out, "out", {dtype});
  expect_contiguous(a, out, "out");
}

inline void expect_float(const OpArgs& a, const TensorArg& t, const char* name) {
  expect_dtype(a, t, name, {DType::F32, DType::BF16, DType::F16});
}

inline int op_code(const OpArgs& a, size_t i, int count) {
  int64_t op = a.integer(i, "op");
  if (op < 0 || op >= count) a.fail("unknown op code " + std::to_string(op));
  return static_cast<int>(op);
}

// An optional tensor argument (null/undefined = absent); absent ones resolve to a null view.
struct OptTensor {
  bool present = false;
  TensorArg arg;
  TensorView resolve() { return present ? arg.resolve() : TensorView{}; }
};
inline OptTensor opt_tensor(const OpArgs& a, size_t i, const char* name) {
  OptTensor t;
  if (a.has(i)) {
    t.present = true;
    t.arg = a.tensor(i, name);
  }
  return t;
}

}  // namespace acestep
