// CPU logit processing. References work row by row with full sorts; the fast paths parallelise
// over rows (and over vocabulary chunks for the race) and use selection instead of full sorts for
// top-k and top-p. Both follow the same definitions, so outputs match (top-p up to the double
// rounding of its cumulative sums).
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.h"
#include "random.h"

namespace acestep::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int64_t prev_id(const TensorView& prev, int64_t b, int64_t l) {
  int64_t off = b * prev.strides[0] + l * prev.strides[1];
  return prev.dtype == DType::I64 ? prev.ptr<const int64_t>()[off] : prev.ptr<const int32_t>()[off];
}

void penalise_row(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out, int64_t b) {
  int64_t V = logits.shape[1], L = prev.shape[1];
  const float* in = logits.ptr<const float>() + b * V;
  float* o = out.ptr<float>() + b * V;
  std::copy(in, in + V, o);
  for (int64_t l = 0; l < L; l++) {
    int64_t id = prev_id(prev, b, l);
    if (id == -1) continue;
    if (id < 0 || id >= V)
      throw std::runtime_error("repetitionPenalty: previous token id " + std::to_string(id) + " at [" + std::to_string(b) + "," +
                               std::to_string(l) + "] is outside [0, " + std::to_string(V) + ")");
    // Computed from the input value, so a token listed twice is penalised once.
    float s = in[id];
    o[id] = s < 0.f ? s * penalty : s / penalty;
  }
}

void cfg_range(const float* c, const float* u, float scale, float* o, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) o[i] = u[i] + scale * (c[i] - u[i]);
}

// NaN sorts below everything so it is never kept ahead of a number.
inline float key(float x) {
  return std::isnan(x) ? kNegInf : x;
}

void top_k_row(const float* in, float* o, int64_t V, int64_t k, bool use_sort) {
  std::vector<float> vals(V);
  for (int64_t i = 0; i < V; i++) vals[i] = key(in[i]);
  float kth;
  if (use_sort) {
    std::sort(vals.begin(), vals.end(), std::greater<float>());
    kth = vals[k - 1];
  } else {
    std::nth_element(vals.begin(), vals.begin() + (k - 1), vals.end(), std::greater<float>());
    kth = vals[k - 1];
  }
  for (int64_t i = 0; i < V; i++) o[i] = key(in[i]) < kth ? kNegInf : in[i];
}

void top_p_row(const float* in, float* o, int64_t V, double p) {
  std::vector<int64_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  // Ascending; ties in index order, the order a stable sort gives.
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return key(in[a]) < key(in[b]); });
  float mx = key(in[idx[V - 1]]);
  std::copy(in, in + V, o);
  if (mx == kNegInf) return;  // nothing finite to keep mass on
  double z = 0;
  for (int64_t i = 0; i < V; i++) z += std::exp(static_cast<double>(key(in[i])) - mx);
  double cum = 0, cut = 1.0 - p;
  for (int64_t r = 0; r + 1 < V; r++) {
    int64_t i = idx[r];
    cum += std::exp(static_cast<double>(key(in[i])) - mx) / z;
    if (cum > cut) break;  // cumulative mass only grows: the rest is kept
    o[i] = kNegInf;
  }
}

// Same result as top_p_row without sorting the whole row: only the largest tokens can be kept,
// so the top M are selected and sorted (M growing 4x until the removal point falls inside them).
// "Cumulative ascending mass at token t" is 1 - (mass ranked above t), equal up to double rounding.
void top_p_row_fast(const float* in, float* o, int64_t V, double p) {
  std::vector<int64_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  // Descending order, ties by higher index first: the exact reverse of top_p_row's stable ascending sort.
  auto before = [&](int64_t a, int64_t b) { return key(in[a]) > key(in[b]) || (key(in[a]) == key(in[b]) && a > b); };
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; i++) mx = std::max(mx, key(in[i]));
  std::copy(in, in + V, o);
  if (mx == kNegInf) return;
  double z = 0;
  for (int64_t i = 0; i < V; i++) z += std::exp(static_cast<double>(key(in[i])) - mx);
  double cut = 1.0 - p;
  for (int64_t M = std::min<int64_t>(V, 256);; M *= 4) {
    // A flat row keeps much of the vocabulary: one full sort is cheaper than more selections.
    if (M > 1024 && M < V) return top_p_row(in, o, V, p);
    M = std::min(M, V);
    std::nth_element(idx.begin(), idx.begin() + (M - 1), idx.end(), before);
    std::sort(idx.begin(), idx.begin() + M, before);
    double above = 0;
    int64_t keep = -1;
    for (int64_t t = 0; t < M; t++) {
      if (t > 0 && 1.0 - above <= cut) {
        keep = t;
        break;
      }
      above += std::exp(static_cast<double>(key(in[idx[t]])) - mx) / z;
    }
    if (keep < 0 && M < V) continue;
    if (keep < 0) return;  // every token's cumulative mass is above the cut: nothing removed
    for (int64_t t = keep; t < V; t++) o[idx[t]] = kNegInf;
    return;
  }
}

