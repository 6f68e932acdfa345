// N-API glue for randn (Philox4x32-10 standard normals).
#include "../kernels/cpu/random.h"
#include "../kernels/cuda/random.h"
#include "registry.h"

using namespace acestep;

// Integers up to 2^53 arrive exactly as JS numbers.
static uint64_t u53(const OpArgs& a, size_t i, const char* name) {
  int64_t v = a.integer(i, name);
  if (v < 0 || v > (int64_t{1} << 53)) a.fail(std::string(name) + " must be an integer in [0, 2^53], got " + std::to_string(v));
  return static_cast<uint64_t>(v);
}

// randn(out, seed, offset)
ACESTEP_EXPORT(randn) {
  OpArgs a{info, "randn"};
  TensorArg out = a.tensor(0, "out");
  uint64_t seed = u53(a, 1, "seed"), offset = u53(a, 2, "offset");
  expect_dtype(a, out, "out", {DType::F32});
  expect_contiguous(a, out, "out");
  Target target = target_of(out);
  enqueue_op([out, seed, offset, target]() mutable {
    TensorView o = out.resolve();
    ACESTEP_DISPATCH(target, randn, o, seed, offset);
  });
  return info.Env().Undefined();
}
