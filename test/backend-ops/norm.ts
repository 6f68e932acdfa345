// RMSNorm / LayerNorm cases: model widths (head dim 128 q/k-norm, hidden 1024/2048) and odd sizes,
// with f32/bf16 weights, no weight, strided inputs.
import { addScalar, layerNorm, rmsNorm, Tensor, type Device } from '../../src/runtime/index.js';
import { randnTensor as randn } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

const TOL: Tolerance = {
  atol: 2e-6,
  rtol: 4e-6,
  why: 'the fast path sums squares in float32 lanes (reference: double), moving the scale by a few ulp',
};

const shapes: number[][] = [
  [1, 1],
  [3, 7],
  [2, 5, 16, 128],
  [4, 1024],
  [2, 3, 2048],
  [5, 1000],
  [2, 33],
];
export const cases: OpCase[] = [];
for (const shape of shapes) {
  const d = shape[shape.length - 1];
  cases.push({
    op: 'rmsNorm',
    name: `[${shape}] f32 weight`,
    tol: TOL,
    run: (dev) => rmsNorm(randn(shape, 1, dev, 3), randn([d], 2, dev), 1e-6),
  });
  cases.push({ op: 'rmsNorm', name: `[${shape}] no weight`, tol: TOL, run: (dev) => rmsNorm(randn(shape, 3, dev), null, 1e-6) });
  cases.push({
    op: 'layerNorm',
    name: `[${shape}] weight+bias`,
    tol: TOL,
    run: (dev) => layerNorm(randn(shape, 4, dev, 2), randn([d], 5, dev), randn([d], 6, dev), 1e-5),
  });
}
cases.push({
  op: 'rmsNorm',
  name: 'bf16 weight [3,4,64]',
  tol: TOL,
  run: (dev) => rmsNorm(randn([3, 4, 64], 7, dev), randn([64], 8, dev).to('bf16'), 1e-6),
});
cases.push({
  op: 'rmsNorm',
  name: 'f16 weight, eps 1e-5 [6,96]',
  tol: TOL,
  run: (dev) => rmsNorm(randn([6, 96], 9, dev, 0.01), randn([96], 10, dev).to('f16'), 1e-5),
});
cases.push({
  op: 'rmsNorm',
  name: 'strided x (every other row) [8,40]',
  tol: TOL,
  run: (dev) => rmsNorm(randn([8, 40], 11, dev).slice(0, 0, 8, 2), randn([40], 12, dev), 1e-6),
});
cases.push({
  op: 'rmsNorm',
  name: 'all-zero row (eps only)',
  tol: TOL,
  run: (dev) => rmsNorm(Tensor.zeros([2, 17], 'f32', dev), randn([17], 13, dev), 1e-6),
});
cases.push({
  op: 'layerNorm',
  name: 'no weight/bias, transposed [30,7]^T',
  tol: TOL,
  run: (dev) => layerNorm(randn([30, 7], 14, dev).transpose(0, 1), null, null, 1e-5),
});
cases.push({
  op: 'layerNorm',
  name: 'large mean offset [4,300]',
  tol: { ...TOL, atol: 2e-5, why: TOL.why + '; mean 100 costs float32 precision in (x - mean)' },
  run: (dev) => layerNorm(addScalar(randn([4, 300], 15, dev), 100), randn([300], 16, dev), null, 1e-5),
});
