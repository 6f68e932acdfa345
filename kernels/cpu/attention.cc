// CPU attention. The reference is the textbook two-pass softmax in double precision, one query
// row at a time. The fast path is flash-style: a work item is one (batch, kv head, query block)
// whose rows are all (query, query head) pairs sharing that kv head, so each K/V tile is loaded
// once for the whole GQA group; keys are visited in tiles of 64 with an online softmax, only
// inside the key range the causal/window rules can reach. The fast path exists as AVX-512
// intrinsics and as a portable vector-type version compiled for AVX2+FMA and for the baseline
// ISA; the widest the CPU supports is picked at run time. One-query calls (LM decode) take their
// own AVX-512 path (decode_item), which also reads a bf16 KV cache directly; the other paths and
// the reference read bf16 K/V through exact f32 copies. BF16 precision (AttentionParams) has its
// own AVX-512 path on CPUs with avx512_bf16 (flash_item_bf16: both products on vdpbf16ps); elsewhere
// it runs the f32 paths on bf16-rounded copies of the operands, the reference on the same copies.
#include "attention.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "gemm_kernels.h"
#include "parallel.h"
#include "strided.h"

namespace acestep::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Dims {
  int64_t B, Tq, Tk, Hq, Hkv, D, G;
};

Dims dims_of(const TensorView& q, const TensorView& k) {
  Dims d{q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2], q.shape[3], 0};
  d.G = d.Hq / d.Hkv;
  return d;
}

// The key mask as one byte per (batch, key); empty when there is none.
std::vector<uint8_t> mask_bytes(const TensorView& m) {
  std::vector<uint8_t> out;
  if (m.data == nullptr) return out;
  int64_t B = m.shape[0], T = m.shape[1];
  out.resize(B * T);
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < T; j++) out[b * T + j] = load_as_f32(m, b * m.strides[0] + j * m.strides[1]) != 0.f;
  return out;
}

// One (batch, query head) pair over all its queries, in double. At BF16 precision the operands
// arrive rounded (attention_ref) and the probabilities enter P·V rounded to bf16.
void ref_head(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
              const AttentionParams& p, const Dims& d, int64_t b, int64_t h) {
  const float* Q = q.ptr<const float>();
  const float* K = k.ptr<const float>();
  const float* V = v.ptr<const float>();
  float* O = out.ptr<float>();
  int64_t hk = h / d.G;
  const bool bf16 = p.precision == GemmPrecision::BF16;
  std::vector<double> s(d.Tk), acc(d.D);
  for (int64_t i = 0; i < d.Tq; i++) {
    const float* qr = Q + b * q.strides[0] + i * q.strides[1] + h * q.strides[2];
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < d.Tk; j++) {
      bool vis = attention_key_visible(p, i, j) && (mask == nullptr || mask[b * d.Tk + j]);
      if (!vis) {
        s[j] = -std::numeric_limits<double>::infinity();
        continue;
      }
      const float* kr = K + b * k.strides[0] + j * k.strides[1] + hk * k.strides[2];
      double dot = 0;
      for (int64_t e = 0; e < d.D; e++) dot += static_cast<double>(qr[e]) * kr[e];
      s[j] = dot * p.scale;
      mx = std::max(mx, s[j]);
    }
    float* orow = O + ((b * d.Tq + i) * d.Hq + h) * d.D;
    if (mx == -std::numeric_limits<double>::infinity()) {
      std::fill(orow, orow + d.D, 0.f);
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    double sum = 0;
    for (int64_t j = 0; j < d.Tk; j++) {
      if (s[j] == -std::numeric_limits<double>::infinity()) continue;
      double w = std::exp(s[j] - mx);
      sum += w;
      const double pw = bf16 ? bf16_to_f32(f32_to_bf16(static_cast<float>(w))) : w;  // P·V operand
      const float* vr = V + b * v.strides[0] + j * v.strides[1] + hk * v.strides[2];
      for (int64_t e = 0; e < d.D; e++) acc[e] += pw * vr[e];
    }
    for (int64_t e = 0; e < d.D; e++) orow[e] = static_cast<float>(acc[e] / sum);
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 flash path.

#define ATTN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

constexpr int kTile = 64;     // keys per tile
constexpr int kRowsMax = 64;  // rows (query, head pairs) per work item

// exp(x) for x <= 0 within ~2 ulp; lanes below -87 (including -inf) give exactly 0.
ATTN_AVX512 inline __m512 exp_neg(__m512 x) {
  __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  // Taylor series to r^7 on |r| <= ln2/2: truncation error below 1e-8 relative.
  __m512 y = _mm512_set1_ps(1.f / 5040);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f / 720));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f / 120));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f / 24));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f / 6));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(0.5f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(y, n));
}

ATTN_AVX512 inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1);
}

// 16 K/V elements as f32: f32 rows as they are, bf16 rows (a bf16 KV cache) widened exactly.
template <class T>
ATTN_AVX512 inline __m512 load_kv(const T* p, __mmask16 m) {
  if constexpr (std::is_same_v<T, float>)
    return _mm512_maskz_loadu_ps(m, p);
  else
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// load_kv over a whole vector: plain loads, so a caller's accumulators stay in registers.
template <class T>
ATTN_AVX512 inline __m512 load_kv_full(const T* p) {
  if constexpr (std::is_same_v<T, float>)
    return _mm512_loadu_ps(p);
  else
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}

// Scores are kept transposed, s[jj * ldr + r] (key-major, one lane per row), so the online
// softmax runs across 16 rows per vector and the query side is packed once per work item.

// s[kk][0 .. 16*NC) = kp_kk . qt for kKeyGroup keys of a packed key tile (rows D apart), qt rows
// ldq apart and s rows ldr apart:
// NC x kKeyGroup accumulators, each dot product a plain sequential fma chain over the head dim.
constexpr int kKeyGroup = 12;
template <int NC>
ATTN_AVX512 void qk_group(const float* qt, int64_t ldq, const float* kp, int64_t D, float* s, int64_t ldr) {
  __m512 acc[kKeyGroup][NC];
  for (int kk = 0; kk < kKeyGroup; kk++)
    for (int c = 0; c < NC; c++) acc[kk][c] = _mm512_setzero_ps();
  for (int64_t e = 0; e < D; e++) {
    __m512 qv[NC];
    for (int c = 0; c < NC; c++) qv[c] = _mm512_loadu_ps(qt + e * ldq + 16 * c);
    for (int kk = 0; kk < kKeyGroup; kk++) {
      __m512 kb = _mm512_set1_ps(kp[kk * D + e]);
      for (int c = 0; c < NC; c++) acc[kk][c] = _mm512_fmadd_ps(kb, qv[c], acc[kk][c]);
    }
  }
  for (int kk = 0; kk < kKeyGroup; kk++)
    for (int c = 0; c < NC; c++) _mm512_storeu_ps(s + kk * ldr + 16 * c, acc[kk][c]);
}

// Few rows (decode): one dot product per (key, row) on row-major q; padding lanes get 0.
ATTN_AVX512 void scores_direct(const float* q, int64_t ldq, int rows, int64_t ldr, const float* k0, int64_t ldk, int nk, int64_t D,
                               float* s) {
  for (int jj = 0; jj < nk; jj++) {
    const float* kr = k0 + jj * ldk;
    float* srow = s + jj * ldr;
    for (int r = 0; r < rows; r++) {
      const float* qr = q + r * ldq;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t e = 0; e < D; e += 16) {
        __mmask16 m = tail_mask(D - e);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qr + e), _mm512_maskz_loadu_ps(m, kr + e), acc);
      }
      srow[r] = _mm512_reduce_add_ps(acc);
    }
    for (int64_t r = rows; r < ldr; r++) srow[r] = 0.f;
  }
}

