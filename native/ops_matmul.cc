// N-API glue for the GEMM family: linear, matmul, and the benchmark probes (streamRead,
// peakGflops). The ISA the CPU kernels use is set by setCpuIsa (cpu_isa.cc).
#include <string>

#include "../kernels/cpu/gemm.h"
#include "../kernels/cuda/matmul.h"
#include "registry.h"

using namespace acestep;

// linear(x [M,K] f32, w [N,K] f32|bf16|f16, bias [N] | null, out [M,N] f32 contiguous, precision)
ACESTEP_EXPORT(linear) {
  OpArgs a{info, "linear"};
  TensorArg x = a.tensor(0, "x"), w = a.tensor(1, "w");
  OptTensor bias = opt_tensor(a, 2, "bias");
  TensorArg out = a.tensor(3, "out");
  cpu::GemmPrecision p = precision_arg(a, 4);
  expect_dtype(a, x, "x", {DType::F32});
  expect_float(a, w, "w");
  expect_out(a, out);
  expect_same_device(a, {&x, &w, &out});
  if (bias.present) {
    expect_float(a, bias.arg, "bias");
    expect_same_device(a, {&x, &bias.arg});
  }
  if (x.view.ndim != 2 || w.view.ndim != 2 || out.view.ndim != 2)
    a.fail("expects 2-D x, w and out, got " + shape_str(x.view) + ", " + shape_str(w.view) + ", " + shape_str(out.view));
  const int64_t M = x.view.shape[0], K = x.view.shape[1], N = w.view.shape[0];
  if (w.view.shape[1] != K) a.fail("x " + shape_str(x.view) + " and w " + shape_str(w.view) + " disagree on K");
  if (out.view.shape[0] != M || out.view.shape[1] != N)
    a.fail("out must be [" + std::to_string(M) + "," + std::to_string(N) + "], got " + shape_str(out.view));
  if (bias.present && (bias.arg.view.ndim != 1 || bias.arg.view.shape[0] != N))
    a.fail("bias must be [" + std::to_string(N) + "], got " + shape_str(bias.arg.view));
  Target target = target_of(out);
  enqueue_op([x, w, bias, out, p, target]() mutable {
    TensorView xv = x.resolve(), wv = w.resolve(), ov = out.resolve(), bv = bias.resolve();
    const TensorView* bp = bias.present ? &bv : nullptr;
    ACESTEP_DISPATCH(target, linear, xv, wv, bp, ov, p);
  });
  return info.Env().Undefined();
}

// matmul(a [...,M,K], b [...,K,N], out [...,M,N] f32 contiguous, precision); same rank, equal batch
// dims (the TS wrapper expands broadcast dims to stride-0 views).
ACESTEP_EXPORT(matmul) {
  OpArgs a{info, "matmul"};
  TensorArg x = a.tensor(0, "a"), y = a.tensor(1, "b"), out = a.tensor(2, "out");
  cpu::GemmPrecision p = precision_arg(a, 3);
  expect_float(a, x, "a");
  expect_float(a, y, "b");
  expect_out(a, out);
  expect_same_device(a, {&x, &y, &out});
  const int nd = out.view.ndim;
  if (nd < 2 || x.view.ndim != nd || y.view.ndim != nd)
    a.fail("a, b and out need the same rank >= 2, got " + shape_str(x.view) + ", " + shape_str(y.view) + ", " + shape_str(out.view));
  for (int d = 0; d < nd - 2; d++)
    if (x.view.shape[d] != out.view.shape[d] || y.view.shape[d] != out.view.shape[d])
      a.fail("batch dims differ: " + shape_str(x.view) + ", " + shape_str(y.view) + ", " + shape_str(out.view));
  if (x.view.shape[nd - 1] != y.view.shape[nd - 2]) a.fail("a " + shape_str(x.view) + " and b " + shape_str(y.view) + " disagree on K");
  if (out.view.shape[nd - 2] != x.view.shape[nd - 2] || out.view.shape[nd - 1] != y.view.shape[nd - 1])
    a.fail("out " + shape_str(out.view) + " does not match a " + shape_str(x.view) + " x b " + shape_str(y.view));
  Target target = target_of(out);
  enqueue_op([x, y, out, p, target]() mutable {
    TensorView av = x.resolve(), bv = y.resolve(), ov = out.resolve();
    ACESTEP_DISPATCH(target, matmul, av, bv, ov, p);
  });
  return info.Env().Undefined();
}
// int8RowSums(q [N,K] i8, rowsum [N] i32): the row sums of a W8A8 weight (kernels/cpu/gemm.h).
ACESTEP_EXPORT(int8RowSums) {
  OpArgs a{info, "int8RowSums"};
  TensorArg q = a.tensor(0, "q"), rowsum = a.tensor(1, "rowsum");
  expect_dtype(a, q, "q", {DType::I8});
  expect_rank(a, q, "q", 2, "[N, K]");
  expect_dtype(a, rowsum, "rowsum", {DType::I32});
  expect_contiguous(a, rowsum, "rowsum");
  expect_same_device(a, {&q, &rowsum});
  if (rowsum.view.ndim != 1 || rowsum.view.shape[0] != q.view.shape[0])
    a.fail("rowsum must be [" + std::to_string(q.view.shape[0]) + "], got " + shape_str(rowsum.view));
  Target target = target_of(rowsum);
  enqueue_op([q, rowsum, target]() mutable {
    TensorView qv = q.resolve(), rv = rowsum.resolve();
    ACESTEP_DISPATCH(target, int8_row_sums, qv, rv);
  });
  return info.Env().Undefined();
}

