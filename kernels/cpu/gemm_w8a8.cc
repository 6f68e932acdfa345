// W8A8 linear (int8 per-row weights from quantize_int8, per-row dynamic u8 activations, int32
// products) and the weight row sums it needs: the scalar reference, a portable threaded path, the
// avx512_vnni path (gemm_x86.cc) that packs the activations once and reads the int8 weights in
// place, and the AVX2 path over int16 pairs. Semantics in gemm.h.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm.h"
#include "gemm_kernels.h"
#include "parallel.h"
#include "strided.h"

namespace acestep::cpu {
using namespace gemm_detail;

namespace {

// Per-row activation quantization parameters: scale sa and zero point zp; sa is NaN for a row with
// a non-finite value (its outputs come out NaN).
struct ActQuant {
  float sa;
  int32_t zp;
};

ActQuant act_quant_from_range(float lo, float hi, bool finite) {
  if (!finite) return {std::nanf(""), 0};
  float sa = (hi - lo) / 255.f;
  if (!(sa > 0.f)) sa = 1.f;
  const float z = -std::nearbyintf(lo / sa);
  return {sa, static_cast<int32_t>(std::min(std::max(z, 0.f), 255.f))};
}

ActQuant act_quant_row_ref(const float* x, int64_t K) {
  float lo = 0.f, hi = 0.f;
  bool finite = true;
  for (int64_t k = 0; k < K; k++) {
    const float v = x[k];
    if (!std::isfinite(v)) finite = false;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return act_quant_from_range(lo, hi, finite);
}

inline uint8_t act_quant_value(float x, const ActQuant& q) {
  if (std::isnan(q.sa)) return 0;
  const float v = std::nearbyintf(x / q.sa) + static_cast<float>(q.zp);
  return static_cast<uint8_t>(std::min(std::max(v, 0.f), 255.f));
}

inline float w8a8_output(int64_t sum, const ActQuant& a, float sw, int32_t rowsum) {
  return static_cast<float>(sum - static_cast<int64_t>(a.zp) * rowsum) * (a.sa * sw);
}

struct W8A8Args {
  int64_t M, N, K;
  const float* x;
  int64_t ldx;
  const int8_t* q;
  int64_t ldq;
  const float* sw;
  const int32_t* rowsum;
  std::vector<float> bias;  // empty: none
  float* out;
};

W8A8Args w8a8_args(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                   const TensorView& out) {
  W8A8Args a{x.shape[0],      q.shape[0],   x.shape[1],         x.ptr<float>(),        x.strides[0],
             q.ptr<int8_t>(), q.strides[0], scale.ptr<float>(), rowsum.ptr<int32_t>(), {},
             out.ptr<float>()};
  if (x.strides[1] != 1 || q.strides[1] != 1 || scale.strides[0] != 1 || rowsum.strides[0] != 1)
    throw std::runtime_error("linear_w8a8: x, q, scale and rowsum need unit inner strides");
  if (bias) {
    a.bias.resize(a.N);
    for (int64_t n = 0; n < a.N; n++) a.bias[n] = load_as_f32(*bias, n * bias->strides[0]);
  }
  return a;
}

int32_t row_sum(const TensorView& q, int64_t n) {
  const int8_t* r = q.ptr<int8_t>() + n * q.strides[0];
  int32_t sum = 0;
  for (int64_t k = 0; k < q.shape[1]; k++) sum += r[k * q.strides[1]];
  return sum;
}

// Without AVX2 (or at K = 0): the rows quantized once, then plain integer dot products over
// weight-row blocks on the pool.
void linear_w8a8_portable(const W8A8Args& a) {
  std::vector<ActQuant> aq(a.M);
  std::vector<uint8_t> xq(static_cast<size_t>(a.M * a.K));
  parallel_for(a.M, 1, [&](int64_t m0, int64_t m1, int) {
    for (int64_t m = m0; m < m1; m++) {
      const float* xr = a.x + m * a.ldx;
      aq[m] = act_quant_row_ref(xr, a.K);
      for (int64_t k = 0; k < a.K; k++) xq[m * a.K + k] = act_quant_value(xr[k], aq[m]);
    }
  });
  parallel_for(a.N, 16, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; n++) {
      const int8_t* wr = a.q + n * a.ldq;
      for (int64_t m = 0; m < a.M; m++) {
        const uint8_t* xr = xq.data() + m * a.K;
        int32_t sum = 0;
        for (int64_t k = 0; k < a.K; k++) sum += static_cast<int32_t>(xr[k]) * wr[k];
        float y = w8a8_output(sum, aq[m], a.sw[n], a.rowsum[n]);
        if (!a.bias.empty()) y = y + a.bias[n];
        a.out[m * a.N + n] = y;
      }
    }
  });
}

// The vpdpbusd path: activations quantized and packed once per call (per XR-row block, in
// parallel), then (activation slice, weight group) tasks from a shared counter as in gemm_bf16w,
// over the whole K in one pass: the int32 sums never leave the registers before the epilogue. A
// slice of 3 XR rows is <= 3 * 48 * kW8A8MaxK bytes; at the models' K <= 6144 it is <= 864 KB and
// stays in L2.
constexpr int64_t kSliceBlocks = 3, kWBlocksPerTask = 8;
thread_local std::vector<uint32_t> t_xq;

void linear_w8a8_vnni(const W8A8Args& a) {
  const int64_t kquads = a.K / 4, xb = (a.M + XR - 1) / XR;
  t_xq.resize(static_cast<size_t>(xb * kquads * XR) + 16);
  uint32_t* xp = t_xq.data();
  // 64-byte alignment for the packed loads.
  xp += (16 - (reinterpret_cast<uintptr_t>(xp) / 4) % 16) % 16;
  std::vector<float> sa(static_cast<size_t>(xb * XR), 0.f);
  std::vector<int32_t> zp(static_cast<size_t>(xb * XR), 0);
  parallel_for(xb, 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t i = b0; i < b1; i++) {
      const int mr = static_cast<int>(std::min<int64_t>(XR, a.M - i * XR));
      for (int r = 0; r < mr; r++) {
        float lo, hi;
        const bool finite = row_range_avx512(a.x + (i * XR + r) * a.ldx, a.K, &lo, &hi);
        const ActQuant q = act_quant_from_range(lo, hi, finite);
        sa[i * XR + r] = q.sa;
        zp[i * XR + r] = q.zp;
      }
      pack_xq_quads_avx512(a.x + i * XR * a.ldx, a.ldx, mr, a.K, sa.data() + i * XR, zp.data() + i * XR, xp + i * kquads * XR);
    }
  });
  const int64_t wblocks = (a.N + WR - 1) / WR, groups = (wblocks + kWBlocksPerTask - 1) / kWBlocksPerTask;
  const int64_t ntasks = (xb + kSliceBlocks - 1) / kSliceBlocks * groups;
  std::atomic<int64_t> next{0};
  parallel_for(std::max(1, num_threads()), 1, [&](int64_t, int64_t, int) {
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) {
      const int64_t i0 = t / groups * kSliceBlocks, i1 = std::min(xb, i0 + kSliceBlocks);
      const int64_t wb0 = t % groups * kWBlocksPerTask, wb1 = std::min(wblocks, wb0 + kWBlocksPerTask);
      for (int64_t wb = wb0; wb < wb1; wb++) {
        const int64_t n0 = wb * WR;
        const int rows = static_cast<int>(std::min<int64_t>(WR, a.N - n0));
        for (int64_t i = i0; i < i1; i++) {
          const int mcols = static_cast<int>(std::min<int64_t>(XR, a.M - i * XR));
          ukr_w8a8_avx512(kquads, xp + i * kquads * XR, a.q + n0 * a.ldq, a.ldq, rows, mcols, a.out + i * XR * a.N + n0, a.N,
                          sa.data() + i * XR, zp.data() + i * XR, a.sw + n0, a.rowsum + n0, a.bias.empty() ? nullptr : a.bias.data() + n0);
        }
      }
    }
  });
}

