// N-API glue for copy/cast and fill. Pattern for every op file: parse and validate on the main
// thread, capture TensorArgs (which keep buffers alive), queue the kernel through ACESTEP_DISPATCH.
#include "../kernels/cpu/copy.h"
#include "../kernels/cuda/copy.h"
#include "registry.h"

using namespace acestep;

// copy(src, out): out = cast(src), same shape, any strides.
ACESTEP_EXPORT(copy) {
  OpArgs a{info, "copy"};
  TensorArg src = a.tensor(0, "src"), out = a.tensor(1, "out");
  expect_same_device(a, {&src, &out});
  if (src.view.ndim != out.view.ndim) a.fail("rank mismatch " + shape_str(src.view) + " vs " + shape_str(out.view));
  for (int i = 0; i < src.view.ndim; i++)
    if (src.view.shape[i] != out.view.shape[i]) a.fail("shape mismatch " + shape_str(src.view) + " vs " + shape_str(out.view));
  Target target = target_of(out);
  enqueue_op([src, out, target]() mutable {
    TensorView s = src.resolve(), o = out.resolve();
    ACESTEP_DISPATCH(target, copy, s, o);
  });
  return info.Env().Undefined();
}

// fill(out, value)
ACESTEP_EXPORT(fill) {
  OpArgs a{info, "fill"};
  TensorArg out = a.tensor(0, "out");
  double v = a.number(1, "value");
  Target target = target_of(out);
  enqueue_op([out, v, target]() mutable {
    TensorView o = out.resolve();
    ACESTEP_DISPATCH(target, fill, o, v);
  });
  return info.Env().Undefined();
}