// o[r][dbase .. dbase+16*NC) += sum_jj p[jj][r] * v_jj[...] for R rows (p transposed, stride ldr).
// alpha (nullptr: none) rescales row r's old output first: the online softmax's correction factor.
// Tail: the slice ends inside its last vector (masked loads and stores). Whole slices use plain
// ones: with masks GCC keeps the accumulator array on the stack in the inner loop.
template <int R, int NC, bool Tail, class T = float>
ATTN_AVX512 void pv_block(const float* p, int64_t ldr, int nk, const T* v0, int64_t ldv, float* o, int64_t ldo, int64_t dbase, int64_t D,
                          const float* alpha) {
  __mmask16 m[NC];
  __m512 acc[R][NC];
  for (int c = 0; c < NC; c++) m[c] = Tail ? tail_mask(D - dbase - 16 * c) : static_cast<__mmask16>(0xFFFF);
  for (int r = 0; r < R; r++) {
    for (int c = 0; c < NC; c++)
      acc[r][c] = Tail ? _mm512_maskz_loadu_ps(m[c], o + r * ldo + dbase + 16 * c) : _mm512_loadu_ps(o + r * ldo + dbase + 16 * c);
    if (alpha)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm512_mul_ps(_mm512_set1_ps(alpha[r]), acc[r][c]);
  }
  for (int jj = 0; jj < nk; jj++) {
    const T* vr = v0 + jj * ldv + dbase;
    __m512 vv[NC];
    for (int c = 0; c < NC; c++) vv[c] = Tail ? load_kv(vr + 16 * c, m[c]) : load_kv_full(vr + 16 * c);
    for (int r = 0; r < R; r++) {
      __m512 pb = _mm512_set1_ps(p[jj * ldr + r]);
      for (int c = 0; c < NC; c++) acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) {
      if (Tail)
        _mm512_mask_storeu_ps(o + r * ldo + dbase + 16 * c, m[c], acc[r][c]);
      else
        _mm512_storeu_ps(o + r * ldo + dbase + 16 * c, acc[r][c]);
    }
}

// R rows over the (up to) 64-column slice of D at dbase.
template <int R, class T = float>
ATTN_AVX512 void pv_slice(const float* p, int64_t ldr, int nk, const T* v0, int64_t ldv, float* o, int64_t ldo, int64_t dbase, int64_t D,
                          const float* alpha) {
  const int64_t width = std::min<int64_t>(64, D - dbase);
  const bool tail = width % 16 != 0;
  switch ((width + 15) / 16) {
    case 1:
      tail ? pv_block<R, 1, true, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha)
           : pv_block<R, 1, false, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha);
      break;
    case 2:
      tail ? pv_block<R, 2, true, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha)
           : pv_block<R, 2, false, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha);
      break;
    case 3:
      tail ? pv_block<R, 3, true, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha)
           : pv_block<R, 3, false, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha);
      break;
    default:
      tail ? pv_block<R, 4, true, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha)
           : pv_block<R, 4, false, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, alpha);
      break;
  }
}

template <int R, class T = float>
ATTN_AVX512 void pv_rows(const float* p, int64_t ldr, int nk, const T* v0, int64_t ldv, float* o, int64_t ldo, int64_t D) {
  for (int64_t dbase = 0; dbase < D; dbase += 64) pv_slice<R, T>(p, ldr, nk, v0, ldv, o, ldo, dbase, D, nullptr);
}

// P . V for all rows of a work item against a packed value tile (rows D apart), rescaling the old
// output by alpha on the way. Six rows by 64 columns per block (24 accumulators); the outer loop
// over 64-column slices keeps one slice of the tile (64 keys x 256 bytes) in L1 for all rows.
constexpr int kPvRows = 6;
ATTN_AVX512 void pv_tile(const float* s, int64_t ldr, int rows, int nk, const float* vp, float* o, int64_t D, const float* alpha) {
  for (int64_t dbase = 0; dbase < D; dbase += 64) {
    int r = 0;
    for (; r + kPvRows <= rows; r += kPvRows) pv_slice<kPvRows>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
    switch (rows - r) {
      case 5:
        pv_slice<5>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
        break;
      case 4:
        pv_slice<4>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
        break;
      case 3:
        pv_slice<3>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
        break;
      case 2:
        pv_slice<2>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
        break;
      case 1:
        pv_slice<1>(s + r, ldr, nk, vp, D, o + r * D, D, dbase, D, alpha + r);
        break;
      default:
        break;
    }
  }
}

// Keys per tile rounded up to whole key groups: the packed key tile and the scores have this many rows.
constexpr int kTilePadded = (kTile + kKeyGroup - 1) / kKeyGroup * kKeyGroup;

// qt holds the scaled queries transposed in blocks of 32 rows, qt[(r / 32) * D * 32 + e * 32 + r % 32],
// so the 32 rows one QK^T pass reads are contiguous (16 KiB for D = 128, half of L1).
// kh / vh: all keys / values of kv head (packed_b, packed_hk), packed contiguously once for the
// work items of that head (a thread takes consecutive items, so one head's query blocks in a row).
// In the model's [B, T, H, D] layout consecutive keys are Hkv * D floats apart (4 KiB for 8
// heads of 128): read in place, a tile's rows all map to the same few L1 sets. kh has kKeyGroup
// zero keys past Tk so the last key group of a tile never reads past the end.
struct Scratch {
  std::vector<float> q, qt, s, o, m, l, alpha, kh, vh;
  std::vector<uint32_t> qp, pp;  // the bf16 path's query and probability pairs
  std::vector<uint16_t> kb, vb;  // the bf16 path's packed keys and value pairs
  int64_t packed_b = -1, packed_hk = -1;
  std::vector<int32_t> pos;
  explicit Scratch(int64_t D)
      : q(kRowsMax * D),
        qt(D * kRowsMax),
        s(kTilePadded * kRowsMax),
        o(kRowsMax * D),
        m(kRowsMax),
        l(kRowsMax),
        alpha(kRowsMax),
        pos(kRowsMax) {}
};

// Sets the scores of hidden (row, key) pairs of a tile (keys j0 .. j0 + nk - 1, scores
// s[jj * ldr + r], rows at positions pos[r] in [pos_lo, pos_hi]) to -inf; a tile whose keys every
// row sees is left as it is.
ATTN_AVX512 void mask_tile(float* s, int64_t ldr, int nc, int nk, int64_t j0, int64_t pos_lo, int64_t pos_hi, const uint8_t* mrow,
                           const int32_t* pos, const AttentionParams& p) {
  const int64_t j1 = j0 + nk - 1;
  bool all_visible = (!p.causal || j1 <= pos_lo) && (p.window < 0 || (j0 >= pos_hi - p.window && j1 <= pos_lo + p.window));
  if (all_visible && mrow) all_visible = std::all_of(mrow + j0, mrow + j1 + 1, [](uint8_t x) { return x != 0; });
  if (all_visible) return;
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  for (int jj = 0; jj < nk; jj++) {
    int64_t j = j0 + jj;
    float* srow = s + jj * ldr;
    if (mrow && !mrow[j]) {
      for (int c = 0; c < nc; c++) _mm512_storeu_ps(srow + 16 * c, ninf);
      continue;
    }
    __m512i jv = _mm512_set1_epi32(static_cast<int32_t>(j));
    for (int c = 0; c < nc; c++) {
      __m512i pv = _mm512_loadu_si512(pos + 16 * c);
      __mmask16 keep = 0xFFFF;
      if (p.causal) keep &= _mm512_cmp_epi32_mask(jv, pv, _MM_CMPINT_LE);
      if (p.window >= 0) {
        __m512i wv = _mm512_set1_epi32(static_cast<int32_t>(p.window));
        keep &= _mm512_cmp_epi32_mask(_mm512_sub_epi32(pv, wv), jv, _MM_CMPINT_LE);
        keep &= _mm512_cmp_epi32_mask(jv, _mm512_add_epi32(pv, wv), _MM_CMPINT_LE);
      }
      _mm512_storeu_ps(srow + 16 * c, _mm512_mask_blend_ps(keep, ninf, _mm512_loadu_ps(srow + 16 * c)));
    }
  }
}

