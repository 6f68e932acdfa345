// Device helpers shared by the pointwise CUDA families: the scalar op definitions (same float32
// operation order as kernels/cpu, with explicitly rounded mul/add so nvcc cannot fuse them into
// FMAs), and warp/block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cmath>

#include "../cpu/elementwise.h"
#include "common.cuh"

namespace acestep::cuda {

using cpu::BinaryOp;
using cpu::TernaryOp;
using cpu::UnaryOp;

__device__ inline float silu_d(float x) {
  return x / __fadd_rn(1.0f, expf(-x));
}
__device__ inline float sigmoid_d(float x) {
  return 1.0f / __fadd_rn(1.0f, expf(-x));
}
__device__ inline float max_d(float a, float b) {
  return a != a ? a : (b != b ? b : (a > b ? a : b));
}
__device__ inline float min_d(float a, float b) {
  return a != a ? a : (b != b ? b : (a < b ? a : b));
}

__device__ inline float unary_d(UnaryOp op, float x, float p0, float p1) {
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Exp:
      return expf(x);
    case UnaryOp::Log:
      return logf(x);
    case UnaryOp::Sqrt:
      return __fsqrt_rn(x);
    case UnaryOp::Rsqrt:
      return __fdiv_rn(1.0f, __fsqrt_rn(x));
    case UnaryOp::Abs:
      return fabsf(x);
    case UnaryOp::Tanh:
      return tanhf(x);
    case UnaryOp::Sigmoid:
      return sigmoid_d(x);
    case UnaryOp::Silu:
      return silu_d(x);
    case UnaryOp::Gelu:
      return __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, erff(__fmul_rn(x, 0.70710678118654752f))));
    case UnaryOp::GeluTanh: {
      float cube = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, x), x), x);
      float inner = __fmul_rn(0.79788456080286536f, __fadd_rn(x, cube));
      return __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, tanhf(inner)));
    }
    case UnaryOp::Softplus:
      return x > 20.0f ? x : log1pf(expf(x));
    case UnaryOp::Sin:
      return sinf(x);
    case UnaryOp::Cos:
      return cosf(x);
    case UnaryOp::Square:
      return __fmul_rn(x, x);
    case UnaryOp::Relu:
      return x != x ? x : (x > 0.0f ? x : 0.0f);
    case UnaryOp::Affine:
      return __fadd_rn(__fmul_rn(x, p0), p1);
    case UnaryOp::Clamp:
      return min_d(max_d(x, p0), p1);
    case UnaryOp::DivScalar:
      return __fdiv_rn(x, p0);
    default:
      return x;
  }
}

__device__ inline float binary_d(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return __fadd_rn(a, b);
    case BinaryOp::Sub:
      return __fsub_rn(a, b);
    case BinaryOp::Mul:
      return __fmul_rn(a, b);
    case BinaryOp::Div:
      return __fdiv_rn(a, b);
    case BinaryOp::Max:
      return max_d(a, b);
    case BinaryOp::Min:
      return min_d(a, b);
    case BinaryOp::Swiglu:
      return __fmul_rn(silu_d(a), b);
    default:
      return a;
  }
}

__device__ inline float ternary_d(TernaryOp op, float a, float b, float c) {
  if (op == TernaryOp::Modulate) return __fadd_rn(__fmul_rn(a, __fadd_rn(1.0f, c)), b);
  return __fadd_rn(a, __fmul_rn(b, c));
}

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = max_d(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
template <typename T>
__device__ inline T block_sum(T v) {
  __shared__ T part[32];
  __syncthreads();  // the buffer may still be read from a previous call
  v = warp_sum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  T r = lane < nw ? part[lane] : T(0);
  return warp_sum(r);
}
__device__ inline float block_max(float v) {
  __shared__ float part[32];
  __syncthreads();
  v = warp_max(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float r = lane < nw ? part[lane] : -INFINITY;
  return warp_max(r);
}

}  // namespace acestep::cuda
