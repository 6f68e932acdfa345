// softmax and logSoftmax against double math, their typed errors, and the harness cases on the
// narrower ISA paths.
import { afterAll, describe, expect, it } from 'vitest';
import { logSoftmax, softmax, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/softmax.js';
import { expectClose } from './support/compare.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

const impls = ['fast', 'reference'] as const;
afterAll(() => native.setCpuImpl('fast'));
const F32_EXP = 'float32 exp and row sums against double math';

describe.each(impls)('softmax vs plain math (%s kernels)', (impl) => {
  const use = () => native.setCpuImpl(impl);

  it('softmax and logSoftmax match double math', () => {
    use();
    const rows = 4,
      n = 301;
    const x = normal(rows * n, 14, 4);
    const tx = Tensor.fromArray(x, [rows, n]);
    const sm: number[] = [],
      lsm: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * n, (r + 1) * n));
      const m = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
      for (const v of row) {
        sm.push(Math.exp(v - m) / z);
        lsm.push(v - m - Math.log(z));
      }
    }
    expectClose(softmax(tx).dataSync() as Float32Array, sm, { atol: 1e-9, rtol: 3e-6, why: F32_EXP }, 'softmax');
    expectClose(logSoftmax(tx).dataSync() as Float32Array, lsm, { atol: 3e-6, rtol: 1e-6, why: F32_EXP }, 'logSoftmax');
    expectClose(
      softmax(tx.transpose(0, 1), 0).transpose(0, 1).dataSync() as Float32Array,
      sm,
      { atol: 1e-9, rtol: 3e-6, why: F32_EXP },
      'softmax over dim 0 of the transpose',
    );
  });
});

describe('typed errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => softmax(x, 3)).toThrow(/dim 3 out of range/);
  });
});

describeNarrowIsaPaths('softmax', cases);
