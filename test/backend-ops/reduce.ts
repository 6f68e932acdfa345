// Reduction cases: last-dim and middle-dim sum/mean/max with keepDim, odd sizes, strided input,
// NaN propagation, and argmax with ties and NaN.
import { argmax, max, mean, sum, Tensor, type Device } from '../../src/runtime/index.js';
import { normal, randnTensor as randn, randomInts } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

const SUM: Tolerance = { atol: 2e-5, rtol: 2e-6, why: 'float32 accumulation (fast) vs double (reference) over up to ~4000 N(0,1) terms' };
const MAX: Tolerance = { atol: 0, exact: true, why: 'max selects an input value' };
const IDX: Tolerance = { atol: 0, exact: true, why: 'indices are exact (first maximum)' };

export const cases: OpCase[] = [];
const shapes: [number[], number][] = [
  [[7], 0],
  [[3, 5], 1],
  [[3, 5], 0],
  [[2, 33, 17], 1],
  [[2, 33, 17], -1],
  [[4, 4099], 1],
  [[2, 3, 1000, 5], 2],
  [[1, 1], 0],
];
for (const [shape, dim] of shapes) {
  for (const keep of [false, true]) {
    const tag = `[${shape}] dim ${dim}${keep ? ' keepDim' : ''}`;
    cases.push({ op: 'sum', name: tag, tol: SUM, run: (d) => sum(randn(shape, 1, d), dim, keep) });
    cases.push({ op: 'mean', name: tag, tol: SUM, run: (d) => mean(randn(shape, 2, d), dim, keep) });
    cases.push({ op: 'max', name: tag, tol: MAX, run: (d) => max(randn(shape, 3, d), dim, keep) });
  }
  cases.push({ op: 'argmax', name: `[${shape}] dim ${dim}`, tol: IDX, run: (d) => argmax(randn(shape, 4, d), dim) });
}
cases.push({ op: 'sum', name: 'transposed [9,14]^T dim 1', tol: SUM, run: (d) => sum(randn([9, 14], 5, d).transpose(0, 1), 1) });
cases.push({
  op: 'argmax',
  name: 'ties pick the first index',
  tol: IDX,
  run: (d) => argmax(Tensor.fromArray(Float32Array.from(randomInts(3 * 50, 6, 0, 4)), [3, 50], { device: d })),
});
cases.push({
  op: 'argmax',
  name: 'NaN wins, -inf masked rows',
  tol: IDX,
  run: (d) =>
    argmax(
      Tensor.fromArray([1, NaN, 5, NaN, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 2, -Infinity, 2], [3, 4], { device: d }),
    ),
});
cases.push({
  op: 'max',
  name: 'NaN propagates [2,40]',
  tol: MAX,
  run: (d) => {
    const v = Float32Array.from(normal(80, 7));
    v[13] = NaN;
    return [max(Tensor.fromArray(v, [2, 40], { device: d }), 1), max(Tensor.fromArray(v, [2, 40], { device: d }), 0)];
  },
});
