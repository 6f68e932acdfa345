// conv1d / convTranspose1d / snake against plain float64 JavaScript loops written straight from
// the torch definitions (the differential harness only compares fast kernels with the native
// references; this pins the references themselves), plus the ops' argument errors.
import { afterAll, describe, expect, it } from 'vitest';
import { conv1d, convTranspose1d, ShapeError, snake, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { normal, uniform } from './support/random.js';

afterAll(() => native.setCpuImpl('fast'));

function conv1dJs(
  x: Float32Array,
  [B, Cin, T]: number[],
  w: Float32Array,
  [Cout, cg, K]: number[],
  b: Float32Array | null,
  s: number,
  p: number,
  d: number,
  g: number,
): { y: Float64Array; Tout: number } {
  const Tout = Math.floor((T + 2 * p - d * (K - 1) - 1) / s) + 1;
  const y = new Float64Array(B * Cout * Tout);
  const og = Cout / g;
  for (let n = 0; n < B; n++)
    for (let co = 0; co < Cout; co++)
      for (let t = 0; t < Tout; t++) {
        let acc = b ? b[co] : 0;
        for (let ci = 0; ci < cg; ci++)
          for (let k = 0; k < K; k++) {
            const src = t * s + k * d - p;
            if (src >= 0 && src < T) acc += w[(co * cg + ci) * K + k] * x[(n * Cin + Math.floor(co / og) * cg + ci) * T + src];
          }
        y[(n * Cout + co) * Tout + t] = acc;
      }
  return { y, Tout };
}

function convT1dJs(
  x: Float32Array,
  [B, Cin, T]: number[],
  w: Float32Array,
  [, Cout, K]: number[],
  b: Float32Array | null,
  s: number,
  p: number,
  op: number,
  d: number,
): { y: Float64Array; Tout: number } {
  const Tout = (T - 1) * s - 2 * p + d * (K - 1) + op + 1;
  const y = new Float64Array(B * Cout * Tout);
  for (let n = 0; n < B; n++)
    for (let co = 0; co < Cout; co++) {
      for (let j = 0; j < Tout; j++) y[(n * Cout + co) * Tout + j] = b ? b[co] : 0;
      for (let ci = 0; ci < Cin; ci++)
        for (let t = 0; t < T; t++)
          for (let k = 0; k < K; k++) {
            const j = t * s + k * d - p;
            if (j >= 0 && j < Tout) y[(n * Cout + co) * Tout + j] += x[(n * Cin + ci) * T + t] * w[(ci * Cout + co) * K + k];
          }
    }
  return { y, Tout };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Outputs are O(1) (weights ~ 1/sqrt(fan-in)); f32 results vs f64 sums differ by rounding only.
const TOL = 2e-5;

describe.each(['reference', 'fast'] as const)('conv ops (%s kernels) vs float64 JS', (impl) => {
  it('conv1d over stride / padding / dilation / groups combinations', () => {
    native.setCpuImpl(impl);
    const combos = [
      { B: 2, Cin: 6, Cout: 4, T: 23, K: 7, s: 1, p: 3, d: 1, g: 1 },
      { B: 1, Cin: 4, Cout: 6, T: 40, K: 7, s: 1, p: 9, d: 3, g: 1 },
      { B: 1, Cin: 5, Cout: 7, T: 60, K: 12, s: 6, p: 3, d: 1, g: 1 },
      { B: 2, Cin: 6, Cout: 4, T: 31, K: 3, s: 2, p: 2, d: 2, g: 2 },
      { B: 1, Cin: 3, Cout: 5, T: 9, K: 1, s: 1, p: 0, d: 1, g: 1 },
    ];
    for (const c of combos) {
      const xs = [c.B, c.Cin, c.T],
        ws = [c.Cout, c.Cin / c.g, c.K];
      const x = normal(c.B * c.Cin * c.T, 11);
      const w = normal(c.Cout * (c.Cin / c.g) * c.K, 12, 1 / Math.sqrt((c.Cin / c.g) * c.K));
      const b = normal(c.Cout, 13);
      const want = conv1dJs(x, xs, w, ws, b, c.s, c.p, c.d, c.g);
      const got = tidy(() =>
        conv1d(Tensor.fromArray(x, xs), Tensor.fromArray(w, ws), Tensor.fromArray(b, [c.Cout]), {
          stride: c.s,
          padding: c.p,
          dilation: c.d,
          groups: c.g,
        }).dataSync(),
      );
      expect(maxDiff(got as Float32Array, want.y), JSON.stringify(c)).toBeLessThan(TOL);
    }
  });

  it('convTranspose1d over the VAE upsampling patterns and output padding', () => {
    native.setCpuImpl(impl);
    const combos = [
      { B: 2, Cin: 5, Cout: 3, T: 7, K: 4, s: 2, p: 1, op: 0, d: 1 },
      { B: 1, Cin: 4, Cout: 6, T: 5, K: 20, s: 10, p: 5, op: 0, d: 1 },
      { B: 1, Cin: 4, Cout: 2, T: 6, K: 12, s: 6, p: 3, op: 0, d: 1 },
      { B: 1, Cin: 3, Cout: 4, T: 8, K: 5, s: 3, p: 2, op: 2, d: 2 },
    ];
    for (const c of combos) {
      const xs = [c.B, c.Cin, c.T],
        ws = [c.Cin, c.Cout, c.K];
      const x = normal(c.B * c.Cin * c.T, 21);
      const w = normal(c.Cin * c.Cout * c.K, 22, 1 / Math.sqrt(c.Cin * 2));
      const b = normal(c.Cout, 23);
      const want = convT1dJs(x, xs, w, ws, b, c.s, c.p, c.op, c.d);
      const got = tidy(() =>
        convTranspose1d(Tensor.fromArray(x, xs), Tensor.fromArray(w, ws), Tensor.fromArray(b, [c.Cout]), {
          stride: c.s,
          padding: c.p,
          outputPadding: c.op,
          dilation: c.d,
        }).dataSync(),
      );
      expect(maxDiff(got as Float32Array, want.y), JSON.stringify(c)).toBeLessThan(TOL);
    }
  });

  it('bf16 precision: the products of bf16-rounded x and w (both convolutions)', () => {
    native.setCpuImpl(impl);
    // Round to nearest even at 8 mantissa bits, as the kernels do.
    const bf16 = (v: Float32Array): Float32Array => {
      const u = new Uint32Array(Float32Array.from(v).buffer);
      for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 0) & 0xffff0000;
      return new Float32Array(u.buffer);
    };
    const [Cin, Cout, T, K] = [21, 10, 130, 7];
    const x = normal(Cin * T, 41);
    const w = normal(Cout * Cin * K, 42, 1 / Math.sqrt(Cin * K));
    const b = normal(Cout, 43);
    const want = conv1dJs(bf16(x), [1, Cin, T], bf16(w), [Cout, Cin, K], b, 1, 9, 3, 1);
    const got = tidy(() =>
      conv1d(Tensor.fromArray(x, [1, Cin, T]), Tensor.fromArray(w, [Cout, Cin, K]), Tensor.fromArray(b, [Cout]), {
        padding: 9,
        dilation: 3,
        precision: 'bf16',
      }).dataSync(),
    );
    expect(maxDiff(got as Float32Array, want.y)).toBeLessThan(TOL);
    // bf16 rounding really ran: the exact result is ~2^-9 relative away.
    expect(maxDiff(got as Float32Array, conv1dJs(x, [1, Cin, T], w, [Cout, Cin, K], b, 1, 9, 3, 1).y)).toBeGreaterThan(1e-4);
    const wt = normal(Cin * Cout * 12, 44, 1 / Math.sqrt(Cin * 2));
    const xt = normal(Cin * 17, 45);
    const wantT = convT1dJs(bf16(xt), [1, Cin, 17], bf16(wt), [Cin, Cout, 12], b, 6, 3, 0, 1);
    const gotT = tidy(() =>
      convTranspose1d(Tensor.fromArray(xt, [1, Cin, 17]), Tensor.fromArray(wt, [Cin, Cout, 12]), Tensor.fromArray(b, [Cout]), {
        stride: 6,
        padding: 3,
        precision: 'bf16',
      }).dataSync(),
    );
    expect(maxDiff(gotT as Float32Array, wantT.y)).toBeLessThan(TOL);
  });

  it('snake with log-scale parameters', () => {
    native.setCpuImpl(impl);
    const [B, C, T] = [2, 3, 50];
    const x = uniform(B * C * T, 31, -20, 20);
    const la = uniform(C, 32, -1, 1),
      lb = uniform(C, 33, -1, 1);
    const want = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const c = Math.floor(i / T) % C;
      const a = Math.exp(la[c]),
        be = Math.exp(lb[c]);
      want[i] = x[i] + (1 / (be + 1e-9)) * Math.sin(a * x[i]) ** 2;
    }
    const got = tidy(() =>
      snake(Tensor.fromArray(x, [B, C, T]), Tensor.fromArray(la, [1, C, 1]), Tensor.fromArray(lb, [1, C, 1]), {
        logScale: true,
      }).dataSync(),
    );
    // |x| up to 20: the f32 argument a*x carries ~1e-6 relative rounding, so sin^2 moves by up to ~5e-6.
    expect(maxDiff(got as Float32Array, want)).toBeLessThan(1e-5 * 20 * Math.E);
  });

  // Both sides evaluate Snake in f32 with the same code for this backend (libm sinf in the
  // references, the row kernel in the fast path) and then run the same GEMM, so the reference and
  // the AVX-512 fast path agree bit for bit (tolerance 0 for the reference). The one allowed
  // difference: an AVX2 row kernel ends a row with libm sinf, and the fused conv cuts rows
  // elsewhere (its staged time blocks), so an input may differ by an ulp of sin^2 / beta (< 1e-6
  // here) before the O(1)-weighted sum (fp32: 1e-5); at bf16 that ulp can move the input to the
  // neighbouring bf16 value, 2^-8 of |snake(x)| <= ~6 times a weight <= ~0.3 (bf16: 5e-3, still
  // far below what a wrong channel's parameters or a misplaced tap give).
  it('a fused input Snake equals snake then conv (conv1d stride 1 / strided / groups, convTranspose1d; fp32 and bf16)', () => {
    native.setCpuImpl(impl);
    for (const precision of ['fp32', 'bf16'] as const) {
      const cases = [
        { Cin: 24, Cout: 16, T: 500, K: 7, stride: 1, padding: 27, dilation: 9, groups: 1, transposed: false },
        { Cin: 70, Cout: 12, T: 90, K: 7, stride: 1, padding: 3, dilation: 1, groups: 1, transposed: false },
        { Cin: 12, Cout: 20, T: 903, K: 8, stride: 4, padding: 2, dilation: 1, groups: 1, transposed: false },
        { Cin: 16, Cout: 8, T: 50, K: 3, stride: 1, padding: 1, dilation: 1, groups: 2, transposed: false },
        { Cin: 33, Cout: 16, T: 400, K: 20, stride: 10, padding: 5, dilation: 1, groups: 1, transposed: true },
      ];
      const tol = impl === 'reference' ? 0 : precision === 'fp32' ? 1e-5 : 5e-3;
      for (const c of cases) {
        const diff = tidy(() => {
          const x = Tensor.fromArray(uniform(2 * c.Cin * c.T, 51, -3, 3), [2, c.Cin, c.T]);
          const wShape = c.transposed ? [c.Cin, c.Cout, c.K] : [c.Cout, c.Cin / c.groups, c.K];
          const w = Tensor.fromArray(normal(wShape[0] * wShape[1] * wShape[2], 52, 1 / Math.sqrt(wShape[1] * c.K)), wShape);
          const b = Tensor.fromArray(normal(c.Cout, 53), [c.Cout]);
          const alpha = Tensor.fromArray(uniform(c.Cin, 54, -1, 1), [1, c.Cin, 1]);
          const beta = Tensor.fromArray(uniform(c.Cin, 55, -1, 1), [1, c.Cin, 1]);
          const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, precision };
          const run = (input: Tensor, inputSnake: { alpha: Tensor; beta: Tensor; logScale: boolean } | null) =>
            c.transposed
              ? convTranspose1d(input, w, b, { ...opts, inputSnake })
              : conv1d(input, w, b, { ...opts, groups: c.groups, inputSnake });
          const fused = run(x, { alpha, beta, logScale: true }).dataSync() as Float32Array;
          const apart = run(snake(x, alpha, beta, { logScale: true }), null).dataSync() as Float32Array;
          return maxDiff(fused, apart);
        });
        expect(diff, `${precision} ${JSON.stringify(c)}`).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('residualInPlace writes conv + residual over the residual and returns a view of it', () => {
    native.setCpuImpl(impl);
    tidy(() => {
      const [C, T] = [6, 40];
      const x = Tensor.fromArray(normal(C * T, 61), [1, C, T]);
      const w = Tensor.fromArray(normal(C * C * 3, 62, 0.3), [C, C, 3]);
      const r = Tensor.fromArray(normal(C * T, 63), [1, C, T]);
      const want = conv1d(x, w, null, { padding: 1, residual: r }).dataSync();
      const y = conv1d(x, w, null, { padding: 1, residual: r, residualInPlace: true });
      expect(Array.from(y.dataSync())).toEqual(Array.from(want));
      expect(Array.from(r.dataSync())).toEqual(Array.from(want));
      // The result outlives the residual's own handle (it holds the buffer too).
      r.dispose();
      expect(Array.from(y.dataSync())).toEqual(Array.from(want));
    });
  });
});

describe('conv op argument errors', () => {
  it('rejects mismatched shapes and bad hyper-parameters with ShapeError', () => {
    tidy(() => {
      const x = Tensor.zeros([1, 4, 10]);
      expect(() => conv1d(x, Tensor.zeros([2, 3, 3]), null)).toThrow(ShapeError);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 3]), Tensor.zeros([3]))).toThrow(/bias must be \[2\]/);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 3]), null, { stride: 0 })).toThrow(/stride/);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 30]), null)).toThrow(/shorter than the kernel span/);
      expect(() => conv1d(x, Tensor.zeros([3, 2, 3]), null, { groups: 2 })).toThrow(/divisible by groups/);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 1]), null, { residual: Tensor.zeros([1, 2, 9]) })).toThrow(/residual/);
      expect(() => convTranspose1d(x, Tensor.zeros([3, 2, 4]), null)).toThrow(/w \[3,2,4\] must be \[Cin=4, Cout, K\]/);
      expect(() => convTranspose1d(x, Tensor.zeros([4, 2, 4]), null, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding/);
      expect(() => convTranspose1d(x, Tensor.zeros([4, 2, 2]), null, { padding: 20 })).toThrow(/not positive/);
      expect(() => snake(x, Tensor.zeros([3]), Tensor.zeros([4]), { logScale: true })).toThrow(/alpha must be/);
      expect(() => conv1d(Tensor.zeros([4, 10]), Tensor.zeros([2, 4, 3]), null)).toThrow(/3-D/);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 3]), null, { precision: 'fp16' as 'fp32' })).toThrow(/precision must be/);
      expect(() => convTranspose1d(x, Tensor.zeros([4, 2, 2]), null, { precision: 'tf32' as 'fp32' })).toThrow(/precision must be/);
      const sn = (c: number) => ({ alpha: Tensor.zeros([c]), beta: Tensor.zeros([c]), logScale: true });
      expect(() => conv1d(x, Tensor.zeros([2, 4, 3]), null, { inputSnake: sn(2) })).toThrow(/snakeAlpha must be \[4\]/);
      expect(() => convTranspose1d(x, Tensor.zeros([4, 2, 2]), null, { inputSnake: sn(3) })).toThrow(/snakeAlpha must be \[4\]/);
      expect(() => conv1d(x, Tensor.zeros([2, 4, 3]), null, { inputSnake: { ...sn(4), beta: Tensor.zeros([1, 4, 2]) } })).toThrow(
        /snakeBeta must be \[4\]/,
      );
      // In place: a contiguous f32 residual, which must not be x (the taps read neighbours it overwrites).
      expect(() => conv1d(x, Tensor.zeros([4, 4, 1]), null, { residualInPlace: true })).toThrow(/residualInPlace needs/);
      expect(() =>
        conv1d(x, Tensor.zeros([4, 4, 1]), null, { residual: Tensor.zeros([1, 10, 4]).transpose(1, 2), residualInPlace: true }),
      ).toThrow(/residualInPlace needs/);
      expect(() => conv1d(x, Tensor.zeros([4, 4, 1]), null, { residual: x, residualInPlace: true })).toThrow(
        /x and out must not share memory/,
      );
    });
  });
});
