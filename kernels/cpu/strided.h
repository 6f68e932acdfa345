// Helpers for walking strided tensors and converting element types; used by reference kernels
// and by fast kernels for their non-contiguous fallbacks.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu {

// Element offset (in elements, not bytes) of linear index `i` in row-major order of `v`'s shape.
inline int64_t strided_offset(const TensorView& v, int64_t i) {
  int64_t off = 0;
  for (int d = v.ndim - 1; d >= 0; d--) {
    int64_t n = v.shape[d];
    off += (i % n) * v.strides[d];
    i /= n;
  }
  return off;
}

inline float load_as_f32(const TensorView& v, int64_t off) {
  switch (v.dtype) {
    case DType::F32:
      return static_cast<const float*>(v.data)[off];
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(v.data)[off]);
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(v.data)[off]);
    case DType::I32:
      return static_cast<float>(static_cast<const int32_t*>(v.data)[off]);
    case DType::I64:
      return static_cast<float>(static_cast<const int64_t*>(v.data)[off]);
    case DType::U8:
      return static_cast<float>(static_cast<const uint8_t*>(v.data)[off]);
    case DType::I8:
      return static_cast<float>(static_cast<const int8_t*>(v.data)[off]);
  }
  return 0;
}

inline void store_from_f32(const TensorView& v, int64_t off, float x) {
  switch (v.dtype) {
    case DType::F32:
      static_cast<float*>(v.data)[off] = x;
      break;
    case DType::F16:
      static_cast<uint16_t*>(v.data)[off] = f32_to_f16(x);
      break;
    case DType::BF16:
      static_cast<uint16_t*>(v.data)[off] = f32_to_bf16(x);
      break;
    case DType::I32:
      static_cast<int32_t*>(v.data)[off] = static_cast<int32_t>(x);
      break;
    case DType::I64:
      static_cast<int64_t*>(v.data)[off] = static_cast<int64_t>(x);
      break;
    case DType::U8:
      static_cast<uint8_t*>(v.data)[off] = static_cast<uint8_t>(x);
      break;
    case DType::I8:
      static_cast<int8_t*>(v.data)[off] = static_cast<int8_t>(x);
      break;
  }
}

}  // namespace acestep::cpu