// One work item: batch b, kv head hk, queries [i0, i1).
ATTN_AVX512 void flash_item(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
                            const AttentionParams& p, const Dims& d, int64_t b, int64_t hk, int64_t i0, int64_t i1, Scratch& w) {
  const int64_t D = d.D, G = d.G;
  const int rows = static_cast<int>((i1 - i0) * G);
  const int64_t ldr = (rows + 15) / 16 * 16;  // padded row count: lanes of the transposed scores
  const int nc = static_cast<int>(ldr / 16);
  const bool direct = rows < 8;
  // Rows are (query, head-in-group) pairs; q is packed row-major and pre-scaled, with vector
  // loads so that many rows' cache misses are in flight at once, then transposed from L1.
  const __m512 scale = _mm512_set1_ps(p.scale);
  for (int r = 0; r < ldr; r++) {
    bool real = r < rows;
    int64_t i = i0 + r / G, h = hk * G + r % G;
    float* dst = w.q.data() + r * D;
    if (real) {
      const float* src = q.ptr<const float>() + b * q.strides[0] + i * q.strides[1] + h * q.strides[2];
      for (int64_t e = 0; e < D; e += 16) {
        __mmask16 mk = tail_mask(D - e);
        _mm512_mask_storeu_ps(dst + e, mk, _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(mk, src + e)));
      }
    } else {
      std::fill(dst, dst + D, 0.f);
    }
    // Padding lanes take the last real row's position so their (unused) scores stay finite.
    w.pos[r] = static_cast<int32_t>((real ? i : i1 - 1) + p.q_offset);
  }
  if (!direct)
    for (int r = 0; r < ldr; r++)
      for (int64_t e = 0; e < D; e++) w.qt[(r / 32) * D * 32 + e * 32 + r % 32] = w.q[r * D + e];
  std::fill(w.o.begin(), w.o.begin() + ldr * D, 0.f);
  std::fill(w.m.begin(), w.m.begin() + ldr, kNegInf);
  std::fill(w.l.begin(), w.l.begin() + ldr, 0.f);

  int64_t pos_lo = i0 + p.q_offset, pos_hi = i1 - 1 + p.q_offset;
  int64_t j_lo = 0, j_hi = d.Tk - 1;
  if (p.causal) j_hi = std::min(j_hi, pos_hi);
  if (p.window >= 0) {
    j_lo = std::max(j_lo, pos_lo - p.window);
    j_hi = std::min(j_hi, pos_hi + p.window);
  }
  const float* kbase = k.ptr<const float>() + b * k.strides[0] + hk * k.strides[2];
  const float* vbase = v.ptr<const float>() + b * v.strides[0] + hk * v.strides[2];
  const uint8_t* mrow = mask ? mask + b * d.Tk : nullptr;
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  if (!direct && (w.packed_b != b || w.packed_hk != hk)) {
    w.kh.resize((d.Tk + kKeyGroup) * D);
    w.vh.resize(d.Tk * D);
    for (int64_t j = 0; j < d.Tk; j++) {
      std::memcpy(w.kh.data() + j * D, kbase + j * k.strides[1], D * sizeof(float));
      std::memcpy(w.vh.data() + j * D, vbase + j * v.strides[1], D * sizeof(float));
    }
    std::fill(w.kh.data() + d.Tk * D, w.kh.data() + (d.Tk + kKeyGroup) * D, 0.f);
    w.packed_b = b;
    w.packed_hk = hk;
  }

  for (int64_t j0 = j_lo; j0 <= j_hi; j0 += kTile) {
    int nk = static_cast<int>(std::min<int64_t>(kTile, j_hi + 1 - j0));
    const float* k0 = kbase + j0 * k.strides[1];
    if (direct) {
      scores_direct(w.q.data(), D, rows, ldr, k0, k.strides[1], nk, D, w.s.data());
    } else {
      // The last key group may run past nk into later keys (or kh's zero tail): those scores land
      // in rows past nk and are never read.
      const int nk_pad = (nk + kKeyGroup - 1) / kKeyGroup * kKeyGroup;
      // One block of 32 rows stays in L1 while the key groups pass.
      for (int c0 = 0; c0 < nc; c0 += 2) {
        const float* qb = w.qt.data() + (c0 / 2) * D * 32;
        for (int g = 0; g < nk_pad; g += kKeyGroup) {
          const float* kp = w.kh.data() + (j0 + g) * D;
          float* sg = w.s.data() + g * ldr + 16 * c0;
          if (nc - c0 >= 2)
            qk_group<2>(qb, 32, kp, D, sg, ldr);
          else
            qk_group<1>(qb, 32, kp, D, sg, ldr);
        }
      }
    }
    mask_tile(w.s.data(), ldr, nc, nk, j0, pos_lo, pos_hi, mrow, w.pos.data(), p);
    // Online softmax, 16 rows per vector.
    for (int c = 0; c < nc; c++) {
      float* sc = w.s.data() + 16 * c;
      __m512 mx = ninf;
      for (int jj = 0; jj < nk; jj++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sc + jj * ldr));
      __m512 m_old = _mm512_loadu_ps(w.m.data() + 16 * c);
      __m512 m_new = _mm512_max_ps(m_old, mx);
      __m512 sum = _mm512_setzero_ps();
      for (int jj = 0; jj < nk; jj++) {
        __m512 e = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(sc + jj * ldr), m_new));
        _mm512_storeu_ps(sc + jj * ldr, e);
        sum = _mm512_add_ps(sum, e);
      }
      __m512 alpha = exp_neg(_mm512_sub_ps(m_old, m_new));
      _mm512_storeu_ps(w.alpha.data() + 16 * c, alpha);
      _mm512_storeu_ps(w.l.data() + 16 * c, _mm512_fmadd_ps(_mm512_loadu_ps(w.l.data() + 16 * c), alpha, sum));
      _mm512_storeu_ps(w.m.data() + 16 * c, m_new);
    }
    const float* v0 = vbase + j0 * v.strides[1];
    if (direct) {
      for (int r = 0; r < rows; r++) {
        float a = w.alpha[r];
        if (a == 1.f) continue;
        float* orow = w.o.data() + r * D;
        __m512 av = _mm512_set1_ps(a);
        for (int64_t e = 0; e < D; e += 16) {
          __mmask16 mk = tail_mask(D - e);
          _mm512_mask_storeu_ps(orow + e, mk, _mm512_mul_ps(av, _mm512_maskz_loadu_ps(mk, orow + e)));
        }
      }
      int r = 0;
      for (; r + 4 <= rows; r += 4) pv_rows<4>(w.s.data() + r, ldr, nk, v0, v.strides[1], w.o.data() + r * D, D, D);
      for (; r < rows; r++) pv_rows<1>(w.s.data() + r, ldr, nk, v0, v.strides[1], w.o.data() + r * D, D, D);
    } else {
      pv_tile(w.s.data(), ldr, rows, nk, w.vh.data() + j0 * D, w.o.data(), D, w.alpha.data());
    }
  }

  float* O = out.ptr<float>();
  for (int r = 0; r < rows; r++) {
    int64_t i = i0 + r / G, h = hk * G + r % G;
    float* dst = O + ((b * d.Tq + i) * d.Hq + h) * D;
    float inv = w.l[r] > 0.f ? 1.f / w.l[r] : 0.f;
    const float* src = w.o.data() + r * D;
    for (int64_t e = 0; e < D; e++) dst[e] = src[e] * inv;
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 bf16 path (precision BF16 on CPUs with avx512_bf16): the flash_item algorithm with both
// products on vdpbf16ps, which multiplies bf16 pairs and accumulates in f32. Operands are packed
// as pairs along each product's summed index: queries and keys along the head dim, probabilities
// and values along the keys. So a value "row" is a key pair, vp[(j / 2) * 2D + 2d + (j & 1)], and a
// tile must start at an even key; the scores, the masking and the online softmax are flash_item's.
// The head dim must be a multiple of 16 (whole vectors; the other dims take the rounded-copy path).

#define ATTN_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// 16 f32 lanes a (even element) and b (odd element) as 16 bf16 pairs.
ATTN_AVX512BF16 inline __m512i bf16_pairs(__m512 a, __m512 b) {
  const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
  const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

// s[kk][0 .. 16*NC) = k_kk . q for kKeyGroup keys (bf16 rows D apart) against the query pairs qp
// (pair ep of row r at qp[ep * 32 + r], 32 rows per block): qk_group with half the steps.
template <int NC>
ATTN_AVX512BF16 void qk_group_bf16(const uint32_t* qp, const uint16_t* kp, int64_t D, float* s, int64_t ldr) {
  __m512 acc[kKeyGroup][NC];
  for (int kk = 0; kk < kKeyGroup; kk++)
    for (int c = 0; c < NC; c++) acc[kk][c] = _mm512_setzero_ps();
  const uint32_t* k32 = reinterpret_cast<const uint32_t*>(kp);
  const int64_t pairs = D / 2;
  for (int64_t ep = 0; ep < pairs; ep++) {
    __m512bh qv[NC];
    for (int c = 0; c < NC; c++) qv[c] = (__m512bh)_mm512_loadu_si512(qp + ep * 32 + 16 * c);
    for (int kk = 0; kk < kKeyGroup; kk++) {
      const __m512bh kb = (__m512bh)_mm512_set1_epi32(static_cast<int>(k32[kk * pairs + ep]));
      for (int c = 0; c < NC; c++) acc[kk][c] = _mm512_dpbf16_ps(acc[kk][c], qv[c], kb);
    }
  }
  for (int kk = 0; kk < kKeyGroup; kk++)
    for (int c = 0; c < NC; c++) _mm512_storeu_ps(s + kk * ldr + 16 * c, acc[kk][c]);
}

// o[r][dbase .. dbase+16*NC) = alpha[r] * o[r][...] + sum_jp pp[jp][r] . vp[jp][...] for R rows:
// pv_block over key pairs (pp: probability pairs, stride ldr; vp: value pair rows of D pairs).
template <int R, int NC>
ATTN_AVX512BF16 void pv_block_bf16(const uint32_t* pp, int64_t ldr, int npairs, const uint32_t* vp, int64_t D, float* o, int64_t dbase,
                                   const float* alpha) {
  __m512 acc[R][NC];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) acc[r][c] = _mm512_mul_ps(_mm512_set1_ps(alpha[r]), _mm512_loadu_ps(o + r * D + dbase + 16 * c));
  for (int jp = 0; jp < npairs; jp++) {
    __m512bh vv[NC];
    for (int c = 0; c < NC; c++) vv[c] = (__m512bh)_mm512_loadu_si512(vp + jp * D + dbase + 16 * c);
    for (int r = 0; r < R; r++) {
      const __m512bh pb = (__m512bh)_mm512_set1_epi32(static_cast<int>(pp[jp * ldr + r]));
      for (int c = 0; c < NC; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], vv[c], pb);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) _mm512_storeu_ps(o + r * D + dbase + 16 * c, acc[r][c]);
}

template <int R>
ATTN_AVX512BF16 void pv_slice_bf16(const uint32_t* pp, int64_t ldr, int npairs, const uint32_t* vp, int64_t D, float* o, int64_t dbase,
                                   const float* alpha) {
  switch (std::min<int64_t>(64, D - dbase) / 16) {
    case 1:
      return pv_block_bf16<R, 1>(pp, ldr, npairs, vp, D, o, dbase, alpha);
    case 2:
      return pv_block_bf16<R, 2>(pp, ldr, npairs, vp, D, o, dbase, alpha);
    case 3:
      return pv_block_bf16<R, 3>(pp, ldr, npairs, vp, D, o, dbase, alpha);
    default:
      return pv_block_bf16<R, 4>(pp, ldr, npairs, vp, D, o, dbase, alpha);
  }
}

// pv_tile's blocking (6 rows x one 64-column slice, the slice of the value tile kept in L1).
ATTN_AVX512BF16 void pv_tile_bf16(const uint32_t* pp, int64_t ldr, int rows, int npairs, const uint32_t* vp, float* o, int64_t D,
                                  const float* alpha) {
  for (int64_t dbase = 0; dbase < D; dbase += 64) {
    int r = 0;
    for (; r + kPvRows <= rows; r += kPvRows) pv_slice_bf16<kPvRows>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
    switch (rows - r) {
      case 5:
        pv_slice_bf16<5>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
        break;
      case 4:
        pv_slice_bf16<4>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
        break;
      case 3:
        pv_slice_bf16<3>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
        break;
      case 2:
        pv_slice_bf16<2>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
        break;
      case 1:
        pv_slice_bf16<1>(pp + r, ldr, npairs, vp, D, o + r * D, dbase, alpha + r);
        break;
      default:
        break;
    }
  }
}

// flash_item at bf16 precision (f32 K/V; D % 16 == 0). Scratch: w.q the scaled queries, w.qp
// their bf16 pairs in blocks of 32 rows, w.kb / w.vb the kv head's keys (bf16 rows, kKeyGroup
// zero keys past Tk) and value pairs (a zero key past an odd Tk), w.pp the tile's probability pairs.
ATTN_AVX512BF16 void flash_item_bf16(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask,
                                     const TensorView& out, const AttentionParams& p, const Dims& d, int64_t b, int64_t hk, int64_t i0,
                                     int64_t i1, Scratch& w) {
  const int64_t D = d.D, G = d.G;
  const int rows = static_cast<int>((i1 - i0) * G);
  const int64_t ldr = (rows + 15) / 16 * 16;
  const int nc = static_cast<int>(ldr / 16);
  const __m512 scale = _mm512_set1_ps(p.scale);
  w.qp.resize(kRowsMax * D / 2);
  w.pp.resize(kTilePadded / 2 * kRowsMax);
  // The scaled rows first, all with vector loads (many rows' cache misses in flight, as in
  // flash_item), then their pairs from L1.
  for (int r = 0; r < ldr; r++) {
    const bool real = r < rows;
    const int64_t i = i0 + r / G, h = hk * G + r % G;
    float* dst = w.q.data() + r * D;
    if (real) {
      const float* src = q.ptr<const float>() + b * q.strides[0] + i * q.strides[1] + h * q.strides[2];
      for (int64_t e = 0; e < D; e += 16) _mm512_storeu_ps(dst + e, _mm512_mul_ps(scale, _mm512_loadu_ps(src + e)));
    } else {
      std::fill(dst, dst + D, 0.f);
    }
    w.pos[r] = static_cast<int32_t>((real ? i : i1 - 1) + p.q_offset);
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int r = 0; r < ldr; r++) {
    const float* src = w.q.data() + r * D;
    uint32_t* dst = w.qp.data() + (r / 32) * D * 16 + r % 32;
    for (int64_t e = 0; e < D; e += 32) {
      // 16 pairs (e + 2t, e + 2t + 1) from two vectors of 16 consecutive elements.
      const __m512 x0 = _mm512_loadu_ps(src + e);
      const __m512 x1 = e + 16 < D ? _mm512_loadu_ps(src + e + 16) : _mm512_setzero_ps();
      alignas(64) uint32_t pairs[16];
      _mm512_store_si512(pairs, bf16_pairs(_mm512_permutex2var_ps(x0, even, x1), _mm512_permutex2var_ps(x0, odd, x1)));
      const int64_t n = std::min<int64_t>(16, (D - e) / 2);
      for (int64_t t = 0; t < n; t++) dst[(e / 2 + t) * 32] = pairs[t];
    }
  }
  std::fill(w.o.begin(), w.o.begin() + ldr * D, 0.f);
  std::fill(w.m.begin(), w.m.begin() + ldr, kNegInf);
  std::fill(w.l.begin(), w.l.begin() + ldr, 0.f);

  const int64_t pos_lo = i0 + p.q_offset, pos_hi = i1 - 1 + p.q_offset;
  int64_t j_lo = 0, j_hi = d.Tk - 1;
  if (p.causal) j_hi = std::min(j_hi, pos_hi);
  if (p.window >= 0) {
    j_lo = std::max(j_lo, pos_lo - p.window);
    j_hi = std::min(j_hi, pos_hi + p.window);
  }
  j_lo -= j_lo & 1;  // value pairs start at even keys; the extra key is outside the window (masked)
  const uint8_t* mrow = mask ? mask + b * d.Tk : nullptr;
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  if (w.packed_b != b || w.packed_hk != hk) {
    const float* kbase = k.ptr<const float>() + b * k.strides[0] + hk * k.strides[2];
    const float* vbase = v.ptr<const float>() + b * v.strides[0] + hk * v.strides[2];
    const int64_t tk_even = (d.Tk + 1) / 2 * 2;
    w.kb.assign((d.Tk + kKeyGroup) * D, 0);
    w.vb.resize(tk_even * D);
    for (int64_t j = 0; j < d.Tk; j++)
      for (int64_t e = 0; e < D; e += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(w.kb.data() + j * D + e),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(kbase + j * k.strides[1] + e)));
    for (int64_t j = 0; j < tk_even; j += 2) {
      const float* v0 = vbase + j * v.strides[1];
      const float* v1 = j + 1 < d.Tk ? v0 + v.strides[1] : nullptr;
      for (int64_t e = 0; e < D; e += 16)
        _mm512_storeu_si512(w.vb.data() + j * D + 2 * e,
                            bf16_pairs(_mm512_loadu_ps(v0 + e), v1 ? _mm512_loadu_ps(v1 + e) : _mm512_setzero_ps()));
    }
    w.packed_b = b;
    w.packed_hk = hk;
  }

  for (int64_t j0 = j_lo; j0 <= j_hi; j0 += kTile) {
    const int nk = static_cast<int>(std::min<int64_t>(kTile, j_hi + 1 - j0));
    const int nk_pad = (nk + kKeyGroup - 1) / kKeyGroup * kKeyGroup;
    for (int c0 = 0; c0 < nc; c0 += 2) {
      const uint32_t* qb = w.qp.data() + (c0 / 2) * D * 16;
      for (int g = 0; g < nk_pad; g += kKeyGroup) {
        const uint16_t* kp = w.kb.data() + (j0 + g) * D;
        float* sg = w.s.data() + g * ldr + 16 * c0;
        if (nc - c0 >= 2)
          qk_group_bf16<2>(qb, kp, D, sg, ldr);
        else
          qk_group_bf16<1>(qb, kp, D, sg, ldr);
      }
    }
    mask_tile(w.s.data(), ldr, nc, nk, j0, pos_lo, pos_hi, mrow, w.pos.data(), p);
    // Online softmax, 16 rows per vector; the f32 probabilities go into the sum and, rounded, into
    // the pairs (a key past the tile's end, when nk is odd, gets probability 0).
    const int npairs = (nk + 1) / 2;
    for (int c = 0; c < nc; c++) {
      const float* sc = w.s.data() + 16 * c;
      __m512 mx = ninf;
      for (int jj = 0; jj < nk; jj++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sc + jj * ldr));
      const __m512 m_old = _mm512_loadu_ps(w.m.data() + 16 * c);
      const __m512 m_new = _mm512_max_ps(m_old, mx);
      __m512 sum = _mm512_setzero_ps();
      for (int jp = 0; jp < npairs; jp++) {
        const __m512 e0 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(sc + 2 * jp * ldr), m_new));
        sum = _mm512_add_ps(sum, e0);
        __m512 e1 = _mm512_setzero_ps();
        if (2 * jp + 1 < nk) {
          e1 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(sc + (2 * jp + 1) * ldr), m_new));
          sum = _mm512_add_ps(sum, e1);
        }
        _mm512_storeu_si512(w.pp.data() + jp * ldr + 16 * c, bf16_pairs(e0, e1));
      }
      const __m512 alpha = exp_neg(_mm512_sub_ps(m_old, m_new));
      _mm512_storeu_ps(w.alpha.data() + 16 * c, alpha);
      _mm512_storeu_ps(w.l.data() + 16 * c, _mm512_fmadd_ps(_mm512_loadu_ps(w.l.data() + 16 * c), alpha, sum));
      _mm512_storeu_ps(w.m.data() + 16 * c, m_new);
    }
    const uint32_t* vp = reinterpret_cast<const uint32_t*>(w.vb.data()) + j0 / 2 * D;
    pv_tile_bf16(w.pp.data(), ldr, rows, npairs, vp, w.o.data(), D, w.alpha.data());
  }

  float* O = out.ptr<float>();
  for (int r = 0; r < rows; r++) {
    const int64_t i = i0 + r / G, h = hk * G + r % G;
    float* dst = O + ((b * d.Tq + i) * d.Hq + h) * D;
    const float inv = w.l[r] > 0.f ? 1.f / w.l[r] : 0.f;
    const float* src = w.o.data() + r * D;
    for (int64_t e = 0; e < D; e++) dst[e] = src[e] * inv;
  }
}

