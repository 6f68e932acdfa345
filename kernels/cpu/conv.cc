// Conv1d / ConvTranspose1d / Snake on the CPU.
//
// The fast path reduces every convolution to one "tap GEMM":
//   Y[co, t] = bias[co] + sum_i A[co, i] * X[off[i] + t]
// where i runs over (input channel, tap) pairs and off[i] points at a row of a zero-padded input
// buffer already shifted by that tap. Strided convs read the input split into `stride` phases
// (row ci*stride + r holds x[ci, u*stride + r]), so every tap becomes a unit-stride row read; each
// task splits only the columns and channels it is about to pack, into an L2-sized buffer;
// a transposed conv is one tap GEMM over all its phases (output positions with the same residue mod
// stride see the same taps of the same input rows): rows (phase, channel), each written to every
// stride-th output step. The micro-kernel keeps an 8 x 48 block of Y in
// AVX-512 registers (8 x 16 with AVX2) and streams packed A against a per-task contiguous copy of
// the X rows; work is split over time blocks and output-channel groups. At bf16 precision the
// operands are rounded to bf16 while packing; with avx512_bf16 both panels hold (i, i+1) pairs
// and an 8 x 48 vdpbf16ps tile does two reduction steps per instruction (twice the f32 rate).
// A conv with an input Snake runs it over the rows each task is about to pack (a strided conv over
// its phase split, others over a staged copy of the columns their taps reach), so snake(x) is
// never stored whole: in the VAE every conv reads a Snake's output.
#include "conv.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.h"
#include "pointwise_math.h"
#include "strided.h"

namespace acestep::cpu {

// Scratch arrays for packed weights and phase-split inputs, left uninitialised (the packers write
// every element). A transparent-huge-page hint was tried here: it halves the page-fault cost of
// the 168 MB packed stride-10 weight in a hot loop, but under direct compaction (THP defrag
// "madvise") a whole first decode became slower and erratic, so plain pages are used.
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using FloatBuf = std::unique_ptr<float[], FreeDeleter>;

FloatBuf alloc_floats(int64_t n) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(1, n)) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::runtime_error("conv: out of memory for a " + std::to_string(bytes) + "-byte scratch buffer");
  return FloatBuf(static_cast<float*>(p));
}

// A weight packed for the tap GEMM: one A per group (conv) or per phase residue (transposed conv),
// in the layout of the micro-kernel it was packed for (see Packed below).
struct PackedConvWeight {
  std::vector<FloatBuf> parts;
  size_t bytes = 0;
};

bool ConvWeightCache::Key::operator==(const Key& o) const {
  for (int i = 0; i < 3; i++)
    if (shape[i] != o.shape[i] || strides[i] != o.strides[i]) return false;
  return data == o.data && dtype == o.dtype && stride == o.stride && dilation == o.dilation && groups == o.groups &&
         transposed == o.transposed && form == o.form;
}

size_t ConvWeightCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& e : entries_) n += e.second->bytes;
  return n;
}

namespace {

// ---------------------------------------------------------------- scalar references

float bias_at(const TensorView& bias, int64_t co) {
  return bias.data ? load_as_f32(bias, co * bias.strides[0]) : 0.0f;
}

float at3(const TensorView& v, int64_t a, int64_t b, int64_t c) {
  return load_as_f32(v, a * v.strides[0] + b * v.strides[1] + c * v.strides[2]);
}

// An operand of the bf16 path: rounded to bf16 (nearest even) and kept as f32.
inline float round_bf16(float v) {
  return bf16_to_f32(f32_to_bf16(v));
}

// Multiplication operand as the precision sees it.
inline double operand(float v, GemmPrecision p) {
  return p == GemmPrecision::BF16 ? round_bf16(v) : v;
}

// ---------------------------------------------------------------- snake helpers

// sin(z)^2 needs no sign: reduce z by multiples of pi (three-part Cody-Waite), then an odd
// Taylor polynomial to degree 11 on [-pi/2, pi/2] (truncation error < 6e-8).
constexpr float kInvPi = 0.31830988618379067f;
constexpr float kPiA = 3.140625f, kPiB = 9.67502593994140625e-4f, kPiC = 1.509957990978376432e-7f;
constexpr float kS3 = -1.0f / 6, kS5 = 1.0f / 120, kS7 = -1.0f / 5040, kS9 = 1.0f / 362880, kS11 = -1.0f / 39916800;

__attribute__((target("avx512f"))) void snake_row_avx512(const float* x, float* y, int64_t n, float a, float ib) {
  const __m512 va = _mm512_set1_ps(a), vib = _mm512_set1_ps(ib);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    __m512 z = _mm512_mul_ps(va, xv);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(kInvPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiA), z);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiB), r);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kPiC), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kS11), r2, _mm512_set1_ps(kS9));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS7));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS5));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(kS3));
    p = _mm512_mul_ps(p, r2);
    __m512 s = _mm512_fmadd_ps(p, r, r);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(_mm512_mul_ps(s, s), vib, xv));
  }
}

__attribute__((target("avx2,fma"))) void snake_row_avx2(const float* x, float* y, int64_t n, float a, float ib) {
  const __m256 va = _mm256_set1_ps(a), vib = _mm256_set1_ps(ib);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv = _mm256_loadu_ps(x + i);
    __m256 z = _mm256_mul_ps(va, xv);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(kInvPi)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiA), z);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiB), r);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiC), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kS11), r2, _mm256_set1_ps(kS9));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS7));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS5));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(kS3));
    p = _mm256_mul_ps(p, r2);
    __m256 s = _mm256_fmadd_ps(p, r, r);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_mul_ps(s, s), vib, xv));
  }
  for (; i < n; i++) {
    float s = std::sin(a * x[i]);
    y[i] = x[i] + ib * (s * s);
  }
}

void snake_row_scalar(const float* x, float* y, int64_t n, float a, float ib) {
  for (int64_t i = 0; i < n; i++) {
    float s = std::sin(a * x[i]);
    y[i] = x[i] + ib * (s * s);
  }
}

// Per-channel (alpha, 1/(beta + 1e-9)) in the order torch evaluates them, in f32.
void snake_coeffs(const TensorView& alpha, const TensorView& beta, int64_t c, bool log_scale, float* a, float* ib) {
  float al = load_as_f32(alpha, c * alpha.strides[0]);
  float be = load_as_f32(beta, c * beta.strides[0]);
  if (log_scale) {
    al = std::exp(al);
    be = std::exp(be);
  }
  *a = al;
  *ib = 1.0f / (be + 1e-9f);
}

using SnakeRowFn = void (*)(const float* x, float* y, int64_t n, float a, float ib);

