// Softmax and log-softmax along one dimension, in float32. A row of all -inf gives NaN (as torch).
import { isFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

function run(op: string, x: Tensor, dim: number, log: boolean): Tensor {
  if (!isFloat(x.dtype)) throw new ShapeError(`${op}: x has dtype ${x.dtype}, expected a float dtype`);
  if (x.ndim === 0) throw new ShapeError(`${op}: x has no dimensions`);
  const d = dim < 0 ? dim + x.ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= x.ndim) throw new ShapeError(`${op}: dim ${dim} out of range for rank ${x.ndim}`);
  const last = d === x.ndim - 1;
  // The kernel works on contiguous last-dim rows: move `dim` last, and back afterwards.
  const moved = last ? x : x.transpose(d, -1);
  const xx = moved.to('f32');
  if (!last) moved.dispose();
  let out: Tensor | undefined;
  try {
    out = Tensor.empty(xx.shape, 'f32', x.device);
    native.softmax(xx.desc(), out.desc(), log);
    if (last) return out;
    const back = out.transpose(d, -1);
    out.dispose();
    const r = back.contiguous();
    back.dispose();
    return r;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    xx.dispose();
  }
}

export function softmax(x: Tensor, dim = -1): Tensor {
  return run('softmax', x, dim, false);
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return run('logSoftmax', x, dim, true);
}
