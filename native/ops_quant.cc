// N-API glue for the int8 weight family (kernels/cpu/quant.h): quantizeInt8 and linearInt8.
#include <string>

#include "../kernels/cpu/quant.h"
#include "../kernels/cuda/quant.h"
#include "registry.h"

using namespace acestep;

// quantizeInt8(w [N,K] f32|bf16|f16, q [N,K] i8 contiguous, scale [N] f32 contiguous)
ACESTEP_EXPORT(quantizeInt8) {
  OpArgs a{info, "quantizeInt8"};
  TensorArg w = a.tensor(0, "w"), q = a.tensor(1, "q"), scale = a.tensor(2, "scale");
  expect_float(a, w, "w");
  expect_out(a, q, DType::I8);
  expect_out(a, scale);
  expect_same_device(a, {&w, &q, &scale});
  if (w.view.ndim != 2) a.fail("'w' must be [N, K], got " + shape_str(w.view));
  const int64_t N = w.view.shape[0], K = w.view.shape[1];
  if (q.view.ndim != 2 || q.view.shape[0] != N || q.view.shape[1] != K)
    a.fail("'q' must be [" + std::to_string(N) + "," + std::to_string(K) + "], got " + shape_str(q.view));
  if (scale.view.ndim != 1 || scale.view.shape[0] != N) a.fail("'scale' must be [" + std::to_string(N) + "], got " + shape_str(scale.view));
  Target target = target_of(q);
  enqueue_op([w, q, scale, target]() mutable {
    TensorView wv = w.resolve(), qv = q.resolve(), sv = scale.resolve();
    ACESTEP_DISPATCH(target, quantize_int8, wv, qv, sv);
  });
  return info.Env().Undefined();
}

// linearInt8(x [M,K] f32, q [N,K] i8 with unit-stride rows, scale [N] f32 contiguous, bias [N] | null,
// out [M,N] f32 contiguous, precision)
ACESTEP_EXPORT(linearInt8) {
  OpArgs a{info, "linearInt8"};
  TensorArg x = a.tensor(0, "x"), q = a.tensor(1, "q"), scale = a.tensor(2, "scale");
  OptTensor bias = opt_tensor(a, 3, "bias");
  TensorArg out = a.tensor(4, "out");
  cpu::GemmPrecision p = precision_arg(a, 5);
  expect_dtype(a, x, "x", {DType::F32});
  expect_dtype(a, q, "q", {DType::I8});
  expect_dtype(a, scale, "scale", {DType::F32});
  expect_contiguous(a, scale, "scale");
  expect_out(a, out);
  expect_same_device(a, {&x, &q, &scale, &out});
  if (bias.present) {
    expect_float(a, bias.arg, "bias");
    expect_same_device(a, {&x, &bias.arg});
  }
  if (x.view.ndim != 2 || q.view.ndim != 2 || out.view.ndim != 2)
    a.fail("expects 2-D x, q and out, got " + shape_str(x.view) + ", " + shape_str(q.view) + ", " + shape_str(out.view));
  const int64_t M = x.view.shape[0], K = x.view.shape[1], N = q.view.shape[0];
  if (q.view.shape[1] != K) a.fail("x " + shape_str(x.view) + " and q " + shape_str(q.view) + " disagree on K");
  if (q.view.strides[1] != 1 && K > 1) a.fail("'q' needs unit-stride rows");
  if (scale.view.ndim != 1 || scale.view.shape[0] != N) a.fail("'scale' must be [" + std::to_string(N) + "], got " + shape_str(scale.view));
  if (out.view.shape[0] != M || out.view.shape[1] != N)
    a.fail("out must be [" + std::to_string(M) + "," + std::to_string(N) + "], got " + shape_str(out.view));
  if (bias.present && (bias.arg.view.ndim != 1 || bias.arg.view.shape[0] != N))
    a.fail("bias must be [" + std::to_string(N) + "], got " + shape_str(bias.arg.view));
  Target target = target_of(out);
  enqueue_op([x, q, scale, bias, out, p, target]() mutable {
    TensorView xv = x.resolve(), qv = q.resolve(), sv = scale.resolve(), ov = out.resolve(), bv = bias.resolve();
    const TensorView* bp = bias.present ? &bv : nullptr;
    ACESTEP_DISPATCH(target, linear_int8, xv, qv, sv, bp, ov, p);
  });
  return info.Env().Undefined();
}