SnakeRowFn pick_snake_row() {
  const pw::PwIsa isa = pw::pw_isa();
  return isa == pw::PwIsa::Avx512                                    ? snake_row_avx512
         : (isa >= pw::PwIsa::Avx2 && __builtin_cpu_supports("fma")) ? snake_row_avx2
                                                                     : snake_row_scalar;
}

// A conv's input Snake as per-channel (a, ib) tables over its C input channels; empty without one.
struct SnakeTable {
  std::vector<float> a, ib;
  SnakeTable(const InputSnake& act, int64_t C) {
    if (!act.alpha.data) return;
    a.resize(static_cast<size_t>(C));
    ib.resize(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; c++) snake_coeffs(act.alpha, act.beta, c, act.log_scale, &a[c], &ib[c]);
  }
  bool on() const { return !a.empty(); }
  // The references' Snake: libm sinf, as snake_ref computes it.
  float apply(float v, int64_t c) const {
    if (a.empty()) return v;
    const float s = std::sin(a[c] * v);
    return v + ib[c] * (s * s);
  }
};

// ---------------------------------------------------------------- tap GEMM

constexpr int MR = 8;        // output channels per micro-tile
constexpr int64_t KC = 256;  // reduction chunk: a micro-tile's A panel (KC x MR) stays in L1
constexpr int64_t kMinTaskFlops = 1 << 18;

// Y[co, t] = bias[co] (+ res[co, t]) + sum_i A[co, i] * X[row[i] * ldx + q[i] + t], where a read
// outside the row's [0, len) columns is zero (the conv's padding, so no padded copy of X is made).
struct TapGemm {
  const float* X = nullptr;
  int64_t ldx = 0, len = 0;
  const int64_t* row = nullptr;  // [R]
  const int64_t* q = nullptr;    // [R], may be negative
  const float* A = nullptr;      // packed [ceil(Cout/MR)][R][MR], or [ceil(Cout/MR)][ceil(R/2)][MR] pairs
  const float* bias = nullptr;   // [Cout] or null
  const float* res = nullptr;    // residual with Y's layout, or null
  float* Y = nullptr;
  int64_t ldy = 0, R = 0, Cout = 0, T = 0;
  // A transposed conv's rows scatter (orow set): GEMM row ro holds Y[orow[ro].off + u * ys] for
  // columns u in [orow[ro].lo, orow[ro].hi) (every ys-th output step of one channel and phase).
  struct OutRow {
    int64_t off, lo, hi;
  };
  const OutRow* orow = nullptr;
  int64_t ys = 1;
  bool bf16 = false;  // A is already rounded; X is rounded while packing
  int64_t row0 = 0;   // row[i] - row0 indexes X (a task's phase rows start at its first channel's)
  // A strided conv (S > 1): X is the input x [cin, T] itself, row[i] = ci * S + r_k and q[i] = q_k
  // index its phase split (row ci * S + r holds x[ci, u * S + r - pad] at column u), and each task
  // splits the columns it needs of its chunk's channels (taps ci * K ..) into a per-thread buffer.
  // K is also the taps per input channel of an unstrided or transposed conv (i = ci * K + tap).
  int64_t S = 1, K = 1, pad = 0, xlen = 0;
  int64_t qmax = 0;  // largest q[i]: a time block of nb steps reads nb + qmax phase columns
  int64_t qmin = 0;  // smallest q[i]
  int64_t qoff = 0;  // added to every q[i] (a staged copy of X starts at column t_begin + qmin)
  // Snake on the input (act_a set): a[c], ib[c] per input channel c of X. Each task stages the
  // channels a reduction chunk reads (its time block plus the taps' reach) through Snake into a
  // per-thread buffer and packs from there, so each element is activated once per task and
  // snake(x) never exists whole.
  const float* act_a = nullptr;
  const float* act_ib = nullptr;
  SnakeRowFn snake_row = nullptr;
};

// Rows [c0, c1) of an unstrided X from column col0, w columns, through Snake into dst (row stride
// ldd); columns outside the row's [0, len) stay zero, as the conv's padding does.
void stage_snake(const TapGemm& g, int64_t c0, int64_t c1, int64_t col0, int64_t w, float* dst, int64_t ldd) {
  const int64_t lo = std::clamp<int64_t>(-col0, 0, w), hi = std::clamp<int64_t>(g.len - col0, lo, w);
  for (int64_t c = c0; c < c1; c++) {
    float* d = dst + (c - c0) * ldd;
    std::fill(d, d + lo, 0.0f);
    if (hi > lo) g.snake_row(g.X + c * g.ldx + col0 + lo, d + lo, hi - lo, g.act_a[c], g.act_ib[c]);
    std::fill(d + hi, d + w, 0.0f);
  }
}

// The packed forms of a weight (ConvWeightCache::Key::form): what the picked micro-kernel reads.
enum WeightForm : int { kFormF32 = 0, kFormBf16Rounded = 1, kFormBf16Pairs = 2 };

// One micro-tile: `rows` output channels from y (row stride ldy) by `cols` time steps, reduction
// a[i*MR + r] * b[i*NR + c] for i in [0, n) over a packed A panel and a packed B (X) panel whose
// NR columns are all readable (columns past `cols` hold zeros). init: start from bias (+ residual),
// else accumulate onto y.
struct Tile {
  const float* a;
  const float* b;
  int64_t n;
  float* y;
  int64_t ldy;
  const float* bias;  // bias of the tile's first row, or null
  const float* res;   // residual at the tile's origin, or null
  int rows, cols;
  bool init;
};
using MicroFn = void (*)(const Tile& t);

template <int NR>
void micro_scalar(const Tile& t) {
  for (int r = 0; r < t.rows; r++) {
    float* y = t.y + r * t.ldy;
    for (int c = 0; c < t.cols; c++) {
      float acc = y[c];
      if (t.init) acc = (t.bias ? t.bias[r] : 0.0f) + (t.res ? t.res[r * t.ldy + c] : 0.0f);
      for (int64_t i = 0; i < t.n; i++) acc += t.a[i * MR + r] * t.b[i * NR + c];
      y[c] = acc;
    }
  }
}

