// CPU attention. The reference is the textbook two-pass softmax in double precision, one query
// row at a time. The fast path is flash-style: a work item is one (batch, kv head, query block)
// whose rows are all (query, query head) pairs sharing that kv head, so each K/V tile is loaded
// once for the whole GQA group; keys are visited in tiles of 64 with an online softmax, only
// inside the key range the causal/window rules can reach. Without AVX-512 the reference runs,
// parallelised over batch and heads.
#include "attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

// One (batch, query head) pair over all its queries, in double.
void ref_head(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask, const TensorView& out,
              const AttentionParams& p, const Dims& d, int64_t b, int64_t h) {
  const float* Q = q.ptr<const float>();
  const float* K = k.ptr<const float>();
  const float* V = v.ptr<const float>();
  float* O = out.ptr<float>();
  int64_t hk = h / d.G;
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
      const float* vr = V + b * v.strides[0] + j * v.strides[1] + hk * v.strides[2];
      for (int64_t e = 0; e < d.D; e++) acc[e] += w * vr[e];
    }
    for (int64_t e = 0; e < d.D; e++) orow[e] = static_cast<float>(acc[e] / sum);
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 flash path.

#define ATTN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

constexpr int kTile = 64;      // keys per tile
constexpr int kRowsMax = 64;   // rows (query, head pairs) per work item

