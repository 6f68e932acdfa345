// N-API glue for softmax(x, out, log): rows over the last dim of contiguous f32 (the TS wrapper
// moves other dims last).
#include "../kernels/cpu/softmax.h"
#include "pointwise_args.h"
#ifdef ACESTEP_CUDA
#include "../kernels/cuda/softmax.h"
#endif

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
  CpuImpl impl = cpu_impl();
  enqueue_op([x, out, log, impl]() mutable {
    TensorView xv = x.resolve(), ov = out.resolve();
#ifdef ACESTEP_CUDA
    if (out.device() == Device::CUDA) return cuda::softmax(xv, ov, log);
#endif
    if (impl == CpuImpl::Reference) cpu::softmax_ref(xv, ov, log);
    else cpu::softmax(xv, ov, log);
  });
  return info.Env().Undefined();
}