// 8 x 48 tile: 24 accumulators, three B vectors and one broadcast live in the 32 zmm registers.
// B is a contiguous, 64-byte aligned panel, so the loop body is 3 aligned loads + 8 broadcasts
// per 24 FMAs and the hardware prefetcher sees one sequential stream. V < 3 computes only the
// first V 16-column vectors: a last tile of <= 16 or <= 32 steps (T 300 = 6 x 48 + 12) does not
// pay for 48.
template <int V>
__attribute__((target("avx512f"))) void micro_avx512(const Tile& t) {
  __mmask16 m[3];
  for (int v = 0; v < V; v++) {
    int c = t.cols - 16 * v;
    m[v] = c >= 16 ? 0xffff : c > 0 ? static_cast<__mmask16>((1u << c) - 1) : 0;
  }
  __m512 acc[MR][3];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    const float* y = t.y + r * t.ldy;
    const float* q = t.res ? t.res + r * t.ldy : nullptr;
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) {
      if (r >= t.rows) {
        acc[r][v] = _mm512_setzero_ps();
      } else if (!t.init) {
        acc[r][v] = _mm512_maskz_loadu_ps(m[v], y + 16 * v);
      } else {
        acc[r][v] = _mm512_set1_ps(t.bias ? t.bias[r] : 0.0f);
        if (q) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m[v], q + 16 * v));
      }
    }
  }
  const float* a = t.a;
  const float* b = t.b;
  const int64_t n = t.n;
  for (int64_t i = 0; i < n; i++, a += MR, b += 48) {
    __m512 bv[3];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    if (r >= t.rows) break;
    float* y = t.y + r * t.ldy;
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(y + 16 * v, m[v], acc[r][v]);
  }
}

// The bf16 twin of micro_avx512: a and b hold (i, i+1) bf16 pairs in 32-bit slots, t.n counts
// pairs, and each vdpbf16ps adds two products per lane (f32 accumulation).
template <int V>
__attribute__((target("avx512f,avx512bf16"))) void micro_avx512_bf16(const Tile& t) {
  __mmask16 m[3];
  for (int v = 0; v < V; v++) {
    int c = t.cols - 16 * v;
    m[v] = c >= 16 ? 0xffff : c > 0 ? static_cast<__mmask16>((1u << c) - 1) : 0;
  }
  __m512 acc[MR][3];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    const float* y = t.y + r * t.ldy;
    const float* q = t.res ? t.res + r * t.ldy : nullptr;
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) {
      if (r >= t.rows) {
        acc[r][v] = _mm512_setzero_ps();
      } else if (!t.init) {
        acc[r][v] = _mm512_maskz_loadu_ps(m[v], y + 16 * v);
      } else {
        acc[r][v] = _mm512_set1_ps(t.bias ? t.bias[r] : 0.0f);
        if (q) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m[v], q + 16 * v));
      }
    }
  }
  const uint32_t* a = reinterpret_cast<const uint32_t*>(t.a);
  const uint32_t* b = reinterpret_cast<const uint32_t*>(t.b);
  const int64_t n = t.n;
  for (int64_t i = 0; i < n; i++, a += MR, b += 48) {
    __m512bh bv[3];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) bv[v] = reinterpret_cast<__m512bh>(_mm512_load_si512(b + 16 * v));
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r])));
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    if (r >= t.rows) break;
    float* y = t.y + r * t.ldy;
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(y + 16 * v, m[v], acc[r][v]);
  }
}

// AVX2 has 16 ymm registers: the 8-row tile is done as two 4-row x 16-column passes over the
// reduction (8 accumulators, two B vectors and a broadcast per pass).
__attribute__((target("avx2,fma"))) void micro_avx2(const Tile& t) {
  alignas(32) int32_t lanes[16];
  for (int c = 0; c < 16; c++) lanes[c] = c < t.cols ? -1 : 0;
  const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  const __m256i m1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes + 8));
  for (int half = 0; half < 2; half++) {
    const int base = 4 * half;
    if (base >= t.rows) break;
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      const int row = base + r;
      const float* y = t.y + row * t.ldy;
      if (row >= t.rows) {
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
      } else if (!t.init) {
        acc[r][0] = _mm256_maskload_ps(y, m0);
        acc[r][1] = _mm256_maskload_ps(y + 8, m1);
      } else {
        acc[r][0] = acc[r][1] = _mm256_set1_ps(t.bias ? t.bias[row] : 0.0f);
        if (t.res) {
          const float* q = t.res + row * t.ldy;
          acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_maskload_ps(q, m0));
          acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_maskload_ps(q + 8, m1));
        }
      }
    }
    const float* a = t.a + base;
    const float* b = t.b;
    for (int64_t i = 0; i < t.n; i++, a += MR, b += 16) {
      __m256 b0 = _mm256_load_ps(b);
      __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++) {
        __m256 av = _mm256_broadcast_ss(a + r);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      if (base + r >= t.rows) break;
      float* y = t.y + (base + r) * t.ldy;
      _mm256_maskstore_ps(y, m0, acc[r][0]);
      _mm256_maskstore_ps(y + 8, m1, acc[r][1]);
    }
  }
}

// Phase split of input channels [c0, c1) of a strided conv for phase columns [u0, u0 + w):
// dst[((c - c0) * S + r) * ldd + j] = x[c, (u0 + j) * S + r - pad], zero outside [0, xlen). Blocks of
// 16 columns that lie inside x load the S vectors of their span once and pick every phase out of
// them with S masked permutes each (x is read once, sequentially); the edges go element by element.
__attribute__((target("avx512f"))) void split_phases_avx512(const TapGemm& g, int64_t c0, int64_t c1, int64_t u0, int64_t w, float* dst,
                                                            int64_t ldd) {
  const int64_t S = g.S;
  __m512i idx[16];
  __mmask16 sel[16][16];
  for (int64_t r = 0; r < S; r++) {
    alignas(64) int32_t lane[16];
    for (int c = 0; c < 16; c++) lane[c] = static_cast<int32_t>((c * S + r) & 15);
    idx[r] = _mm512_load_si512(lane);
    for (int64_t j = 0; j < S; j++) {
      unsigned m = 0;
      for (int c = 0; c < 16; c++)
        if ((c * S + r) >> 4 == j) m |= 1u << c;
      sel[r][j] = static_cast<__mmask16>(m);
    }
  }
  // Full blocks: 0 <= (u0 + j) * S - pad and (u0 + j + 16) * S - pad <= xlen.
  const int64_t jlo = std::min(w, std::max<int64_t>(0, (g.pad - u0 * S + S - 1) / S));
  for (int64_t c = c0; c < c1; c++) {
    const float* x = g.X + c * g.ldx;
    float* d = dst + (c - c0) * S * ldd;
    auto scalar = [&](int64_t j) {
      for (int64_t r = 0; r < S; r++) {
        const int64_t s = (u0 + j) * S + r - g.pad;
        d[r * ldd + j] = s >= 0 && s < g.xlen ? x[s] : 0.0f;
      }
    };
    int64_t j = 0;
    for (; j < jlo; j++) scalar(j);
    for (; j + 16 <= w && (u0 + j + 16) * S - g.pad <= g.xlen; j += 16) {
      const float* span = x + (u0 + j) * S - g.pad;
      __m512 v[16];
      for (int64_t k = 0; k < S; k++) v[k] = _mm512_loadu_ps(span + 16 * k);
      for (int64_t r = 0; r < S; r++) {
        __m512 o = _mm512_setzero_ps();
        for (int64_t k = 0; k < S; k++) o = _mm512_mask_permutexvar_ps(o, sel[r][k], idx[r], v[k]);
        _mm512_storeu_ps(d + r * ldd + j, o);
      }
    }
    for (; j < w; j++) scalar(j);
  }
}

