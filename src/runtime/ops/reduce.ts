// Reductions along one dimension: sum, mean, max (f32 results) and argmax (i32, first maximum).
// native/ops_reduce.cc validates the call.
import { isFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { numelOf, Tensor } from '../tensor.js';
import { dimIndex } from './args.js';

const OPS = { sum: 0, mean: 1, max: 2 } as const;

interface Geometry {
  x: Tensor; // contiguous f32 copy or view of a float input (others go on for the glue to reject)
  outer: number;
  n: number;
  inner: number;
  shape: number[];
}

function geometry(op: string, x: Tensor, dim: number, keepDim: boolean): Geometry {
  const d = dimIndex(op, dim, x.ndim);
  const shape = keepDim ? x.shape.map((n, i) => (i === d ? 1 : n)) : x.shape.filter((_, i) => i !== d);
  return {
    x: isFloat(x.dtype) ? x.to('f32') : x.contiguous(),
    outer: numelOf(x.shape.slice(0, d)),
    n: x.shape[d],
    inner: numelOf(x.shape.slice(d + 1)),
    shape,
  };
}

function reduce(op: keyof typeof OPS, x: Tensor, dim: number, keepDim: boolean): Tensor {
  const g = geometry(op, x, dim, keepDim);
  let out: Tensor | undefined;
  try {
    if (g.n === 0) {
      if (op === 'max') throw new ShapeError(`max: cannot reduce dim ${dim} of size 0`);
      return Tensor.full(g.shape, op === 'sum' ? 0 : NaN, 'f32', x.device); // torch: sum 0, mean NaN
    }
    out = Tensor.empty(g.shape, 'f32', x.device);
    native.reduce(g.x.desc(), out.desc(), OPS[op], g.outer, g.n, g.inner);
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    g.x.dispose();
  }
}

export function sum(x: Tensor, dim: number, keepDim = false): Tensor {
  return reduce('sum', x, dim, keepDim);
}
export function mean(x: Tensor, dim: number, keepDim = false): Tensor {
  return reduce('mean', x, dim, keepDim);
}
/** Maximum along dim; NaN propagates. */
export function max(x: Tensor, dim: number, keepDim = false): Tensor {
  return reduce('max', x, dim, keepDim);
}

/** Index (i32) of the first maximum along dim; a NaN counts as the maximum (as torch). */
export function argmax(x: Tensor, dim = -1): Tensor {
  const g = geometry('argmax', x, dim, false);
  let out: Tensor | undefined;
  try {
    if (g.n === 0) throw new ShapeError(`argmax: cannot reduce dim ${dim} of size 0`);
    out = Tensor.empty(g.shape, 'i32', x.device);
    native.argmax(g.x.desc(), out.desc(), g.outer, g.n, g.inner);
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    g.x.dispose();
  }
}
