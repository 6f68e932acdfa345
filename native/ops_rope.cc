// N-API glue for rope(x [B,T,H,D], cos [B,T,D/2], sin [B,T,D/2], out [B,T,H,D]); the TS wrapper
// expands [T, D/2] tables over the batch (stride 0) and casts them to f32.
#include "../kernels/cpu/rope.h"
#include "../kernels/cuda/rope.h"
#include "registry.h"

using namespace acestep;

ACESTEP_EXPORT(rope) {
  OpArgs a{info, "rope"};
  TensorArg x = a.tensor(0, "x"), c = a.tensor(1, "cos"), s = a.tensor(2, "sin"), out = a.tensor(3, "out");
  expect_same_device(a, {&x, &c, &s, &out});
  expect_float(a, x, "x");
  expect_dtype(a, c, "cos", {DType::F32});
  expect_dtype(a, s, "sin", {DType::F32});
  expect_out(a, out);
  if (x.view.ndim != 4) a.fail("'x' must be [B, T, H, D], got " + shape_str(x.view));
  expect_shape_of(a, out, x, "out");
  int64_t d = x.view.shape[3];
  if (d % 2) a.fail("head dim " + std::to_string(d) + " must be even");
  for (const TensorArg* t : {&c, &s}) {
    const TensorView& v = t->view;
    if (v.ndim != 3 || v.shape[0] != x.view.shape[0] || v.shape[1] != x.view.shape[1] || v.shape[2] != d / 2)
      a.fail("cos/sin have shape " + shape_str(v) + ", expected [" + std::to_string(x.view.shape[0]) + "," +
             std::to_string(x.view.shape[1]) + "," + std::to_string(d / 2) + "]");
  }
  Target target = target_of(out);
  enqueue_op([x, c, s, out, target]() mutable {
    TensorView xv = x.resolve(), cv = c.resolve(), sv = s.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, rope, xv, cv, sv, ov);
  });
  return info.Env().Undefined();
}
