// Softmax / logSoftmax cases: vocab-sized rows, odd lengths, non-last dims, -inf masking and the
// all -inf row.
import { logSoftmax, softmax, Tensor, type Device } from '../../src/runtime/index.js';
import { normal, randnTensor } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

const randn = (shape: number[], seed: number, device: Device, std = 3) => randnTensor(shape, seed, device, std);

const SM: Tolerance = {
  atol: 1e-9,
  rtol: 2e-6,
  why: 'vector exp (~2 ulp); sums in double on both paths; multiply by 1/sum vs divide: 1 ulp',
};
const LSM: Tolerance = { atol: 2e-6, rtol: 1e-6, why: 'x - max is exact; log(sum) differs by the vector exp error (~2 ulp of the sum)' };

export const cases: OpCase[] = [];
for (const shape of [
  [1, 1],
  [3, 7],
  [2, 16, 33],
  [4, 1000],
  [2, 151669],
  [2, 4, 3, 129],
]) {
  cases.push({ op: 'softmax', name: `[${shape}]`, tol: SM, run: (d) => softmax(randn(shape, 1, d)) });
  cases.push({ op: 'logSoftmax', name: `[${shape}]`, tol: LSM, run: (d) => logSoftmax(randn(shape, 2, d)) });
}
cases.push({ op: 'softmax', name: 'dim 1 of [3,17,5]', tol: SM, run: (d) => softmax(randn([3, 17, 5], 3, d), 1) });
cases.push({ op: 'logSoftmax', name: 'dim 0 of [9,4]', tol: LSM, run: (d) => logSoftmax(randn([9, 4], 4, d), 0) });
cases.push({
  op: 'softmax',
  name: 'strided rows (transposed input, last dim)',
  tol: SM,
  run: (d) => softmax(randn([20, 6], 5, d).transpose(0, 1)),
});
cases.push({
  op: 'softmax',
  name: '-inf masked entries and an all -inf row (NaN)',
  tol: SM,
  run: (d) => {
    const v = Float32Array.from(normal(40, 6));
    for (let i = 0; i < 40; i += 3) v[i] = -Infinity;
    for (let i = 20; i < 40; i++) v[i] = -Infinity;
    const x = Tensor.fromArray(v, [2, 20], { device: d });
    return [softmax(x), logSoftmax(x)];
  },
});
cases.push({ op: 'softmax', name: 'large logits (100s) [3,50]', tol: SM, run: (d) => softmax(randn([3, 50], 7, d, 300)) });
