// CUDA embedding: one block per id copies (and converts) its row. An id outside [0, V) records the
// lowest offending position with atomicMin; the host reads it back after the launch and raises a
// clear error naming the id (rows of bad ids are left unwritten).
#include <stdexcept>
#include <string>

#include "embedding.h"
#include "pointwise.cuh"

namespace acestep::cuda {
namespace {

__device__ inline int64_t id_at(const void* ids, bool i64, int64_t i) {
  return i64 ? static_cast<const int64_t*>(ids)[i] : static_cast<const int32_t*>(ids)[i];
}

__global__ void embedding_kernel(const void* w, DType wdt, int64_t wstride, int64_t V, int64_t H, const void* ids, bool i64, float* out,
                                 unsigned long long* bad) {
  int64_t n = blockIdx.x;
  int64_t id = id_at(ids, i64, n);
  if (id < 0 || id >= V) {
    if (threadIdx.x == 0) atomicMin(bad, (unsigned long long)n);
    return;
  }
  float* o = out + n * H;
  int64_t base = id * wstride;
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    switch (wdt) {
      case DType::F16:
        o[j] = __half2float(static_cast<const __half*>(w)[base + j]);
        break;
      case DType::BF16:
        o[j] = __bfloat162float(static_cast<const __nv_bfloat16*>(w)[base + j]);
        break;
      default:
        o[j] = static_cast<const float*>(w)[base + j];
        break;
    }
  }
}

}  // namespace

void embedding(const TensorView& weight, const TensorView& ids, const TensorView& out) {
  int64_t n = ids.numel(), V = weight.shape[0], H = weight.shape[1];
  if (n == 0) return;
  if (n > 0x7fffffff) throw std::runtime_error("embedding (CUDA): too many ids for one launch");
  unsigned long long none = ~0ull, bad = none;
  auto* dbad = static_cast<unsigned long long*>(device_alloc(sizeof(bad)));
  if (dbad == nullptr) throw std::runtime_error("embedding: out of device memory");
  copy_h2d(dbad, &none, sizeof(none));
  bool i64 = ids.dtype == DType::I64;
  embedding_kernel<<<(unsigned)n, 128, 0, current_stream()>>>(weight.data, weight.dtype, weight.strides[0], V, H, ids.data, i64,
                                                              out.ptr<float>(), dbad);
  check_launch("embedding");
  copy_d2h(&bad, dbad, sizeof(bad));
  device_free(dbad, sizeof(bad));
  if (bad != none) {
    int64_t pos = static_cast<int64_t>(bad), id;
    if (i64) {
      copy_d2h(&id, ids.ptr<const int64_t>() + pos, sizeof(id));
    } else {
      int32_t id32;
      copy_d2h(&id32, ids.ptr<const int32_t>() + pos, sizeof(id32));
      id = id32;
    }
    throw std::runtime_error("embedding: id " + std::to_string(id) + " at position " + std::to_string(pos) +
                             " is outside the table's range [0, " + std::to_string(V) + ")");
  }
}

}  // namespace acestep::cuda