// linearW8A8(x [M,K] f32, q [N,K] i8 contiguous, scale [N] f32 (quantizeInt8), rowsum [N] i32, bias [N] | null,
// out [M,N] f32 contiguous): out = W8A8(x, q) + bias, K <= 16384 (kernels/cpu/gemm.h).
ACESTEP_EXPORT(linearW8A8) {
  OpArgs a{info, "linearW8A8"};
  TensorArg x = a.tensor(0, "x"), q = a.tensor(1, "q"), scale = a.tensor(2, "scale"), rowsum = a.tensor(3, "rowsum");
  OptTensor bias = opt_tensor(a, 4, "bias");
  TensorArg out = a.tensor(5, "out");
  expect_dtype(a, x, "x", {DType::F32});
  expect_dtype(a, q, "q", {DType::I8});
  expect_dtype(a, scale, "scale", {DType::F32});
  expect_dtype(a, rowsum, "rowsum", {DType::I32});
  expect_out(a, out);
  expect_same_device(a, {&x, &q, &scale, &rowsum, &out});
  if (bias.present) {
    expect_float(a, bias.arg, "bias");
    expect_same_device(a, {&x, &bias.arg});
  }
  expect_rank(a, x, "x", 2, "[M, K]");
  expect_rank(a, q, "q", 2, "[N, K]");
  expect_contiguous(a, q, "q");
  expect_contiguous(a, scale, "scale");
  expect_contiguous(a, rowsum, "rowsum");
  if (x.view.strides[1] != 1) a.fail("x needs a unit column stride");
  const int64_t M = x.view.shape[0], K = x.view.shape[1], N = q.view.shape[0];
  if (q.view.shape[1] != K) a.fail("x " + shape_str(x.view) + " and q " + shape_str(q.view) + " disagree on K");
  if (K > cpu::kW8A8MaxK) a.fail("K = " + std::to_string(K) + " exceeds " + std::to_string(cpu::kW8A8MaxK) + " (int32 sums)");
  if (scale.view.ndim != 1 || scale.view.shape[0] != N || rowsum.view.ndim != 1 || rowsum.view.shape[0] != N)
    a.fail("scale and rowsum must be [" + std::to_string(N) + "], got " + shape_str(scale.view) + " and " + shape_str(rowsum.view));
  if (out.view.ndim != 2 || out.view.shape[0] != M || out.view.shape[1] != N)
    a.fail("out must be [" + std::to_string(M) + "," + std::to_string(N) + "], got " + shape_str(out.view));
  if (bias.present && (bias.arg.view.ndim != 1 || bias.arg.view.shape[0] != N))
    a.fail("bias must be [" + std::to_string(N) + "], got " + shape_str(bias.arg.view));
  Target target = target_of(out);
  enqueue_op([x, q, scale, rowsum, bias, out, target]() mutable {
    TensorView xv = x.resolve(), qv = q.resolve(), sv = scale.resolve(), rv = rowsum.resolve(), ov = out.resolve(), bv = bias.resolve();
    const TensorView* bp = bias.present ? &bv : nullptr;
    ACESTEP_DISPATCH(target, linear_w8a8, xv, qv, sv, rv, bp, ov);
  });
  return info.Env().Undefined();
}

// streamRead(t contiguous f32|bf16|f16 with an even byte count, out [1] f32): out = sum of t's
// bytes read as f32 words; a bandwidth probe for the benchmarks.
ACESTEP_EXPORT(streamRead) {
  OpArgs a{info, "streamRead"};
  TensorArg t = a.tensor(0, "t"), out = a.tensor(1, "out");
  expect_float(a, t, "t");
  expect_contiguous(a, t, "t");
  expect_out(a, out);
  if (out.numel() != 1) a.fail("out must hold one element");
  if (t.device() != Device::CPU || out.device() != Device::CPU) a.fail("CPU tensors only");
  if ((t.numel() * dtype_size(t.view.dtype)) % 4 != 0) a.fail("t must span a whole number of 4-byte words");
  enqueue_op([t, out]() mutable {
    TensorView tv = t.resolve(), ov = out.resolve();
    ov.ptr<float>()[0] = cpu::stream_read(tv);
  });
  return info.Env().Undefined();
}

// peakGflops(out [1] f32, seconds, isa: '' | 'avx512' | 'avx2'): out = measured FMA GFLOP/s on all
// pool threads.
ACESTEP_EXPORT(peakGflops) {
  OpArgs a{info, "peakGflops"};
  TensorArg out = a.tensor(0, "out");
  expect_out(a, out);
  if (out.numel() != 1 || out.device() != Device::CPU) a.fail("out must be one CPU f32 element");
  double seconds = a.number(1, "seconds");
  if (!(seconds > 0 && seconds <= 60)) a.fail("seconds must be in (0, 60]");
  std::string isa = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  if (isa != "" && isa != "avx512" && isa != "avx2") a.fail("isa must be '', 'avx512' or 'avx2'");
  enqueue_op([out, seconds, isa]() mutable {
    TensorView ov = out.resolve();
    ov.ptr<float>()[0] = static_cast<float>(cpu::peak_gflops(seconds, isa.c_str()));
  });
  return info.Env().Undefined();
}
