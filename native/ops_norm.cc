// N-API glue for rmsNorm(x, weight|null, out, eps) and layerNorm(x, weight|null, bias|null, out, eps)
// over the last dimension. x must be contiguous f32 (the TS wrapper makes it so); weight and bias
// are [D] in any float dtype; eps is finite and non-negative.
#include <cmath>

#include "../kernels/cpu/norm.h"
#include "../kernels/cuda/norm.h"
#include "registry.h"

using namespace acestep;

namespace {

void check_param(const OpArgs& a, const OptTensor& p, const TensorArg& x, const char* name) {
  if (!p.present) return;
  expect_float(a, p.arg, name);
  expect_same_device(a, {&p.arg, &x});
  int64_t d = x.view.ndim ? x.view.shape[x.view.ndim - 1] : 1;
  if (p.arg.view.ndim != 1 || p.arg.view.shape[0] != d)
    a.fail(std::string("'") + name + "' has shape " + shape_str(p.arg.view) + ", expected [" + std::to_string(d) + "]");
}

float eps_arg(const OpArgs& a, size_t i) {
  double eps = a.number(i, "eps");
  if (!std::isfinite(eps) || eps < 0) a.fail("eps must be a finite non-negative number, got " + std::to_string(eps));
  return static_cast<float>(eps);
}

void check_x(const OpArgs& a, const TensorArg& x, const TensorArg& out) {
  expect_same_device(a, {&x, &out});
  expect_dtype(a, x, "x", {DType::F32});
  expect_contiguous(a, x, "x");
  if (x.view.ndim < 1) a.fail("'x' needs at least one dimension");
  expect_out(a, out);
  expect_shape_of(a, out, x, "out");
}

}  // namespace

ACESTEP_EXPORT(rmsNorm) {
  OpArgs a{info, "rmsNorm"};
  TensorArg x = a.tensor(0, "x");
  OptTensor w = opt_tensor(a, 1, "weight");
  TensorArg out = a.tensor(2, "out");
  float eps = eps_arg(a, 3);
  check_x(a, x, out);
  check_param(a, w, x, "weight");
  Target target = target_of(out);
  enqueue_op([x, w, out, eps, target]() mutable {
    TensorView xv = x.resolve(), wv = w.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, rms_norm, xv, wv, ov, eps);
  });
  return info.Env().Undefined();
}

ACESTEP_EXPORT(layerNorm) {
  OpArgs a{info, "layerNorm"};
  TensorArg x = a.tensor(0, "x");
  OptTensor w = opt_tensor(a, 1, "weight"), b = opt_tensor(a, 2, "bias");
  TensorArg out = a.tensor(3, "out");
  float eps = eps_arg(a, 4);
  check_x(a, x, out);
  check_param(a, w, x, "weight");
  check_param(a, b, x, "bias");
  Target target = target_of(out);
  enqueue_op([x, w, b, out, eps, target]() mutable {
    TensorView xv = x.resolve(), wv = w.resolve(), bv = b.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, layer_norm, xv, wv, bv, ov, eps);
  });
  return info.Env().Undefined();
}
