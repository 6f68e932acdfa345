// RoPE cases: Qwen3/DiT head dim 128 with [T, D/2] and per-batch [B, T, D/2] tables, odd sizes,
// q/k taken as strided views of a fused projection, a bf16 input.
import { rope, ropeTables, Tensor, type Device } from '../../src/runtime/index.js';
import { randnTensor as randn } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

const positions = (t: number, from = 0) => Array.from({ length: t }, (_, i) => from + i);

const TOL: Tolerance = { atol: 0, exact: true, why: 'four products and two sums, each rounded once in float32 on every path (no FMA)' };

export const cases: OpCase[] = [];
for (const [b, t, h, d] of [
  [1, 1, 1, 2],
  [1, 7, 3, 16],
  [2, 13, 16, 128],
  [2, 5, 8, 64],
  [1, 3, 2, 34],
]) {
  cases.push({
    op: 'rope',
    name: `[${b},${t},${h},${d}] tables [T,D/2]`,
    tol: TOL,
    run: (dev) => {
      const { cos, sin } = ropeTables(positions(t), d, 1_000_000, dev);
      return rope(randn([b, t, h, d], b * t + h, dev), cos, sin);
    },
  });
}
cases.push({
  op: 'rope',
  name: 'per-batch tables [B,T,D/2], offset positions',
  tol: TOL,
  run: (dev) => {
    const a = ropeTables(positions(6, 100), 32, 10000, dev),
      b = ropeTables(positions(6, 3), 32, 10000, dev);
    const cos = Tensor.fromArray([...a.cos.dataSync(), ...b.cos.dataSync()] as number[], [2, 6, 16], { device: dev });
    const sin = Tensor.fromArray([...a.sin.dataSync(), ...b.sin.dataSync()] as number[], [2, 6, 16], { device: dev });
    return rope(randn([2, 6, 4, 32], 1, dev), cos, sin);
  },
});
cases.push({
  op: 'rope',
  name: 'q/k as views of a fused [B,T,3,H,D] projection',
  tol: TOL,
  run: (dev) => {
    const qkv = randn([2, 9, 3, 4, 64], 2, dev);
    const { cos, sin } = ropeTables(positions(9), 64, 1_000_000, dev);
    return [rope(qkv.select(2, 0), cos, sin), rope(qkv.select(2, 1), cos, sin)];
  },
});
cases.push({
  op: 'rope',
  name: 'head-dim-strided x ([B,T,D,H] transposed)',
  tol: TOL,
  run: (dev) => {
    const { cos, sin } = ropeTables(positions(5), 16, 10000, dev);
    return rope(randn([1, 5, 16, 3], 3, dev).transpose(2, 3), cos, sin);
  },
});
cases.push({
  op: 'rope',
  name: 'bf16 x and bf16-rounded tables',
  tol: TOL,
  run: (dev) => {
    const { cos, sin } = ropeTables(positions(4), 128, 1_000_000, dev);
    return rope(randn([1, 4, 2, 128], 4, dev).to('bf16'), cos.to('bf16'), sin.to('bf16'));
  },
});
