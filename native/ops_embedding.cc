// N-API glue for embedding(weight [V, H], ids [...] i32|i64, out [N, H] f32). Id range errors are
// data-dependent, so the kernel raises them (a KernelError at the next sync point).
#include "../kernels/cpu/embedding.h"
#include "../kernels/cuda/embedding.h"
#include "registry.h"

using namespace acestep;

ACESTEP_EXPORT(embedding) {
  OpArgs a{info, "embedding"};
  TensorArg w = a.tensor(0, "weight"), ids = a.tensor(1, "ids"), out = a.tensor(2, "out");
  expect_same_device(a, {&w, &ids, &out});
  expect_float(a, w, "weight");
  expect_dtype(a, ids, "ids", {DType::I32, DType::I64});
  expect_contiguous(a, ids, "ids");
  expect_out(a, out);
  if (w.view.ndim != 2) a.fail("'weight' must be [V, H], got " + shape_str(w.view));
  if (w.view.strides[1] != 1 && w.view.shape[1] > 1) a.fail("'weight' needs a unit-stride last dim");
  if (out.numel() != ids.numel() * w.view.shape[1]) a.fail("'out' " + shape_str(out.view) + " does not match ids x H");
  Target target = target_of(out);
  enqueue_op([w, ids, out, target]() mutable {
    TensorView wv = w.resolve(), iv = ids.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, embedding, wv, iv, ov);
  });
  return info.Env().Undefined();
}
