// Int8 weights beyond the differential harness: the quantization error bound per row (the property
// the LM's quality band rests on), linearInt8 against the dequantized weight through plain
// `linear`, every CPU ISA path of both ops against the reference kernels, and the typed errors.
import { afterAll, describe, expect, it } from 'vitest';
import { linear, linearInt8, quantizeInt8, ShapeError, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/quant.js';
import { normal } from './support/random.js';

afterAll(() => {
  native.setCpuIsa('gemm', 'auto');
  native.setCpuImpl('fast');
});

describe('quantizeInt8', () => {
  // Rows of very different magnitudes (1e-3 .. 1e3), a zero row, bf16 and f32 inputs, and values on
  // exact half steps of the grid (w = (j + 0.5) * amax / 127) where rounding ties.
  it('dequantizes every element to within scale/2 of the weight, and uses the full range per row', () => {
    const N = 12,
      K = 515;
    const host = normal(N * K, 3, 1);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) host[n * K + k] *= 10 ** ((n % 7) - 3);
    for (let k = 0; k < K; k++) host[5 * K + k] = 0;
    for (let k = 0; k < K; k++) host[7 * K + k] = k === 0 ? 127 : ((k % 254) - 127 + 0.5) * (k % 2 ? 1 : -1);
    for (const dtype of ['f32', 'bf16'] as const) {
      tidy(() => {
        const w = Tensor.fromArray(host, [N, K]).to(dtype);
        const exact = w.toFloat32Sync();
        const { q, scale } = quantizeInt8(w);
        const qs = q.dataSync() as Int8Array;
        const ss = scale.dataSync() as Float32Array;
        for (let n = 0; n < N; n++) {
          const s = ss[n];
          let worst = 0,
            qmax = 0;
          for (let k = 0; k < K; k++) {
            worst = Math.max(worst, Math.abs(qs[n * K + k] * s - exact[n * K + k]));
            qmax = Math.max(qmax, Math.abs(qs[n * K + k]));
          }
          // Rounding to the nearest grid point errs by at most half a step; w * (127 / amax) is
          // computed in f32 (two roundings, ~2^-23 relative each, on values up to 127), which can
          // move a tie by ~3e-5 of a step.
          expect(worst, `${dtype} row ${n}`).toBeLessThanOrEqual(s * (0.5 + 3e-5));
          if (n === 5) {
            expect(s).toBe(0);
            expect(qmax).toBe(0);
          } else {
            expect(qmax, `${dtype} row ${n}`).toBe(127);
          }
        }
      });
    }
  });
});

describe('linearInt8', () => {
  it('equals plain linear on the dequantized weight (scale[n] * q[n, k] as f32)', () => {
    const [M, K, N] = [3, 300, 90];
    tidy(() => {
      const x = Tensor.fromArray(normal(M * K, 1), [M, K]);
      const w = quantizeInt8(Tensor.fromArray(normal(N * K, 2, 1 / Math.sqrt(K)), [N, K]));
      const bias = Tensor.fromArray(normal(N, 4), [N]);
      const qs = w.q.dataSync() as Int8Array;
      const ss = w.scale.dataSync() as Float32Array;
      const deq = Tensor.fromArray(
        Float32Array.from(qs, (v, i) => v * ss[Math.floor(i / K)]),
        [N, K],
      );
      const got = linearInt8(x, w, bias).dataSync() as Float32Array;
      const want = linear(x, deq, bias).dataSync() as Float32Array;
      // Same products up to where the scale is applied (after the sum vs inside each term): f32
      // rounding of sums over K = 300 on unit-variance outputs.
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
    });
  });
});

