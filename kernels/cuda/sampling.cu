// CUDA logit ops. The elementwise ones and the exponential race run on the device; top-k and
// top-p need a per-row sort, which for the LM's few rows is cheaper to do on the host than to
// write as a device sort, so they copy the logits over, run the CPU kernel and copy back.
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpu/random.h"
#include "../cpu/sampling.h"
#include "common.cuh"
#include "sampling.h"

namespace acestep::cuda {
namespace {

constexpr int kRaceThreads = 256;

__global__ void cfg_kernel(const float* c, const float* u, float s, float* o, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    o[i] = u[i] + s * (c[i] - u[i]);
}

// One thread per (row, previous token); writes are idempotent (computed from the input), so
// repeated tokens need no coordination. A bad id is reported through *bad.
__global__ void penalty_kernel(const float* x, const void* prev, bool i64, int64_t B, int64_t L, int64_t V, float penalty, float* o,
                               unsigned long long* bad) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < B * L; t += (int64_t)gridDim.x * blockDim.x) {
    int64_t b = t / L;
    int64_t id = i64 ? static_cast<const int64_t*>(prev)[t] : static_cast<const int32_t*>(prev)[t];
    if (id == -1) continue;
    if (id < 0 || id >= V) {
      atomicMin(bad, static_cast<unsigned long long>(t));
      continue;
    }
    float s = x[b * V + id];
    o[b * V + id] = s < 0.f ? s * penalty : s / penalty;
  }
}

// One block per row: each thread races over a strided subset, then a shared-memory argmax
// (ties to the lower index, like the CPU).
__global__ void race_kernel(const float* x, int64_t V, uint64_t seed, uint32_t step, int32_t* out) {
  int64_t b = blockIdx.x;
  const float* row = x + b * V;
  double best = -INFINITY;
  int64_t besti = -1;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    float v = row[i];
    if (!(v > -INFINITY)) continue;
    Philox4 r = philox4x32_10(static_cast<uint32_t>(i), static_cast<uint32_t>(b), step, cpu::kSampleRaceTag, static_cast<uint32_t>(seed),
                              static_cast<uint32_t>(seed >> 32));
    double u = r.v[0] * 2.3283064365386963e-10 + 1.1641532182693481e-10;
    double s = static_cast<double>(v) - log(-log(u));
    if (besti < 0 || s > best) {
      best = s;
      besti = i;
    }
  }
  __shared__ double sb[kRaceThreads];
  __shared__ int64_t si[kRaceThreads];
  sb[threadIdx.x] = best;
  si[threadIdx.x] = besti;
  __syncthreads();
  for (int w = kRaceThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      int64_t j = si[threadIdx.x + w];
      double sj = sb[threadIdx.x + w];
      int64_t i = si[threadIdx.x];
      if (j >= 0 && (i < 0 || sj > sb[threadIdx.x] || (sj == sb[threadIdx.x] && j < i))) {
        sb[threadIdx.x] = sj;
        si[threadIdx.x] = j;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[b] = static_cast<int32_t>(si[0]);
}

// Runs a CPU row kernel on host copies of device logits.
template <typename Fn>
void via_host(const TensorView& logits, const TensorView& out, Fn fn) {
  size_t bytes = static_cast<size_t>(logits.numel()) * sizeof(float);
  std::vector<float> in(logits.numel()), res(logits.numel());
  copy_d2h(in.data(), logits.data, bytes);
  TensorView hi = logits, ho = out;
  hi.data = in.data();
  ho.data = res.data();
  fn(hi, ho);
  copy_h2d(out.data, res.data(), bytes);
}

}  // namespace

void cfg_combine(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out) {
  int64_t n = out.numel();
  if (n == 0) return;
  cfg_kernel<<<grid_for(n), 256, 0, current_stream()>>>(cond.ptr<const float>(), uncond.ptr<const float>(), scale, out.ptr<float>(), n);
  check_launch("cfgCombine");
}

void repetition_penalty(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out) {
  int64_t B = logits.shape[0], V = logits.shape[1], L = prev.shape[1];
  size_t bytes = static_cast<size_t>(logits.numel()) * sizeof(float);
  if (bytes && cudaMemcpyAsync(out.data, logits.data, bytes, cudaMemcpyDeviceToDevice, current_stream()) != cudaSuccess)
    throw std::runtime_error("repetitionPenalty: device copy failed");
  if (B * L == 0) return;
  unsigned long long none = ~0ull, bad = none;
  unsigned long long* dbad = static_cast<unsigned long long*>(device_alloc(sizeof(bad)));
  if (dbad == nullptr) throw std::runtime_error("repetitionPenalty: out of device memory");
  copy_h2d(dbad, &none, sizeof(none));
  penalty_kernel<<<grid_for(B * L), 256, 0, current_stream()>>>(logits.ptr<const float>(), prev.data, prev.dtype == DType::I64, B, L, V,
                                                                penalty, out.ptr<float>(), dbad);
  check_launch("repetitionPenalty");
  copy_d2h(&bad, dbad, sizeof(bad));
  device_free(dbad, sizeof(bad));
  if (bad != none) {
    int64_t t = static_cast<int64_t>(bad), id;
    if (prev.dtype == DType::I64)
      copy_d2h(&id, prev.ptr<const int64_t>() + t, sizeof(id));
    else {
      int32_t id32;
      copy_d2h(&id32, prev.ptr<const int32_t>() + t, sizeof(id32));
      id = id32;
    }
    throw std::runtime_error("repetitionPenalty: previous token id " + std::to_string(id) + " at [" + std::to_string(t / L) + "," +
                             std::to_string(t % L) + "] is outside [0, " + std::to_string(V) + ")");
  }
}

void top_k(const TensorView& logits, int64_t k, const TensorView& out) {
  via_host(logits, out, [k](const TensorView& x, const TensorView& o) { cpu::top_k(x, k, o); });
}

void top_p(const TensorView& logits, double p, const TensorView& out) {
  via_host(logits, out, [p](const TensorView& x, const TensorView& o) { cpu::top_p(x, p, o); });
}

void sample_race(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out) {
  int64_t B = logits.shape[0];
  if (B == 0) return;
  race_kernel<<<static_cast<unsigned>(B), kRaceThreads, 0, current_stream()>>>(logits.ptr<const float>(), logits.shape[1], seed, step,
                                                                               out.ptr<int32_t>());
  check_launch("sampleRace");
  // A row without a finite logit leaves -1; report it like the CPU does.
  std::vector<int32_t> ids(B);
  copy_d2h(ids.data(), out.data, B * sizeof(int32_t));
  for (int64_t b = 0; b < B; b++)
    if (ids[b] < 0) throw std::runtime_error("sampleRace: row " + std::to_string(b) + " has no finite logit to sample");
}

}  // namespace acestep::cuda
