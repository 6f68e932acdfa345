// Shared device helpers: strided indexing, dtype loads/stores, launch checks.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../tensor_view.h"
#include "runtime.h"

namespace acestep::cuda {

inline cudaStream_t current_stream() {
  return static_cast<cudaStream_t>(stream());
}

inline void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

inline unsigned grid_for(int64_t n, int block = 256) {
  int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(g > 65535 * 8 ? 65535 * 8 : (g < 1 ? 1 : g));
}

// A TensorView passed by value to kernels.
struct StridedArgs {
  void* data;
  DType dtype;
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
  explicit StridedArgs(const TensorView& v) : data(v.data), dtype(v.dtype), ndim(v.ndim) {
    for (int i = 0; i < kMaxDims; i++) {
      shape[i] = v.shape[i];
      strides[i] = v.strides[i];
    }
  }
  __device__ int64_t offset(int64_t i) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
      off += (i % shape[d]) * strides[d];
      i /= shape[d];
    }
    return off;
  }
};

__device__ inline bool is_int(DType d) {
  return d == DType::I32 || d == DType::I64 || d == DType::U8 || d == DType::I8;
}

// An operand of the bf16 precision paths: rounded to bf16 (nearest even) and kept as f32.
__device__ inline float round_bf16(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

__device__ inline float load_f32(const StridedArgs& v, int64_t o) {
  switch (v.dtype) {
    case DType::F32:
      return static_cast<const float*>(v.data)[o];
    case DType::F16:
      return __half2float(static_cast<const __half*>(v.data)[o]);
    case DType::BF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(v.data)[o]);
    case DType::I32:
      return (float)static_cast<const int32_t*>(v.data)[o];
    case DType::I64:
      return (float)static_cast<const int64_t*>(v.data)[o];
    case DType::U8:
      return (float)static_cast<const uint8_t*>(v.data)[o];
    case DType::I8:
      return (float)static_cast<const int8_t*>(v.data)[o];
  }
  return 0.f;
}
__device__ inline void store_f32(const StridedArgs& v, int64_t o, float x) {
  switch (v.dtype) {
    case DType::F32:
      static_cast<float*>(v.data)[o] = x;
      break;
    case DType::F16:
      static_cast<__half*>(v.data)[o] = __float2half_rn(x);
      break;
    case DType::BF16:
      static_cast<__nv_bfloat16*>(v.data)[o] = __float2bfloat16_rn(x);
      break;
    case DType::I32:
      static_cast<int32_t*>(v.data)[o] = (int32_t)x;
      break;
    case DType::I64:
      static_cast<int64_t*>(v.data)[o] = (int64_t)x;
      break;
    case DType::U8:
      static_cast<uint8_t*>(v.data)[o] = (uint8_t)x;
      break;
    case DType::I8:
      static_cast<int8_t*>(v.data)[o] = (int8_t)x;
      break;
  }
}
__device__ inline int64_t load_int(const StridedArgs& v, int64_t o) {
  switch (v.dtype) {
    case DType::I32:
      return static_cast<const int32_t*>(v.data)[o];
    case DType::I64:
      return static_cast<const int64_t*>(v.data)[o];
    case DType::U8:
      return static_cast<const uint8_t*>(v.data)[o];
    case DType::I8:
      return static_cast<const int8_t*>(v.data)[o];
    default:
      return 0;
  }
}
__device__ inline void store_int(const StridedArgs& v, int64_t o, int64_t x) {
  switch (v.dtype) {
    case DType::I32:
      static_cast<int32_t*>(v.data)[o] = (int32_t)x;
      break;
    case DType::I64:
      static_cast<int64_t*>(v.data)[o] = x;
      break;
    case DType::U8:
      static_cast<uint8_t*>(v.data)[o] = (uint8_t)x;
      break;
    case DType::I8:
      static_cast<int8_t*>(v.data)[o] = (int8_t)x;
      break;
    default:
      break;
  }
}

}  // namespace acestep::cuda