void split_phases_scalar(const TapGemm& g, int64_t c0, int64_t c1, int64_t u0, int64_t w, float* dst, int64_t ldd) {
  for (int64_t c = c0; c < c1; c++)
    for (int64_t r = 0; r < g.S; r++) {
      const float* x = g.X + c * g.ldx;
      float* d = dst + ((c - c0) * g.S + r) * ldd;
      for (int64_t j = 0; j < w; j++) {
        const int64_t s = (u0 + j) * g.S + r - g.pad;
        d[j] = s >= 0 && s < g.xlen ? x[s] : 0.0f;
      }
    }
}

// Packs B for time steps [t0, t1) (at most tiles * NR of them) and reductions [r0, r1):
// b[(tile * (r1 - r0) + i - r0) * NR + c] = X[row[i], q[i] + t0 + tile * NR + c], zero outside the
// row's valid columns and past t1. Every tile of a reduction chunk is one contiguous micro-panel.
// dst[c] = src[s0 + c] for c < cols where 0 <= s0 + c < len, zero elsewhere in [0, width).
inline void copy_cols(const float* src, int64_t s0, int64_t len, int64_t cols, float* dst, int64_t width) {
  const int64_t lo = std::min(cols, std::max<int64_t>(0, -s0));
  const int64_t hi = std::max(lo, std::min(cols, len - s0));
  std::fill(dst, dst + lo, 0.0f);
  if (hi > lo) std::memcpy(dst + lo, src + s0 + lo, (hi - lo) * sizeof(float));
  std::fill(dst + hi, dst + width, 0.0f);
}

// At bf16 precision the values are rounded (the f32 micro-kernels then multiply bf16 operands).
template <int NR>
void pack_b(const TapGemm& g, int64_t r0, int64_t r1, int64_t t0, int64_t t1, float* b) {
  const int64_t n = r1 - r0;
  for (int64_t tile = 0, ts = t0; ts < t1; tile++, ts += NR) {
    const int64_t cols = std::min<int64_t>(NR, t1 - ts);
    float* dst = b + tile * n * NR;
    for (int64_t i = r0; i < r1; i++, dst += NR) {
      const float* src = g.X + (g.row[i] - g.row0) * g.ldx;
      const int64_t s0 = g.q[i] + g.qoff + ts;
      if (cols == NR && s0 >= 0 && s0 + NR <= g.len)
        std::memcpy(dst, src + s0, NR * sizeof(float));
      else
        copy_cols(src, s0, g.len, cols, dst, NR);
      if (g.bf16)
        for (int64_t c = 0; c < NR; c++) dst[c] = round_bf16(dst[c]);
    }
  }
}

// pack_b<48> with the interior rows copied as three vectors (a memcpy call per 48-float row cost
// as much as the copy); bf16 rounding goes through the generic packer.
__attribute__((target("avx512f"))) void pack_b_avx512(const TapGemm& g, int64_t r0, int64_t r1, int64_t t0, int64_t t1, float* b) {
  if (g.bf16) return pack_b<48>(g, r0, r1, t0, t1, b);
  const int64_t n = r1 - r0;
  for (int64_t tile = 0, ts = t0; ts < t1; tile++, ts += 48) {
    const int64_t cols = std::min<int64_t>(48, t1 - ts);
    float* dst = b + tile * n * 48;
    for (int64_t i = r0; i < r1; i++, dst += 48) {
      const float* src = g.X + (g.row[i] - g.row0) * g.ldx;
      const int64_t s0 = g.q[i] + g.qoff + ts;
      if (cols == 48 && s0 >= 0 && s0 + 48 <= g.len) {
        for (int v = 0; v < 3; v++) _mm512_store_ps(dst + 16 * v, _mm512_loadu_ps(src + s0 + 16 * v));
      } else {
        copy_cols(src, s0, g.len, cols, dst, 48);
      }
    }
  }
}

// The pair layout of micro_avx512_bf16: b[(tile * n2 + j) * 48 + c] holds bf16(X[i, t]) in its low
// and bf16(X[i + 1, t]) in its high half, i = r0 + 2j (a missing i + 1 past r1 reads as zero).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_b_pairs(const TapGemm& g, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
                                                                         float* bf) {
  uint32_t* b = reinterpret_cast<uint32_t*>(bf);
  const int64_t n2 = (r1 - r0 + 1) / 2;
  alignas(64) int16_t lanes[32];
  for (int c = 0; c < 16; c++) {
    lanes[2 * c] = static_cast<int16_t>(c);
    lanes[2 * c + 1] = static_cast<int16_t>(16 + c);
  }
  const __m512i interleave = _mm512_load_si512(lanes);
  for (int64_t tile = 0, ts = t0; ts < t1; tile++, ts += 48) {
    const int64_t cols = std::min<int64_t>(48, t1 - ts);
    uint32_t* dst = b + tile * n2 * 48;
    for (int64_t i = r0; i < r1; i += 2, dst += 48) {
      const bool pair = i + 1 < r1;
      const int64_t s0 = g.q[i] + g.qoff + ts, s1 = pair ? g.q[i + 1] + g.qoff + ts : 0;
      // Edge tiles (padding, a short last tile, a missing i + 1) go through zero-filled copies.
      alignas(64) float elo[48], ehi[48];
      const float* lo = elo;
      const float* hi = ehi;
      if (cols == 48 && s0 >= 0 && s0 + 48 <= g.len)
        lo = g.X + (g.row[i] - g.row0) * g.ldx + s0;
      else
        copy_cols(g.X + (g.row[i] - g.row0) * g.ldx, s0, g.len, cols, elo, 48);
      if (!pair)
        std::fill(ehi, ehi + 48, 0.0f);
      else if (cols == 48 && s1 >= 0 && s1 + 48 <= g.len)
        hi = g.X + (g.row[i + 1] - g.row0) * g.ldx + s1;
      else
        copy_cols(g.X + (g.row[i + 1] - g.row0) * g.ldx, s1, g.len, cols, ehi, 48);
      // Two conversions into one vector (lo in halves 0..15, hi in 16..31), then one word permute
      // interleaves them into (lo, hi) pairs.
      for (int v = 0; v < 3; v++) {
        __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(hi + 16 * v), _mm512_loadu_ps(lo + 16 * v)));
        _mm512_store_si512(dst + 16 * v, _mm512_permutexvar_epi16(interleave, both));
      }
    }
  }
}

