// W8A8 linear beyond the differential harness: the quantization error against the f32 product
// stays within its analytic bound (on the widest path and the AVX2 one), the row sums are the sums
// of the int8 rows, the harness cases match the reference bit for bit on the AVX2 and portable
// paths too, and bad calls raise typed errors.
import { afterAll, describe, expect, it } from 'vitest';
import { int8RowSums, linear, linearW8A8, quantizeInt8, ShapeError, Tensor, tidy, type W8A8Weight } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/matmul-w8a8.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

afterAll(() => {
  native.setCpuIsa('gemm', 'auto');
});

// The activation scale of a row as the kernels compute it (range widened to include 0, / 255).
function actScale(x: Float32Array, K: number, m: number): number {
  let lo = 0,
    hi = 0;
  for (let k = 0; k < K; k++) {
    lo = Math.min(lo, x[m * K + k]);
    hi = Math.max(hi, x[m * K + k]);
  }
  return Math.fround(Math.fround(hi - lo) / 255) || 1;
}

function w8a8(w: Tensor): W8A8Weight {
  const { q, scale } = quantizeInt8(w);
  return { q, scale, rowsum: int8RowSums(q) };
}

describe('int8RowSums', () => {
  it('is the sum of each int8 row', () => {
    tidy(() => {
      const N = 40,
        K = 96;
      const r = w8a8(Tensor.fromArray(normal(N * K, 3, 0.05), [N, K]));
      const q = r.q.dataSync() as Int8Array,
        sum = r.rowsum.dataSync() as Int32Array;
      for (let n = 0; n < N; n++) expect(sum[n]).toBe(q.subarray(n * K, (n + 1) * K).reduce((a, b) => a + b, 0));
    });
  });
});

describe('linearW8A8 against the f32 product', () => {
  // |y - y32| <= sum_k |x_k| |w_k - w^_k| + |w^_k| |x_k - x^_k| <= (sw / 2) sum|x| + (sa / 2) sum|w^|,
  // plus f32 rounding of the epilogue (relative 1e-6 of the magnitudes involved).
  for (const [isa, K] of [
    ['auto', 512],
    ['auto', 258],
    ['avx2', 512],
  ] as const) {
    it(`stays within the quantization bound (gemm isa ${isa}, K=${K})`, () => {
      native.setCpuIsa('gemm', isa);
      try {
        tidy(() => {
          const M = 70,
            N = 50;
          const xHost = normal(M * K, 8, 1.5);
          const wHost = normal(N * K, 9, 1 / Math.sqrt(K));
          const bHost = normal(N, 10, 0.5);
          const w = Tensor.fromArray(wHost, [N, K]),
            b = Tensor.fromArray(bHost, [N]);
          const x = Tensor.fromArray(xHost, [M, K]);
          const r = w8a8(w);
          const got = linearW8A8(x, r, b).dataSync() as Float32Array;
          const want = linear(x, w, b).dataSync() as Float32Array;
          const q = r.q.dataSync() as Int8Array,
            sw = r.scale.dataSync() as Float32Array;
          let dot = 0,
            norm = 0,
            normW = 0;
          for (let m = 0; m < M; m++) {
            const sa = actScale(xHost, K, m);
            let sx = 0;
            for (let k = 0; k < K; k++) sx += Math.abs(xHost[m * K + k]);
            for (let n = 0; n < N; n++) {
              let swq = 0;
              for (let k = 0; k < K; k++) swq += Math.abs(q[n * K + k] * sw[n]);
              const bound = (sw[n] / 2) * sx + (sa / 2) * swq;
              const i = m * N + n;
              expect(Math.abs(got[i] - want[i]), `m=${m} n=${n}`).toBeLessThanOrEqual(bound * (1 + 1e-5) + 1e-5 * (sx + Math.abs(want[i])));
              dot += got[i] * want[i];
              norm += got[i] * got[i];
              normW += want[i] * want[i];
            }
          }
          // Gaussian operands: 8-bit steps leave the outputs at cosine > 0.999 to the f32 product.
          expect(dot / Math.sqrt(norm * normW)).toBeGreaterThan(0.999);
        });
      } finally {
        native.setCpuIsa('gemm', 'auto');
      }
    });
  }
});

describeNarrowIsaPaths('W8A8', cases, 'gemm');

describe('errors', () => {
  it('rejects mismatched or oversized K and a bias of the wrong length with ShapeError', () => {
    tidy(() => {
      const r = w8a8(Tensor.fromArray(normal(6 * 8, 2), [6, 8]));
      expect(() => linearW8A8(Tensor.fromArray(normal(3 * 9, 3), [3, 9]), r)).toThrow(ShapeError);
      expect(() => linearW8A8(Tensor.fromArray(normal(3 * 8, 3), [3, 8]), r, Tensor.zeros([5]))).toThrow(ShapeError);
      const big = w8a8(Tensor.zeros([2, 16385]));
      expect(() => linearW8A8(Tensor.zeros([1, 16385]), big)).toThrow(/exceeds 16384/);
    });
  });
});
