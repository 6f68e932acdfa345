// Rotary position embedding (Qwen3RotaryEmbedding, default type, NeoX half-split layout).
import { getDefaultDevice } from '../backend.js';
import { isFloat, type Device } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank } from './args.js';

const f32 = Math.fround;

/**
 * cos/sin tables [T, D/2] for the given positions, reproducing torch's float32 arithmetic:
 * inv_freq[i] = 1 / theta^(f32(2i) / D) with every step rounded to f32, freqs = f32(pos * inv_freq),
 * then cos/sin of the f32 angle rounded to f32.
 */
export function ropeTables(
  positions: ArrayLike<number>,
  headDim: number,
  theta: number,
  device: Device = getDefaultDevice(),
): { cos: Tensor; sin: Tensor } {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2)
    throw new ShapeError(`ropeTables: headDim must be a positive even integer, got ${headDim}`);
  if (!(theta > 0) || !Number.isFinite(theta)) throw new ShapeError(`ropeTables: theta must be positive and finite, got ${theta}`);
  const half = headDim / 2;
  const t = positions.length;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(Math.pow(f32(theta), f32((2 * i) / headDim))));
  const c = new Float32Array(t * half),
    s = new Float32Array(t * half);
  for (let p = 0; p < t; p++) {
    const pos = positions[p];
    if (!Number.isFinite(pos)) throw new ShapeError(`ropeTables: position ${p} is ${pos}`);
    const fp = f32(pos);
    for (let i = 0; i < half; i++) {
      const angle = f32(fp * inv[i]);
      c[p * half + i] = Math.cos(angle);
      s[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: Tensor.fromArray(c, [t, half], { device }), sin: Tensor.fromArray(s, [t, half], { device }) };
}

/**
 * x [B, T, H, D] (any strides) with tables [T, D/2] or [B, T, D/2]:
 * o[i] = x[i] cos[i] - x[i+D/2] sin[i], o[i+D/2] = x[i+D/2] cos[i] + x[i] sin[i].
 * native/ops_rope.cc validates dtypes, devices, the head dim and the table shapes.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  expectRank('rope', 'x', x, 4, '[B, T, H, D]');
  const [B, T, H, D] = x.shape;
  // Tables of either accepted shape are expanded over the batch as f32; others go on unchanged.
  const table = (t: Tensor): Tensor => {
    const ok =
      (t.ndim === 2 && t.shape[0] === T && t.shape[1] === D / 2) ||
      (t.ndim === 3 && (t.shape[0] === B || t.shape[0] === 1) && t.shape[1] === T && t.shape[2] === D / 2);
    if (!ok || !isFloat(t.dtype)) return t.contiguous();
    const c = t.to('f32');
    const v = c.expand([B, T, D / 2]);
    c.dispose();
    return v;
  };
  const cv = table(cos),
    sv = table(sin);
  let out: Tensor | undefined;
  try {
    out = Tensor.empty([B, T, H, D], 'f32', x.device);
    native.rope(x.desc(), cv.desc(), sv.desc(), out.desc());
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    cv.dispose();
    sv.dispose();
  }
}