struct Micro {
  MicroFn fn[3];  // by the 16-column vectors a tile needs (1-3); one kernel for every width below AVX-512
  int nr;         // columns per micro-tile
  void (*pack)(const TapGemm&, int64_t, int64_t, int64_t, int64_t, float*);
  bool pairs;  // panels hold bf16 pairs (micro_avx512_bf16)
};

// Follows the pointwise ISA setting, so ACESTEP_CPU_ISA=avx2|scalar exercises the other paths
// (at bf16 precision they multiply bf16-rounded operands in f32).
Micro pick_micro(bool bf16) {
  const pw::PwIsa isa = pw::pw_isa();
  if (isa == pw::PwIsa::Avx512 && bf16 && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"))
    return {{micro_avx512_bf16<1>, micro_avx512_bf16<2>, micro_avx512_bf16<3>}, 48, pack_b_pairs, true};
  if (isa == pw::PwIsa::Avx512) return {{micro_avx512<1>, micro_avx512<2>, micro_avx512<3>}, 48, pack_b_avx512, false};
  if (isa >= pw::PwIsa::Avx2 && __builtin_cpu_supports("fma")) return {{micro_avx2, micro_avx2, micro_avx2}, 16, pack_b<16>, false};
  return {{micro_scalar<16>, micro_scalar<16>, micro_scalar<16>}, 16, pack_b<16>, false};
}

// A packed A being written in `form`: [cob][R][MR] f32 (bf16-rounded for kFormBf16Rounded), or
// [cob][ceil(R/2)][MR] pairs (A[2j] in the low, A[2j + 1] in the high bf16 half; a missing
// A[R] is zero). The packers write the final form directly: packing f32 first and pairing it
// after touched a second weight-sized buffer, fresh memory on a model's first call.
struct PackedA {
  FloatBuf buf;
  int64_t R, R2;
  int form;
  PackedA(int64_t n_cob, int64_t R_, int form_) : R(R_), R2((R_ + 1) / 2), form(form_) {
    buf = alloc_floats(n_cob * (form == kFormBf16Pairs ? R2 : R) * MR);
  }
  void put(int64_t cob, int64_t i, int r, float v) {
    if (form == kFormBf16Pairs)
      reinterpret_cast<uint16_t*>(buf.get())[((cob * R2 + i / 2) * MR + r) * 2 + (i & 1)] = f32_to_bf16(v);
    else
      buf[(cob * R + i) * MR + r] = form == kFormBf16Rounded ? round_bf16(v) : v;
  }
  // The high half of an odd R's last pair (call once per cob after its rows).
  void pad(int64_t cob) {
    if (form == kFormBf16Pairs && R % 2)
      for (int r = 0; r < MR; r++) put(cob, R, r, 0.0f);
  }
  size_t bytes(int64_t n_cob) const { return static_cast<size_t>(n_cob * (form == kFormBf16Pairs ? R2 : R) * MR) * sizeof(float); }
};

// Work is split into (time block, output-channel group) tasks. For each reduction chunk a task
// packs its time block of X once into tile-major micro-panels (an im2col of KC taps x nb steps,
// sized to stay in L2) and sweeps its output-channel micro-blocks over them: the A micro-panel
// (KC x MR) stays in L1 while the B micro-panels stream sequentially from L2. With scattered rows
// (orow, no residual) a task accumulates its block in a per-thread buffer (its row group x nb
// steps, L2-sized) and writes it to every ys-th output step once, after the last chunk.
void run_tap_gemm(const TapGemm& g, const Micro& micro) {
  const int nr = micro.nr;
  // Pairs halve the panel bytes per reduction step, so a chunk covers twice the steps.
  const int64_t kc = micro.pairs ? 2 * KC : KC;
  const int64_t R2 = (g.R + 1) / 2;
  const int64_t n_cob = (g.Cout + MR - 1) / MR;
  const int64_t nb = static_cast<int64_t>(nr) * (nr == 48 ? 8 : 16);
  const int64_t n_tb = (g.T + nb - 1) / nb;
  int64_t cob_per = n_cob;
  const int64_t want = 8 * static_cast<int64_t>(num_threads());
  while (cob_per > 1 && n_tb * ((n_cob + cob_per - 1) / cob_per) < want) cob_per = (cob_per + 1) / 2;
  const int64_t n_cg = (n_cob + cob_per - 1) / cob_per;
  const int64_t task_flops = 2 * MR * cob_per * nb * std::max<int64_t>(1, g.R);
  const int64_t grain = std::max<int64_t>(1, kMinTaskFlops / task_flops);
  const size_t panel_floats = static_cast<size_t>(std::min(kc, std::max<int64_t>(g.R, 1)) * nb);
  // A strided conv's split rows: the channels of one chunk's taps (at most kc / K + 1 of them, plus
  // one when a chunk starts mid-channel), S phases each, nb + qmax columns (L2-sized).
  const bool strided = g.S > 1;
  const int64_t split_ld = nb + g.qmax;
  const int64_t split_rows = strided ? ((kc + g.K - 1) / g.K + 1) * g.S : 0;
  const auto split = pw::pw_isa() == pw::PwIsa::Avx512 && g.S <= 16 ? split_phases_avx512 : split_phases_scalar;
  // An unstrided conv with an input Snake stages a chunk's channels (at most kc / K + 2 of them)
  // over the time block plus the taps' reach.
  const bool staged = g.act_a && !strided;
  const int64_t stage_ld = nb + g.qmax - g.qmin;
  const int64_t stage_rows = staged ? (kc + g.K - 1) / g.K + 1 : 0;
  // splits: per thread, a strided conv's phase-split rows or an unstrided conv's Snake-staged rows.
  std::vector<FloatBuf> panels(static_cast<size_t>(num_threads())), blocks(panels.size()), splits(panels.size());
  parallel_for(n_tb * n_cg, grain, [&](int64_t b, int64_t e, int tid) {
    FloatBuf& panel = panels[static_cast<size_t>(tid)];
    if (!panel) panel = alloc_floats(static_cast<int64_t>(panel_floats));
    FloatBuf& local = blocks[static_cast<size_t>(tid)];
    if (g.orow && !local) local = alloc_floats(cob_per * MR * nb);
    FloatBuf& phases = splits[static_cast<size_t>(tid)];
    if (strided && !phases) phases = alloc_floats(split_rows * split_ld);
    if (staged && !phases) phases = alloc_floats(stage_rows * stage_ld);
    for (int64_t task = b; task < e; task++) {
      const int64_t tb = task / n_cg, cg = task % n_cg;
      const int64_t t_begin = tb * nb, t_end = std::min(g.T, t_begin + nb);
      const int64_t cob_begin = cg * cob_per, cob_end = std::min(n_cob, cob_begin + cob_per);
      for (int64_t r0 = 0; r0 < std::max<int64_t>(g.R, 1); r0 += kc) {
        const int64_t r1 = std::min(g.R, r0 + kc), n = micro.pairs ? (r1 - r0 + 1) / 2 : r1 - r0;
        if (n > 0 && strided) {
          TapGemm gs = g;
          gs.row0 = r0 / g.K * g.S;
          gs.X = phases.get();
          gs.ldx = split_ld;
          gs.len = t_end - t_begin + g.qmax;
          const int64_t c0 = r0 / g.K, c1 = (r1 - 1) / g.K + 1;
          split(g, c0, c1, t_begin, gs.len, phases.get(), split_ld);
          // Snake is per channel, so it applies to the phase rows as to x (the zeros stay zero).
          if (g.act_a)
            for (int64_t c = c0; c < c1; c++)
              for (int64_t r = 0; r < g.S; r++) {
                float* row = phases.get() + ((c - c0) * g.S + r) * split_ld;
                g.snake_row(row, row, gs.len, g.act_a[c], g.act_ib[c]);
              }
          micro.pack(gs, r0, r1, 0, t_end - t_begin, panel.get());
        } else if (n > 0 && staged) {
          const int64_t c0 = r0 / g.K, c1 = (r1 - 1) / g.K + 1;
          TapGemm gs = g;
          gs.row0 = c0;
          gs.X = phases.get();
          gs.ldx = stage_ld;
          gs.len = t_end - t_begin + g.qmax - g.qmin;
          gs.qoff = -g.qmin;
          stage_snake(g, c0, c1, t_begin + g.qmin, gs.len, phases.get(), stage_ld);
          micro.pack(gs, r0, r1, 0, t_end - t_begin, panel.get());
        } else if (n > 0) {
          micro.pack(g, r0, r1, t_begin, t_end, panel.get());
        }
        for (int64_t cob = cob_begin; cob < cob_end; cob++) {
          const int64_t co0 = cob * MR;
          Tile tile;
          tile.a = g.A + (cob * (micro.pairs ? R2 : g.R) + (micro.pairs ? r0 / 2 : r0)) * MR;
          tile.n = n;
          tile.ldy = g.orow ? nb : g.ldy;
          tile.bias = g.bias ? g.bias + co0 : nullptr;
          tile.rows = static_cast<int>(std::min<int64_t>(MR, g.Cout - co0));
          tile.init = r0 == 0;
          for (int64_t t0 = t_begin, j = 0; t0 < t_end; t0 += nr, j++) {
            tile.b = panel.get() + j * n * nr;
            tile.cols = static_cast<int>(std::min<int64_t>(nr, t_end - t0));
            if (!g.orow) {
              tile.y = g.Y + co0 * g.ldy + t0;
              tile.res = g.res && tile.init ? g.res + co0 * g.ldy + t0 : nullptr;
            } else {
              tile.y = local.get() + (co0 - cob_begin * MR) * nb + (t0 - t_begin);
              tile.res = nullptr;
            }
            micro.fn[std::min(2, (tile.cols - 1) / 16)](tile);
          }
        }
      }
      if (g.orow)
        for (int64_t ro = cob_begin * MR; ro < std::min(g.Cout, cob_end * MR); ro++) {
          const float* src = local.get() + (ro - cob_begin * MR) * nb - t_begin;
          const TapGemm::OutRow& o = g.orow[ro];
          for (int64_t u = std::max(t_begin, o.lo), ue = std::min(t_end, o.hi); u < ue; u++) g.Y[o.off + u * g.ys] = src[u];
        }
    }
  });
}

// Packed A (PackedA's layouts) over ceil(Cout/MR) row blocks, rows past Cout zero.
// A[co, i] = w[co * R + i] (conv1d: i = ci * K + k over a contiguous [Cout, R] weight).
PackedA pack_rows(const float* w, int64_t Cout, int64_t R, int form) {
  const int64_t n_cob = (Cout + MR - 1) / MR;
  PackedA A(n_cob, R, form);
  parallel_for(n_cob, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t cob = b; cob < e; cob++) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, Cout - cob * MR));
      for (int64_t i = 0; i < R; i++)
        for (int r = 0; r < MR; r++) A.put(cob, i, r, r < rows ? w[(cob * MR + r) * R + i] : 0.0f);
      A.pad(cob);
    }
  });
  return A;
}

