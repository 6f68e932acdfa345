// Copy/cast kernels. The fast path handles row-contiguous inner dimensions with memcpy or a
// tight conversion loop; integer<->integer copies stay exact (no float round trip).
#include "copy.h"

#include <cstring>

#include "parallel.h"
#include "strided.h"

namespace acestep::cpu {
namespace {

bool is_int(DType d) {
  return d == DType::I32 || d == DType::I64 || d == DType::U8 || d == DType::I8;
}

int64_t load_int(const TensorView& v, int64_t off) {
  switch (v.dtype) {
    case DType::I32:
      return static_cast<const int32_t*>(v.data)[off];
    case DType::I64:
      return static_cast<const int64_t*>(v.data)[off];
    case DType::U8:
      return static_cast<const uint8_t*>(v.data)[off];
    case DType::I8:
      return static_cast<const int8_t*>(v.data)[off];
    default:
      return 0;
  }
}
void store_int(const TensorView& v, int64_t off, int64_t x) {
  switch (v.dtype) {
    case DType::I32:
      static_cast<int32_t*>(v.data)[off] = static_cast<int32_t>(x);
      break;
    case DType::I64:
      static_cast<int64_t*>(v.data)[off] = x;
      break;
    case DType::U8:
      static_cast<uint8_t*>(v.data)[off] = static_cast<uint8_t>(x);
      break;
    case DType::I8:
      static_cast<int8_t*>(v.data)[off] = static_cast<int8_t>(x);
      break;
    default:
      break;
  }
}

void copy_element(const TensorView& src, int64_t so, const TensorView& out, int64_t oo) {
  if (is_int(src.dtype) && is_int(out.dtype))
    store_int(out, oo, load_int(src, so));
  else
    store_from_f32(out, oo, load_as_f32(src, so));
}

// Converts a contiguous run of n elements.
void convert_run(const TensorView& src, int64_t so, const TensorView& out, int64_t oo, int64_t n) {
  if (src.dtype == out.dtype) {
    int es = dtype_size(src.dtype);
    std::memcpy(static_cast<uint8_t*>(out.data) + oo * es, static_cast<const uint8_t*>(src.data) + so * es, n * es);
    return;
  }
  if (src.dtype == DType::BF16 && out.dtype == DType::F32) {
    const uint16_t* s = static_cast<const uint16_t*>(src.data) + so;
    float* o = static_cast<float*>(out.data) + oo;
    for (int64_t i = 0; i < n; i++) o[i] = bf16_to_f32(s[i]);
    return;
  }
  if (src.dtype == DType::F32 && out.dtype == DType::BF16) {
    const float* s = static_cast<const float*>(src.data) + so;
    uint16_t* o = static_cast<uint16_t*>(out.data) + oo;
    for (int64_t i = 0; i < n; i++) o[i] = f32_to_bf16(s[i]);
    return;
  }
  for (int64_t i = 0; i < n; i++) copy_element(src, so + i, out, oo + i);
}

}  // namespace

void copy_ref(const TensorView& src, const TensorView& out) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++) copy_element(src, strided_offset(src, i), out, strided_offset(out, i));
}

void copy(const TensorView& src, const TensorView& out) {
  int64_t n = out.numel();
  if (n == 0) return;
  int nd = out.ndim;
  // Inner run: the last dimension when both sides are unit-stride there.
  int64_t inner = 1;
  if (nd > 0 && src.strides[nd - 1] == 1 && out.strides[nd - 1] == 1) inner = out.shape[nd - 1];
  if (src.contiguous() && out.contiguous()) inner = n;
  int64_t rows = n / inner;
  parallel_for(rows, inner >= 4096 ? 1 : 4096 / inner + 1, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; r++) {
      int64_t so = strided_offset(src, r * inner), oo = strided_offset(out, r * inner);
      if (inner == 1 && n != 1)
        copy_element(src, so, out, oo);
      else
        convert_run(src, so, out, oo, inner);
    }
  });
}

void fill_ref(const TensorView& out, double value) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++) {
    int64_t o = strided_offset(out, i);
    if (is_int(out.dtype))
      store_int(out, o, static_cast<int64_t>(value));
    else
      store_from_f32(out, o, static_cast<float>(value));
  }
}

void fill(const TensorView& out, double value) {
  if (!out.contiguous() || out.dtype != DType::F32) return fill_ref(out, value);
  float* o = static_cast<float*>(out.data);
  float v = static_cast<float>(value);
  parallel_for(out.numel(), 1 << 16, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) o[i] = v;
  });
}

}  // namespace acestep::cpu
