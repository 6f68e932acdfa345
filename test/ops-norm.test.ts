// rmsNorm and layerNorm against the upstream formulas in plain JS, their typed errors, and the
// harness cases on the narrower ISA paths.
import { afterAll, describe, expect, it } from 'vitest';
import { layerNorm, rmsNorm, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/norm.js';
import { expectClose } from './support/compare.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

const f = Math.fround;
const impls = ['fast', 'reference'] as const;
afterAll(() => native.setCpuImpl('fast'));
const MEAN_SQUARES = 'the mean of squares is a float32 (fast path) or double (reference) sum';

describe.each(impls)('norms vs plain math (%s kernels)', (impl) => {
  const use = () => native.setCpuImpl(impl);

  it('rmsNorm and layerNorm follow the upstream formulas', () => {
    use();
    const rows = 3,
      d = 37;
    const x = normal(rows * d, 10, 2),
      w = normal(d, 11);
    const rms: number[] = [],
      ln: number[] = [];
    const b = normal(d, 12);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * d, (r + 1) * d));
      const ms = row.reduce((acc, v) => acc + v * v, 0) / d;
      const inv = f(1 / Math.sqrt(f(f(ms) + 1e-6)));
      for (let i = 0; i < d; i++) rms.push(f(w[i] * f(row[i] * inv)));
      const mu = row.reduce((acc, v) => acc + v, 0) / d;
      const v = row.reduce((acc, t) => acc + (t - mu) ** 2, 0) / d;
      for (let i = 0; i < d; i++) ln.push(((row[i] - mu) / Math.sqrt(v + 1e-5)) * w[i] + b[i]);
    }
    // 4e-6 relative: the mean of squares is a float32 (fast path) or double (reference) sum.
    const tx = Tensor.fromArray(x, [rows, d]);
    expectClose(
      rmsNorm(tx, Tensor.fromArray(w, [d]), 1e-6).dataSync() as Float32Array,
      rms,
      { atol: 1e-6, rtol: 4e-6, why: MEAN_SQUARES },
      'rmsNorm',
    );
    expectClose(
      layerNorm(tx, Tensor.fromArray(w, [d]), Tensor.fromArray(b, [d]), 1e-5).dataSync() as Float32Array,
      ln,
      { atol: 2e-6, rtol: 4e-6, why: MEAN_SQUARES },
      'layerNorm',
    );
  });
});

describe('typed errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => rmsNorm(x, Tensor.zeros([5]), 1e-6)).toThrow(/rmsNorm: 'weight' has shape \[5\], expected \[4\]/);
    expect(() => rmsNorm(x, null, -1)).toThrow(/eps must be a finite non-negative number/);
  });
});

describeNarrowIsaPaths('norm', cases);