// A transposed conv's A (w [Cin, Cout, K]): row ro = rho * Cout + co, column ci * M + m holds
// w[ci, co, k] for the tap with k * dilation = m * S + rho, zero where there is none. tap[rho * M + m]
// is that k or -1. Input channel by input channel, a task reads the MR x K block its rows cover
// (reading row by row across all channels missed the cache on every element).
PackedA pack_transposed(const float* w, int64_t Cin, int64_t Cout, int64_t K, int64_t S, int64_t M, const std::vector<int64_t>& tap,
                        int form) {
  const int64_t rows = S * Cout, n_cob = (rows + MR - 1) / MR, R = Cin * M;
  PackedA A(n_cob, R, form);
  parallel_for(n_cob, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t cob = b; cob < e; cob++) {
      for (int64_t ci = 0; ci < Cin; ci++)
        for (int r = 0; r < MR; r++) {
          const int64_t ro = cob * MR + r, rho = ro / Cout, co = ro % Cout;
          for (int64_t m = 0; m < M; m++) {
            const int64_t k = ro < rows ? tap[rho * M + m] : -1;
            A.put(cob, ci * M + m, r, k >= 0 ? w[(ci * Cout + co) * K + k] : 0.0f);
          }
        }
      A.pad(cob);
    }
  });
  return A;
}

// Adds a packed part (n_cob row blocks) to a weight's packed forms.
void add_part(PackedA&& A, int64_t n_cob, PackedConvWeight& pw) {
  pw.bytes += A.bytes(n_cob);
  pw.parts.push_back(std::move(A.buf));
}

// The packed weight from the cache when the call has one (packing it on first use), else packed now.
template <class Make>
std::shared_ptr<const PackedConvWeight> packed_weight(const TensorView& w, const Conv1dParams& p, bool transposed, int form, Make make) {
  if (!p.weight_cache) return make();
  ConvWeightCache::Key key{w.data, w.dtype, {}, {}, p.stride, p.dilation, p.groups, transposed, form};
  for (int i = 0; i < 3; i++) {
    key.shape[i] = w.shape[i];
    key.strides[i] = w.strides[i];
  }
  return p.weight_cache->get(key, make);
}