// Decode (one query per sequence): the item is one (batch, kv head) over its G query heads. A
// single pass over the visible keys scores all G rows (each K row loaded once), the softmax runs
// over the whole key range at once (16 keys per vector instead of 16 rows of which G are real),
// and each V row is loaded once for all G rows. Same exp and f32 accumulation as flash_item.
// Lane sums of four vectors as [sum a, sum b, sum c, sum d]: one shuffle tree for four dot
// products instead of a full horizontal reduction each.
ATTN_AVX512 inline __m256 halves(__m512 x) {
  return _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}
ATTN_AVX512 inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m256 ab = _mm256_hadd_ps(halves(a), halves(b));  // a01 a23 b01 b23 | a45 a67 b45 b67
  const __m256 cd = _mm256_hadd_ps(halves(c), halves(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// R query rows against n keys, four keys at a time (4R independent fma chains, one shared
// reduction per row); masked keys are scored like the others and then set to -inf, which keeps
// the loop branch-free (their cache slots hold the pad tokens' keys, finite values).
// A decode step reads each head's keys and values once, from DRAM (the cache of every layer far
// exceeds L3 beside the weights), in runs of n rows too short for the hardware prefetchers to ramp
// up: the loads stalled (80 % of this loop's samples on the load instructions). So the scoring pass
// asks for the keys kPfKeys rows ahead and, when v0 is given, for the value rows it scores, which
// P . V reads next from L2.
constexpr int64_t kPfKeys = 16;
template <class T>
ATTN_AVX512 inline void prefetch_rows(const T* row, int64_t ld, int64_t rows, int64_t D, bool l2) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t b = 0; b < D * static_cast<int64_t>(sizeof(T)); b += 64) {
      const char* a = reinterpret_cast<const char*>(row + r * ld) + b;
      if (l2)
        _mm_prefetch(a, _MM_HINT_T1);
      else
        _mm_prefetch(a, _MM_HINT_T0);
    }
}

