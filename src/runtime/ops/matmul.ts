// Matrix products: `linear` (x @ w^T + bias, weights in their stored f32/bf16/f16 dtype) and
// batched `matmul` with numpy-style batch broadcasting. Both produce new contiguous f32 tensors.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank, shapeStr } from './args.js';
import type { Device } from '../dtype.js';

/**
 * 'fp32' (default): f32 activations times weights upcast exactly to f32, f32 accumulation — what
 * the fp32 golden references expect. 'bf16': activations and weights rounded to bf16 (nearest
 * even) and multiplied with f32 accumulation (avx512_bf16 `vdpbf16ps` where available); about
 * twice the CPU throughput of fp32 for large products, at bf16 input precision.
 */
export type MatmulPrecision = 'fp32' | 'bf16';

/** A model's choice: 'auto' is bf16 where it is fast (CUDA, or a CPU with avx512_bf16), else fp32. */
export type PrecisionChoice = MatmulPrecision | 'auto';

/** The precision a choice means on `device` (typed error for anything else). */
export function resolvePrecision(choice: PrecisionChoice, device: Device): MatmulPrecision {
  if (choice === 'fp32' || choice === 'bf16') return choice;
  if (choice !== 'auto') throw new ShapeError(`precision must be 'fp32', 'bf16' or 'auto', got '${String(choice)}'`);
  return device === 'cuda' || native.cpuFeatures().avx512bf16 ? 'bf16' : 'fp32';
}

export interface MatmulOptions {
  precision?: MatmulPrecision;
}

/** The native precision code (0 fp32, 1 bf16) of `opts.precision` (default fp32); typed error otherwise. */
export function precisionCode(opts: MatmulOptions | undefined, op: string): number {
  const p = opts?.precision ?? 'fp32';
  if (p !== 'fp32' && p !== 'bf16') throw new ShapeError(`${op}: precision must be 'fp32' or 'bf16', got '${String(p)}'`);
  return p === 'bf16' ? 1 : 0;
}

/**
 * y[..., N] = x[..., K] · w[N, K]^T (+ bias[N]). x is f32; w and bias may be f32, bf16 or f16.
 * native/ops_matmul.cc validates dtypes, devices and the bias.
 */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null, opts?: MatmulOptions): Tensor {
  const precision = precisionCode(opts, 'linear');
  expectRank('linear', 'weight', w, 2, '[N, K]');
  if (x.ndim < 1) throw new ShapeError('linear: x must have at least one dimension');
  const [N, K] = w.shape;
  if (x.shape[x.ndim - 1] !== K)
    throw new ShapeError(`linear: x ${shapeStr(x.shape)} has K=${x.shape[x.ndim - 1]} but weight ${shapeStr(w.shape)} expects ${K}`);
  const lead = x.shape.slice(0, -1);
  // A 2-D x goes in as is (any strides); other ranks are flattened, copying only if the layout needs it.
  const x2 = x.ndim === 2 ? x : x.reshape([-1, K]);
  const M = x2.shape[0];
  const out = Tensor.empty([...lead, N], 'f32', x.device);
  // Decode-sized calls are dominated by this JS side, so the common 2-D case creates no extra views.
  const out2 = out.ndim === 2 ? out : out.reshape([M, N]);
  try {
    native.linear(x2.desc(), w.desc(), bias ? bias.desc() : null, out2.desc(), precision);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (x2 !== x) x2.dispose();
    if (out2 !== out) out2.dispose();
  }
  return out;
}

/**
 * c[..., M, N] = a[..., M, K] · b[..., K, N] with batch dims broadcast (numpy rules). Either
 * operand may be a strided view (e.g. `k.transpose(-1, -2)`); b may be f32, bf16 or f16.
 */
export function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor {
  const precision = precisionCode(opts, 'matmul');
  if (a.ndim < 2 || b.ndim < 2)
    throw new ShapeError(`matmul: operands need at least 2 dims, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const M = a.shape[a.ndim - 2],
    K = a.shape[a.ndim - 1];
  const K2 = b.shape[b.ndim - 2],
    N = b.shape[b.ndim - 1];
  const ab = a.shape.slice(0, -2),
    bb = b.shape.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = ab[i - (rank - ab.length)] ?? 1,
      db = bb[i - (rank - bb.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new ShapeError(`matmul: batch dims of ${shapeStr(a.shape)} and ${shapeStr(b.shape)} do not broadcast`);
    batch.push(da === 1 ? db : da);
  }
  const ae = a.expand([...batch, M, K]);
  const be = b.expand([...batch, K2, N]);
  const out = Tensor.empty([...batch, M, N], 'f32', a.device);
  try {
    native.matmul(ae.desc(), be.desc(), out.desc(), precision);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    ae.dispose();
    be.dispose();
  }
  return out;
}
