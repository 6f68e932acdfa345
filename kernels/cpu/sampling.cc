// CPU logit processing. References work row by row with full sorts; the fast paths parallelise
// over rows (and over vocabulary chunks for the race) and use selection (top-k) or value buckets
// (top-p) instead of full sorts. Both follow the same definitions, so outputs match (top-p up to the double
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

// Same result as top_p_row without sorting the row: the removed tokens are a prefix of the
// ascending order, so the row is bucketed by value (buckets are ordered: a larger value never lands
// in a lower bucket), the bucket where the ascending cumulative mass crosses 1 - p is found from
// per-bucket masses, and only that bucket is sorted and walked token by token as the reference
// walks it. Masses are the reference's exp(x - max) / z; only their summation order differs, so the
// result is the same up to double rounding of the running sum at the crossing.
void top_p_row_fast(const float* in, float* o, int64_t V, double p) {
  constexpr int kBuckets = 4096;
  float mx = kNegInf, lo = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; i++) {
    float x = key(in[i]);
    mx = std::max(mx, x);
    if (x > kNegInf) lo = std::min(lo, x);
  }
  if (mx == std::numeric_limits<float>::infinity()) return top_p_row(in, o, V, p);  // exp(inf - inf): the reference's NaNs
  std::copy(in, in + V, o);
  if (mx == kNegInf) return;
  std::vector<double> e(V);
  double z = 0;
  for (int64_t i = 0; i < V; i++) z += e[i] = std::exp(static_cast<double>(key(in[i])) - mx);
  const double cut = 1.0 - p;
  if (cut < 0) return;  // the first token's mass already exceeds the cut: nothing is removed
  // Bucket of a finite value; -inf and NaN (mass 0, first in the ascending order) get -1.
  const float scale = mx > lo ? static_cast<float>(kBuckets) / (mx - lo) : 0.f;
  std::vector<int32_t> bucket(V);
  std::vector<double> mass(kBuckets, 0.0);
  for (int64_t i = 0; i < V; i++) {
    float x = key(in[i]);
    int32_t b = -1;
    if (x > kNegInf) b = std::min(kBuckets - 1, static_cast<int32_t>((x - lo) * scale));
    bucket[i] = b;
    if (b >= 0) mass[b] += e[i] / z;
  }
  // The first bucket whose end pushes the running mass past the cut (else the top one, which holds
  // the maximum: there the walk stops before the last token, which the reference never removes).
  const int32_t top = mx > lo ? kBuckets - 1 : 0;
  double cum = 0;
  int32_t cross = top;
  for (int32_t b = 0; b < top; b++) {
    if (cum + mass[b] > cut) {
      cross = b;
      break;
    }
    cum += mass[b];
  }
  std::vector<int64_t> in_cross;
  for (int64_t i = 0; i < V; i++) {
    if (bucket[i] < cross)
      o[i] = kNegInf;
    else if (bucket[i] == cross)
      in_cross.push_back(i);
  }
  // Ascending, ties in index order (the reference's stable sort); the walk adds before it tests.
  std::sort(in_cross.begin(), in_cross.end(),
            [&](int64_t a, int64_t b) { return key(in[a]) < key(in[b]) || (key(in[a]) == key(in[b]) && a < b); });
  const size_t walk = cross == top ? in_cross.size() - 1 : in_cross.size();
  for (size_t t = 0; t < walk; t++) {
    cum += e[in_cross[t]] / z;
    if (cum > cut) break;
    o[in_cross[t]] = kNegInf;
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
