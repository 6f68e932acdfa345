// N-API glue for attention: checks ranks, dtypes, shapes, GQA grouping, unit-stride head dims, the
// key mask and the scale on the JS thread, then queues the CUDA / reference / fast CPU kernel.
#include <cmath>
#include <utility>

#include "../kernels/cpu/attention.h"
#include "../kernels/cuda/attention.h"
#include "registry.h"

using namespace acestep;

// attention(q, k, v, keyMask | null, out, scale, causal, qOffset, window, precision); window < 0:
// none; precision 0 fp32 (default), 1 bf16 (see AttentionParams).
ACESTEP_EXPORT(attention) {
  OpArgs a{info, "attention"};
  TensorArg q = a.tensor(0, "q"), k = a.tensor(1, "k"), v = a.tensor(2, "v");
  OptTensor mask = opt_tensor(a, 3, "keyMask");
  TensorArg out = a.tensor(4, "out");
  cpu::AttentionParams p;
  p.scale = static_cast<float>(a.number(5, "scale"));
  p.causal = a.boolean(6, "causal");
  p.q_offset = a.integer(7, "qOffset");
  p.window = a.integer(8, "window");
  p.precision = precision_arg(a, 9);

  expect_same_device(a, {&q, &k, &v, &out});
  if (mask.present) expect_same_device(a, {&q, &mask.arg});
  for (auto [t, name] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{&v, "v"}, std::pair{&out, "out"}}) {
    expect_rank(a, *t, name, 4, "[B, T, H, D]");
    expect_dtype(a, *t, name,
                 t == &k || t == &v ? std::initializer_list<DType>{DType::F32, DType::BF16} : std::initializer_list<DType>{DType::F32});
  }
  if (k.view.dtype != v.view.dtype) a.fail("k and v must have the same dtype (f32, or bf16 for a bf16 KV cache)");
  expect_contiguous(a, out, "out");
  const TensorView &Q = q.view, &K = k.view, &V = v.view, &O = out.view;
  int64_t B = Q.shape[0], Tq = Q.shape[1], Hq = Q.shape[2], D = Q.shape[3], Tk = K.shape[1], Hkv = K.shape[2];
  if (K.shape[0] != B || K.shape[3] != D) a.fail("k " + shape_str(K) + " does not match q " + shape_str(Q));
  for (int i = 0; i < 4; i++)
    if (V.shape[i] != K.shape[i]) a.fail("v " + shape_str(V) + " does not match k " + shape_str(K));
  for (int i = 0; i < 4; i++)
    if (O.shape[i] != Q.shape[i]) a.fail("out " + shape_str(O) + " does not match q " + shape_str(Q));
  if (D == 0) a.fail("head dim is 0");
  if (Hkv == 0 || Hq % Hkv != 0) a.fail("query heads " + std::to_string(Hq) + " not a multiple of kv heads " + std::to_string(Hkv));
  for (const TensorArg* t : {&q, &k, &v})
    if (t->view.strides[3] != 1 && D > 1) a.fail("q, k and v need a unit stride in the head dim");
  if (mask.present) {
    const TensorView& M = mask.arg.view;
    if (M.ndim != 2 || M.shape[0] != B || M.shape[1] != Tk)
      a.fail("keyMask must be [B, Tk] = [" + std::to_string(B) + "," + std::to_string(Tk) + "], got " + shape_str(M));
    expect_dtype(a, mask.arg, "keyMask", {DType::U8, DType::I32, DType::I64, DType::F32});
  }
  if (!std::isfinite(p.scale)) a.fail("scale must be finite, got " + std::to_string(a.number(5, "scale")));
  // Kernels compare positions in 32 bits; a window wider than every |query - key| distance is no window.
  int64_t span = Tq + Tk + (p.q_offset < 0 ? -p.q_offset : p.q_offset);
  if (span >= (int64_t{1} << 30))
    a.fail("sequence positions beyond 2^30 (Tq " + std::to_string(Tq) + ", Tk " + std::to_string(Tk) + ", qOffset " +
           std::to_string(p.q_offset) + ")");
  if (p.window > span) p.window = -1;
  Target target = target_of(out);
  enqueue_op([q, k, v, mask, out, p, target]() mutable {
    TensorView qv = q.resolve(), kv = k.resolve(), vv = v.resolve(), ov = out.resolve(), mv = mask.resolve();
    ACESTEP_DISPATCH(target, attention, qv, kv, vv, mv, ov, p);
  });
  return info.Env().Undefined();
}