template <int R, class T>
ATTN_AVX512 void decode_scores(const float* q, int64_t D, const T* k0, int64_t ldk, int64_t n, const uint8_t* mrow, float* s, int64_t lds,
                               const T* v0, int64_t ldv) {
  const __mmask16 tail = tail_mask(D % 16 == 0 ? 16 : D % 16);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const T* kr = k0 + j * ldk;
    prefetch_rows(kr + kPfKeys * ldk, ldk, std::min<int64_t>(4, std::max<int64_t>(0, n - j - kPfKeys)), D, false);
    if (v0) prefetch_rows(v0 + j * ldv, ldv, 4, D, true);
    __m512 acc[R][4];
    for (int r = 0; r < R; r++)
      for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t e = 0; e < D; e += 16) {
      const __mmask16 m = e + 16 <= D ? static_cast<__mmask16>(0xFFFF) : tail;
      __m512 kv[4];
      for (int c = 0; c < 4; c++) kv[c] = load_kv(kr + c * ldk + e, m);
      for (int r = 0; r < R; r++) {
        const __m512 qv = _mm512_maskz_loadu_ps(m, q + r * D + e);
        for (int c = 0; c < 4; c++) acc[r][c] = _mm512_fmadd_ps(kv[c], qv, acc[r][c]);
      }
    }
    for (int r = 0; r < R; r++) _mm_storeu_ps(s + r * lds + j, reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
  }
  for (; j < n; j++) {
    const T* kr = k0 + j * ldk;
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t e = 0; e < D; e += 16) {
      const __mmask16 m = e + 16 <= D ? static_cast<__mmask16>(0xFFFF) : tail;
      const __m512 kv = load_kv(kr + e, m);
      for (int r = 0; r < R; r++) acc[r] = _mm512_fmadd_ps(kv, _mm512_maskz_loadu_ps(m, q + r * D + e), acc[r]);
    }
    for (int r = 0; r < R; r++) s[r * lds + j] = _mm512_reduce_add_ps(acc[r]);
  }
  if (mrow)
    for (int64_t jj = 0; jj < n; jj++)
      if (!mrow[jj])
        for (int r = 0; r < R; r++) s[r * lds + jj] = kNegInf;
}

