// linear / matmul cases: decode (M <= 4, the GEMV path) and GEMM sizes, K and N off the SIMD
// widths, every weight dtype, bias on and off, batched and broadcast matmul, strided views and
// the bf16 precision mode. Sizes cross the kernels' blocking edges (MR=8, NR=32, KC=256/512).
import { linear, matmul, Tensor, type Device, type DType } from '../../src/runtime/index.js';
import { normal } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

export const cases: OpCase[] = [];

// The reference accumulates in double; the fast kernels in f32 in blocked order. With unit-variance
// outputs the f32 rounding error grows about linearly in K (K·eps·mean|x·w| worst case).
function tol(K: number): Tolerance {
  return { atol: 1e-5 + 3e-7 * K, rtol: 1e-5, why: `f32 accumulation over K=${K} vs a double-precision reference` };
}

function tensor(shape: number[], seed: number, device: Device, std = 1, dtype: DType = 'f32'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = Tensor.fromArray(normal(n, seed, std), shape, { device });
  return dtype === 'f32' ? t : t.to(dtype);
}

const wdtypes: DType[] = ['f32', 'bf16', 'f16'];
const kn: [number, number][] = [
  [33, 47],
  [100, 70],
  [257, 129],
];
for (const M of [1, 2, 3, 17, 128]) {
  for (const [K, N] of kn) {
    for (const wd of wdtypes) {
      for (const withBias of [false, true]) {
        cases.push({
          op: 'linear',
          name: `M=${M} K=${K} N=${N} w=${wd}${withBias ? ' +bias' : ''}`,
          tol: tol(K),
          run: (device) => {
            const x = tensor([M, K], M * 7 + K, device);
            const w = tensor([N, K], K * 3 + N, device, 1 / Math.sqrt(K), wd);
            const b = withBias ? tensor([N], N, device, 1, wd) : null;
            return linear(x, w, b);
          },
        });
      }
    }
  }
}

// Several K blocks, several N tasks and an M remainder in one product.
cases.push({
  op: 'linear',
  name: 'M=300 K=600 N=200 w=bf16 +bias',
  tol: tol(600),
  run: (device) => linear(tensor([300, 600], 1, device), tensor([200, 600], 2, device, 0.04, 'bf16'), tensor([200], 3, device)),
});

cases.push({
  op: 'linear',
  name: '3-D x [2,5,40] w=f32',
  tol: tol(40),
  run: (device) => linear(tensor([2, 5, 40], 4, device), tensor([24, 40], 5, device, 0.15)),
});

cases.push({
  op: 'linear',
  name: 'transposed x view [33,9]^T, w=f16',
  tol: tol(33),
  run: (device) => {
    const xt = tensor([33, 9], 6, device).transpose(0, 1);
    return linear(xt, tensor([20, 33], 7, device, 0.17, 'f16'));
  },
});

cases.push({
  op: 'linear',
  name: 'weight slice view (row stride > K), M=2 and M=20',
  tol: tol(48),
  run: (device) => {
    const w = tensor([40, 64], 8, device, 0.14).narrow(1, 8, 48);
    return [linear(tensor([2, 48], 9, device), w), linear(tensor([20, 48], 10, device), w)];
  },
});

for (const [M, wd] of [
  [1, 'bf16'],
  [3, 'bf16'],
  [17, 'f32'],
  [130, 'bf16'],
  [64, 'f16'],
] as [number, DType][]) {
  const K = M === 130 ? 1100 : 77,
    N = 45;
  cases.push({
    op: 'linear',
    name: `precision bf16 M=${M} K=${K} N=${N} w=${wd} +bias`,
    tol: { ...tol(K), why: `both sides round operands to bf16; f32 accumulation over K=${K} vs double` },
    run: (device) =>
      linear(tensor([M, K], 11 + M, device), tensor([N, K], 12, device, 1 / Math.sqrt(K), wd), tensor([N], 13, device), {
        precision: 'bf16',
      }),
  });
}

// bf16 precision with bf16 weights and M > 4 reads the weights in place (12 weight rows x 32
// activation rows per tile, 256 k pairs per block): M, N and K off those edges, a row-strided x,
// no bias, and an odd K (the blocked path takes it).
for (const [M, K, N, bias, strided] of [
  [37, 1030, 25, true, false],
  [70, 94, 13, false, false],
  [5, 512, 12, true, true],
  [33, 515, 40, true, false],
] as [number, number, number, boolean, boolean][]) {
  cases.push({
    op: 'linear',
    name: `precision bf16, bf16 weights in place M=${M} K=${K} N=${N}${bias ? ' +bias' : ''}${strided ? ' x row-strided' : ''}`,
    tol: { ...tol(K), why: `both sides round operands to bf16; f32 accumulation over K=${K} vs double` },
    run: (device) => {
      const x = strided ? tensor([M, K + 6], 40 + M, device).narrow(1, 3, K) : tensor([M, K], 40 + M, device);
      return linear(x, tensor([N, K], 41, device, 1 / Math.sqrt(K), 'bf16'), bias ? tensor([N], 42, device) : null, { precision: 'bf16' });
    },
  });
}

cases.push({
  op: 'matmul',
  name: '2-D [17,33] x [33,47]',
  tol: tol(33),
  run: (device) => matmul(tensor([17, 33], 20, device), tensor([33, 47], 21, device, 0.17)),
});
cases.push({
  op: 'matmul',
  name: 'batched [3,17,40] x [3,40,50]',
  tol: tol(40),
  run: (device) => matmul(tensor([3, 17, 40], 22, device), tensor([3, 40, 50], 23, device, 0.16)),
});
cases.push({
  op: 'matmul',
  name: 'broadcast [2,1,5,24] x [3,24,7]',
  tol: tol(24),
  run: (device) => matmul(tensor([2, 1, 5, 24], 24, device), tensor([3, 24, 7], 25, device, 0.2)),
});
cases.push({
  op: 'matmul',
  name: 'q·k^T with k a transposed view [2,9,16]^T',
  tol: tol(16),
  run: (device) => {
    const q = tensor([2, 11, 16], 26, device);
    const k = tensor([2, 9, 16], 27, device, 0.25);
    return matmul(q, k.transpose(-1, -2));
  },
});
cases.push({
  op: 'matmul',
  name: 'transposed a view and bf16 b [2,70,19]^T x [70,33]',
  tol: tol(70),
  run: (device) => matmul(tensor([2, 70, 19], 28, device).transpose(1, 2), tensor([70, 33], 29, device, 0.12, 'bf16')),
});
cases.push({
  op: 'matmul',
  name: 'M=1 against a transposed weight [50,300]^T (GEMV layout)',
  tol: tol(300),
  run: (device) => matmul(tensor([4, 1, 300], 30, device), tensor([50, 300], 31, device, 0.06).transpose(0, 1)),
});
cases.push({
  op: 'matmul',
  name: 'precision bf16 [2,40,520] x [520,36]',
  tol: { ...tol(520), why: 'both sides round operands to bf16; f32 accumulation over K=520 vs double' },
  run: (device) => matmul(tensor([2, 40, 520], 32, device), tensor([520, 36], 33, device, 0.044), { precision: 'bf16' }),
});