describe('every ISA path matches the reference kernels (the harness cases)', () => {
  const feats = native.cpuFeatures();
  // 'avx512bf16': the bf16-precision GEMV dots int8 rows with vdpbf16ps; 'avx512': with f32 FMA.
  const usable = (['avx512bf16', 'avx512', 'avx2', 'scalar'] as const).filter(
    (i) => (i !== 'avx512bf16' || feats.avx512bf16) && (i !== 'avx512' || feats.avx512f) && (i !== 'avx2' || feats.avx2),
  );
  const outputs = (c: (typeof cases)[number], impl: 'fast' | 'reference'): Float64Array[] => {
    native.setCpuImpl(impl);
    try {
      return tidy(() => {
        const r = c.run('cpu');
        return (Array.isArray(r) ? r : [r]).map((t) => Float64Array.from(t.dataSync() as ArrayLike<number>));
      });
    } finally {
      native.setCpuImpl('fast');
    }
  };
  for (const isa of usable) {
    it(isa, () => {
      expect(native.setCpuIsa('gemm', isa)).toBe(isa);
      try {
        for (const c of cases) {
          const ref = outputs(c, 'reference'),
            got = outputs(c, 'fast');
          for (let o = 0; o < ref.length; o++) {
            let worst = 0;
            for (let i = 0; i < ref[o].length; i++) {
              const bound = c.tol.exact ? 0 : c.tol.atol + (c.tol.rtol ?? 0) * Math.abs(ref[o][i]);
              worst = Math.max(worst, Math.abs(got[o][i] - ref[o][i]) - bound);
            }
            expect(worst, `${isa} ${c.op} ${c.name} output ${o} (${c.tol.why})`).toBeLessThanOrEqual(0);
          }
        }
      } finally {
        native.setCpuIsa('gemm', 'auto');
      }
    });
  }
});

describe('errors', () => {
  it('rejects bad ranks, K mismatches and wrong dtypes with ShapeError', () => {
    tidy(() => {
      const w = quantizeInt8(Tensor.zeros([4, 8]));
      expect(() => quantizeInt8(Tensor.zeros([8]))).toThrow(ShapeError);
      expect(() => quantizeInt8(Tensor.zeros([2, 2], 'i32'))).toThrow(/'w' has dtype i32/);
      expect(() => linearInt8(Tensor.zeros([2, 7]), w)).toThrow(/K=7/);
      expect(() => linearInt8(Tensor.zeros([2, 8]), { q: w.q, scale: Tensor.zeros([3]) })).toThrow(/'scale' must be \[4\]/);
      expect(() => linearInt8(Tensor.zeros([2, 8]), { q: Tensor.zeros([4, 8]), scale: w.scale })).toThrow(/'q' has dtype f32/);
      const colMajor = quantizeInt8(Tensor.zeros([8, 4])).q.transpose(0, 1);
      expect(() => linearInt8(Tensor.zeros([2, 8]), { q: colMajor, scale: w.scale })).toThrow(/unit-stride rows/);
      expect(() => linearInt8(Tensor.zeros([2, 8]), w, Tensor.zeros([5]))).toThrow(/bias must be \[4\]/);
    });
  });

  it('a decode row with an infinity sends the call the bf16 way: non-finite where its weights reach it, the reference elsewhere', () => {
    const M = 2,
      K = 96,
      N = 20;
    const xs = normal(M * K, 21);
    xs[5] = Infinity;
    const run = (impl: 'fast' | 'reference') => {
      native.setCpuImpl(impl);
      try {
        return tidy(() => {
          const w = quantizeInt8(Tensor.fromArray(normal(N * K, 22, 0.1), [N, K]));
          const q = w.q.dataSync() as Int8Array;
          const y = linearInt8(Tensor.fromArray(xs, [M, K]), w, null, { precision: 'bf16' }).dataSync() as Float32Array;
          return { q: Int8Array.from(q), y: Float32Array.from(y) };
        });
      } finally {
        native.setCpuImpl('fast');
      }
    };
    const fast = run('fast'),
      ref = run('reference');
    for (let n = 0; n < N; n++) {
      // Row 0 meets the infinity through weight (n, 5): inf (or NaN with an opposite infinity: none here).
      expect(Number.isFinite(fast.y[n]), `row 0, column ${n}`).toBe(fast.q[n * K + 5] === 0);
      if (fast.q[n * K + 5] === 0) expect(Math.abs(fast.y[n] - ref.y[n])).toBeLessThan(1e-4);
      // Row 1 is finite and rounded to bf16 on both sides, as the whole call is.
      expect(Math.abs(fast.y[N + n] - ref.y[N + n]), `row 1, column ${n}`).toBeLessThan(1e-4);
    }
  });

  it('K = 0 gives the bias', () => {
    tidy(() => {
      const w = quantizeInt8(Tensor.zeros([3, 0]));
      const y = linearInt8(Tensor.zeros([2, 0]), w, Tensor.fromArray([1, 2, 3], [3])).dataSync();
      expect(Array.from(y)).toEqual([1, 2, 3, 1, 2, 3]);
    });
  });
});
