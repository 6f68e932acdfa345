// N-API glue for the LM logit ops: repetitionPenalty, cfgCombine, topK, topP, sampleRace.
// Logits arrive as contiguous [B, V] f32 (the TS wrappers make them so); outputs are contiguous.
#include <cmath>

#include "../kernels/cpu/sampling.h"
#include "../kernels/cuda/sampling.h"
#include "registry.h"

using namespace acestep;

static void expect_logits(const OpArgs& a, const TensorArg& t, const char* name) {
  if (t.view.ndim != 2) a.fail(std::string("'") + name + "' must be [B, V], got " + shape_str(t.view));
  expect_dtype(a, t, name, {DType::F32});
  expect_contiguous(a, t, name);
}
static float finite_arg(const OpArgs& a, size_t i, const char* name) {
  double v = a.number(i, name);
  if (!std::isfinite(v)) a.fail(std::string(name) + " must be finite, got " + std::to_string(v));
  return static_cast<float>(v);
}

// repetitionPenalty(logits, previous, out, penalty)
ACESTEP_EXPORT(repetitionPenalty) {
  OpArgs a{info, "repetitionPenalty"};
  TensorArg x = a.tensor(0, "logits"), prev = a.tensor(1, "previous"), out = a.tensor(2, "out");
  float penalty = finite_arg(a, 3, "penalty");
  if (!(penalty > 0)) a.fail("penalty must be positive, got " + std::to_string(penalty));
  expect_same_device(a, {&x, &prev, &out});
  expect_logits(a, x, "logits");
  expect_logits(a, out, "out");
  expect_shape_of(a, out, x, "out");
  expect_dtype(a, prev, "previous", {DType::I32, DType::I64});
  if (prev.view.ndim != 2 || prev.view.shape[0] != x.view.shape[0])
    a.fail("previous must be [B, L] with B = " + std::to_string(x.view.shape[0]) + ", got " + shape_str(prev.view));
  expect_contiguous(a, prev, "previous");
  Target target = target_of(out);
  enqueue_op([x, prev, out, penalty, target]() mutable {
    TensorView xv = x.resolve(), pv = prev.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, repetition_penalty, xv, pv, penalty, ov);
  });
  return info.Env().Undefined();
}

// cfgCombine(cond, uncond, out, scale)
ACESTEP_EXPORT(cfgCombine) {
  OpArgs a{info, "cfgCombine"};
  TensorArg c = a.tensor(0, "cond"), u = a.tensor(1, "uncond"), out = a.tensor(2, "out");
  float scale = finite_arg(a, 3, "scale");
  expect_same_device(a, {&c, &u, &out});
  for (auto [t, n] : {std::pair{&c, "cond"}, std::pair{&u, "uncond"}, std::pair{&out, "out"}}) {
    expect_dtype(a, *t, n, {DType::F32});
    expect_contiguous(a, *t, n);
  }
  expect_shape_of(a, u, c, "uncond");
  expect_shape_of(a, out, c, "out");
  Target target = target_of(out);
  enqueue_op([c, u, out, scale, target]() mutable {
    TensorView cv = c.resolve(), uv = u.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, cfg_combine, cv, uv, scale, ov);
  });
  return info.Env().Undefined();
}

// topK(logits, out, k) with 0 < k < V (the wrapper handles the no-op cases).
ACESTEP_EXPORT(topK) {
  OpArgs a{info, "topK"};
  TensorArg x = a.tensor(0, "logits"), out = a.tensor(1, "out");
  int64_t k = a.integer(2, "k");
  expect_same_device(a, {&x, &out});
  expect_logits(a, x, "logits");
  expect_logits(a, out, "out");
  expect_shape_of(a, out, x, "out");
  if (k <= 0 || k >= x.view.shape[1]) a.fail("k must be in [1, V), got " + std::to_string(k));
  Target target = target_of(out);
  enqueue_op([x, out, k, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, top_k, xv, k, ov);
  });
  return info.Env().Undefined();
}

// topP(logits, out, p) with 0 <= p < 1.
ACESTEP_EXPORT(topP) {
  OpArgs a{info, "topP"};
  TensorArg x = a.tensor(0, "logits"), out = a.tensor(1, "out");
  double p = a.number(2, "p");
  expect_same_device(a, {&x, &out});
  expect_logits(a, x, "logits");
  expect_logits(a, out, "out");
  expect_shape_of(a, out, x, "out");
  if (!(p >= 0 && p < 1)) a.fail("p must be in [0, 1), got " + std::to_string(p));
  if (x.view.shape[1] == 0) a.fail("empty vocabulary");
  Target target = target_of(out);
  enqueue_op([x, out, p, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, top_p, xv, p, ov);
  });
  return info.Env().Undefined();
}

// sampleRace(logits, out i32 [B], seed, step)
ACESTEP_EXPORT(sampleRace) {
  OpArgs a{info, "sampleRace"};
  TensorArg x = a.tensor(0, "logits"), out = a.tensor(1, "out");
  int64_t seed = a.integer(2, "seed"), step = a.integer(3, "step");
  expect_same_device(a, {&x, &out});
  expect_logits(a, x, "logits");
  expect_dtype(a, out, "out", {DType::I32});
  if (out.view.ndim != 1 || out.view.shape[0] != x.view.shape[0] || !out.view.contiguous())
    a.fail("out must be contiguous [B], got " + shape_str(out.view));
  if (x.view.shape[1] == 0) a.fail("empty vocabulary");
  if (x.view.shape[1] > (int64_t{1} << 31)) a.fail("vocabulary above 2^31 entries");
  if (seed < 0 || seed > (int64_t{1} << 53)) a.fail("seed must be an integer in [0, 2^53], got " + std::to_string(seed));
  if (step < 0 || step > 0xFFFFFFFFll) a.fail("step must be an integer in [0, 2^32), got " + std::to_string(step));
  Target target = target_of(out);
  uint64_t s = static_cast<uint64_t>(seed);
  uint32_t st = static_cast<uint32_t>(step);
  enqueue_op([x, out, s, st, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, sample_race, xv, s, st, ov);
  });
  return info.Env().Undefined();
}