// Best (score, index) of a vocabulary range; ties keep the lower index.
struct Best {
  double score = -std::numeric_limits<double>::infinity();
  int64_t index = -1;
};

Best race_range(const float* row, int64_t b, int64_t i0, int64_t i1, uint64_t seed, uint32_t step) {
  Best best;
  for (int64_t i = i0; i < i1; i++) {
    float x = row[i];
    if (!(x > kNegInf)) continue;  // -inf and NaN never win
    Philox4 r = philox4x32_10(static_cast<uint32_t>(i), static_cast<uint32_t>(b), step, kSampleRaceTag, static_cast<uint32_t>(seed),
                              static_cast<uint32_t>(seed >> 32));
    double u = r.v[0] * 2.3283064365386963e-10 + 1.1641532182693481e-10;
    double s = static_cast<double>(x) - std::log(-std::log(u));
    if (best.index < 0 || s > best.score) best = Best{s, i};
  }
  return best;
}

int32_t race_result(const Best& best, int64_t b) {
  if (best.index < 0) throw std::runtime_error("sampleRace: row " + std::to_string(b) + " has no finite logit to sample");
  return static_cast<int32_t>(best.index);
}

}  // namespace

void repetition_penalty_ref(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out) {
  for (int64_t b = 0; b < logits.shape[0]; b++) penalise_row(logits, prev, penalty, out, b);
}
void repetition_penalty(const TensorView& logits, const TensorView& prev, float penalty, const TensorView& out) {
  std::vector<std::string> errors(logits.shape[0]);
  parallel_for(logits.shape[0], 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; b++) {
      try {
        penalise_row(logits, prev, penalty, out, b);
      } catch (const std::exception& e) {
        errors[b] = e.what();
      }
    }
  });
  for (const std::string& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
}

void cfg_combine_ref(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out) {
  cfg_range(cond.ptr<const float>(), uncond.ptr<const float>(), scale, out.ptr<float>(), 0, out.numel());
}
void cfg_combine(const TensorView& cond, const TensorView& uncond, float scale, const TensorView& out) {
  parallel_for(out.numel(), 1 << 15, [&](int64_t b, int64_t e, int) {
    cfg_range(cond.ptr<const float>(), uncond.ptr<const float>(), scale, out.ptr<float>(), b, e);
  });
}

void top_k_ref(const TensorView& logits, int64_t k, const TensorView& out) {
  int64_t V = logits.shape[1];
  for (int64_t b = 0; b < logits.shape[0]; b++) top_k_row(logits.ptr<const float>() + b * V, out.ptr<float>() + b * V, V, k, true);
}
void top_k(const TensorView& logits, int64_t k, const TensorView& out) {
  int64_t V = logits.shape[1];
  parallel_for(logits.shape[0], 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; b++) top_k_row(logits.ptr<const float>() + b * V, out.ptr<float>() + b * V, V, k, false);
  });
}

void top_p_ref(const TensorView& logits, double p, const TensorView& out) {
  int64_t V = logits.shape[1];
  for (int64_t b = 0; b < logits.shape[0]; b++) top_p_row(logits.ptr<const float>() + b * V, out.ptr<float>() + b * V, V, p);
}
void top_p(const TensorView& logits, double p, const TensorView& out) {
  int64_t V = logits.shape[1];
  parallel_for(logits.shape[0], 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; b++) top_p_row_fast(logits.ptr<const float>() + b * V, out.ptr<float>() + b * V, V, p);
  });
}

void sample_race_ref(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out) {
  int64_t V = logits.shape[1];
  for (int64_t b = 0; b < logits.shape[0]; b++)
    out.ptr<int32_t>()[b] = race_result(race_range(logits.ptr<const float>() + b * V, b, 0, V, seed, step), b);
}
void sample_race(const TensorView& logits, uint64_t seed, uint32_t step, const TensorView& out) {
  int64_t B = logits.shape[0], V = logits.shape[1];
  constexpr int64_t kChunk = 8192;
  int64_t chunks = (V + kChunk - 1) / kChunk;
  std::vector<Best> part(B * chunks);
  parallel_for(B * chunks, 1, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; c++) {
      int64_t b = c / chunks, i0 = (c % chunks) * kChunk;
      part[c] = race_range(logits.ptr<const float>() + b * V, b, i0, std::min(V, i0 + kChunk), seed, step);
    }
  });
  for (int64_t b = 0; b < B; b++) {
    Best best;
    for (int64_t c = 0; c < chunks; c++) {
      const Best& p = part[b * chunks + c];
      if (p.index >= 0 && (best.index < 0 || p.score > best.score)) best = p;
    }
    out.ptr<int32_t>()[b] = race_result(best, b);
  }
}

}  // namespace acestep::cpu
