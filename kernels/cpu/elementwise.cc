// Elementwise kernels. The reference walks every element through strided offsets in float32 with
// libm. The fast path coalesces dimensions, and when every operand's innermost dimension is either
// unit-stride or broadcast (stride 0) and f32, runs rows through AVX-512 (masked tails) or AVX2 loops
// (vector exp for the sigmoid family) on the thread pool; anything else takes a parallel strided loop.
#include "elementwise.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"
#include "pointwise_math.h"
#include "strided.h"

namespace acestep::cpu {
using namespace pw;
namespace {

inline float unary_scalar(UnaryOp op, float x, float p0, float p1) {
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Exp:
      return std::exp(x);
    case UnaryOp::Log:
      return std::log(x);
    case UnaryOp::Sqrt:
      return std::sqrt(x);
    case UnaryOp::Rsqrt:
      return 1.0f / std::sqrt(x);
    case UnaryOp::Abs:
      return std::fabs(x);
    case UnaryOp::Tanh:
      return std::tanh(x);
    case UnaryOp::Sigmoid:
      return sigmoid_f(x);
    case UnaryOp::Silu:
      return silu_f(x);
    case UnaryOp::Gelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case UnaryOp::GeluTanh: {
      float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case UnaryOp::Softplus:
      return x > 20.0f ? x : std::log1p(std::exp(x));  // torch beta=1, threshold=20
    case UnaryOp::Sin:
      return std::sin(x);
    case UnaryOp::Cos:
      return std::cos(x);
    case UnaryOp::Square:
      return x * x;
    case UnaryOp::Relu:
      return x != x ? x : (x > 0.0f ? x : 0.0f);
    case UnaryOp::Affine:
      return x * p0 + p1;
    case UnaryOp::Clamp:
      return min_f(max_f(x, p0), p1);
    case UnaryOp::DivScalar:
      return x / p0;
    case UnaryOp::Count:
      break;
  }
  return x;
}

inline float binary_scalar(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
    case BinaryOp::Max:
      return max_f(a, b);
    case BinaryOp::Min:
      return min_f(a, b);
    case BinaryOp::Swiglu:
      return silu_f(a) * b;
    case BinaryOp::Count:
      break;
  }
  return a;
}

inline float ternary_scalar(TernaryOp op, float a, float b, float c) {
  switch (op) {
    case TernaryOp::Modulate: {
      float s = 1.0f + c;  // rounded separately, as torch evaluates (1 + scale) first
      float m = a * s;
      return m + b;
    }
    case TernaryOp::GatedAdd: {
      float m = b * c;
      return a + m;
    }
    case TernaryOp::Count:
      break;
  }
  return a;
}

// ---- geometry: coalesced dims shared by all operands ----

struct Plan {
  int nd = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[4][kMaxDims] = {};  // strides of up to 3 inputs + out
  int nops = 0;
};

Plan coalesce(const TensorView* const* ops, int nops) {
  const TensorView& o = *ops[nops - 1];
  Plan p;
  p.nops = nops;
  for (int d = 0; d < o.ndim; d++) {
    if (o.shape[d] == 1) continue;
    bool merge = p.nd > 0;
    for (int k = 0; k < nops && merge; k++) merge = p.st[k][p.nd - 1] == ops[k]->strides[d] * o.shape[d];
    if (merge) {
      p.shape[p.nd - 1] *= o.shape[d];
      for (int k = 0; k < nops; k++) p.st[k][p.nd - 1] = ops[k]->strides[d];
    } else {
      p.shape[p.nd] = o.shape[d];
      for (int k = 0; k < nops; k++) p.st[k][p.nd] = ops[k]->strides[d];
      p.nd++;
    }
  }
  if (p.nd == 0) {  // a single element
    p.nd = 1;
    p.shape[0] = 1;
    for (int k = 0; k < nops; k++) p.st[k][0] = 1;
  }
  return p;
}

// Offsets of row `r` (all dims but the last) for every operand.
inline void row_offsets(const Plan& p, int64_t r, int64_t* off) {
  for (int k = 0; k < p.nops; k++) off[k] = 0;
  for (int d = p.nd - 2; d >= 0; d--) {
    int64_t i = r % p.shape[d];
    r /= p.shape[d];
    for (int k = 0; k < p.nops; k++) off[k] += i * p.st[k][d];
  }
}

bool rows_vectorisable(const Plan& p, const TensorView* const* ops) {
  for (int k = 0; k < p.nops; k++) {
    if (ops[k]->dtype != DType::F32) return false;
    int64_t s = p.st[k][p.nd - 1];
    if (s != 0 && s != 1) return false;
  }
  return p.st[p.nops - 1][p.nd - 1] == 1;
}

int64_t grain_rows(int64_t inner) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner));
}

