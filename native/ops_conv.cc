// N-API glue for conv1d, convTranspose1d and snake. The TS wrappers (src/runtime/ops/conv.ts)
// compute output shapes; the calls are validated here: ranks, channel counts, the output length
// implied by stride/padding/dilation, biases, residuals (and an output written over one), input
// Snakes, contiguity, dtypes and devices.
#include "../kernels/cpu/conv.h"
#include "../kernels/cuda/conv.h"
#include "registry.h"

using namespace acestep;

namespace {

void expect_rank3(const OpArgs& a, const TensorArg& t, const char* name) {
  expect_rank(a, t, name, 3, "[B, C, T]");
}

// Optional bias [Cout] on x's device.
OptTensor bias_arg(const OpArgs& a, size_t i, int64_t cout, const TensorArg& x) {
  OptTensor b = opt_tensor(a, i, "bias");
  if (!b.present) return b;
  expect_float(a, b.arg, "bias");
  if (b.arg.view.ndim != 1 || b.arg.view.shape[0] != cout)
    a.fail("bias must be [" + std::to_string(cout) + "], got " + shape_str(b.arg.view));
  expect_same_device(a, {&x, &b.arg});
  return b;
}

// Optional input Snake (alpha|null, beta|null, logScale at i, i + 1, i + 2): both [Cin] or neither.
struct SnakeArg {
  OptTensor alpha, beta;
  bool log_scale = false;
  cpu::InputSnake resolve() { return {alpha.resolve(), beta.resolve(), log_scale}; }
};
SnakeArg snake_arg(const OpArgs& a, size_t i, int64_t cin, const TensorArg& x) {
  SnakeArg s{opt_tensor(a, i, "snakeAlpha"), opt_tensor(a, i + 1, "snakeBeta"), a.has(i + 2) && a.boolean(i + 2, "snakeLogScale")};
  if (s.alpha.present != s.beta.present) a.fail("snakeAlpha and snakeBeta must be given together");
  if (!s.alpha.present) return s;
  for (const auto* t : {&s.alpha, &s.beta}) {
    const char* name = t == &s.alpha ? "snakeAlpha" : "snakeBeta";
    expect_float(a, t->arg, name);
    if (t->arg.view.ndim != 1 || t->arg.view.shape[0] != cin)
      a.fail(std::string(name) + " must be [" + std::to_string(cin) + "], got " + shape_str(t->arg.view));
  }
  expect_same_device(a, {&x, &s.alpha.arg, &s.beta.arg});
  return s;
}

void check_geometry(const OpArgs& a, const cpu::Conv1dParams& p) {
  if (p.stride < 1) a.fail("stride must be >= 1, got " + std::to_string(p.stride));
  if (p.dilation < 1) a.fail("dilation must be >= 1, got " + std::to_string(p.dilation));
  if (p.padding < 0) a.fail("padding must be >= 0, got " + std::to_string(p.padding));
  if (p.groups < 1) a.fail("groups must be >= 1, got " + std::to_string(p.groups));
}

}  // namespace

// With cacheWeight on the CPU the weight's packed form is kept with its buffer (the caller promises
// not to change the weight): a constant model weight is packed once, not on every call.
void weight_cache_arg(const OpArgs& a, size_t i, TensorArg& w, Target target, cpu::Conv1dParams& p) {
  if (a.boolean(i, "cacheWeight") && target.device == Device::CPU && target.impl == CpuImpl::Fast)
    p.weight_cache = &w.buffer->derived<cpu::ConvWeightCache>();
}

