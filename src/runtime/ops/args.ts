// What op wrappers share: the few checks they make themselves, and running a native call. The native glue validates every call (shapes,
// dtypes, devices, ranges; see docs/ARCHITECTURE.md), so a wrapper checks only what it needs to
// compute an output shape before it can allocate the output.
import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export const shapeStr = (s: readonly number[]): string => `[${s.join(',')}]`;

/** t has `ndim` dimensions (`layout` names them in the message, e.g. '[B, C, T]'). */
export function expectRank(op: string, name: string, t: Tensor, ndim: number, layout: string): void {
  if (t.ndim !== ndim) throw new ShapeError(`${op}: ${name} must be ${ndim}-D ${layout}, got ${shapeStr(t.shape)}`);
}

/** An integer option >= min, `def` when absent. */
export function intOption(op: string, name: string, v: number | undefined, def: number, min: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new ShapeError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  return x;
}

/** A dimension index in [-ndim, ndim) as a non-negative index. */
export function dimIndex(op: string, dim: number, ndim: number): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) throw new ShapeError(`${op}: dim ${dim} out of range for rank ${ndim}`);
  return d;
}

/** Runs a native call that writes `out`; disposes the temporaries, and `out` when the call is rejected. */
export function runInto(out: Tensor, temps: readonly (Tensor | null)[], call: () => void): Tensor {
  try {
    call();
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const t of temps) t?.dispose();
  }
}
