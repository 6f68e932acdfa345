// linear/matmul beyond the differential harness: results against an independent plain JS loop,
// every CPU ISA path (AVX-512, AVX2, portable) against the reference kernels, the bf16 precision
// mode's actual rounding, and the typed errors bad calls raise.
import { afterAll, describe, expect, it } from 'vitest';
import { linear, matmul, ShapeError, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { normal } from './support/random.js';

function bf16Round(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000;
  return f[0];
}

// y[m, n] = sum_k x[m, k] w[n, k] + b[n], in double.
function plainLinear(x: Float32Array, w: Float32Array, b: Float32Array | null, M: number, N: number, K: number, round = false) {
  const r = round ? bf16Round : (v: number) => v;
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += r(x[m * K + k]) * r(w[n * K + k]);
      y[m * N + n] = s;
    }
  return y;
}

function maxErr(got: Float32Array, want: Float64Array): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

afterAll(() => {
  native.setCpuIsa('gemm', 'auto');
  native.setCpuImpl('fast');
});

describe('linear against a plain loop', () => {
  // Unit-variance outputs; f32 accumulation over K <= 700 stays well inside 1e-4.
  for (const [M, K, N] of [
    [1, 700, 90],
    [4, 129, 33],
    [37, 300, 65],
  ]) {
    it(`M=${M} K=${K} N=${N} (f32 weights, bias)`, () => {
      const x = normal(M * K, 1),
        w = normal(N * K, 2, 1 / Math.sqrt(K)),
        b = normal(N, 3);
      const got = tidy(() =>
        linear(Tensor.fromArray(x, [M, K]), Tensor.fromArray(w, [N, K]), Tensor.fromArray(b, [N])).dataSync(),
      ) as Float32Array;
      expect(maxErr(got, plainLinear(x, w, b, M, N, K))).toBeLessThan(1e-4);
    });
  }

  it('precision bf16 rounds both operands (and differs from fp32 by more than the tolerance)', () => {
    const M = 20,
      K = 256,
      N = 24;
    const x = normal(M * K, 4),
      w = normal(N * K, 5, 1 / 16);
    const [fp32, bf16] = tidy(() => {
      const xt = Tensor.fromArray(x, [M, K]),
        wt = Tensor.fromArray(w, [N, K]);
      return [linear(xt, wt).dataSync() as Float32Array, linear(xt, wt, null, { precision: 'bf16' }).dataSync() as Float32Array];
    });
    const wantBf16 = plainLinear(x, w, null, M, N, K, true);
    expect(maxErr(bf16, wantBf16)).toBeLessThan(1e-4);
    // bf16 input rounding (2^-9 relative) shows up at ~1e-2 on unit outputs: the option really changes the math.
    expect(maxErr(fp32, wantBf16)).toBeGreaterThan(1e-3);
  });
});

