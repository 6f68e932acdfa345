// W8A8 linear cases: the row sums of int8 weights (from quantizeInt8, an all-zero row) and the
// linear over them at decode and GEMM sizes, M across the 48-row activation blocks and the 8-row
// weight tiles (and the AVX2 path's 6-row, 16-column tiles), K on and off the 4-byte quads and odd,
// bias on and off, rows that are
// all zero, constant, or hold an infinity (NaN outputs). Every output must equal the reference
// bit for bit: the fast paths repeat its rounding steps and the integer sums are exact.
import { int8RowSums, linearW8A8, quantizeInt8, Tensor, type Device, type DType, type W8A8Weight } from '../../src/runtime/index.js';
import { normal } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

export const cases: OpCase[] = [];

const exact: Tolerance = { atol: 0, exact: true, why: 'same rounding steps as the reference; integer sums are exact' };

function tensor(shape: number[], seed: number, device: Device, std = 1, dtype: DType = 'f32', edit?: (a: Float32Array) => void): Tensor {
  const a = normal(
    shape.reduce((x, y) => x * y, 1),
    seed,
    std,
  );
  edit?.(a);
  const t = Tensor.fromArray(a, shape, { device });
  if (dtype === 'f32') return t;
  const c = t.to(dtype);
  t.dispose();
  return c;
}

function w8a8(w: Tensor): W8A8Weight {
  const { q, scale } = quantizeInt8(w);
  return { q, scale, rowsum: int8RowSums(q) };
}

cases.push({
  op: 'int8RowSums',
  name: 'N=37 K=70 (row 5 all zero)',
  tol: exact,
  run: (device) => w8a8(tensor([37, 70], 11, device, 0.2, 'bf16', (a) => a.fill(0, 5 * 70, 6 * 70))).rowsum,
});

const shapes: [number, number, number][] = [
  [1, 64, 13],
  [3, 100, 8],
  [17, 258, 70],
  [48, 128, 40],
  [49, 2048, 24],
  [130, 320, 77],
  // odd K: the int16-pair (AVX2) path pads the last pair with a zero
  [7, 333, 33],
];
for (const [M, K, N] of shapes) {
  for (const withBias of [false, true]) {
    cases.push({
      op: 'linearW8A8',
      name: `M=${M} K=${K} N=${N}${withBias ? ' +bias' : ''}`,
      tol: exact,
      run: (device) => {
        const w = w8a8(tensor([N, K], K + N, device, 1 / Math.sqrt(K), 'bf16'));
        const x = tensor([M, K], M * 5 + K, device, 1, 'f32', (a) => {
          if (M > 2) a.fill(0, K, 2 * K); // row 1 all zero
          if (M > 3) a.fill(0.75, 2 * K, 3 * K); // row 2 constant
          if (M > 3) a[3 * K + 1] = Infinity; // row 3 non-finite -> NaN outputs
        });
        return linearW8A8(x, w, withBias ? tensor([N], N, device, 1, 'bf16') : null);
      },
    });
  }
}

cases.push({
  op: 'linearW8A8',
  name: '3-D x [2,5,40] and a strided 2-D view',
  tol: exact,
  run: (device) => {
    const w = w8a8(tensor([24, 40], 5, device, 0.15));
    const x3 = tensor([2, 5, 40], 4, device);
    const xv = tensor([9, 60], 6, device).narrow(1, 10, 40);
    return [linearW8A8(x3, w), linearW8A8(xv, w)];
  },
});