// conv1d(x, w, bias|null, out, stride, padding, dilation, groups, residual|null, precision, cacheWeight,
//        snakeAlpha|null, snakeBeta|null, snakeLogScale); out may be residual itself, never x.
ACESTEP_EXPORT(conv1d) {
  OpArgs a{info, "conv1d"};
  TensorArg x = a.tensor(0, "x"), w = a.tensor(1, "w");
  TensorArg out = a.tensor(3, "out");
  cpu::Conv1dParams p;
  p.stride = a.integer(4, "stride");
  p.padding = a.integer(5, "padding");
  p.dilation = a.integer(6, "dilation");
  p.groups = a.integer(7, "groups");
  p.precision = precision_arg(a, 9);
  check_geometry(a, p);
  expect_rank3(a, x, "x");
  expect_rank3(a, w, "w");
  expect_rank3(a, out, "out");
  expect_dtype(a, x, "x", {DType::F32});
  expect_dtype(a, out, "out", {DType::F32});
  expect_float(a, w, "w");
  expect_contiguous(a, x, "x");
  expect_contiguous(a, out, "out");
  const int64_t B = x.view.shape[0], Cin = x.view.shape[1], T = x.view.shape[2];
  const int64_t Cout = w.view.shape[0], K = w.view.shape[2];
  if (Cin % p.groups || Cout % p.groups)
    a.fail("channels " + std::to_string(Cin) + "->" + std::to_string(Cout) + " not divisible by groups " + std::to_string(p.groups));
  if (w.view.shape[1] != Cin / p.groups)
    a.fail("w " + shape_str(w.view) + " does not match Cin/groups = " + std::to_string(Cin / p.groups));
  if (K < 1) a.fail("kernel size must be >= 1");
  const int64_t span = p.dilation * (K - 1) + 1, padded = T + 2 * p.padding;
  if (padded < span)
    a.fail("input length " + std::to_string(T) + " (padded " + std::to_string(padded) + ") is shorter than the kernel span " +
           std::to_string(span));
  const int64_t Tout = (padded - span) / p.stride + 1;
  if (out.view.shape[0] != B || out.view.shape[1] != Cout || out.view.shape[2] != Tout)
    a.fail("out must be [" + std::to_string(B) + ", " + std::to_string(Cout) + ", " + std::to_string(Tout) + "], got " +
           shape_str(out.view));
  OptTensor bias = bias_arg(a, 2, Cout, x);
  OptTensor res = opt_tensor(a, 8, "residual");
  if (res.present) {
    expect_dtype(a, res.arg, "residual", {DType::F32});
    expect_contiguous(a, res.arg, "residual");
    expect_shape_of(a, res.arg, out, "residual");
    expect_same_device(a, {&x, &res.arg});
    // In place, every output element overwrites its own residual element only after reading it.
    if (res.arg.buffer == out.buffer && res.arg.byte_offset != out.byte_offset)
      a.fail("residual and out share memory but are different views (out may only be residual itself)");
  }
  // The taps read neighbouring input steps that other output elements would already have written.
  if (x.buffer == out.buffer) a.fail("x and out must not share memory");
  SnakeArg act = snake_arg(a, 11, Cin, x);
  expect_same_device(a, {&x, &w, &out});
  Target target = target_of(out);
  weight_cache_arg(a, 10, w, target, p);
  enqueue_op([x, w, bias, out, res, act, p, target]() mutable {
    TensorView xv = x.resolve(), wv = w.resolve(), bv = bias.resolve(), ov = out.resolve(), rv = res.resolve();
    cpu::InputSnake sv = act.resolve();
    ACESTEP_DISPATCH(target, conv1d, xv, wv, bv, ov, p, rv, sv);
  });
  return info.Env().Undefined();
}