describe('every ISA path matches the reference kernels', () => {
  const feats = native.cpuFeatures();
  // On AVX-512 the bf16 precision runs either on vdpbf16ps ('avx512bf16') or on f32 FMA over
  // rounded operands ('avx512').
  const variants = ['avx512bf16', 'avx512', 'avx2', 'scalar'] as const;
  const usable = variants.filter(
    (i) => (i !== 'avx512bf16' || feats.avx512bf16) && (i !== 'avx512' || feats.avx512f) && (i !== 'avx2' || feats.avx2),
  );
  for (const isa of usable) {
    it(isa, () => {
      expect(native.setCpuIsa('gemm', isa)).toBe(isa);
      try {
        const shapes: [number, number, number][] = [
          [1, 301, 70],
          [3, 64, 40],
          // decode GEMV: several 64-row blocks, K past the 128-wide vdpbf16ps loop with a tail
          [2, 1030, 150],
          [4, 160, 65],
          [19, 520, 75],
          [70, 33, 130],
          [37, 1030, 25],
          // bf16 weights read in place: two k blocks (1550 pairs), two activation slices with a
          // 6-row last block, a 5-row last weight block.
          [150, 3100, 21],
        ];
        for (const [M, K, N] of shapes) {
          for (const wd of ['f32', 'bf16', 'f16'] as const) {
            for (const precision of ['fp32', 'bf16'] as const) {
              const run = (impl: 'fast' | 'reference') => {
                native.setCpuImpl(impl);
                const r = tidy(() => {
                  const w = Tensor.fromArray(normal(N * K, 7, 1 / Math.sqrt(K)), [N, K]).to(wd);
                  const y = linear(Tensor.fromArray(normal(M * K, 6), [M, K]), w, Tensor.fromArray(normal(N, 8), [N]), { precision });
                  const z = matmul(Tensor.fromArray(normal(2 * M * K, 9), [2, M, K]), w.transpose(0, 1), { precision });
                  return [y.dataSync() as Float32Array, z.dataSync() as Float32Array];
                });
                native.setCpuImpl('fast');
                return r;
              };
              const ref = run('reference'),
                got = run('fast');
              for (let o = 0; o < 2; o++) {
                const want = Float64Array.from(ref[o]);
                // f32 accumulation vs double: ~K·eps on unit-variance outputs (K <= 3100).
                expect(maxErr(got[o], want), `${isa} M=${M} K=${K} N=${N} w=${wd} ${precision} output ${o}`).toBeLessThan(2e-4);
              }
            }
          }
        }
      } finally {
        native.setCpuIsa('gemm', 'auto');
      }
    });
  }
});

describe('errors', () => {
  it('rejects mismatched K, bad bias, bad dtypes and unbroadcastable batches with ShapeError', () => {
    tidy(() => {
      const x = Tensor.zeros([2, 8]);
      expect(() => linear(x, Tensor.zeros([4, 9]))).toThrow(/K=8 but weight \[4,9\] expects 9/);
      expect(() => linear(x, Tensor.zeros([4, 8]), Tensor.zeros([5]))).toThrow(ShapeError);
      expect(() => linear(x, Tensor.zeros([4, 8], 'i32'))).toThrow(/'w' has dtype i32, expected f32\|bf16\|f16/);
      expect(() => linear(x.to('bf16'), Tensor.zeros([4, 8]))).toThrow(/'x' has dtype bf16, expected f32/);
      expect(() => linear(x, Tensor.zeros([4, 8]), null, { precision: 'fp16' as never })).toThrow(/precision/);
      expect(() => matmul(Tensor.zeros([3, 2, 8]), Tensor.zeros([2, 8, 4]))).toThrow(/do not broadcast/);
      expect(() => matmul(Tensor.zeros([2, 8]), Tensor.zeros([7, 4]))).toThrow(/disagree on K/);
      expect(() => matmul(Tensor.zeros([8]), Tensor.zeros([8, 4]))).toThrow(ShapeError);
    });
  });

  it('native glue re-validates what protects memory', () => {
    tidy(() => {
      const x = Tensor.zeros([2, 8]),
        w = Tensor.zeros([4, 8]),
        out = Tensor.empty([2, 5]);
      expect(() => native.linear(x.desc(), w.desc(), null, out.desc(), 0)).toThrow(/out must be \[2,4\]/);
      expect(() => native.matmul(x.desc(), Tensor.zeros([8, 4]).desc(), Tensor.empty([3, 4]).desc(), 0)).toThrow(/does not match/);
    });
  });

  it('handles empty dims: K=0 gives the bias, M=0 gives an empty result', () => {
    const [y, z] = tidy(() => [
      linear(Tensor.zeros([3, 0]), Tensor.zeros([2, 0]), Tensor.fromArray([1.5, -2], [2])).dataSync(),
      linear(Tensor.zeros([0, 5]), Tensor.zeros([2, 5])).dataSync(),
    ]);
    expect(Array.from(y as Float32Array)).toEqual([1.5, -2, 1.5, -2, 1.5, -2]);
    expect((z as Float32Array).length).toBe(0);
  });
});