// Vectorised work is split into tasks of at most kChunk elements of one row, so a fully contiguous
// tensor (coalesced into a single row) still spreads over the thread pool.
constexpr int64_t kChunk = 16384;
struct Tasks {
  int64_t per_row, count, grain;
};
Tasks vector_tasks(int64_t rows, int64_t inner) {
  int64_t per_row = (inner + kChunk - 1) / kChunk;
  return Tasks{per_row, rows * per_row, std::max<int64_t>(1, kChunk / std::max<int64_t>(1, std::min(inner, kChunk)))};
}

// ---- AVX-512 row loops ----

ACESTEP_AVX512 inline __m512 load_row(const float* p, bool bcast, int64_t i, __mmask16 m) {
  return bcast ? _mm512_set1_ps(*p) : _mm512_maskz_loadu_ps(m, p + i);
}

ACESTEP_AVX512 bool unary_row512(UnaryOp op, int64_t n, const float* x, bool xb, float* o, float p0, float p1) {
  const __m512 v0 = _mm512_set1_ps(p0), v1 = _mm512_set1_ps(p1), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Abs:
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
    case UnaryOp::Silu:
    case UnaryOp::GeluTanh:
    case UnaryOp::Square:
    case UnaryOp::Relu:
    case UnaryOp::Affine:
    case UnaryOp::Clamp:
    case UnaryOp::DivScalar:
      break;
    default:
      return false;  // log/erf/softplus/sin/cos use libm
  }
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 v = load_row(x, xb, i, m), r;
    switch (op) {
      case UnaryOp::Neg:
        r = _mm512_sub_ps(zero, v);
        break;
      case UnaryOp::Exp:
        r = exp512(v);
        break;
      case UnaryOp::Sqrt:
        r = _mm512_sqrt_ps(v);
        break;
      case UnaryOp::Rsqrt:
        r = _mm512_div_ps(one, _mm512_sqrt_ps(v));
        break;
      case UnaryOp::Abs:
        r = _mm512_abs_ps(v);
        break;
      case UnaryOp::Tanh:
        r = tanh512(v);
        break;
      case UnaryOp::Sigmoid:
        r = sigmoid512(v);
        break;
      case UnaryOp::Silu:
        r = silu512(v);
        break;
      case UnaryOp::GeluTanh: {
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(v, v), v), _mm512_set1_ps(0.044715f));
        __m512 inner = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), _mm512_add_ps(v, x3));
        r = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, tanh512(inner)));
        break;
      }
      case UnaryOp::Square:
        r = _mm512_mul_ps(v, v);
        break;
      case UnaryOp::Relu:
        r = max512(v, zero);
        break;
      case UnaryOp::Affine:
        r = add_nc(mul_nc(v, v0), v1);
        break;
      case UnaryOp::Clamp:
        r = min512(max512(v, v0), v1);
        break;
      default:
        r = _mm512_div_ps(v, v0);
        break;
    }
    _mm512_mask_storeu_ps(o + i, m, r);
  }
  return true;
}

ACESTEP_AVX512 void binary_row512(BinaryOp op, int64_t n, const float* a, bool ab, const float* b, bool bb, float* o) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 x = load_row(a, ab, i, m), y = load_row(b, bb, i, m), r;
    switch (op) {
      case BinaryOp::Add:
        r = _mm512_add_ps(x, y);
        break;
      case BinaryOp::Sub:
        r = _mm512_sub_ps(x, y);
        break;
      case BinaryOp::Mul:
        r = _mm512_mul_ps(x, y);
        break;
      case BinaryOp::Div:
        r = _mm512_div_ps(x, y);
        break;
      case BinaryOp::Max:
        r = max512(x, y);
        break;
      case BinaryOp::Min:
        r = min512(x, y);
        break;
      default:
        r = _mm512_mul_ps(silu512(x), y);
        break;
    }
    _mm512_mask_storeu_ps(o + i, m, r);
  }
}