// The weight as a contiguous f32 array (one pass; packing then indexes it directly). A
// contiguous f32 weight is used in place: `storage` stays empty.
const float* weight_f32(const TensorView& w, std::vector<float>& storage) {
  if (w.dtype == DType::F32 && w.contiguous()) return w.ptr<float>();
  std::vector<float>& out = storage;
  out.resize(static_cast<size_t>(w.numel()));
  const int64_t d1 = w.shape[1], d2 = w.shape[2];
  parallel_for(w.shape[0], 16, [&](int64_t b, int64_t e, int) {
    for (int64_t a = b; a < e; a++)
      for (int64_t i = 0; i < d1; i++) {
        const int64_t src = a * w.strides[0] + i * w.strides[1];
        float* dst = out.data() + (a * d1 + i) * d2;
        if (w.dtype == DType::F32 && w.strides[2] == 1) {
          std::memcpy(dst, w.ptr<float>() + src, d2 * sizeof(float));
        } else {
          for (int64_t k = 0; k < d2; k++) dst[k] = load_as_f32(w, src + k * w.strides[2]);
        }
      }
  });
  return out.data();
}

std::vector<float> bias_f32(const TensorView& bias, int64_t Cout) {
  std::vector<float> b;
  if (!bias.data) return b;
  b.resize(static_cast<size_t>(Cout));
  for (int64_t co = 0; co < Cout; co++) b[co] = bias_at(bias, co);
  return b;
}

}  // namespace

// ---------------------------------------------------------------- references

void conv1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                const TensorView& residual, const InputSnake& act) {
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  const int64_t cin_g = Cin / p.groups, cout_g = Cout / p.groups;
  const SnakeTable sn(act, Cin);
  for (int64_t b = 0; b < B; b++)
    for (int64_t co = 0; co < Cout; co++) {
      const int64_t g = co / cout_g;
      for (int64_t t = 0; t < Tout; t++) {
        double acc = bias_at(bias, co);
        if (residual.data) acc += at3(residual, b, co, t);
        for (int64_t ci = 0; ci < cin_g; ci++)
          for (int64_t k = 0; k < K; k++) {
            int64_t s = t * p.stride + k * p.dilation - p.padding;
            if (s < 0 || s >= T) continue;
            const int64_t c = g * cin_g + ci;
            acc += operand(at3(w, co, ci, k), p.precision) * operand(sn.apply(at3(x, b, c, s), c), p.precision);
          }
        store_from_f32(out, b * out.strides[0] + co * out.strides[1] + t * out.strides[2], static_cast<float>(acc));
      }
    }
}

void conv_transpose1d_ref(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                          const InputSnake& act) {
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  const SnakeTable sn(act, Cin);
  std::vector<double> acc(static_cast<size_t>(Tout));
  for (int64_t b = 0; b < B; b++)
    for (int64_t co = 0; co < Cout; co++) {
      std::fill(acc.begin(), acc.end(), static_cast<double>(bias_at(bias, co)));
      for (int64_t ci = 0; ci < Cin; ci++)
        for (int64_t t = 0; t < T; t++) {
          double xv = operand(sn.apply(at3(x, b, ci, t), ci), p.precision);
          for (int64_t k = 0; k < K; k++) {
            int64_t j = t * p.stride + k * p.dilation - p.padding;
            if (j >= 0 && j < Tout) acc[j] += xv * operand(at3(w, ci, co, k), p.precision);
          }
        }
      for (int64_t j = 0; j < Tout; j++)
        store_from_f32(out, b * out.strides[0] + co * out.strides[1] + j * out.strides[2], static_cast<float>(acc[j]));
    }
}

void snake_ref(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale) {
  const int64_t B = x.shape[0], C = x.shape[1], T = x.shape[2];
  for (int64_t c = 0; c < C; c++) {
    float a, ib;
    snake_coeffs(alpha, beta, c, log_scale, &a, &ib);
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++) {
        float v = at3(x, b, c, t);
        float s = std::sin(a * v);
        store_from_f32(out, b * out.strides[0] + c * out.strides[1] + t * out.strides[2], v + ib * (s * s));
      }
  }
}

// ---------------------------------------------------------------- fast paths

void conv1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
            const TensorView& residual, const InputSnake& act) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous() ||
      (residual.data && (residual.dtype != DType::F32 || !residual.contiguous())))
    return conv1d_ref(x, w, bias, out, p, residual, act);
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2];
  const int64_t G = p.groups, cin_g = Cin / G, cout_g = Cout / G, S = p.stride;
  if (B == 0 || Cout == 0 || Tout == 0) return;
  // At stride 1, tap k reads row ci of x itself at column t + k*dilation - padding (the packer
  // zero-fills what falls outside). A strided conv reads x split into S phases (row ci*S + r holds
  // x[ci, u*S + r - padding], zero-padded): tap k then reads phase r_k at column t + q_k, with
  // k*dilation = q_k*S + r_k. The split is made per task, for the columns and channels it packs.
  std::vector<int64_t> q(K), r(K);
  int64_t qmax = 0, qmin = 0;
  for (int64_t k = 0; k < K; k++) {
    q[k] = S == 1 ? k * p.dilation - p.padding : k * p.dilation / S;
    r[k] = S == 1 ? 0 : k * p.dilation % S;
    qmax = std::max(qmax, q[k]);
    qmin = std::min(qmin, q[k]);
  }
  const int64_t U = S == 1 ? T : Tout + qmax;  // columns of each (phase) row
  const int64_t R = cin_g * K;
  std::vector<int64_t> rows(static_cast<size_t>(R)), qs(static_cast<size_t>(R));
  for (int64_t ci = 0; ci < cin_g; ci++)
    for (int64_t k = 0; k < K; k++) {
      rows[ci * K + k] = ci * S + r[k];
      qs[ci * K + k] = q[k];
    }
  const bool bf16 = p.precision == GemmPrecision::BF16;
  const Micro micro = pick_micro(bf16);
  const int form = micro.pairs ? kFormBf16Pairs : bf16 ? kFormBf16Rounded : kFormF32;
  const std::shared_ptr<const PackedConvWeight> A = packed_weight(w, p, false, form, [&] {
    std::vector<float> wstore;
    const float* wf = weight_f32(w, wstore);
    auto pw = std::make_shared<PackedConvWeight>();
    for (int64_t g = 0; g < G; g++) {
      add_part(pack_rows(wf + g * cout_g * R, cout_g, R, form), (cout_g + MR - 1) / MR, *pw);
    }
    return std::shared_ptr<const PackedConvWeight>(std::move(pw));
  });
  std::vector<float> bf = bias_f32(bias, Cout);
  const SnakeTable sn(act, Cin);
  const float* xd = x.ptr<float>();
  float* yd = out.ptr<float>();
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++) {
      const float* xg = xd + (b * Cin + g * cin_g) * T;
      TapGemm tg;
      tg.X = xg;
      tg.ldx = T;
      tg.len = U;
      tg.S = S;
      tg.K = K;
      tg.pad = p.padding;
      tg.xlen = T;
      tg.qmax = qmax;
      tg.qmin = qmin;
      if (sn.on()) {
        tg.act_a = sn.a.data() + g * cin_g;
        tg.act_ib = sn.ib.data() + g * cin_g;
        tg.snake_row = pick_snake_row();
      }
      tg.row = rows.data();
      tg.q = qs.data();
      tg.A = A->parts[static_cast<size_t>(g)].get();
      tg.bias = bf.empty() ? nullptr : bf.data() + g * cout_g;
      tg.Y = yd + (b * Cout + g * cout_g) * Tout;
      tg.res = residual.data ? residual.ptr<float>() + (b * Cout + g * cout_g) * Tout : nullptr;
      tg.ldy = Tout;
      tg.R = R;
      tg.Cout = cout_g;
      tg.T = Tout;
      tg.bf16 = bf16;
      run_tap_gemm(tg, micro);
    }
}