// The vpmaddwd path (AVX2 without VNNI): the rows quantized once into int16, then one task per
// W8A8_NR weight rows from a shared counter: the task widens its rows into int16 pairs (<= 64 KB per
// 1024 of K, kept in L2) and runs every W8A8_MR-row activation tile against them over the whole K,
// so the int32 sums stay in registers until the epilogue.
// Both buffers are kept per thread across calls (as t_xq): a fresh multi-megabyte vector per call
// would come back from the kernel as new pages to fault in and zero every time.
thread_local std::vector<int16_t> t_w16, t_xq16;

void linear_w8a8_avx2(const W8A8Args& a) {
  const int64_t kp = (a.K + 1) / 2 * 2, kpairs = kp / 2;
  t_xq16.resize(static_cast<size_t>(a.M * kp));
  int16_t* xq = t_xq16.data();
  std::vector<float> sa(a.M);
  std::vector<int32_t> zp(a.M);
  parallel_for(a.M, 4, [&](int64_t m0, int64_t m1, int) {
    for (int64_t m = m0; m < m1; m++) {
      const float* xr = a.x + m * a.ldx;
      float lo, hi;
      const bool finite = row_range_avx2(xr, a.K, &lo, &hi);
      const ActQuant q = act_quant_from_range(lo, hi, finite);
      sa[m] = q.sa;
      zp[m] = q.zp;
      quantize_row_u8_i16_avx2(xr, a.K, q.sa, q.zp, xq + m * kp);
    }
  });
  const int64_t ntasks = (a.N + W8A8_NR - 1) / W8A8_NR;
  std::atomic<int64_t> next{0};
  parallel_for(std::max(1, num_threads()), 1, [&](int64_t, int64_t, int) {
    t_w16.resize(static_cast<size_t>(kpairs * W8A8_NR * 2) + 32);
    int16_t* w16 = t_w16.data();
    w16 += (32 - (reinterpret_cast<uintptr_t>(w16) / 2) % 32) % 32;  // 64-byte alignment
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) {
      const int64_t n0 = t * W8A8_NR;
      const int rows = static_cast<int>(std::min<int64_t>(W8A8_NR, a.N - n0));
      // The kernel reads W8A8_NR entries of sw / rowsum / bias: a short last block gets padded copies.
      float sw[W8A8_NR] = {}, bias[W8A8_NR] = {};
      int32_t rowsum[W8A8_NR] = {};
      std::copy(a.sw + n0, a.sw + n0 + rows, sw);
      std::copy(a.rowsum + n0, a.rowsum + n0 + rows, rowsum);
      if (!a.bias.empty()) std::copy(a.bias.begin() + n0, a.bias.begin() + n0 + rows, bias);
      pack_w8_pairs_avx2(a.q + n0 * a.ldq, a.ldq, rows, a.K, w16);
      for (int64_t m0 = 0; m0 < a.M; m0 += W8A8_MR) {
        const int mr = static_cast<int>(std::min<int64_t>(W8A8_MR, a.M - m0));
        ukr_w8a8_avx2(kpairs, xq + m0 * kp, kp, mr, w16, rows, a.out + m0 * a.N + n0, a.N, sa.data() + m0, zp.data() + m0, sw, rowsum,
                      a.bias.empty() ? nullptr : bias);
      }
    }
  });
}

}  // namespace

