// sum, mean, max and argmax against double math, their typed errors, and the harness cases on the
// narrower ISA paths.
import { afterAll, describe, expect, it } from 'vitest';
import { argmax, max, mean, ShapeError, sum, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/reduce.js';
import { expectClose } from './support/compare.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

const impls = ['fast', 'reference'] as const;
afterAll(() => native.setCpuImpl('fast'));
const F32_SUMS = 'float32 accumulation against double sums';

describe.each(impls)('reductions vs plain math (%s kernels)', (impl) => {
  const use = () => native.setCpuImpl(impl);

  it('sum, mean, max and argmax match double math', () => {
    use();
    const rows = 4,
      n = 301;
    const x = normal(rows * n, 14, 4);
    const tx = Tensor.fromArray(x, [rows, n]);
    const sums: number[] = [],
      means: number[] = [],
      maxs: number[] = [],
      am: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * n, (r + 1) * n));
      const m = Math.max(...row);
      const s = row.reduce((acc, v) => acc + v, 0);
      sums.push(s);
      means.push(s / n);
      maxs.push(m);
      am.push(row.indexOf(m));
    }
    expectClose(sum(tx, 1).dataSync() as Float32Array, sums, { atol: 2e-5, rtol: 2e-6, why: F32_SUMS }, 'sum');
    expectClose(mean(tx, -1).dataSync() as Float32Array, means, { atol: 1e-6, rtol: 2e-6, why: F32_SUMS }, 'mean');
    expectClose(max(tx, 1).dataSync() as Float32Array, maxs, { atol: 0, rtol: 0, why: F32_SUMS }, 'max');
    expect(Array.from(argmax(tx).dataSync())).toEqual(am);
    expect(sum(tx, 0, true).shape).toEqual([1, n]);
    const col = sum(tx, 0).dataSync() as Float32Array;
    expectClose(
      [col[0], col[n - 1]],
      [x[0] + x[n] + x[2 * n] + x[3 * n], x[n - 1] + x[2 * n - 1] + x[3 * n - 1] + x[4 * n - 1]],
      { atol: 1e-5, rtol: 1e-6, why: F32_SUMS },
      'sum dim 0',
    );
    expect(Array.from(argmax(Tensor.fromArray([3, 7, 7, 1], [4])).dataSync())).toEqual([1]);
  });
});

describe('typed errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => sum(x, -4)).toThrow(ShapeError);
    expect(() => argmax(Tensor.zeros([2, 0]))).toThrow(/size 0/);
  });
});

describeNarrowIsaPaths('reduce', cases);
