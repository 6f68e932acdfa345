// Layout ops built on copy/fill: cast, concat, pad, repeat. Views (slice, permute, ...) are
// methods on Tensor.
import type { DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { dimIndex } from './args.js';

export function cast(x: Tensor, dtype: DType): Tensor {
  return x.to(dtype);
}

/** Concatenates along `dim`; all other dims must match. */
export function concat(xs: Tensor[], dim: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no tensors');
  const first = xs[0];
  const d = dimIndex('concat', dim, first.ndim);
  let total = 0;
  for (const x of xs) {
    if (x.ndim !== first.ndim || x.shape.some((n, i) => i !== d && n !== first.shape[i])) {
      throw new ShapeError(`concat: [${x.shape.join(',')}] does not match [${first.shape.join(',')}] outside dim ${dim}`);
    }
    // Checked up front: a copy rejected half-way would leave a partly written result.
    if (x.device !== first.device) throw new ShapeError('concat: tensors on different devices');
    total += x.shape[d];
  }
  const shape = [...first.shape];
  shape[d] = total;
  const out = Tensor.empty(shape, first.dtype, first.device);
  let at = 0;
  for (const x of xs) {
    if (x.shape[d] > 0) {
      const dst = out.narrow(d, at, x.shape[d]);
      native.copy(x.desc(), dst.desc());
      dst.dispose();
    }
    at += x.shape[d];
  }
  return out;
}

/** Pads `dim` with `before`/`after` elements of `value`. */
export function pad(x: Tensor, dim: number, before: number, after: number, value = 0): Tensor {
  const d = dimIndex('pad', dim, x.ndim);
  if (before < 0 || after < 0) throw new ShapeError(`pad: negative padding ${before}/${after}`);
  const shape = [...x.shape];
  shape[d] += before + after;
  const out = Tensor.full(shape, value, x.dtype, x.device);
  const dst = out.narrow(d, before, x.shape[d]);
  native.copy(x.desc(), dst.desc());
  dst.dispose();
  return out;
}

/** Tiles `x` n times along `dim` (torch.repeat on one dim). */
export function repeat(x: Tensor, dim: number, n: number): Tensor {
  return concat(new Array<Tensor>(n).fill(x), dim);
}

/** Materialises a broadcast: expand to `shape` and copy into a contiguous tensor. */
export function broadcastTo(x: Tensor, shape: number[]): Tensor {
  const v = x.expand(shape);
  const out = v.contiguous();
  v.dispose();
  return out;
}