// exp(x) for x <= 0 within ~2 ulp; lanes below -87 (including -inf) give exactly 0.
ATTN_AVX512 inline __m512 exp_neg(__m512 x) {
  __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
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

// s[r][0..64) = q[r] . kt[:, 0..64) for R rows; kt is the packed, transposed key tile [D][64].
template <int R>
ATTN_AVX512 void scores_packed(const float* q, int64_t ldq, const float* kt, int64_t D, float* s) {
  __m512 acc[R][4];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
  for (int64_t e = 0; e < D; e++) {
    const float* kr = kt + e * kTile;
    __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + 16), k2 = _mm512_loadu_ps(kr + 32), k3 = _mm512_loadu_ps(kr + 48);
    for (int r = 0; r < R; r++) {
      __m512 qb = _mm512_set1_ps(q[r * ldq + e]);
      acc[r][0] = _mm512_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(qb, k1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(qb, k2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(qb, k3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < 4; c++) _mm512_storeu_ps(s + r * kTile + 16 * c, acc[r][c]);
}

// s[r][jj] = q[r] . k_jj for few rows, reading key rows in place (decode: no packing cost).
ATTN_AVX512 void scores_direct(const float* q, int64_t ldq, int rows, const float* k0, int64_t ldk, int nk, int64_t D,
                               float* s) {
  for (int jj = 0; jj < nk; jj++) {
    const float* kr = k0 + jj * ldk;
    for (int r = 0; r < rows; r++) {
      const float* qr = q + r * ldq;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t e = 0; e < D; e += 16) {
        __mmask16 m = tail_mask(D - e);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qr + e), _mm512_maskz_loadu_ps(m, kr + e), acc);
      }
      s[r * kTile + jj] = _mm512_reduce_add_ps(acc);
    }
  }
}

// o[r][dbase .. dbase+16*NC) += sum_jj p[r][jj] * v_jj[...] for R rows.
template <int R, int NC>
ATTN_AVX512 void pv_block(const float* p, int nk, const float* v0, int64_t ldv, float* o, int64_t ldo, int64_t dbase,
                          int64_t D) {
  __mmask16 m[NC];
  __m512 acc[R][NC];
  for (int c = 0; c < NC; c++) m[c] = tail_mask(D - dbase - 16 * c);
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) acc[r][c] = _mm512_maskz_loadu_ps(m[c], o + r * ldo + dbase + 16 * c);
  for (int jj = 0; jj < nk; jj++) {
    const float* vr = v0 + jj * ldv + dbase;
    __m512 vv[NC];
    for (int c = 0; c < NC; c++) vv[c] = _mm512_maskz_loadu_ps(m[c], vr + 16 * c);
    for (int r = 0; r < R; r++) {
      __m512 pb = _mm512_set1_ps(p[r * kTile + jj]);
      for (int c = 0; c < NC; c++) acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(o + r * ldo + dbase + 16 * c, m[c], acc[r][c]);
}

template <int R>
ATTN_AVX512 void pv_rows(const float* p, int nk, const float* v0, int64_t ldv, float* o, int64_t ldo, int64_t D) {
  for (int64_t dbase = 0; dbase < D; dbase += 64) {
    int64_t nc = std::min<int64_t>(4, (D - dbase + 15) / 16);
    switch (nc) {
      case 1: pv_block<R, 1>(p, nk, v0, ldv, o, ldo, dbase, D); break;
      case 2: pv_block<R, 2>(p, nk, v0, ldv, o, ldo, dbase, D); break;
      case 3: pv_block<R, 3>(p, nk, v0, ldv, o, ldo, dbase, D); break;
      default: pv_block<R, 4>(p, nk, v0, ldv, o, ldo, dbase, D); break;
    }
  }
}

struct Scratch {
  std::vector<float> q, kt, s, o, m, l;
  explicit Scratch(int64_t D)
      : q(kRowsMax * D), kt(D * kTile), s(kRowsMax * kTile), o(kRowsMax * D), m(kRowsMax), l(kRowsMax) {}
};

// One work item: batch b, kv head hk, queries [i0, i1).
ATTN_AVX512 void flash_item(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask,
                            const TensorView& out, const AttentionParams& p, const Dims& d, int64_t b, int64_t hk,
                            int64_t i0, int64_t i1, Scratch& w) {
  const int64_t D = d.D, G = d.G;
  const int rows = static_cast<int>((i1 - i0) * G);
  // Rows are (query, head-in-group) pairs; q is packed and pre-scaled.
  for (int r = 0; r < rows; r++) {
    int64_t i = i0 + r / G, h = hk * G + r % G;
    const float* src = q.ptr<const float>() + b * q.strides[0] + i * q.strides[1] + h * q.strides[2];
    for (int64_t e = 0; e < D; e++) w.q[r * D + e] = src[e] * p.scale;
  }
  std::fill(w.o.begin(), w.o.begin() + rows * D, 0.f);
  std::fill(w.m.begin(), w.m.begin() + rows, kNegInf);
  std::fill(w.l.begin(), w.l.begin() + rows, 0.f);

  int64_t pos_lo = i0 + p.q_offset, pos_hi = i1 - 1 + p.q_offset;
  int64_t j_lo = 0, j_hi = d.Tk - 1;
  if (p.causal) j_hi = std::min(j_hi, pos_hi);
  if (p.window >= 0) {
    j_lo = std::max(j_lo, pos_lo - p.window);
    j_hi = std::min(j_hi, pos_hi + p.window);
  }
  const float* kbase = k.ptr<const float>() + b * k.strides[0] + hk * k.strides[2];
  const float* vbase = v.ptr<const float>() + b * v.strides[0] + hk * v.strides[2];
  const bool direct = rows < 8;

  for (int64_t j0 = j_lo; j0 <= j_hi; j0 += kTile) {
    int nk = static_cast<int>(std::min<int64_t>(kTile, j_hi + 1 - j0));
    const float* k0 = kbase + j0 * k.strides[1];
    if (direct) {
      scores_direct(w.q.data(), D, rows, k0, k.strides[1], nk, D, w.s.data());
    } else {
      for (int64_t e = 0; e < D; e++) {
        float* dst = w.kt.data() + e * kTile;
        for (int jj = 0; jj < nk; jj++) dst[jj] = k0[jj * k.strides[1] + e];
        for (int jj = nk; jj < kTile; jj++) dst[jj] = 0.f;
      }
      int r = 0;
      for (; r + 4 <= rows; r += 4) scores_packed<4>(w.q.data() + r * D, D, w.kt.data(), D, w.s.data() + r * kTile);
      for (; r < rows; r++) scores_packed<1>(w.q.data() + r * D, D, w.kt.data(), D, w.s.data() + r * kTile);
    }
    // Visibility, then the online softmax update per row.
    for (int r = 0; r < rows; r++) {
      float* s = w.s.data() + r * kTile;
      int64_t i = i0 + r / G;
      for (int jj = 0; jj < kTile; jj++) {
        int64_t j = j0 + jj;
        if (jj >= nk || !attention_key_visible(p, i, j) || (mask != nullptr && !mask[b * d.Tk + j])) s[jj] = kNegInf;
      }
      __m512 s0 = _mm512_loadu_ps(s), s1 = _mm512_loadu_ps(s + 16), s2 = _mm512_loadu_ps(s + 32), s3 = _mm512_loadu_ps(s + 48);
      float tmax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(s0, s1), _mm512_max_ps(s2, s3)));
      float m_old = w.m[r], m_new = std::max(m_old, tmax);
      if (m_new == kNegInf) {
        std::fill(s, s + kTile, 0.f);
        continue;
      }
      __m512 mv = _mm512_set1_ps(m_new);
      s0 = exp_neg(_mm512_sub_ps(s0, mv));
      s1 = exp_neg(_mm512_sub_ps(s1, mv));
      s2 = exp_neg(_mm512_sub_ps(s2, mv));
      s3 = exp_neg(_mm512_sub_ps(s3, mv));
      _mm512_storeu_ps(s, s0);
      _mm512_storeu_ps(s + 16, s1);
      _mm512_storeu_ps(s + 32, s2);
      _mm512_storeu_ps(s + 48, s3);
      float tsum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
      if (m_old != m_new) {
        float alpha = m_old == kNegInf ? 0.f : std::exp(m_old - m_new);
        w.l[r] *= alpha;
        float* orow = w.o.data() + r * D;
        __m512 av = _mm512_set1_ps(alpha);
        for (int64_t e = 0; e < D; e += 16) {
          __mmask16 mk = tail_mask(D - e);
          _mm512_mask_storeu_ps(orow + e, mk, _mm512_mul_ps(av, _mm512_maskz_loadu_ps(mk, orow + e)));
        }
        w.m[r] = m_new;
      }
      w.l[r] += tsum;
    }
    const float* v0 = vbase + j0 * v.strides[1];
    int r = 0;
    for (; r + 4 <= rows; r += 4) pv_rows<4>(w.s.data() + r * kTile, nk, v0, v.strides[1], w.o.data() + r * D, D, D);
    for (; r < rows; r++) pv_rows<1>(w.s.data() + r * kTile, nk, v0, v.strides[1], w.o.data() + r * D, D, D);
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

void attention_avx512(const TensorView& q, const TensorView& k, const TensorView& v, const uint8_t* mask,
                      const TensorView& out, const AttentionParams& p, const Dims& d) {
  int64_t qblock = std::max<int64_t>(1, kRowsMax / d.G);
  int64_t nqb = (d.Tq + qblock - 1) / qblock;
  int64_t items = d.B * d.Hkv * nqb;
  parallel_for(items, 1, [&](int64_t begin, int64_t end, int) {
    Scratch w(d.D);
    for (int64_t it = begin; it < end; it++) {
      int64_t qb = it % nqb, hk = (it / nqb) % d.Hkv, b = it / (nqb * d.Hkv);
      int64_t i0 = qb * qblock, i1 = std::min(d.Tq, i0 + qblock);
      flash_item(q, k, v, mask, out, p, d, b, hk, i0, i1, w);
    }
  });
}

bool has_avx512() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }();
  return ok;
}

}  // namespace

void attention_ref(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask,
                   const TensorView& out, const AttentionParams& p) {
  Dims d = dims_of(q, k);
  std::vector<uint8_t> mb = mask_bytes(key_mask);
  for (int64_t b = 0; b < d.B; b++)
    for (int64_t h = 0; h < d.Hq; h++) ref_head(q, k, v, mb.empty() ? nullptr : mb.data(), out, p, d, b, h);
}

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& key_mask,
               const TensorView& out, const AttentionParams& p) {
  Dims d = dims_of(q, k);
  if (d.B * d.Tq * d.Hq == 0) return;
  std::vector<uint8_t> mb = mask_bytes(key_mask);
  const uint8_t* mask = mb.empty() ? nullptr : mb.data();
  if (has_avx512()) return attention_avx512(q, k, v, mask, out, p, d);
  parallel_for(d.B * d.Hq, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t it = begin; it < end; it++) ref_head(q, k, v, mask, out, p, d, it / d.Hq, it % d.Hq);
  });
}

}  // namespace acestep::cpu
