// Copy/cast and fill cases, over odd shapes, strided views and every dtype pair that models use.
import { Tensor, type DType } from '../../src/runtime/index.js';
import { normal } from '../support/random.js';
import type { OpCase } from './harness.js';

const shapes: number[][] = [[1], [7], [3, 5], [2, 33, 17], [4, 1, 65], [2, 3, 4, 129]];
const pairs: [DType, DType][] = [
  ['f32', 'f32'],
  ['f32', 'bf16'],
  ['bf16', 'f32'],
  ['f32', 'f16'],
  ['f16', 'f32'],
  ['f32', 'i32'],
  ['i32', 'i64'],
  ['i64', 'f32'],
];

export const cases: OpCase[] = [];

for (const shape of shapes) {
  const n = shape.reduce((a, b) => a * b, 1);
  for (const [from, to] of pairs) {
    cases.push({
      op: 'copy',
      name: `${from}->${to} [${shape}]`,
      tol: { atol: 0, exact: true, why: 'a cast is exactly defined (round to nearest even)' },
      run: (device) => {
        const f = Tensor.fromArray(normal(n, n, 3), shape, { device });
        const src = from === 'f32' ? f : f.to(from);
        return src.to(to);
      },
    });
  }
  if (shape.length >= 2) {
    cases.push({
      op: 'copy',
      name: `transposed f32 [${shape}]`,
      tol: { atol: 0, exact: true, why: 'pure data movement' },
      run: (device) => Tensor.fromArray(normal(n, 7), shape, { device }).transpose(0, -1).contiguous(),
    });
  }
}

cases.push({
  op: 'fill',
  name: 'f32 [3,1000]',
  tol: { atol: 0, exact: true, why: 'constant' },
  run: (device) => Tensor.full([3, 1000], 1.5, 'f32', device),
});
