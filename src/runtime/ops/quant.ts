// Int8 weights with one f32 scale per output row (kernels/cpu/quant.h): `quantizeInt8` at load and
// `linearInt8` over the result. About half the bytes of bf16 weights, for layers whose speed is the
// weight stream (the LM's decode steps).
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank, shapeStr } from './args.js';
import { precisionCode, type MatmulOptions } from './matmul.js';

/** A weight `[N, K]` as int8 rows `q` and their f32 scales `scale [N]`: w ≈ scale[n] · q[n, k]. */
export interface Int8Weight {
  q: Tensor;
  scale: Tensor;
}

/**
 * Symmetric per-row quantization of a float weight `[N, K]`: scale[n] = max_k |w[n, k]| / 127 and
 * q = round-half-even(w / scale) in [-127, 127], so |q · scale - w| <= scale / 2 (up to the f32
 * rounding of w · 127 / max). Computed natively on the weight's device.
 */
export function quantizeInt8(w: Tensor): Int8Weight {
  expectRank('quantizeInt8', 'w', w, 2, '[N, K]');
  const [N, K] = w.shape;
  const q = Tensor.empty([N, K], 'i8', w.device);
  const scale = Tensor.empty([N], 'f32', w.device);
  try {
    native.quantizeInt8(w.desc(), q.desc(), scale.desc());
  } catch (e) {
    q.dispose();
    scale.dispose();
    throw e;
  }
  return { q, scale };
}

/**
 * y[..., N] = scale[n] · (x[..., K] · q[n, :]) + bias[n] for an `Int8Weight`; x is f32, rounded to
 * bf16 first at bf16 precision (the int8 values are exact either way), sums in f32.
 */
export function linearInt8(x: Tensor, w: Int8Weight, bias?: Tensor | null, opts?: MatmulOptions): Tensor {
  const precision = precisionCode(opts, 'linearInt8');
  expectRank('linearInt8', 'q', w.q, 2, '[N, K]');
  if (x.ndim < 1) throw new ShapeError('linearInt8: x must have at least one dimension');
  const [N, K] = w.q.shape;
  if (x.shape[x.ndim - 1] !== K)
    throw new ShapeError(`linearInt8: x ${shapeStr(x.shape)} has K=${x.shape[x.ndim - 1]} but q ${shapeStr(w.q.shape)} expects ${K}`);
  const lead = x.shape.slice(0, -1);
  const x2 = x.ndim === 2 ? x : x.reshape([-1, K]);
  const out = Tensor.empty([...lead, N], 'f32', x.device);
  const out2 = out.ndim === 2 ? out : out.reshape([x2.shape[0], N]);
  try {
    native.linearInt8(x2.desc(), w.q.desc(), w.scale.desc(), bias ? bias.desc() : null, out2.desc(), precision);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (x2 !== x) x2.dispose();
    if (out2 !== out) out2.dispose();
  }
  return out;
}