// convTranspose1d(x, w, bias|null, out, stride, padding, outputPadding, dilation, precision, cacheWeight,
//                 snakeAlpha|null, snakeBeta|null, snakeLogScale)
ACESTEP_EXPORT(convTranspose1d) {
  OpArgs a{info, "convTranspose1d"};
  TensorArg x = a.tensor(0, "x"), w = a.tensor(1, "w");
  TensorArg out = a.tensor(3, "out");
  cpu::Conv1dParams p;
  p.stride = a.integer(4, "stride");
  p.padding = a.integer(5, "padding");
  int64_t output_padding = a.integer(6, "outputPadding");
  p.dilation = a.integer(7, "dilation");
  p.precision = precision_arg(a, 8);
  check_geometry(a, p);
  if (output_padding < 0 || (output_padding >= p.stride && output_padding >= p.dilation))
    a.fail("outputPadding must be in [0, max(stride, dilation)), got " + std::to_string(output_padding));
  expect_rank3(a, x, "x");
  expect_rank3(a, w, "w");
  expect_rank3(a, out, "out");
  expect_dtype(a, x, "x", {DType::F32});
  expect_dtype(a, out, "out", {DType::F32});
  expect_float(a, w, "w");
  expect_contiguous(a, x, "x");
  expect_contiguous(a, out, "out");
  const int64_t B = x.view.shape[0], Cin = x.view.shape[1], T = x.view.shape[2];
  const int64_t Cout = w.view.shape[1], K = w.view.shape[2];
  if (w.view.shape[0] != Cin) a.fail("w " + shape_str(w.view) + " must be [Cin=" + std::to_string(Cin) + ", Cout, K]");
  if (K < 1 || T < 1) a.fail("kernel size and input length must be >= 1");
  const int64_t Tout = (T - 1) * p.stride - 2 * p.padding + p.dilation * (K - 1) + output_padding + 1;
  if (Tout < 1) a.fail("output length " + std::to_string(Tout) + " is not positive (padding too large)");
  if (out.view.shape[0] != B || out.view.shape[1] != Cout || out.view.shape[2] != Tout)
    a.fail("out must be [" + std::to_string(B) + ", " + std::to_string(Cout) + ", " + std::to_string(Tout) + "], got " +
           shape_str(out.view));
  OptTensor bias = bias_arg(a, 2, Cout, x);
  if (x.buffer == out.buffer) a.fail("x and out must not share memory");
  SnakeArg act = snake_arg(a, 10, Cin, x);
  expect_same_device(a, {&x, &w, &out});
  Target target = target_of(out);
  weight_cache_arg(a, 9, w, target, p);
  enqueue_op([x, w, bias, out, act, p, target]() mutable {
    TensorView xv = x.resolve(), wv = w.resolve(), bv = bias.resolve(), ov = out.resolve();
    cpu::InputSnake sv = act.resolve();
    ACESTEP_DISPATCH(target, conv_transpose1d, xv, wv, bv, ov, p, sv);
  });
  return info.Env().Undefined();
}

// snake(x, alpha [C], beta [C], out, logScale)
ACESTEP_EXPORT(snake) {
  OpArgs a{info, "snake"};
  TensorArg x = a.tensor(0, "x"), alpha = a.tensor(1, "alpha"), beta = a.tensor(2, "beta"), out = a.tensor(3, "out");
  bool log_scale = a.boolean(4, "logScale");
  expect_rank3(a, x, "x");
  expect_dtype(a, x, "x", {DType::F32});
  expect_dtype(a, out, "out", {DType::F32});
  expect_float(a, alpha, "alpha");
  expect_float(a, beta, "beta");
  expect_contiguous(a, x, "x");
  expect_contiguous(a, out, "out");
  const int64_t C = x.view.shape[1];
  if (alpha.view.ndim != 1 || alpha.view.shape[0] != C) a.fail("alpha must be [" + std::to_string(C) + "], got " + shape_str(alpha.view));
  if (beta.view.ndim != 1 || beta.view.shape[0] != C) a.fail("beta must be [" + std::to_string(C) + "], got " + shape_str(beta.view));
  if (out.view.ndim != 3 || out.view.shape[0] != x.view.shape[0] || out.view.shape[1] != C || out.view.shape[2] != x.view.shape[2])
    a.fail("out " + shape_str(out.view) + " must match x " + shape_str(x.view));
  expect_same_device(a, {&x, &alpha, &beta, &out});
  Target target = target_of(out);
  enqueue_op([x, alpha, beta, out, log_scale, target]() mutable {
    TensorView xv = x.resolve(), av = alpha.resolve(), bv = beta.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, snake, xv, av, bv, ov, log_scale);
  });
  return info.Env().Undefined();
}
