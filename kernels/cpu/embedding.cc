// Embedding kernels. Ids are checked serially before any row is copied, so a bad id raises a
// clear error (at the next sync point) instead of reading out of bounds inside the thread pool.
#include "embedding.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "parallel.h"
#include "strided.h"

namespace acestep::cpu {
namespace {

inline int64_t id_at(const TensorView& ids, int64_t i) {
  return ids.dtype == DType::I64 ? ids.ptr<int64_t>()[i] : ids.ptr<int32_t>()[i];
}

void check_ids(const TensorView& weight, const TensorView& ids) {
  int64_t n = ids.numel(), v = weight.shape[0];
  for (int64_t i = 0; i < n; i++) {
    int64_t id = id_at(ids, i);
    if (id < 0 || id >= v)
      throw std::runtime_error("embedding: id " + std::to_string(id) + " at position " + std::to_string(i) +
                               " is outside the table's range [0, " + std::to_string(v) + ")");
  }
}

void gather_row(const TensorView& w, int64_t id, int64_t h, float* o) {
  int64_t base = id * w.strides[0];
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(o, w.ptr<float>() + base, h * sizeof(float));
      break;
    case DType::BF16:
      for (int64_t j = 0; j < h; j++) o[j] = bf16_to_f32(w.ptr<uint16_t>()[base + j]);
      break;
    case DType::F16:
      for (int64_t j = 0; j < h; j++) o[j] = f16_to_f32(w.ptr<uint16_t>()[base + j]);
      break;
    default:
      for (int64_t j = 0; j < h; j++) o[j] = load_as_f32(w, base + j);
      break;
  }
}

}  // namespace

void embedding_ref(const TensorView& weight, const TensorView& ids, const TensorView& out) {
  check_ids(weight, ids);
  int64_t n = ids.numel(), h = weight.shape[1];
  for (int64_t i = 0; i < n; i++) {
    int64_t id = id_at(ids, i);
    for (int64_t j = 0; j < h; j++) out.ptr<float>()[i * h + j] = load_as_f32(weight, id * weight.strides[0] + j * weight.strides[1]);
  }
}

void embedding(const TensorView& weight, const TensorView& ids, const TensorView& out) {
  check_ids(weight, ids);
  int64_t n = ids.numel(), h = weight.shape[1];
  parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, h)), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) gather_row(weight, id_at(ids, i), h, out.ptr<float>() + i * h);
  });
}

}  // namespace acestep::cpu
