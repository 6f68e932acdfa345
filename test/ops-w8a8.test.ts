// W8A8 linear beyond the differential harness: the quantization error against the f32 product
// stays within its analytic bound (on the vpdpbusd path and the portable one), the quantizer's
// rows reconstruct the weights to half a step, and bad calls raise typed errors.
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError, linear, linearW8A8, quantizeRowsInt8, ShapeError, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
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

describe('quantizeRowsInt8', () => {
  it('reconstructs every weight to within half a step of its row scale, with rowsum the sum of q', () => {
    tidy(() => {
      const N = 40,
        K = 96;
      const wHost = normal(N * K, 3, 0.05);
      const r = quantizeRowsInt8(Tensor.fromArray(wHost, [N, K]));
      const q = r.q.dataSync() as Int8Array,
        s = r.scale.dataSync() as Float32Array,
        sum = r.rowsum.dataSync() as Int32Array;
      for (let n = 0; n < N; n++) {
        let amax = 0,
          total = 0;
        for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(wHost[n * K + k]));
        expect(s[n]).toBeCloseTo(amax / 127, 9);
        for (let k = 0; k < K; k++) {
          total += q[n * K + k];
          // Half a step, plus the f32 rounding of the division.
          expect(Math.abs(q[n * K + k] * s[n] - wHost[n * K + k])).toBeLessThanOrEqual(s[n] * 0.5 * (1 + 1e-6));
        }
        expect(sum[n]).toBe(total);
      }
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
          const r = quantizeRowsInt8(w);
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

describe('errors', () => {
  it('names a non-finite weight row, and rejects mismatched or oversized K with ShapeError', () => {
    tidy(() => {
      const w = normal(4 * 8, 1);
      w[2 * 8 + 5] = Number.NaN;
      expect(() => quantizeRowsInt8(Tensor.fromArray(w, [4, 8])).q.dataSync()).toThrow(KernelError);
      expect(() => quantizeRowsInt8(Tensor.fromArray(w, [4, 8])).q.dataSync()).toThrow(/row 2/);
      const r = quantizeRowsInt8(Tensor.fromArray(normal(6 * 8, 2), [6, 8]));
      expect(() => linearW8A8(Tensor.fromArray(normal(3 * 9, 3), [3, 9]), r)).toThrow(ShapeError);
      expect(() => quantizeRowsInt8(Tensor.zeros([2, 16385]))).toThrow(/K=16385/);
      expect(() => linearW8A8(Tensor.fromArray(normal(3 * 8, 3), [3, 8]), r, Tensor.zeros([5]))).toThrow(ShapeError);
    });
  });
});
