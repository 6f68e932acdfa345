// W8A8 linear (upstream's `w8a8_dynamic` quantization): int8 weights quantized per output row once
// (`quantizeRowsInt8`), activations quantized per row at every call inside `linearW8A8`, integer
// products. Semantics in kernels/cpu/gemm.h; the CPU fast path (avx512_vnni) is bit-identical to
// the scalar reference.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank, shapeStr } from './args.js';

/** The largest K whose integer sums stay in int32 (kernels/cpu/gemm.h kW8A8MaxK). */
export const W8A8_MAX_K = 16384;

/** A weight [N, K] as int8 rows: w ≈ q[n, k] * scale[n]; rowsum[n] = Σ_k q[n, k]. Owns its tensors. */
export class Int8Rows implements Disposable {
  constructor(
    readonly q: Tensor,
    readonly scale: Tensor,
    readonly rowsum: Tensor,
  ) {}
  get shape(): readonly number[] {
    return this.q.shape;
  }
  get device() {
    return this.q.device;
  }
  dispose(): void {
    this.q.dispose();
    this.scale.dispose();
    this.rowsum.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Quantizes w [N, K] (f32, bf16 or f16) per row, symmetric to [-127, 127]; a non-finite weight is a typed error. */
export function quantizeRowsInt8(w: Tensor): Int8Rows {
  expectRank('quantizeRowsInt8', 'weight', w, 2, '[N, K]');
  const [N, K] = w.shape;
  if (K > W8A8_MAX_K) throw new ShapeError(`quantizeRowsInt8: weight ${shapeStr(w.shape)} has K=${K} > ${W8A8_MAX_K}`);
  const q = Tensor.empty([N, K], 'i8', w.device);
  const scale = Tensor.empty([N], 'f32', w.device);
  const rowsum = Tensor.empty([N], 'i32', w.device);
  try {
    native.quantizeRowsI8(w.desc(), q.desc(), scale.desc(), rowsum.desc());
  } catch (e) {
    q.dispose();
    scale.dispose();
    rowsum.dispose();
    throw e;
  }
  return new Int8Rows(q, scale, rowsum);
}

/** y[..., N] = x[..., K] · w^T (+ bias[N]) with x quantized per row to u8 (dynamic, asymmetric). x is f32. */
export function linearW8A8(x: Tensor, w: Int8Rows, bias?: Tensor | null): Tensor {
  const [N, K] = w.shape;
  if (x.ndim < 1) throw new ShapeError('linearW8A8: x must have at least one dimension');
  if (x.shape[x.ndim - 1] !== K)
    throw new ShapeError(`linearW8A8: x ${shapeStr(x.shape)} has K=${x.shape[x.ndim - 1]} but weight ${shapeStr(w.shape)} expects ${K}`);
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
