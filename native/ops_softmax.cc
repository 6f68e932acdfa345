// N-API glue for softmax(x, out, log): rows over the last dim of contiguous f32 (the TS wrapper
// moves other dims last).
#include "../kernels/cpu/softmax.h"
#include "../kernels/cuda/softmax.h"
#include "registry.h"

using namespace acestep;

ACESTEP_EXPORT(softmax) {
  OpArgs a{info, "softmax"};
  TensorArg x = a.tensor(0, "x"), out = a.tensor(1, "out");
  bool log = a.boolean(2, "log");
  expect_same_device(a, {&x, &out});
  expect_dtype(a, x, "x", {DType::F32});
  expect_contiguous(a, x, "x");
  if (x.view.ndim < 1) a.fail("'x' needs at least one dimension");
  expect_out(a, out);
  expect_shape_of(a, out, x, "out");
  Target target = target_of(out);
  enqueue_op([x, out, log, target]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, softmax, xv, ov, log);
  });
  return info.Env().Undefined();
}