template <class T>
ATTN_AVX512 void decode_item(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
                             const AttentionParams& p, const Dims& d, int64_t b, int64_t hk, std::vector<float>& w) {
  const int64_t D = d.D, G = d.G;
  const int64_t pos = p.q_offset;
  int64_t j_lo = 0, j_hi = d.Tk - 1;
  if (p.causal) j_hi = std::min(j_hi, pos);
  if (p.window >= 0) {
    j_lo = std::max(j_lo, pos - p.window);
    j_hi = std::min(j_hi, pos + p.window);
  }
  // A left-padded row's pad slots are masked: start after them (they would add exact zeros).
  if (mask)
    while (j_lo <= j_hi && !mask[b * d.Tk + j_lo]) j_lo++;
  const int64_t n = std::max<int64_t>(0, j_hi - j_lo + 1);
  const int64_t lds = (n + 15) / 16 * 16;
  // w: q rows (pre-scaled) | scores, one row of lds per head | probabilities transposed (key-major) | o
  w.resize(G * D + G * lds + n * G + G * D);
  float* qs = w.data();
  float* s = qs + G * D;
  float* pt = s + G * lds;
  float* o = pt + n * G;
  for (int64_t g = 0; g < G; g++) {
    const float* src = q.ptr<const float>() + b * q.strides[0] + (hk * G + g) * q.strides[2];
    for (int64_t e = 0; e < D; e++) qs[g * D + e] = src[e] * p.scale;
  }
  const T* k0 = k.ptr<const T>() + b * k.strides[0] + j_lo * k.strides[1] + hk * k.strides[2];
  const T* v0 = v.ptr<const T>() + b * v.strides[0] + j_lo * v.strides[1] + hk * v.strides[2];
  const uint8_t* mrow = mask ? mask + b * d.Tk + j_lo : nullptr;
  for (int64_t g0 = 0; g0 < G; g0 += 4) {
    const int64_t rg = std::min<int64_t>(4, G - g0);
    const float* qg = qs + g0 * D;
    float* sg = s + g0 * lds;
    const T* vpf = g0 == 0 ? v0 : nullptr;  // the values once, with the first group's pass
    if (rg == 4)
      decode_scores<4>(qg, D, k0, k.strides[1], n, mrow, sg, lds, vpf, v.strides[1]);
    else if (rg == 3)
      decode_scores<3>(qg, D, k0, k.strides[1], n, mrow, sg, lds, vpf, v.strides[1]);
    else if (rg == 2)
      decode_scores<2>(qg, D, k0, k.strides[1], n, mrow, sg, lds, vpf, v.strides[1]);
    else
      decode_scores<1>(qg, D, k0, k.strides[1], n, mrow, sg, lds, vpf, v.strides[1]);
  }
  // Softmax per head over the whole range; a head that sees no key outputs zeros (l = 0).
  std::vector<float> inv(G, 0.f);
  for (int64_t g = 0; g < G; g++) {
    float* sr = s + g * lds;
    __m512 mx = _mm512_set1_ps(kNegInf);
    for (int64_t j = 0; j < n; j += 16) mx = _mm512_max_ps(mx, _mm512_maskz_loadu_ps(tail_mask(n - j), sr + j));
    const float m = _mm512_reduce_max_ps(mx);
    if (m == kNegInf) {
      for (int64_t j = 0; j < n; j++) pt[j * G + g] = 0.f;
      continue;
    }
    const __m512 mv = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 t = tail_mask(n - j);
      const __m512 e = _mm512_maskz_mov_ps(t, exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, sr + j), mv)));
      _mm512_mask_storeu_ps(sr + j, t, e);
      sum = _mm512_add_ps(sum, e);
    }
    const float l = _mm512_reduce_add_ps(sum);
    inv[g] = l > 0.f ? 1.f / l : 0.f;
    for (int64_t j = 0; j < n; j++) pt[j * G + g] = sr[j];
  }
  std::fill(o, o + G * D, 0.f);
  int64_t r = 0;
  for (; r + 4 <= G; r += 4) pv_rows<4, T>(pt + r, G, static_cast<int>(n), v0, v.strides[1], o + r * D, D, D);
  for (; r + 2 <= G; r += 2) pv_rows<2, T>(pt + r, G, static_cast<int>(n), v0, v.strides[1], o + r * D, D, D);
  for (; r < G; r++) pv_rows<1, T>(pt + r, G, static_cast<int>(n), v0, v.strides[1], o + r * D, D, D);
  float* O = out.ptr<float>();
  for (int64_t g = 0; g < G; g++) {
    float* dst = O + (b * d.Hq + hk * G + g) * D;
    for (int64_t e = 0; e < D; e++) dst[e] = o[g * D + e] * inv[g];
  }
}

// ---------------------------------------------------------------------------------------------
// Portable flash path: the same algorithm and layout as the AVX-512 one, written with GCC vector
// types (8 floats) that lower to whatever the target has. It is compiled twice, for AVX2+FMA and
// for the baseline ISA, and picked at run time.

#define ATTN_INLINE inline __attribute__((always_inline))
// The vf8 helpers are always inlined, so the ABI of passing 64-byte vectors never matters.
#pragma GCC diagnostic ignored "-Wpsabi"
constexpr int kLanes = 8;                                        // one AVX2 register; 64-byte generic vectors make GCC spill
typedef float vf8 __attribute__((vector_size(32), aligned(4)));  // unaligned loads through vf8*
typedef int32_t vi8 __attribute__((vector_size(32), aligned(4)));

ATTN_INLINE vf8 splat(float x) {
  return vf8{} + x;
}
ATTN_INLINE vf8 vmax(vf8 a, vf8 b) {
  return a > b ? a : b;
}

// exp(x) for x <= 0 (same polynomial as exp_neg); below -87, -inf and NaN give 0.
ATTN_INLINE vf8 exp_neg_v(vf8 x) {
  vi8 live = x >= -87.f;
  x = x >= -87.f ? x : splat(-87.f);
  // Round to nearest with the 1.5 * 2^23 trick (|x * log2e| < 2^22 here).
  vf8 n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  vf8 r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
  vf8 y = splat(1.f / 5040);
  y = y * r + 1.f / 720;
  y = y * r + 1.f / 120;
  y = y * r + 1.f / 24;
  y = y * r + 1.f / 6;
  y = y * r + 0.5f;
  y = y * r + 1.f;
  y = y * r + 1.f;
  vi8 bits = (__builtin_convertvector(n, vi8) + 127) << 23;
  // Casts between same-size vector types reinterpret the bits.
  return (vf8)((vi8)(y * (vf8)bits) & live);
}

ATTN_INLINE float hsum(vf8 a) {
  float s = 0.f;
  for (int t = 0; t < kLanes; t++) s += a[t];
  return s;
}

