// Softmax and log-softmax along one dimension, in float32. A row of all -inf gives NaN (as torch).
// native/ops_softmax.cc validates the call.
import { isFloat } from '../dtype.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { dimIndex } from './args.js';

function run(op: string, x: Tensor, dim: number, log: boolean): Tensor {
  const d = dimIndex(op, dim, x.ndim);
  const last = d === x.ndim - 1;
  // The kernel works on contiguous last-dim rows: move `dim` last, and back afterwards.
  const moved = last ? x : x.transpose(d, -1);
  const xx = isFloat(moved.dtype) ? moved.to('f32') : moved.contiguous();
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
