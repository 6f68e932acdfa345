// Embedding cases: f32/bf16/f16 tables, i32/i64 ids of several shapes, a row-strided table.
import { embedding, Tensor, type Device } from '../../src/runtime/index.js';
import { normal, randomInts } from '../support/random.js';
import type { OpCase } from './harness.js';

const table = (v: number, h: number, seed: number, device: Device) => Tensor.fromArray(normal(v * h, seed), [v, h], { device });
const ids = (shape: number[], v: number, seed: number, device: Device) =>
  Tensor.fromArray(
    randomInts(
      shape.reduce((a, b) => a * b, 1),
      seed,
      0,
      v,
    ),
    shape,
    { device },
  );

const EXACT = { atol: 0, exact: true, why: 'a gather with an exact dtype conversion' };
export const cases: OpCase[] = [];
for (const [v, h, shape] of [
  [1, 1, [1]],
  [10, 7, [3]],
  [100, 64, [2, 9]],
  [1000, 1024, [1, 33]],
  [37, 33, [2, 2, 5]],
] as [number, number, number[]][]) {
  cases.push({
    op: 'embedding',
    name: `f32 [${v},${h}] ids i32 [${shape}]`,
    tol: EXACT,
    run: (d) => embedding(table(v, h, 1, d), ids(shape, v, 2, d)),
  });
  cases.push({
    op: 'embedding',
    name: `bf16 [${v},${h}] ids i64 [${shape}]`,
    tol: EXACT,
    run: (d) => embedding(table(v, h, 3, d).to('bf16'), ids(shape, v, 4, d).to('i64')),
  });
}
cases.push({
  op: 'embedding',
  name: 'f16 table [50,48]',
  tol: EXACT,
  run: (d) => embedding(table(50, 48, 5, d).to('f16'), ids([7], 50, 6, d)),
});
cases.push({
  op: 'embedding',
  name: 'row-strided table (column slice)',
  tol: EXACT,
  run: (d) => embedding(table(20, 40, 7, d).slice(1, 8, 24), ids([11], 20, 8, d)),
});
cases.push({
  op: 'embedding',
  name: 'transposed table (copied)',
  tol: EXACT,
  run: (d) => embedding(table(16, 30, 9, d).transpose(0, 1), ids([4], 30, 10, d)),
});