ACESTEP_AVX512 void ternary_row512(TernaryOp op, int64_t n, const float* a, bool ab, const float* b, bool bb, const float* c, bool cb,
                                   float* o) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 x = load_row(a, ab, i, m), y = load_row(b, bb, i, m), z = load_row(c, cb, i, m), r;
    // Separate mul and add (no FMA) so results round exactly like the reference / torch.
    if (op == TernaryOp::Modulate)
      r = add_nc(mul_nc(x, add_nc(one, z)), y);
    else
      r = add_nc(x, mul_nc(y, z));
    _mm512_mask_storeu_ps(o + i, m, r);
  }
}

// ---- AVX2 row loops: 8 lanes, scalar tails ----

ACESTEP_AVX2 inline __m256 load_row8(const float* p, bool bcast, int64_t i) {
  return bcast ? _mm256_set1_ps(*p) : _mm256_loadu_ps(p + i);
}

ACESTEP_AVX2 bool unary_row256(UnaryOp op, int64_t n, const float* x, bool xb, float* o, float p0, float p1) {
  const __m256 v0 = _mm256_set1_ps(p0), v1 = _mm256_set1_ps(p1), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Abs:
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
    case UnaryOp::Silu:
    case UnaryOp::GeluTanh:
    case UnaryOp::Square:
    case UnaryOp::Relu:
    case UnaryOp::Affine:
    case UnaryOp::Clamp:
    case UnaryOp::DivScalar:
      break;
    default:
      return false;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = load_row8(x, xb, i), r;
    switch (op) {
      case UnaryOp::Neg:
        r = _mm256_sub_ps(zero, v);
        break;
      case UnaryOp::Exp:
        r = exp256(v);
        break;
      case UnaryOp::Sqrt:
        r = _mm256_sqrt_ps(v);
        break;
      case UnaryOp::Rsqrt:
        r = _mm256_div_ps(one, _mm256_sqrt_ps(v));
        break;
      case UnaryOp::Abs:
        r = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
        break;
      case UnaryOp::Tanh:
        r = tanh256(v);
        break;
      case UnaryOp::Sigmoid:
        r = sigmoid256(v);
        break;
      case UnaryOp::Silu:
        r = silu256(v);
        break;
      case UnaryOp::GeluTanh: {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(v, v), v), _mm256_set1_ps(0.044715f));
        __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f), _mm256_add_ps(v, x3));
        r = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, tanh256(inner)));
        break;
      }
      case UnaryOp::Square:
        r = _mm256_mul_ps(v, v);
        break;
      case UnaryOp::Relu:
        r = max256(v, zero);
        break;
      case UnaryOp::Affine:
        r = _mm256_add_ps(_mm256_mul_ps(v, v0), v1);
        break;
      case UnaryOp::Clamp:
        r = min256(max256(v, v0), v1);
        break;
      default:
        r = _mm256_div_ps(v, v0);
        break;
    }
    _mm256_storeu_ps(o + i, r);
  }
  for (; i < n; i++) o[i] = unary_scalar(op, x[xb ? 0 : i], p0, p1);
  return true;
}

ACESTEP_AVX2 void binary_row256(BinaryOp op, int64_t n, const float* a, bool ab, const float* b, bool bb, float* o) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = load_row8(a, ab, i), y = load_row8(b, bb, i), r;
    switch (op) {
      case BinaryOp::Add:
        r = _mm256_add_ps(x, y);
        break;
      case BinaryOp::Sub:
        r = _mm256_sub_ps(x, y);
        break;
      case BinaryOp::Mul:
        r = _mm256_mul_ps(x, y);
        break;
      case BinaryOp::Div:
        r = _mm256_div_ps(x, y);
        break;
      case BinaryOp::Max:
        r = max256(x, y);
        break;
      case BinaryOp::Min:
        r = min256(x, y);
        break;
      default:
        r = _mm256_mul_ps(silu256(x), y);
        break;
    }
    _mm256_storeu_ps(o + i, r);
  }
  for (; i < n; i++) o[i] = binary_scalar(op, a[ab ? 0 : i], b[bb ? 0 : i]);
}

