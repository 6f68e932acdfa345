// N-API glue for the elementwise family: unary(x, out, op, p0, p1), binary(a, b, out, op) and
// ternary(a, b, c, out, op). Broadcasting is done by the TS wrapper (inputs arrive expanded to the
// output shape), so here every input must have exactly the output's shape.
#include "../kernels/cpu/elementwise.h"
#include "../kernels/cuda/elementwise.h"
#include "registry.h"

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
  Target target = target_of(out);
  enqueue_op([x, out, op, p0, p1, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, unary, xv, ov, op, p0, p1);
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
  Target target = target_of(out);
  enqueue_op([x, y, out, op, target]() mutable {
    TensorView av = x.resolve(), bv = y.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, binary, av, bv, ov, op);
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
  Target target = target_of(out);
  enqueue_op([x, y, z, out, op, target]() mutable {
    TensorView av = x.resolve(), bv = y.resolve(), cv = z.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, ternary, av, bv, cv, ov, op);
  });
  return info.Env().Undefined();
}
