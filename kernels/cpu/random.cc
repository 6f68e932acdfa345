// Standard-normal fill from Philox. Every element is independent (its own subsequence), so the
// fast path is the same computation split across the thread pool, bit-identical to the reference.
#include "random.h"

#include <cmath>

#include "parallel.h"

namespace acestep::cpu {
namespace {

inline float normal_at(uint64_t seed, uint64_t sub) {
  Philox4 r = philox4x32_10(0, 0, static_cast<uint32_t>(sub), static_cast<uint32_t>(sub >> 32), static_cast<uint32_t>(seed),
                            static_cast<uint32_t>(seed >> 32));
  return static_cast<float>(normal_from_words(r.v[0], r.v[1]));
}

}  // namespace

void randn_ref(const TensorView& out, uint64_t seed, uint64_t offset) {
  float* o = out.ptr<float>();
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; i++) o[i] = normal_at(seed, offset + static_cast<uint64_t>(i));
}

void randn(const TensorView& out, uint64_t seed, uint64_t offset) {
  float* o = out.ptr<float>();
  parallel_for(out.numel(), 8192, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) o[i] = normal_at(seed, offset + static_cast<uint64_t>(i));
  });
}

}  // namespace acestep::cpu
