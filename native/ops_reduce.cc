// N-API glue for reduce(x, out, op, outer, n, inner) and argmax(x, out, outer, n, inner): x is
// contiguous f32 viewed as [outer, n, inner]; out is [outer, inner] (f32, or i32 for argmax).
#include "../kernels/cpu/reduce.h"
#include "../kernels/cuda/reduce.h"
#include "registry.h"

using namespace acestep;

namespace {

struct Geometry {
  int64_t outer, n, inner;
};

Geometry check_geometry(const OpArgs& a, const TensorArg& x, const TensorArg& out, size_t at) {
  Geometry g{a.integer(at, "outer"), a.integer(at + 1, "n"), a.integer(at + 2, "inner")};
  expect_same_device(a, {&x, &out});
  expect_dtype(a, x, "x", {DType::F32});
  expect_contiguous(a, x, "x");
  if (g.outer < 0 || g.n < 1 || g.inner < 0)
    a.fail("bad geometry (outer, n, inner) = (" + std::to_string(g.outer) + ", " + std::to_string(g.n) + ", " + std::to_string(g.inner) +
           ")");
  if (x.numel() != g.outer * g.n * g.inner) a.fail("'x' " + shape_str(x.view) + " does not match outer*n*inner");
  if (out.numel() != g.outer * g.inner) a.fail("'out' " + shape_str(out.view) + " does not match outer*inner");
  return g;
}

}  // namespace

ACESTEP_EXPORT(reduce) {
  OpArgs a{info, "reduce"};
  TensorArg x = a.tensor(0, "x"), out = a.tensor(1, "out");
  auto op = static_cast<cpu::ReduceOp>(op_code(a, 2, static_cast<int>(cpu::ReduceOp::Count)));
  expect_out(a, out);
  Geometry g = check_geometry(a, x, out, 3);
  Target target = target_of(out);
  enqueue_op([x, out, op, g, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, reduce, xv, ov, op, g.outer, g.n, g.inner);
  });
  return info.Env().Undefined();
}

ACESTEP_EXPORT(argmax) {
  OpArgs a{info, "argmax"};
  TensorArg x = a.tensor(0, "x"), out = a.tensor(1, "out");
  expect_out(a, out, DType::I32);
  Geometry g = check_geometry(a, x, out, 2);
  Target target = target_of(out);
  enqueue_op([x, out, g, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, argmax, xv, ov, g.outer, g.n, g.inner);
  });
  return info.Env().Undefined();
}
