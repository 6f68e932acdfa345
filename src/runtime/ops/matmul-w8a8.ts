// W8A8 linear (upstream's `w8a8_dynamic` quantization): int8 weight rows with per-row scales from
// `quantizeInt8` (ops/quant.ts) plus their row sums (`int8RowSums`), activations quantized per row
// at every call inside `linearW8A8`, integer products. Semantics in kernels/cpu/gemm.h; the CPU fast
// path (avx512_vnni) is bit-identical to the scalar reference.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank, shapeStr } from './args.js';
import type { Int8Weight } from './quant.js';

/** The largest K whose integer sums stay in int32 (kernels/cpu/gemm.h kW8A8MaxK). */
export const W8A8_MAX_K = 16384;

/** An `Int8Weight` with rowsum[n] = Σ_k q[n, k], the zero-point correction of the W8A8 product. */
export interface W8A8Weight extends Int8Weight {
  rowsum: Tensor;
}

/** rowsum[n] = Σ_k q[n, k] of int8 rows q [N, K], as i32 [N]. */
export function int8RowSums(q: Tensor): Tensor {
  expectRank('int8RowSums', 'q', q, 2, '[N, K]');
  const out = Tensor.empty([q.shape[0]], 'i32', q.device);
  try {
    native.int8RowSums(q.desc(), out.desc());
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** y[..., N] = x[..., K] · w^T (+ bias[N]) with x quantized per row to u8 (dynamic, asymmetric). x is f32. */
export function linearW8A8(x: Tensor, w: W8A8Weight, bias?: Tensor | null): Tensor {
  expectRank('linearW8A8', 'q', w.q, 2, '[N, K]');
  const [N, K] = w.q.shape;
  if (x.ndim < 1) throw new ShapeError('linearW8A8: x must have at least one dimension');
  if (x.shape[x.ndim - 1] !== K)
    throw new ShapeError(`linearW8A8: x ${shapeStr(x.shape)} has K=${x.shape[x.ndim - 1]} but q ${shapeStr(w.q.shape)} expects ${K}`);
  const lead = x.shape.slice(0, -1);
  // A 2-D x with unit column stride goes in as is; anything else becomes contiguous rows.
  const x2 = x.ndim === 2 && x.strides[1] === 1 ? x : x.reshape([-1, K]);
  const M = x2.shape[0];
  const out = Tensor.empty([...lead, N], 'f32', x.device);
  const out2 = out.ndim === 2 ? out : out.reshape([M, N]);
  try {
    native.linearW8A8(x2.desc(), w.q.desc(), w.scale.desc(), w.rowsum.desc(), bias ? bias.desc() : null, out2.desc());
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (x2 !== x) x2.dispose();
    if (out2 !== out) out2.dispose();
  }
  return out;
}