ACESTEP_AVX2 void ternary_row256(TernaryOp op, int64_t n, const float* a, bool ab, const float* b, bool bb, const float* c, bool cb,
                                 float* o) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = load_row8(a, ab, i), y = load_row8(b, bb, i), z = load_row8(c, cb, i), r;
    if (op == TernaryOp::Modulate)
      r = _mm256_add_ps(_mm256_mul_ps(x, _mm256_add_ps(one, z)), y);
    else
      r = _mm256_add_ps(x, _mm256_mul_ps(y, z));
    _mm256_storeu_ps(o + i, r);
  }
  for (; i < n; i++) o[i] = ternary_scalar(op, a[ab ? 0 : i], b[bb ? 0 : i], c[cb ? 0 : i]);
}

// ---- scalar row loops (no SIMD ISA) ----

void unary_row_scalar(UnaryOp op, int64_t n, const float* x, bool xb, float* o, float p0, float p1) {
  for (int64_t i = 0; i < n; i++) o[i] = unary_scalar(op, x[xb ? 0 : i], p0, p1);
}

// Generic strided loop over an element range, any dtypes.
template <typename F>
void strided_loop(const Plan& p, const TensorView* const* ops, int64_t begin, int64_t end, F&& f) {
  int64_t inner = p.shape[p.nd - 1];
  int64_t off[4];
  for (int64_t r = begin; r < end; r++) {
    row_offsets(p, r, off);
    for (int64_t i = 0; i < inner; i++) {
      float v[3];
      for (int k = 0; k + 1 < p.nops; k++) v[k] = load_as_f32(*ops[k], off[k] + i * p.st[k][p.nd - 1]);
      store_from_f32(*ops[p.nops - 1], off[p.nops - 1] + i * p.st[p.nops - 1][p.nd - 1], f(v));
    }
  }
}

}  // namespace

int pointwise_isa_best() {
  return static_cast<int>(pw_best_isa());
}

int set_pointwise_isa(int level) {
  PwIsa want = level <= 0 ? PwIsa::Scalar : level == 1 ? PwIsa::Avx2 : PwIsa::Avx512;
  return static_cast<int>(set_pw_isa(want));
}

void unary_ref(const TensorView& x, const TensorView& out, UnaryOp op, float p0, float p1) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++)
    store_from_f32(out, strided_offset(out, i), unary_scalar(op, load_as_f32(x, strided_offset(x, i)), p0, p1));
}

void binary_ref(const TensorView& a, const TensorView& b, const TensorView& out, BinaryOp op) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++) {
    float va = load_as_f32(a, strided_offset(a, i)), vb = load_as_f32(b, strided_offset(b, i));
    store_from_f32(out, strided_offset(out, i), binary_scalar(op, va, vb));
  }
}

void ternary_ref(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, TernaryOp op) {
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++) {
    float va = load_as_f32(a, strided_offset(a, i)), vb = load_as_f32(b, strided_offset(b, i)), vc = load_as_f32(c, strided_offset(c, i));
    store_from_f32(out, strided_offset(out, i), ternary_scalar(op, va, vb, vc));
  }
}

void unary(const TensorView& x, const TensorView& out, UnaryOp op, float p0, float p1) {
  if (out.numel() == 0) return;
  const TensorView* ops[2] = {&x, &out};
  Plan p = coalesce(ops, 2);
  int64_t inner = p.shape[p.nd - 1], rows = out.numel() / inner;
  if (!rows_vectorisable(p, ops)) {
    return parallel_for(rows, grain_rows(inner), [&](int64_t b, int64_t e, int) {
      strided_loop(p, ops, b, e, [&](const float* v) { return unary_scalar(op, v[0], p0, p1); });
    });
  }
  PwIsa isa = pw_isa();
  Tasks tk = vector_tasks(rows, inner);
  bool xb = p.st[0][p.nd - 1] == 0;
  parallel_for(tk.count, tk.grain, [&](int64_t b, int64_t e, int) {
    int64_t off[2];
    for (int64_t t = b; t < e; t++) {
      int64_t s0 = (t % tk.per_row) * kChunk, len = std::min(kChunk, inner - s0);
      row_offsets(p, t / tk.per_row, off);
      const float* xs = x.ptr<float>() + off[0] + (xb ? 0 : s0);
      float* o = out.ptr<float>() + off[1] + s0;
      bool done = isa == PwIsa::Avx512 ? unary_row512(op, len, xs, xb, o, p0, p1)
                  : isa == PwIsa::Avx2 ? unary_row256(op, len, xs, xb, o, p0, p1)
                                       : false;
      if (!done) unary_row_scalar(op, len, xs, xb, o, p0, p1);
    }
  });
}

