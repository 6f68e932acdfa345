// Rotary embedding: ropeTables against torch's float32 arithmetic, rope against the half-split
// rotation in plain JS, their typed errors, and the harness cases on the narrower ISA paths.
import { afterAll, describe, expect, it } from 'vitest';
import { rope, ropeTables, ShapeError, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/rope.js';
import { expectClose } from './support/compare.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

const f = Math.fround;
const impls = ['fast', 'reference'] as const;
afterAll(() => native.setCpuImpl('fast'));
const F32_STEPS = 'each product and sum rounded in float32 like torch';

describe.each(impls)('rope vs plain math (%s kernels)', (impl) => {
  const use = () => native.setCpuImpl(impl);

  it('rope rotates half-split pairs with float32 tables like torch', () => {
    use();
    const T = 5,
      H = 2,
      D = 8,
      theta = 10000;
    const { cos: c, sin: s } = ropeTables([0, 1, 2, 3, 1000], D, theta);
    expect(c.shape).toEqual([T, D / 2]);
    const cv = c.dataSync() as Float32Array,
      sv = s.dataSync() as Float32Array;
    const pos = [0, 1, 2, 3, 1000];
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < D / 2; i++) {
        // torch: inv_freq = 1 / theta ** (arange(0, D, 2).float() / D), each op in float32.
        const inv = f(1 / f(theta ** f((2 * i) / D)));
        const ang = f(pos[t] * inv);
        expect(cv[t * 4 + i]).toBe(f(Math.cos(ang)));
        expect(sv[t * 4 + i]).toBe(f(Math.sin(ang)));
      }
    }
    const x = normal(T * H * D, 13);
    const out = rope(Tensor.fromArray(x, [1, T, H, D]), c, s).dataSync() as Float32Array;
    const want: number[] = new Array(T * H * D);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const o = (t * H + h) * D;
        for (let i = 0; i < D / 2; i++) {
          const a = x[o + i],
            bb = x[o + i + D / 2],
            cc = cv[t * 4 + i],
            ss = sv[t * 4 + i];
          want[o + i] = f(f(a * cc) - f(bb * ss));
          want[o + i + D / 2] = f(f(bb * cc) + f(a * ss));
        }
      }
    }
    expectClose(out, want, { atol: 0, rtol: 0, why: F32_STEPS }, 'rope');
  });
});

describe('typed errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => rope(Tensor.zeros([1, 2, 1, 5]), Tensor.zeros([2, 2]), Tensor.zeros([2, 2]))).toThrow(/head dim 5 must be even/);
    expect(() => rope(Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([3, 2]), Tensor.zeros([3, 2]))).toThrow(/rope: cos\/sin have shape \[3,2\]/);
    expect(() => ropeTables([0, 1], 7, 10000)).toThrow(ShapeError);
  });
});

describeNarrowIsaPaths('rope', cases);