void int8_row_sums_ref(const TensorView& q, const TensorView& rowsum) {
  for (int64_t n = 0; n < q.shape[0]; n++) rowsum.ptr<int32_t>()[n * rowsum.strides[0]] = row_sum(q, n);
}

void int8_row_sums(const TensorView& q, const TensorView& rowsum) {
  parallel_for(q.shape[0], 64, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; n++) rowsum.ptr<int32_t>()[n * rowsum.strides[0]] = row_sum(q, n);
  });
}

void linear_w8a8_ref(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                     const TensorView& out) {
  const W8A8Args a = w8a8_args(x, q, scale, rowsum, bias, out);
  for (int64_t m = 0; m < a.M; m++) {
    const float* xr = a.x + m * a.ldx;
    const ActQuant aq = act_quant_row_ref(xr, a.K);
    for (int64_t n = 0; n < a.N; n++) {
      int64_t sum = 0;
      for (int64_t k = 0; k < a.K; k++) sum += static_cast<int64_t>(act_quant_value(xr[k], aq)) * a.q[n * a.ldq + k];
      float y = w8a8_output(sum, aq, a.sw[n], a.rowsum[n]);
      if (!a.bias.empty()) y = y + a.bias[n];
      a.out[m * a.N + n] = y;
    }
  }
}

void linear_w8a8(const TensorView& x, const TensorView& q, const TensorView& scale, const TensorView& rowsum, const TensorView* bias,
                 const TensorView& out) {
  const W8A8Args a = w8a8_args(x, q, scale, rowsum, bias, out);
  if (a.M == 0 || a.N == 0) return;
  if (current_isa() == Isa::Avx512 && has_avx512_vnni() && a.K % 4 == 0 && a.K > 0) return linear_w8a8_vnni(a);
  if (current_isa() >= Isa::Avx2 && a.K > 0) return linear_w8a8_avx2(a);
  linear_w8a8_portable(a);
}

}  // namespace acestep::cpu