void conv_transpose1d(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& out, const Conv1dParams& p,
                      const InputSnake& act) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous())
    return conv_transpose1d_ref(x, w, bias, out, p, act);
  const int64_t B = x.shape[0], Cin = x.shape[1], T = x.shape[2];
  const int64_t Cout = out.shape[1], Tout = out.shape[2], K = w.shape[2], S = p.stride;
  if (B == 0 || Cout == 0 || Tout == 0) return;
  // Output position o = j + padding = u*S + rho receives tap k (k*dilation = m*S + rho) from
  // x[u - m]. Every residue rho reads the same rows of x (shifted by m), so all S phases are one tap
  // GEMM: its rows are (rho, co), its reduction (ci, m), its columns u; each row is scattered to
  // every S-th output step of channel co. One packed B panel then serves all phases.
  const int64_t M = ((K - 1) * p.dilation) / S + 1;
  std::vector<int64_t> tap(static_cast<size_t>(S * M), -1);
  for (int64_t k = 0; k < K; k++) tap[static_cast<size_t>((k * p.dilation % S) * M + k * p.dilation / S)] = k;
  const int64_t rows = S * Cout, R = Cin * M;
  std::vector<int64_t> row(static_cast<size_t>(R)), q(static_cast<size_t>(R));
  for (int64_t ci = 0; ci < Cin; ci++)
    for (int64_t m = 0; m < M; m++) {
      row[ci * M + m] = ci;
      q[ci * M + m] = -m;
    }
  std::vector<TapGemm::OutRow> orow(static_cast<size_t>(rows));
  for (int64_t ro = 0; ro < rows; ro++) {
    const int64_t rho = ro / Cout, co = ro % Cout, last = Tout - 1 + p.padding - rho;
    orow[ro] = {co * Tout + rho - p.padding, p.padding > rho ? (p.padding - rho + S - 1) / S : 0, last < 0 ? 0 : last / S + 1};
  }
  const int64_t U = (Tout - 1 + p.padding) / S + 1;  // columns: the largest orow[].hi (rho 0)
  const bool bf16 = p.precision == GemmPrecision::BF16;
  const Micro micro = pick_micro(bf16);
  const int form = micro.pairs ? kFormBf16Pairs : bf16 ? kFormBf16Rounded : kFormF32;
  const std::shared_ptr<const PackedConvWeight> A = packed_weight(w, p, true, form, [&] {
    std::vector<float> wstore;
    const float* wf = weight_f32(w, wstore);
    auto pw = std::make_shared<PackedConvWeight>();
    add_part(pack_transposed(wf, Cin, Cout, K, S, M, tap, form), (rows + MR - 1) / MR, *pw);
    return std::shared_ptr<const PackedConvWeight>(std::move(pw));
  });
  std::vector<float> bf = bias_f32(bias, Cout);
  std::vector<float> brow;  // bias per GEMM row
  if (!bf.empty())
    for (int64_t ro = 0; ro < rows; ro++) brow.push_back(bf[ro % Cout]);
  const SnakeTable sn(act, Cin);
  const float* xd = x.ptr<float>();
  float* od = out.ptr<float>();
  for (int64_t b = 0; b < B; b++) {
    TapGemm tg;
    tg.X = xd + b * Cin * T;
    tg.ldx = T;
    tg.len = T;
    tg.row = row.data();
    tg.q = q.data();
    tg.K = M;
    tg.qmin = -(M - 1);
    if (sn.on()) {
      tg.act_a = sn.a.data();
      tg.act_ib = sn.ib.data();
      tg.snake_row = pick_snake_row();
    }
    tg.A = A->parts[0].get();
    tg.bias = brow.empty() ? nullptr : brow.data();
    tg.Y = od + b * Cout * Tout;
    tg.orow = orow.data();
    tg.ys = S;
    tg.R = R;
    tg.Cout = rows;
    tg.T = U;
    tg.bf16 = bf16;
    run_tap_gemm(tg, micro);
  }
}

void snake(const TensorView& x, const TensorView& alpha, const TensorView& beta, const TensorView& out, bool log_scale) {
  if (x.dtype != DType::F32 || out.dtype != DType::F32 || !x.contiguous() || !out.contiguous())
    return snake_ref(x, alpha, beta, out, log_scale);
  const int64_t B = x.shape[0], C = x.shape[1], T = x.shape[2];
  std::vector<float> a(static_cast<size_t>(C)), ib(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; c++) snake_coeffs(alpha, beta, c, log_scale, &a[c], &ib[c]);
  const SnakeRowFn row = pick_snake_row();
  const float* xd = x.ptr<float>();
  float* yd = out.ptr<float>();
  // Rows are split into pieces so short-T / many-channel and long-T / few-channel both parallelise.
  const int64_t piece = 4096, per_row = (T + piece - 1) / piece;
  parallel_for(B * C * per_row, 4, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) {
      int64_t rowi = i / per_row, t0 = (i % per_row) * piece;
      int64_t c = rowi % C;
      row(xd + rowi * T + t0, yd + rowi * T + t0, std::min(piece, T - t0), a[c], ib[c]);
    }
  });
}

}  // namespace acestep::cpu