ATTN_INLINE void flash_item_portable(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask,
                                     const TensorView& out, const AttentionParams& p, const Dims& d, int64_t b, int64_t hk, int64_t i0,
                                     int64_t i1, Scratch& w) {
  const int64_t D = d.D, G = d.G;
  const int rows = static_cast<int>((i1 - i0) * G);
  const int64_t ldr = (rows + kLanes - 1) / kLanes * kLanes;
  const bool direct = rows < 8, dvec = D % kLanes == 0;
  for (int r = 0; r < ldr; r++) {
    bool real = r < rows;
    int64_t i = i0 + r / G, h = hk * G + r % G;
    const float* src = real ? q.ptr<const float>() + b * q.strides[0] + i * q.strides[1] + h * q.strides[2] : nullptr;
    for (int64_t e = 0; e < D; e++) {
      float x = real ? src[e] * p.scale : 0.f;
      if (direct)
        w.q[r * D + e] = x;
      else
        w.qt[e * ldr + r] = x;
    }
    w.pos[r] = static_cast<int32_t>((real ? i : i1 - 1) + p.q_offset);
  }
  std::fill(w.o.begin(), w.o.begin() + ldr * D, 0.f);
  std::fill(w.m.begin(), w.m.begin() + ldr, kNegInf);
  std::fill(w.l.begin(), w.l.begin() + ldr, 0.f);

  int64_t pos_lo = i0 + p.q_offset, pos_hi = i1 - 1 + p.q_offset;
  int64_t j_lo = 0, j_hi = d.Tk - 1;
  if (p.causal) j_hi = std::min(j_hi, pos_hi);
  if (p.window >= 0) {
    j_lo = std::max(j_lo, pos_lo - p.window);
    j_hi = std::min(j_hi, pos_hi + p.window);
  }
  const int64_t ldk = k.strides[1], ldv = v.strides[1];
  const float* kbase = k.ptr<const float>() + b * k.strides[0] + hk * k.strides[2];
  const float* vbase = v.ptr<const float>() + b * v.strides[0] + hk * v.strides[2];
  const uint8_t* mrow = mask ? mask + b * d.Tk : nullptr;
  float* S = w.s.data();

  for (int64_t j0 = j_lo; j0 <= j_hi; j0 += kTile) {
    int nk = static_cast<int>(std::min<int64_t>(kTile, j_hi + 1 - j0));
    int64_t j1 = j0 + nk - 1;
    const float* k0 = kbase + j0 * ldk;
    if (direct) {
      for (int jj = 0; jj < nk; jj++) {
        const float* kr = k0 + jj * ldk;
        for (int r = 0; r < rows; r++) {
          const float* qr = w.q.data() + r * D;
          float dot = 0.f;
          if (dvec) {
            vf8 acc{};
            for (int64_t e = 0; e < D; e += kLanes) acc += *reinterpret_cast<const vf8*>(qr + e) * *reinterpret_cast<const vf8*>(kr + e);
            dot = hsum(acc);
          } else {
            for (int64_t e = 0; e < D; e++) dot += qr[e] * kr[e];
          }
          S[jj * ldr + r] = dot;
        }
        for (int64_t r = rows; r < ldr; r++) S[jj * ldr + r] = 0.f;
      }
    } else {
      // Eight keys by one 8-row lane block at a time: eight independent accumulator chains.
      for (int64_t c = 0; c < ldr; c += kLanes) {
        const float* qc = w.qt.data() + c;
        int jj = 0;
        for (; jj + 8 <= nk; jj += 8) {
          vf8 acc[8] = {};
          const float* kr = k0 + jj * ldk;
          for (int64_t e = 0; e < D; e++) {
            vf8 qe = *reinterpret_cast<const vf8*>(qc + e * ldr);
            for (int t = 0; t < 8; t++) acc[t] += kr[t * ldk + e] * qe;
          }
          for (int t = 0; t < 8; t++) *reinterpret_cast<vf8*>(S + (jj + t) * ldr + c) = acc[t];
        }
        for (; jj < nk; jj++) {
          vf8 a0{};
          const float* kr0 = k0 + jj * ldk;
          for (int64_t e = 0; e < D; e++) a0 += kr0[e] * *reinterpret_cast<const vf8*>(qc + e * ldr);
          *reinterpret_cast<vf8*>(S + jj * ldr + c) = a0;
        }
      }
    }
    bool all_visible = (!p.causal || j1 <= pos_lo) && (p.window < 0 || (j0 >= pos_hi - p.window && j1 <= pos_lo + p.window));
    if (all_visible && mrow) all_visible = std::all_of(mrow + j0, mrow + j1 + 1, [](uint8_t x) { return x != 0; });
    if (!all_visible) {
      const vf8 ninf = splat(kNegInf);
      for (int jj = 0; jj < nk; jj++) {
        int32_t j = static_cast<int32_t>(j0 + jj);
        bool key_ok = !mrow || mrow[j];
        for (int64_t c = 0; c < ldr; c += kLanes) {
          vf8* sv = reinterpret_cast<vf8*>(S + jj * ldr + c);
          if (!key_ok) {
            *sv = ninf;
            continue;
          }
          vi8 pos = *reinterpret_cast<const vi8*>(w.pos.data() + c);
          vi8 keep = vi8{} == 0;  // all lanes true
          if (p.causal) keep &= j <= pos;
          if (p.window >= 0) keep &= (pos - j <= static_cast<int32_t>(p.window)) & (j - pos <= static_cast<int32_t>(p.window));
          *sv = keep ? *sv : ninf;
        }
      }
    }
    // Online softmax, 8 rows per vector.
    for (int64_t c = 0; c < ldr; c += kLanes) {
      vf8 m_old = *reinterpret_cast<const vf8*>(w.m.data() + c), mx = m_old, sum{};
      for (int jj = 0; jj < nk; jj++) mx = vmax(mx, *reinterpret_cast<const vf8*>(S + jj * ldr + c));
      for (int jj = 0; jj < nk; jj++) {
        vf8* sv = reinterpret_cast<vf8*>(S + jj * ldr + c);
        *sv = exp_neg_v(*sv - mx);
        sum += *sv;
      }
      vf8 alpha = exp_neg_v(m_old - mx);
      *reinterpret_cast<vf8*>(w.alpha.data() + c) = alpha;
      *reinterpret_cast<vf8*>(w.l.data() + c) = *reinterpret_cast<const vf8*>(w.l.data() + c) * alpha + sum;
      *reinterpret_cast<vf8*>(w.m.data() + c) = mx;
    }
    const float* v0 = vbase + j0 * ldv;
    for (int r = 0; r < rows; r++) {
      float a = w.alpha[r];
      if (a == 1.f) continue;
      float* orow = w.o.data() + r * D;
      for (int64_t e = 0; e < D; e++) orow[e] *= a;
    }
    int r = 0;
    if (dvec) {
      // Four rows by one 8-wide slice of D: each V load feeds four accumulators.
      for (; r + 4 <= rows; r += 4) {
        for (int64_t e = 0; e < D; e += kLanes) {
          vf8 acc[4];
          for (int t = 0; t < 4; t++) acc[t] = *reinterpret_cast<const vf8*>(w.o.data() + (r + t) * D + e);
          for (int jj = 0; jj < nk; jj++) {
            vf8 vv = *reinterpret_cast<const vf8*>(v0 + jj * ldv + e);
            const float* pj = S + jj * ldr + r;
            for (int t = 0; t < 4; t++) acc[t] += pj[t] * vv;
          }
          for (int t = 0; t < 4; t++) *reinterpret_cast<vf8*>(w.o.data() + (r + t) * D + e) = acc[t];
        }
      }
    }
    for (; r < rows; r++) {
      float* orow = w.o.data() + r * D;
      for (int jj = 0; jj < nk; jj++) {
        float pj = S[jj * ldr + r];
        const float* vr = v0 + jj * ldv;
        for (int64_t e = 0; e < D; e++) orow[e] += pj * vr[e];
      }
    }
  }

  float* O = out.ptr<float>();
  for (int r = 0; r < rows; r++) {
    int64_t i = i0 + r / G, h = hk * G + r % G;
    float* dst = O + ((b * d.Tq + i) * d.Hq + h) * D;
    float inv = w.l[r] > 0.f ? 1.f / w.l[r] : 0.f;
    const float* src = w.o.data() + r * D;
    for (int64_t e = 0; e < D; e++) dst[e] = src[e] * inv;
  }
}

