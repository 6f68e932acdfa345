// N-API glue for the elementwise family: unary(x, out, op, p0, p1), binary(a, b, out, op) and
// ternary(a, b, c, out, op). Broadcasting is done by the TS wrapper (inputs arrive expanded to the
// output shape), so here every input must have exactly the output's shape. Also the
// setPointwiseIsa test hook.
#include <algorithm>

#include "../kernels/cpu/elementwise.h"
#include "pointwise_args.h"
#ifdef ACESTEP_CUDA
#include "../kernels/cuda/elementwise.h"
#endif

using namespace acestep;

ACESTEP_EXPORT(unary) {
  OpArgs a{info, "unary"};
  TensorArg x = a.tensor(0, "x"), out = a.tensor(1, "out");
  auto op = static_cast<cpu::UnaryOp>(op_code(a, 2, static_cast<int>(cpu::UnaryOp::Count)));
  float p0 = a.has(3) ? static_cast<float>(a.number(3, "p0")) : 0.0f;
  float p1 = a.has(4) ? static_cast<float>(a.number(4, "p1")) : 0.0f;
  expect_same_device(a, {&x, &out});
  expect_float(a, x, "x");
  expect_out(a, out);
  expect_shape_of(a, x, out, "x");
  CpuImpl impl = cpu_impl();
  enqueue_op([x, out, op, p0, p1, impl]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
#ifdef ACESTEP_CUDA
    if (out.device() == Device::CUDA) return cuda::unary(xv, ov, op, p0, p1);
#endif
    if (impl == CpuImpl::Reference) cpu::unary_ref(xv, ov, op, p0, p1);
    else cpu::unary(xv, ov, op, p0, p1);
  });
  return info.Env().Undefined();
}

ACESTEP_EXPORT(binary) {
  OpArgs a{info, "binary"};
  TensorArg x = a.tensor(0, "a"), y = a.tensor(1, "b"), out = a.tensor(2, "out");
  auto op = static_cast<cpu::BinaryOp>(op_code(a, 3, static_cast<int>(cpu::BinaryOp::Count)));
  expect_same_device(a, {&x, &y, &out});
  expect_float(a, x, "a");
  expect_float(a, y, "b");
  expect_out(a, out);
  expect_shape_of(a, x, out, "a");
  expect_shape_of(a, y, out, "b");
  CpuImpl impl = cpu_impl();
  enqueue_op([x, y, out, op, impl]() mutable {
    TensorView av = x.resolve(), bv = y.resolve(), ov = out.resolve();
#ifdef ACESTEP_CUDA
    if (out.device() == Device::CUDA) return cuda::binary(av, bv, ov, op);
#endif
    if (impl == CpuImpl::Reference) cpu::binary_ref(av, bv, ov, op);
    else cpu::binary(av, bv, ov, op);
  });
  return info.Env().Undefined();
}

ACESTEP_EXPORT(ternary) {
  OpArgs a{info, "ternary"};
  TensorArg x = a.tensor(0, "a"), y = a.tensor(1, "b"), z = a.tensor(2, "c"), out = a.tensor(3, "out");
  auto op = static_cast<cpu::TernaryOp>(op_code(a, 4, static_cast<int>(cpu::TernaryOp::Count)));
  expect_same_device(a, {&x, &y, &z, &out});
  expect_float(a, x, "a");
  expect_float(a, y, "b");
  expect_float(a, z, "c");
  expect_out(a, out);
  expect_shape_of(a, x, out, "a");
  expect_shape_of(a, y, out, "b");
  expect_shape_of(a, z, out, "c");
  CpuImpl impl = cpu_impl();
  enqueue_op([x, y, z, out, op, impl]() mutable {
    TensorView av = x.resolve(), bv = y.resolve(), cv = z.resolve(), ov = out.resolve();
#ifdef ACESTEP_CUDA
    if (out.device() == Device::CUDA) return cuda::ternary(av, bv, cv, ov, op);
#endif
    if (impl == CpuImpl::Reference) cpu::ternary_ref(av, bv, cv, ov, op);
    else cpu::ternary(av, bv, cv, ov, op);
  });
  return info.Env().Undefined();
}

// setPointwiseIsa(level): test hook selecting the pointwise CPU fast paths' vector ISA (0 scalar,
// 1 AVX2, 2 AVX-512, capped by the CPU); returns the level in effect. The switch is queued like an
// op, so work queued before it still runs with the previous ISA.
ACESTEP_EXPORT(setPointwiseIsa) {
  OpArgs a{info, "setPointwiseIsa"};
  int64_t level = a.integer(0, "level");
  if (level < 0 || level > 2) a.fail("level must be 0 (scalar), 1 (avx2) or 2 (avx512), got " + std::to_string(level));
  int eff = std::min(static_cast<int>(level), cpu::pointwise_isa_best());
  enqueue_op([eff]() { cpu::set_pointwise_isa(eff); });
  return Napi::Number::New(info.Env(), eff);
}
