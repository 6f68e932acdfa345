// CUDA elementwise kernels: the host coalesces dimensions shared by all operands (as the CPU fast
// path does), then a grid-stride loop computes every operand's offset from the linear index; a
// fully contiguous case skips the index arithmetic, and when every operand is also f32 and
// 16-byte aligned it moves four elements per float4 load/store.
#include <cstdint>

#include "elementwise.h"
#include "pointwise.cuh"

namespace acestep::cuda {
namespace {

constexpr int kMaxOps = 4;  // up to 3 inputs + out

struct Geom {
  int nd, nops;
  int64_t shape[kMaxDims];
  int64_t st[kMaxOps][kMaxDims];
  bool contiguous;  // every operand contiguous with the output's layout
};

struct Ptrs {
  const void* in[3];
  DType dt[3];
  float* out;
};

Geom coalesce(const TensorView* const* ops, int nops) {
  const TensorView& o = *ops[nops - 1];
  Geom g{};
  g.nops = nops;
  for (int d = 0; d < o.ndim; d++) {
    if (o.shape[d] == 1) continue;
    bool merge = g.nd > 0;
    for (int k = 0; k < nops && merge; k++) merge = g.st[k][g.nd - 1] == ops[k]->strides[d] * o.shape[d];
    if (merge) {
      g.shape[g.nd - 1] *= o.shape[d];
      for (int k = 0; k < nops; k++) g.st[k][g.nd - 1] = ops[k]->strides[d];
    } else {
      g.shape[g.nd] = o.shape[d];
      for (int k = 0; k < nops; k++) g.st[k][g.nd] = ops[k]->strides[d];
      g.nd++;
    }
  }
  if (g.nd == 0) {
    g.nd = 1;
    g.shape[0] = 1;
    for (int k = 0; k < nops; k++) g.st[k][0] = 1;
  }
  g.contiguous = g.nd == 1;
  for (int k = 0; k < nops && g.contiguous; k++) g.contiguous = g.st[k][0] == 1;
  return g;
}

__device__ inline float load_any(const void* p, DType dt, int64_t off) {
  switch (dt) {
    case DType::F32:
      return static_cast<const float*>(p)[off];
    case DType::F16:
      return __half2float(static_cast<const __half*>(p)[off]);
    case DType::BF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[off]);
    default:
      return 0.0f;
  }
}

template <int N, typename F>
__global__ void nary_kernel(Geom g, Ptrs p, int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[kMaxOps] = {0, 0, 0, 0};
    if (g.contiguous) {
      for (int k = 0; k <= N; k++) off[k] = i;
    } else {
      int64_t r = i;
      for (int d = g.nd - 1; d >= 0; d--) {
        int64_t idx = r % g.shape[d];
        r /= g.shape[d];
        for (int k = 0; k <= N; k++) off[k] += idx * g.st[k][d];
      }
    }
    float v[3];
    for (int k = 0; k < N; k++) v[k] = load_any(p.in[k], p.dt[k], off[k]);
    p.out[off[N]] = f(v);
  }
}

// Contiguous all-f32 operands with 16-byte aligned bases: the large residual / modulate updates
// are bandwidth bound, and float4 accesses quarter the memory instructions. f sees the same
// per-element values as nary_kernel, so results are identical.
template <int N, typename F>
__global__ void nary_vec4_kernel(Ptrs p, int64_t n, F f) {
  const int64_t n4 = n / 4, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t i = first; i < n4; i += stride) {
    float4 in[N];
    for (int k = 0; k < N; k++) in[k] = reinterpret_cast<const float4*>(p.in[k])[i];
    float v[3], r[4];
#pragma unroll
    for (int e = 0; e < 4; e++) {
      for (int k = 0; k < N; k++) v[k] = reinterpret_cast<const float*>(&in[k])[e];
      r[e] = f(v);
    }
    reinterpret_cast<float4*>(p.out)[i] = make_float4(r[0], r[1], r[2], r[3]);
  }
  for (int64_t i = n4 * 4 + first; i < n; i += stride) {
    float v[3];
    for (int k = 0; k < N; k++) v[k] = static_cast<const float*>(p.in[k])[i];
    p.out[i] = f(v);
  }
}

struct UnaryF {
  UnaryOp op;
  float p0, p1;
  __device__ float operator()(const float* v) const { return unary_d(op, v[0], p0, p1); }
};
struct BinaryF {
  BinaryOp op;
  __device__ float operator()(const float* v) const { return binary_d(op, v[0], v[1]); }
};
struct TernaryF {
  TernaryOp op;
  __device__ float operator()(const float* v) const { return ternary_d(op, v[0], v[1], v[2]); }
};

template <int N, typename F>
void launch(const TensorView* const* ops, F f, const char* what) {
  const TensorView& out = *ops[N];
  int64_t n = out.numel();
  if (n == 0) return;
  Geom g = coalesce(ops, N + 1);
  Ptrs p{};
  for (int k = 0; k < N; k++) {
    p.in[k] = ops[k]->data;
    p.dt[k] = ops[k]->dtype;
  }
  p.out = out.ptr<float>();
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  bool vec4 = g.contiguous && aligned(p.out);
  for (int k = 0; k < N; k++) vec4 = vec4 && p.dt[k] == DType::F32 && aligned(p.in[k]);
  if (vec4)
    nary_vec4_kernel<N><<<grid_for((n + 3) / 4), 256, 0, current_stream()>>>(p, n, f);
  else
    nary_kernel<N><<<grid_for(n), 256, 0, current_stream()>>>(g, p, n, f);
  check_launch(what);
}

}  // namespace

void unary(const TensorView& x, const TensorView& out, UnaryOp op, float p0, float p1) {
  const TensorView* ops[2] = {&x, &out};
  launch<1>(ops, UnaryF{op, p0, p1}, "unary");
}

void binary(const TensorView& a, const TensorView& b, const TensorView& out, BinaryOp op) {
  const TensorView* ops[3] = {&a, &b, &out};
  launch<2>(ops, BinaryF{op}, "binary");
}

void ternary(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, TernaryOp op) {
  const TensorView* ops[4] = {&a, &b, &c, &out};
  launch<3>(ops, TernaryF{op}, "ternary");
}

}  // namespace acestep::cuda
