// Counter-based Philox4x32-10 (the cuRAND / PyTorch CUDA generator) and the standard-normal
// mapping built on it. The generator is shared by the CPU and CUDA kernels (host/device inline),
// so both produce the same integers.
#pragma once
#include <cmath>
#include <cstdint>

#include "../tensor_view.h"

#ifdef __CUDACC__
#define ACESTEP_HD __host__ __device__
#else
#define ACESTEP_HD
#endif

namespace acestep {

struct Philox4 {
  uint32_t v[4];
};

// Ten rounds of Philox4x32 on counter c with the 64-bit key (k0 = low word, k1 = high word).
ACESTEP_HD inline Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = static_cast<uint32_t>(p1);
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Box-Muller on the first two words, first output, as curand_normal does: u in (0, 1) from
// word 0, angle from word 1. Element k of torch.randn on a fresh CUDA generator (while one
// element maps to one subsequence) is normal_from_words(philox(0, 0, k, k >> 32; seed)).
ACESTEP_HD inline double normal_from_words(uint32_t x, uint32_t y) {
  const double two_pi = 6.283185307179586476925286766559;
  double u = x * 2.3283064365386963e-10 + 1.1641532182693481e-10;
  double a = y * (two_pi * 2.3283064365386963e-10) + two_pi * 1.1641532182693481e-10;
  return sin(a) * sqrt(-2.0 * log(u));
}

namespace cpu {
// out (contiguous f32): element i = N(0,1) from subsequence offset + i of Philox keyed by seed.
void randn_ref(const TensorView& out, uint64_t seed, uint64_t offset);
void randn(const TensorView& out, uint64_t seed, uint64_t offset);
}  // namespace cpu

}  // namespace acestep