__attribute__((target("avx2,fma"))) void flash_item_avx2(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask,
                                                         const TensorView& out, const AttentionParams& p, const Dims& d, int64_t b,
                                                         int64_t hk, int64_t i0, int64_t i1, Scratch& w) {
  flash_item_portable(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
}

void flash_item_generic(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
                        const AttentionParams& p, const Dims& d, int64_t b, int64_t hk, int64_t i0, int64_t i1, Scratch& w) {
  flash_item_portable(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
}

using Isa = AttentionIsa;

std::atomic<int> g_forced{static_cast<int>(Isa::Auto)};

Isa detect_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Generic;
  }();
  return isa;
}

// The bf16 path of attention_flash: BF16 precision on an AVX-512 CPU with avx512_bf16, whole
// vectors in the head dim.
bool bf16_path(const AttentionParams& p, const Dims& d, Isa isa) {
  return p.precision == GemmPrecision::BF16 && isa == Isa::Avx512 && gemm_detail::has_avx512_bf16() && d.D % 16 == 0;
}

void attention_flash(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
                     const AttentionParams& p, const Dims& d, Isa isa) {
  const bool bf16 = bf16_path(p, d, isa);
  if (isa == Isa::Avx512 && d.Tq == 1 && !bf16) {
    const int64_t items = d.B * d.Hkv, threads = memory_bound_threads();
    parallel_for(items, (items + threads - 1) / threads, [&](int64_t begin, int64_t end, int) {
      std::vector<float> w;
      for (int64_t it = begin; it < end; it++) {
        if (k.dtype == DType::BF16)
          decode_item<uint16_t>(q, k, v, mask, out, p, d, it / d.Hkv, it % d.Hkv, w);
        else
          decode_item<float>(q, k, v, mask, out, p, d, it / d.Hkv, it % d.Hkv, w);
      }
    });
    return;
  }
  int64_t qblock = std::max<int64_t>(1, kRowsMax / d.G);
  int64_t nqb = (d.Tq + qblock - 1) / qblock;
  int64_t items = d.B * d.Hkv * nqb;
  parallel_for(items, 1, [&](int64_t begin, int64_t end, int) {
    Scratch w(d.D);
    for (int64_t it = begin; it < end; it++) {
      int64_t qb = it % nqb, hk = (it / nqb) % d.Hkv, b = it / (nqb * d.Hkv);
      int64_t i0 = qb * qblock, i1 = std::min(d.Tq, i0 + qblock);
      if (bf16)
        flash_item_bf16(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
      else if (isa == Isa::Avx512)
        flash_item(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
      else if (isa == Isa::Avx2)
        flash_item_avx2(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
      else
        flash_item_generic(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
    }
  });
}

}  // namespace

void set_attention_isa(AttentionIsa isa) {
  g_forced.store(static_cast<int>(isa));
}

AttentionIsa resolve_attention_isa(AttentionIsa isa) {
  Isa best = detect_isa();
  return isa == Isa::Auto || static_cast<int>(isa) < static_cast<int>(best) ? best : isa;
}

// A contiguous f32 copy of q, K or V (any strides, f32 or bf16) times `mul`, optionally rounded to
// bf16: a bf16 K or V (a bf16 KV cache) for the paths that read f32 rows (the widening is exact,
// so they compute what they compute on f32 input), and the rounded operands of BF16 precision.
struct F32Rows {
  std::vector<float> buf;
  TensorView view;
  explicit F32Rows(const TensorView& t, bool round_bf16 = false, float mul = 1.f) : view(t) {
    if (t.dtype == DType::F32 && !round_bf16 && mul == 1.f) return;
    buf.resize(t.numel());
    view.dtype = DType::F32;
    view.data = buf.data();
    int64_t i = 0;
    for (int64_t a = 0; a < t.shape[0]; a++)
      for (int64_t j = 0; j < t.shape[1]; j++)
        for (int64_t h = 0; h < t.shape[2]; h++)
          for (int64_t e = 0; e < t.shape[3]; e++) {
            float x = load_as_f32(t, a * t.strides[0] + j * t.strides[1] + h * t.strides[2] + e * t.strides[3]) * mul;
            buf[i++] = round_bf16 ? bf16_to_f32(f32_to_bf16(x)) : x;
          }
    for (int dim = 3, stride = 1; dim >= 0; dim--) {
      view.strides[dim] = stride;
      stride *= static_cast<int>(t.shape[dim]);
    }
  }
};

// BF16 precision on the f32 kernels: the scaled queries, K and V rounded to bf16 (exact products of
// the rounded operands, f32 accumulation); the probabilities stay f32.
void attention_rounded(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask, const TensorView& out,
                       const AttentionParams& p) {
  F32Rows qr(q, true, p.scale), kr(k, true), vr(v, true);
  AttentionParams pr = p;
  pr.scale = 1.f;
  pr.precision = GemmPrecision::F32;
  attention(qr.view, kr.view, vr.view, key_mask, out, pr);
}

void attention_ref(const TensorView& q_in, const TensorView& k_in, const TensorView& v_in, const TensorView& key_mask,
                   const TensorView& out, const AttentionParams& p) {
  const bool bf16 = p.precision == GemmPrecision::BF16;
  F32Rows qf(q_in, bf16, bf16 ? p.scale : 1.f), kf(k_in, bf16), vf(v_in, bf16);
  const TensorView &q = qf.view, &k = kf.view, &v = vf.view;
  AttentionParams pr = p;
  if (bf16) pr.scale = 1.f;
  Dims d = dims_of(q, k);
  std::vector<uint8_t> mb = mask_bytes(key_mask);
  for (int64_t b = 0; b < d.B; b++)
    for (int64_t h = 0; h < d.Hq; h++) ref_head(q, k, v, mb.empty() ? nullptr : mb.data(), out, pr, d, b, h);
}

void attention(const TensorView& q, const TensorView& k_in, const TensorView& v_in, const TensorView& key_mask, const TensorView& out,
               const AttentionParams& p) {
  Dims d = dims_of(q, k_in);
  if (d.B * d.Tq * d.Hq == 0) return;
  const Isa isa = resolve_attention_isa(static_cast<Isa>(g_forced.load()));
  // Groups wider than a work item's row budget have no bf16 kernel either.
  if (p.precision == GemmPrecision::BF16 && !(bf16_path(p, d, isa) && d.G <= kRowsMax))
    return attention_rounded(q, k_in, v_in, key_mask, out, p);
  std::vector<uint8_t> mb = mask_bytes(key_mask);
  const uint8_t* mask = mb.empty() ? nullptr : mb.data();
  // The decode path reads a bf16 cache as it is; the other paths take f32 copies.
  if (k_in.dtype != DType::F32 && !(isa == Isa::Avx512 && d.Tq == 1 && d.G <= kRowsMax && p.precision == GemmPrecision::F32)) {
    F32Rows kf(k_in), vf(v_in);
    return attention(q, kf.view, vf.view, key_mask, out, p);
  }
  const TensorView &k = k_in, &v = v_in;
  // Groups wider than a work item's row budget are left to the row-by-row path.
  if (d.G > kRowsMax) {
    parallel_for(d.B * d.Hq, 1, [&](int64_t begin, int64_t end, int) {
      for (int64_t it = begin; it < end; it++) ref_head(q, k, v, mask, out, p, d, it / d.Hq, it % d.Hq);
    });
    return;
  }
  attention_flash(q, k, v, mask, out, p, d, isa);
}

}  // namespace acestep::cpu
