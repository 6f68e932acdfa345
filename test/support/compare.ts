// Numeric comparison used by every numerical test: max abs error (optionally scaled by the
// reference magnitude) and cosine similarity.
import { expect } from 'vitest';

export interface Diff {
  maxAbs: number;
  maxRef: number;
  cosine: number;
  worstIndex: number;
}

export function diff(actual: ArrayLike<number>, expected: ArrayLike<number>): Diff {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxAbs = 0,
    maxRef = 0,
    dot = 0,
    na = 0,
    nb = 0,
    worstIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      b = expected[i];
    const d = Math.abs(a - b);
    if (!(d <= maxAbs)) {
      maxAbs = Number.isNaN(d) ? Infinity : d;
      worstIndex = i;
    }
    maxRef = Math.max(maxRef, Math.abs(b));
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  const cosine = na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
  return { maxAbs, maxRef, cosine, worstIndex };
}

/** Asserts |a-b| <= atol + rtol*|b| elementwise; `why` states where the tolerance comes from. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol?: number; why: string },
  label = '',
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  const rtol = tol.rtol ?? 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      b = expected[i];
    const bound = tol.atol + rtol * Math.abs(b);
    if (!(Math.abs(a - b) <= bound) && !(Number.isNaN(a) && Number.isNaN(b)) && !(a === b)) {
      throw new Error(`${label}: element ${i}: got ${a}, expected ${b} (|diff| ${Math.abs(a - b)} > ${bound}; tolerance: ${tol.why})`);
    }
  }
}

/** Golden-style check: max abs scaled by max(1, max|expected|) and cosine. */
export function expectGolden(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { maxAbs: number; cosine: number },
  label = '',
): Diff {
  const d = diff(actual, expected);
  const scaled = d.maxAbs / Math.max(1, d.maxRef);
  expect(scaled, `${label} scaled max abs (worst at ${d.worstIndex})`).toBeLessThanOrEqual(tol.maxAbs);
  expect(d.cosine, `${label} cosine`).toBeGreaterThanOrEqual(tol.cosine);
  return d;
}
