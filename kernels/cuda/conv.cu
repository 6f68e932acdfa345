// CUDA conv1d / convTranspose1d / snake. Direct kernels: one thread per output element, weights
// read in their stored dtype through load_f32. x and out are contiguous f32 (checked by the glue).
// An input Snake is applied to each x value as it is read (recomputed per tap: simple, not fast).
// At bf16 precision both multiplication operands are rounded to bf16 (round_bf16, as the CPU
// rounds them) and accumulated in f32.
#include "common.cuh"
#include "conv.h"

namespace acestep::cuda {
namespace {

struct Geom {
  int64_t B, Cin, T, Cout, Tout, K, stride, padding, dilation, groups;
  bool bf16;
};

__device__ inline float operand(float v, bool bf16) {
  return bf16 ? round_bf16(v) : v;
}

__device__ inline float weight_at(const StridedArgs& w, int64_t a, int64_t b, int64_t c) {
  return load_f32(w, a * w.strides[0] + b * w.strides[1] + c * w.strides[2]);
}

__device__ inline float bias_at(const StridedArgs& bias, bool has_bias, int64_t co) {
  return has_bias ? load_f32(bias, co * bias.strides[0]) : 0.f;
}

// Snake's per-channel (alpha, 1/(beta + 1e-9)), exponentiated first when log_scale.
__device__ inline void snake_coeffs(const StridedArgs& alpha, const StridedArgs& beta, int64_t c, bool log_scale, float* a, float* ib) {
  float al = load_f32(alpha, c * alpha.strides[0]), be = load_f32(beta, c * beta.strides[0]);
  if (log_scale) {
    al = expf(al);
    be = expf(be);
  }
  *a = al;
  *ib = 1.0f / (be + 1e-9f);
}

__device__ inline float snake_value(float v, float a, float ib) {
  const float s = sinf(a * v);
  return v + ib * (s * s);
}

// A conv's optional input Snake.
struct Act {
  StridedArgs alpha, beta;
  bool on, log_scale;
};

__device__ inline float act_value(const Act& act, int64_t c, float v) {
  if (!act.on) return v;
  float a, ib;
  snake_coeffs(act.alpha, act.beta, c, act.log_scale, &a, &ib);
  return snake_value(v, a, ib);
}

__global__ void conv1d_kernel(const float* __restrict__ x, StridedArgs w, StridedArgs bias, bool has_bias, const float* residual,
                              float* out, Act act, Geom g) {
  const int64_t n = g.B * g.Cout * g.Tout;
  const int64_t cin_g = g.Cin / g.groups, cout_g = g.Cout / g.groups;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t t = i % g.Tout, co = (i / g.Tout) % g.Cout, b = i / (g.Tout * g.Cout);
    const int64_t c0 = (co / cout_g) * cin_g;
    const float* xb = x + (b * g.Cin + c0) * g.T;
    float acc = bias_at(bias, has_bias, co) + (residual ? residual[i] : 0.f);
    for (int64_t ci = 0; ci < cin_g; ci++) {
      const float* xr = xb + ci * g.T;
      for (int64_t k = 0; k < g.K; k++) {
        int64_t s = t * g.stride + k * g.dilation - g.padding;
        if (s >= 0 && s < g.T) acc = fmaf(operand(weight_at(w, co, ci, k), g.bf16), operand(act_value(act, c0 + ci, xr[s]), g.bf16), acc);
      }
    }
    out[i] = acc;
  }
}

__global__ void conv_transpose1d_kernel(const float* __restrict__ x, StridedArgs w, StridedArgs bias, bool has_bias,
                                        float* __restrict__ out, Act act, Geom g) {
  const int64_t n = g.B * g.Cout * g.Tout;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t j = i % g.Tout, co = (i / g.Tout) % g.Cout, b = i / (g.Tout * g.Cout);
    float acc = bias_at(bias, has_bias, co);
    const int64_t o = j + g.padding;
    for (int64_t k = 0; k < g.K; k++) {
      int64_t num = o - k * g.dilation;  // = t * stride for a contributing input step t
      if (num < 0 || num % g.stride) continue;
      int64_t t = num / g.stride;
      if (t >= g.T) continue;
      for (int64_t ci = 0; ci < g.Cin; ci++)
        acc = fmaf(operand(weight_at(w, ci, co, k), g.bf16), operand(act_value(act, ci, x[(b * g.Cin + ci) * g.T + t]), g.bf16), acc);
    }
    out[i] = acc;
  }
}

__global__ void snake_kernel(const float* __restrict__ x, StridedArgs alpha, StridedArgs beta, float* __restrict__ out, int64_t C,
                             int64_t T, int64_t n, bool log_scale) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float a, ib;
    snake_coeffs(alpha, beta, (i / T) % C, log_scale, &a, &ib);
    out[i] = snake_value(x[i], a, ib);
  }
}

Geom geom(const TensorView& x, const TensorView& w, const TensorView& out, const cpu::Conv1dParams& p, int64_t groups) {
  return Geom{x.shape[0],
              x.shape[1],
              x.shape[2],
              out.shape[1],
              out.shape[2],
              w.shape[2],
              p.stride,
              p.padding,
              p.dilation,
              groups,
              p.precision == cpu::GemmPrecision::BF16};
}

Act act_of(const cpu::InputSnake& act) {
  return Act{StridedArgs(act.alpha), StridedArgs(act.beta), act.alpha.data != nullptr, act.log_scale};
}

}  // namespace

void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p,
            const TensorView& residual, const cpu::InputSnake& act) {
  int64_t n = out.numel();
  if (n == 0) return;
  conv1d_kernel<<<grid_for(n), 256, 0, current_stream()>>>(x.ptr<float>(), StridedArgs(w), StridedArgs(bias), bias.data != nullptr,
                                                           residual.data ? residual.ptr<float>() : nullptr, out.ptr<float>(), act_of(act),
                                                           geom(x, w, out, p, p.groups));
  check_launch("conv1d");
}

void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const cpu::Conv1dParams& p,
                      const cpu::InputSnake& act) {
  int64_t n = out.numel();
  if (n == 0) return;
  conv_transpose1d_kernel<<<grid_for(n), 256, 0, current_stream()>>>(
      x.ptr<float>(), StridedArgs(w), StridedArgs(bias), bias.data != nullptr, out.ptr<float>(), act_of(act), geom(x, w, out, p, 1));
  check_launch("convTranspose1d");
}

void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale) {
  int64_t n = out.numel();
  if (n == 0) return;
  snake_kernel<<<grid_for(n), 256, 0, current_stream()>>>(x.ptr<float>(), StridedArgs(alpha), StridedArgs(beta), out.ptr<float>(),
                                                          x.shape[1], x.shape[2], n, log_scale);
  check_launch("snake");
}

}  // namespace acestep::cuda