void binary(const TensorView& a, const TensorView& b, const TensorView& out, BinaryOp op) {
  if (out.numel() == 0) return;
  const TensorView* ops[3] = {&a, &b, &out};
  Plan p = coalesce(ops, 3);
  int64_t inner = p.shape[p.nd - 1], rows = out.numel() / inner;
  if (!rows_vectorisable(p, ops)) {
    return parallel_for(rows, grain_rows(inner), [&](int64_t lo, int64_t hi, int) {
      strided_loop(p, ops, lo, hi, [&](const float* v) { return binary_scalar(op, v[0], v[1]); });
    });
  }
  PwIsa isa = pw_isa();
  Tasks tk = vector_tasks(rows, inner);
  bool ab = p.st[0][p.nd - 1] == 0, bb = p.st[1][p.nd - 1] == 0;
  parallel_for(tk.count, tk.grain, [&](int64_t lo, int64_t hi, int) {
    int64_t off[3];
    for (int64_t t = lo; t < hi; t++) {
      int64_t s0 = (t % tk.per_row) * kChunk, len = std::min(kChunk, inner - s0);
      row_offsets(p, t / tk.per_row, off);
      const float* as = a.ptr<float>() + off[0] + (ab ? 0 : s0);
      const float* bs = b.ptr<float>() + off[1] + (bb ? 0 : s0);
      float* o = out.ptr<float>() + off[2] + s0;
      if (isa == PwIsa::Avx512) {
        binary_row512(op, len, as, ab, bs, bb, o);
      } else if (isa == PwIsa::Avx2) {
        binary_row256(op, len, as, ab, bs, bb, o);
      } else {
        for (int64_t i = 0; i < len; i++) o[i] = binary_scalar(op, as[ab ? 0 : i], bs[bb ? 0 : i]);
      }
    }
  });
}

void ternary(const TensorView& a, const TensorView& b, const TensorView& c, const TensorView& out, TernaryOp op) {
  if (out.numel() == 0) return;
  const TensorView* ops[4] = {&a, &b, &c, &out};
  Plan p = coalesce(ops, 4);
  int64_t inner = p.shape[p.nd - 1], rows = out.numel() / inner;
  if (!rows_vectorisable(p, ops)) {
    return parallel_for(rows, grain_rows(inner), [&](int64_t lo, int64_t hi, int) {
      strided_loop(p, ops, lo, hi, [&](const float* v) { return ternary_scalar(op, v[0], v[1], v[2]); });
    });
  }
  PwIsa isa = pw_isa();
  Tasks tk = vector_tasks(rows, inner);
  bool ab = p.st[0][p.nd - 1] == 0, bb = p.st[1][p.nd - 1] == 0, cb = p.st[2][p.nd - 1] == 0;
  parallel_for(tk.count, tk.grain, [&](int64_t lo, int64_t hi, int) {
    int64_t off[4];
    for (int64_t t = lo; t < hi; t++) {
      int64_t s0 = (t % tk.per_row) * kChunk, len = std::min(kChunk, inner - s0);
      row_offsets(p, t / tk.per_row, off);
      const float* as = a.ptr<float>() + off[0] + (ab ? 0 : s0);
      const float* bs = b.ptr<float>() + off[1] + (bb ? 0 : s0);
      const float* cs = c.ptr<float>() + off[2] + (cb ? 0 : s0);
      float* o = out.ptr<float>() + off[3] + s0;
      if (isa == PwIsa::Avx512) {
        ternary_row512(op, len, as, ab, bs, bb, cs, cb, o);
      } else if (isa == PwIsa::Avx2) {
        ternary_row256(op, len, as, ab, bs, bb, cs, cb, o);
      } else {
        for (int64_t i = 0; i < len; i++) o[i] = ternary_scalar(op, as[ab ? 0 : i], bs[bb ? 0 : i], cs[cb ? 0 : i]);
      }
    }
  });
}

}  // namespace acestep::cpu
