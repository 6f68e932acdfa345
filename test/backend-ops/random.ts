// randn cases: odd sizes, a DiT noise shape, nonzero offsets and 64-bit seeds.
import { randn } from '../../src/runtime/index.js';
import type { OpCase } from './harness.js';

const specs: { shape: number[]; seed: number; offset?: number }[] = [
  { shape: [7], seed: 0 },
  { shape: [3, 1000], seed: 42, offset: 5 },
  { shape: [2, 1500, 64], seed: 1234567 },
  { shape: [1, 33, 64], seed: 2 ** 40 + 3, offset: 2 ** 33 },
];

export const cases: OpCase[] = specs.map((s) => ({
  op: 'randn',
  name: `[${s.shape}] seed ${s.seed} offset ${s.offset ?? 0}`,
  // The Philox integers are identical everywhere; only the last f32 ulp of sin/log/sqrt
  // (computed in double, host libm vs device) may differ, and |x| < 7.
  tol: { atol: 1e-6, why: 'same Philox words; double-precision Box-Muller rounded to f32 by different libms' },
  run: (device) => randn(s.shape, s.seed, { offset: s.offset, device }),
}));
