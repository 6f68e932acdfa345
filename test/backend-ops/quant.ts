// quantizeInt8 / linearInt8 cases: every float weight dtype, strided weights and a zero row for the
// quantizer (q and scale must match the reference exactly: both sides do the same f32 operations);
// linear over int8 rows for decode sizes (M <= 4, the GEMV) and prompt sizes (widened blocks through
// the GEMM, N across the ~16 MB block edge), both precisions, bias on and off, strided x and a q view
// whose row stride exceeds K; at bf16, decode rows as int16 (K past the int32 chunk, a ragged last
// line) and rows with an outlier, which go the bf16 way.
import { linearInt8, quantizeInt8, Tensor, type Device, type DType } from '../../src/runtime/index.js';
import { normal } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

export const cases: OpCase[] = [];

function tensor(shape: number[], seed: number, device: Device, std = 1, dtype: DType = 'f32'): Tensor {
  const t = Tensor.fromArray(
    normal(
      shape.reduce((a, b) => a * b, 1),
      seed,
      std,
    ),
    shape,
    { device },
  );
  return dtype === 'f32' ? t : t.to(dtype);
}

const exact: Tolerance = { atol: 0, exact: true, why: 'the same f32 operations (max, divide, multiply, round half even) on every side' };

for (const [N, K, wd, layout] of [
  [7, 33, 'f32', 'contiguous'],
  [64, 100, 'bf16', 'contiguous'],
  [5, 17, 'f16', 'contiguous'],
  [12, 40, 'f32', 'transposed'],
  [9, 300, 'bf16', 'zero row'],
] as [number, number, DType, string][]) {
  cases.push({
    op: 'quantizeInt8',
    name: `[${N},${K}] w=${wd} ${layout}`,
    tol: exact,
    run: (device) => {
      let w = layout === 'transposed' ? tensor([K, N], N + K, device, 0.3, wd).transpose(0, 1) : tensor([N, K], N + K, device, 0.3, wd);
      if (layout === 'zero row') {
        w.narrow(0, 3, 1).assign(Tensor.zeros([1, K], wd, device));
        w = w.contiguous();
      }
      const { q, scale } = quantizeInt8(w);
      return [q, scale];
    },
  });
}

// Outputs have about unit variance (x ~ N(0, 1), w ~ N(0, 1/K)); the fast paths sum in f32 in blocked
// order, the reference in double, as for `linear` (test/backend-ops/matmul.ts).
function tol(K: number, bf16: boolean): Tolerance {
  return {
    atol: 1e-5 + 3e-7 * K,
    rtol: 1e-5,
    why: `${bf16 ? 'x as bf16 or as int16 decode rows on both sides (products exact); ' : ''}f32 accumulation over K=${K} vs a double-precision reference`,
  };
}

for (const [M, K, N, precision, bias, x0] of [
  [1, 33, 47, 'fp32', false, 'contiguous'],
  [2, 64, 70, 'fp32', true, 'contiguous'],
  [3, 257, 129, 'bf16', true, 'contiguous'],
  [4, 1030, 65, 'fp32', true, 'row-strided'],
  [2, 1024, 200, 'bf16', false, 'row-strided'],
  [5, 100, 70, 'fp32', true, 'contiguous'],
  [17, 257, 129, 'bf16', true, 'row-strided'],
  [6, 2048, 2100, 'fp32', false, 'contiguous'],
  [5, 2048, 4200, 'bf16', true, 'contiguous'],
  [130, 77, 45, 'bf16', false, 'transposed'],
  [1, 5000, 40, 'bf16', true, 'contiguous'],
  [4, 4161, 33, 'bf16', false, 'row-strided'],
] as [number, number, number, 'fp32' | 'bf16', boolean, string][]) {
  cases.push({
    op: 'linearInt8',
    name: `M=${M} K=${K} N=${N} ${precision}${bias ? ' +bias' : ''} x ${x0}`,
    tol: tol(K, precision === 'bf16'),
    run: (device) => {
      const x =
        x0 === 'row-strided'
          ? tensor([M, K + 6], M + K, device).narrow(1, 3, K)
          : x0 === 'transposed'
            ? tensor([K, M], M + K, device).transpose(0, 1)
            : tensor([M, K], M + K, device);
      const w = quantizeInt8(tensor([N, K], K * 3 + N, device, 1 / Math.sqrt(K), 'bf16'));
      return linearInt8(x, w, bias ? tensor([N], N, device, 1, 'bf16') : null, { precision });
    },
  });
}

// A decode row with one element 1000x the others' scale: int16 steps would swamp them, so the rows
// are rounded to bf16 (quant.h). The bf16 error of the large term alone (~1000 * 2^-9 * |w|) is far
// above the tolerance, so a side that took the int16 way for this call would fail.
for (const M of [1, 3]) {
  cases.push({
    op: 'linearInt8',
    name: `decode rows with an outlier, M=${M} K=300 bf16`,
    tol: tol(300, true),
    run: (device) => {
      const xs = normal(M * 300, 11);
      xs[M * 300 - 7] = 1000;
      const x = Tensor.fromArray(xs, [M, 300], { device });
      return linearInt8(x, quantizeInt8(tensor([50, 300], 12, device, 1 / Math.sqrt(300), 'bf16')), null, { precision: 'bf16' });
    },
  });
}

// Rows [3, 3 + 20) of a quantized weight, columns [8, 8 + 48): the row stride (64) exceeds K.
cases.push({
  op: 'linearInt8',
  name: 'q and scale views (row stride 64 > K 48), M=2 and M=20',
  tol: tol(48, false),
  run: (device) => {
    const { q, scale } = quantizeInt8(tensor([40, 64], 8, device, 0.14));
    const w = { q: q.narrow(0, 3, 20).narrow(1, 8, 48), scale: scale.narrow(0, 3, 20) };
    return [linearInt8(tensor([2, 48], 9, device), w), linearInt8(tensor([20, 48], 10, device), w)];
  },
});
