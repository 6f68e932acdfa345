// The pointwise op families against independent plain-JS math (double precision, or float32 with
// Math.fround where the op order is specified), the golden embedding lookup, and their typed
// errors. The differential harness (backend-ops.test.ts) then holds the fast/CUDA paths to the
// scalar reference; this file holds the reference (and the default fast path) to the math.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import {
  abs, add, argmax, clamp, cos, div, embedding, exp, gatedAdd, gelu, geluTanh, KernelError, layerNorm, log, logSoftmax, max,
  maximum, mean, minimum, modulate, mul, neg, relu, rmsNorm, rope, ropeTables, rsqrt, ShapeError, sigmoid, silu, sin,
  softmax, softplus, sqrt, square, sub, sum, swiglu, tanh, Tensor, tidy,
} from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { normal, uniform } from './support/random.js';
import type { OpCase } from './backend-ops/harness.js';
import { cases as elementwiseCases } from './backend-ops/elementwise.js';
import { cases as normCases } from './backend-ops/norm.js';
import { cases as ropeCases } from './backend-ops/rope.js';
import { cases as softmaxCases } from './backend-ops/softmax.js';
import { cases as reduceCases } from './backend-ops/reduce.js';
import { cases as embeddingCases } from './backend-ops/embedding.js';

const f = Math.fround;
const impls = ['fast', 'reference'] as const;
afterAll(() => {
  native.setCpuImpl('fast');
  native.setCpuIsa('pointwise', 'auto');
});

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; integrate the series / continued fraction in double.
  const t = Math.abs(x);
  if (t < 3) {
    let s = 0, term = t;
    for (let n = 0; n < 200; n++) {
      s += term / (2 * n + 1);
      term *= (-t * t) / (n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * s;
  }
  let cf = 0;
  for (let k = 60; k >= 1; k--) cf = (k / 2) / (t + cf);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + cf));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])) || Math.abs(got[i] - want[i]) <= atol + rtol * Math.abs(want[i]);
    if (!ok) expect.fail(`${what}: element ${i} got ${got[i]} want ${want[i]} (atol ${atol}, rtol ${rtol})`);
  }
}

describe.each(impls)('pointwise ops vs plain math (%s kernels)', (impl) => {
  const use = () => native.setCpuImpl(impl);

  it('unary ops match double-precision math', () => {
    use();
    const xs = uniform(1000, 1, -8, 8);
    const pos = uniform(1000, 2, 0.01, 30);
    const x = Tensor.fromArray(xs, [10, 100]);
    const p = Tensor.fromArray(pos, [10, 100]);
    // Tolerance: libm float32 functions and the vector exp are within a few ulp (rtol 2e-6); tanh-
    // based results have an absolute error floor (~2e-7) near zero.
    const table: [string, Tensor, number[], (v: number) => number, number][] = [
      ['neg', neg(x), Array.from(xs), (v) => -v, 0],
      ['exp', exp(x), Array.from(xs), Math.exp, 0],
      ['log', log(p), Array.from(pos), Math.log, 0],
      ['sqrt', sqrt(p), Array.from(pos), Math.sqrt, 0],
      ['rsqrt', rsqrt(p), Array.from(pos), (v) => 1 / Math.sqrt(v), 0],
      ['abs', abs(x), Array.from(xs), Math.abs, 0],
      ['tanh', tanh(x), Array.from(xs), Math.tanh, 1e-6],
      ['sigmoid', sigmoid(x), Array.from(xs), (v) => 1 / (1 + Math.exp(-v)), 0],
      ['silu', silu(x), Array.from(xs), (v) => v / (1 + Math.exp(-v)), 0],
      ['gelu', gelu(x), Array.from(xs), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), 1e-6],
      ['geluTanh', geluTanh(x), Array.from(xs), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), 2e-6],
      ['softplus', softplus(x), Array.from(xs), (v) => Math.log1p(Math.exp(v)), 0],
      ['sin', sin(x), Array.from(xs), Math.sin, 1e-7],
      ['cos', cos(x), Array.from(xs), Math.cos, 1e-7],
      ['square', square(x), Array.from(xs), (v) => v * v, 0],
      ['relu', relu(x), Array.from(xs), (v) => Math.max(v, 0), 0],
      ['clamp', clamp(x, -1, 2), Array.from(xs), (v) => Math.min(Math.max(v, -1), 2), 0],
    ];
    for (const [name, t, input, fn, atol] of table) {
      expectClose(t.dataSync() as Float32Array, input.map(fn), atol, 2e-6, name);
    }
  });

  it('binary ops broadcast like numpy', () => {
    use();
    const a = uniform(2 * 3 * 5, 3, -2, 2), b = uniform(5, 4, 0.5, 2), c = uniform(2 * 5, 5, -2, 2);
    const ta = Tensor.fromArray(a, [2, 3, 5]), tb = Tensor.fromArray(b, [5]), tc = Tensor.fromArray(c, [2, 1, 5]);
    const at = (i: number, j: number, k: number) => a[(i * 3 + j) * 5 + k];
    const want = (fn: (x: number, y: number) => number, other: 'b' | 'c') => {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 5; k++) out.push(f(fn(at(i, j, k), other === 'b' ? b[k] : c[i * 5 + k])));
      return out;
    };
    // One float32 operation per element: results must be exactly the rounded double result.
    expectClose(add(ta, tb).dataSync() as Float32Array, want((x, y) => x + y, 'b'), 0, 0, 'add [2,3,5]+[5]');
    expectClose(sub(ta, tc).dataSync() as Float32Array, want((x, y) => x - y, 'c'), 0, 0, 'sub [2,3,5]-[2,1,5]');
    expectClose(mul(ta, tc).dataSync() as Float32Array, want((x, y) => x * y, 'c'), 0, 0, 'mul [2,3,5]*[2,1,5]');
    expectClose(div(ta, tb).dataSync() as Float32Array, want((x, y) => x / y, 'b'), 0, 0, 'div [2,3,5]/[5]');
    expectClose(maximum(ta, tb).dataSync() as Float32Array, want(Math.max, 'b'), 0, 0, 'maximum');
    expectClose(minimum(ta, tc).dataSync() as Float32Array, want(Math.min, 'c'), 0, 0, 'minimum');
    expect(add(tb, ta).shape).toEqual([2, 3, 5]);
    expect(Array.from(add(Tensor.fromArray([1, 2, 3], [3, 1]), Tensor.fromArray([10, 20], [1, 2])).dataSync())).toEqual([11, 21, 12, 22, 13, 23]);
    expect(Array.from(div(Tensor.fromArray([1, 2], [2]), 3).dataSync())).toEqual([f(1 / 3), f(2 / 3)]);
    expect(Array.from(maximum(Tensor.fromArray([NaN, 1], [2]), Tensor.fromArray([0, NaN], [2])).dataSync())).toEqual([NaN, NaN]);
  });

  it('fused ops round each step in float32 (torch order)', () => {
    use();
    const n = 2 * 4 * 6;
    const x = normal(n, 6), y = normal(n, 7), g = normal(12, 8), s = normal(12, 9);
    const tx = Tensor.fromArray(x, [2, 4, 6]), ty = Tensor.fromArray(y, [2, 4, 6]);
    const tg = Tensor.fromArray(g, [2, 1, 6]), ts = Tensor.fromArray(s, [2, 1, 6]);
    const mod: number[] = [], gated: number[] = [], sw: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = Math.floor(i / 24) * 6 + (i % 6);
      mod.push(f(f(x[i] * f(1 + s[k])) + g[k]));
      gated.push(f(x[i] + f(y[i] * g[k])));
      sw.push(f(f(x[i] / f(1 + f(Math.exp(-x[i])))) * y[i]));
    }
    expectClose(modulate(tx, tg, ts).dataSync() as Float32Array, mod, 0, 0, 'modulate');
    expectClose(gatedAdd(tx, ty, tg).dataSync() as Float32Array, gated, 0, 0, 'gatedAdd');
    expectClose(swiglu(tx, ty).dataSync() as Float32Array, sw, 1e-7, 2e-6, 'swiglu (exp within a few ulp)');
  });

  it('rmsNorm and layerNorm follow the upstream formulas', () => {
    use();
    const rows = 3, d = 37;
    const x = normal(rows * d, 10, 2), w = normal(d, 11);
    const rms: number[] = [], ln: number[] = [];
    const b = normal(d, 12);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * d, (r + 1) * d));
      const ms = row.reduce((acc, v) => acc + v * v, 0) / d;
      const inv = f(1 / Math.sqrt(f(f(ms) + 1e-6)));
      for (let i = 0; i < d; i++) rms.push(f(w[i] * f(row[i] * inv)));
      const mu = row.reduce((acc, v) => acc + v, 0) / d;
      const v = row.reduce((acc, t) => acc + (t - mu) ** 2, 0) / d;
      for (let i = 0; i < d; i++) ln.push(((row[i] - mu) / Math.sqrt(v + 1e-5)) * w[i] + b[i]);
    }
    // 4e-6 relative: the mean of squares is a float32 (fast path) or double (reference) sum.
    const tx = Tensor.fromArray(x, [rows, d]);
    expectClose(rmsNorm(tx, Tensor.fromArray(w, [d]), 1e-6).dataSync() as Float32Array, rms, 1e-6, 4e-6, 'rmsNorm');
    expectClose(layerNorm(tx, Tensor.fromArray(w, [d]), Tensor.fromArray(b, [d]), 1e-5).dataSync() as Float32Array, ln, 2e-6, 4e-6, 'layerNorm');
  });

  it('rope rotates half-split pairs with float32 tables like torch', () => {
    use();
    const T = 5, H = 2, D = 8, theta = 10000;
    const { cos: c, sin: s } = ropeTables([0, 1, 2, 3, 1000], D, theta);
    expect(c.shape).toEqual([T, D / 2]);
    const cv = c.dataSync() as Float32Array, sv = s.dataSync() as Float32Array;
    const pos = [0, 1, 2, 3, 1000];
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < D / 2; i++) {
        // torch: inv_freq = 1 / theta ** (arange(0, D, 2).float() / D), each op in float32.
        const inv = f(1 / f(theta ** f((2 * i) / D)));
        const ang = f(pos[t] * inv);
        expect(cv[t * 4 + i]).toBe(f(Math.cos(ang)));
        expect(sv[t * 4 + i]).toBe(f(Math.sin(ang)));
      }
    }
    const x = normal(T * H * D, 13);
    const out = rope(Tensor.fromArray(x, [1, T, H, D]), c, s).dataSync() as Float32Array;
    const want: number[] = new Array(T * H * D);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const o = (t * H + h) * D;
        for (let i = 0; i < D / 2; i++) {
          const a = x[o + i], bb = x[o + i + D / 2], cc = cv[t * 4 + i], ss = sv[t * 4 + i];
          want[o + i] = f(f(a * cc) - f(bb * ss));
          want[o + i + D / 2] = f(f(bb * cc) + f(a * ss));
        }
      }
    }
    expectClose(out, want, 0, 0, 'rope');
  });

  it('softmax, logSoftmax and reductions match double math', () => {
    use();
    const rows = 4, n = 301;
    const x = normal(rows * n, 14, 4);
    const tx = Tensor.fromArray(x, [rows, n]);
    const sm: number[] = [], lsm: number[] = [], sums: number[] = [], means: number[] = [], maxs: number[] = [], am: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * n, (r + 1) * n));
      const m = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
      for (const v of row) {
        sm.push(Math.exp(v - m) / z);
        lsm.push(v - m - Math.log(z));
      }
      const s = row.reduce((acc, v) => acc + v, 0);
      sums.push(s);
      means.push(s / n);
      maxs.push(m);
      am.push(row.indexOf(m));
    }
    expectClose(softmax(tx).dataSync() as Float32Array, sm, 1e-9, 3e-6, 'softmax');
    expectClose(logSoftmax(tx).dataSync() as Float32Array, lsm, 3e-6, 1e-6, 'logSoftmax');
    expectClose(softmax(tx.transpose(0, 1), 0).transpose(0, 1).dataSync() as Float32Array, sm, 1e-9, 3e-6, 'softmax over dim 0 of the transpose');
    expectClose(sum(tx, 1).dataSync() as Float32Array, sums, 2e-5, 2e-6, 'sum');
    expectClose(mean(tx, -1).dataSync() as Float32Array, means, 1e-6, 2e-6, 'mean');
    expectClose(max(tx, 1).dataSync() as Float32Array, maxs, 0, 0, 'max');
    expect(Array.from(argmax(tx).dataSync())).toEqual(am);
    expect(sum(tx, 0, true).shape).toEqual([1, n]);
    const col = sum(tx, 0).dataSync() as Float32Array;
    expectClose([col[0], col[n - 1]], [x[0] + x[n] + x[2 * n] + x[3 * n], x[n - 1] + x[2 * n - 1] + x[3 * n - 1] + x[4 * n - 1]], 1e-5, 1e-6, 'sum dim 0');
    expect(Array.from(argmax(Tensor.fromArray([3, 7, 7, 1], [4])).dataSync())).toEqual([1]);
  });
});

describe('embedding', () => {
  it('matches the golden Qwen3 embed_tokens lookup exactly', () => {
    const root = join(import.meta.dirname, 'fixtures', 'golden');
    const ck = SafetensorsFile.open(join(root, 'checkpoints', 'Qwen3-Embedding-tiny', 'model.safetensors'));
    const inputs = SafetensorsFile.open(join(root, 'cases', 'text_encoder', 'inputs.safetensors'));
    const outputs = SafetensorsFile.open(join(root, 'cases', 'text_encoder', 'outputs.safetensors'));
    const got = embedding(ck.get('embed_tokens.weight'), inputs.get('lyric_input_ids'));
    const want = outputs.get('lyric_embeddings');
    expect(got.shape).toEqual(want.shape);
    expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
  });

  it('reports an id out of range as a KernelError naming the id, and keeps working', async () => {
    const w = Tensor.fromArray(normal(40, 1), [10, 4]);
    const bad = embedding(w, Tensor.fromArray(new Int32Array([1, 10, 2]), [3]));
    await expect(bad.data()).rejects.toThrow(KernelError);
    const bad2 = embedding(w, Tensor.fromArray(new BigInt64Array([-1n]), [1]));
    await expect(bad2.data()).rejects.toThrow(/id -1 at position 0 is outside the table's range \[0, 10\)/);
    const ok = embedding(w, Tensor.fromArray(new Int32Array([9]), [1]));
    expect(Array.from(await ok.data())).toEqual(Array.from(normal(40, 1).subarray(36, 40)));
  });
});

describe('typed errors for bad arguments', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('throws ShapeError naming the cause', () => {
    expect(() => add(x, Tensor.zeros([3, 3]))).toThrow(/add: shapes \[2,3,4\], \[3,3\] do not broadcast/);
    expect(() => exp(Tensor.zeros([3], 'i32'))).toThrow(ShapeError);
    expect(() => rmsNorm(x, Tensor.zeros([5]), 1e-6)).toThrow(/rmsNorm: 'weight' has shape \[5\], expected \[4\]/);
    expect(() => rmsNorm(x, null, -1)).toThrow(/eps must be a finite non-negative number/);
    expect(() => rope(Tensor.zeros([1, 2, 1, 5]), Tensor.zeros([2, 2]), Tensor.zeros([2, 2]))).toThrow(/head dim 5 must be even/);
    expect(() => rope(Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([3, 2]), Tensor.zeros([3, 2]))).toThrow(/rope: cos\/sin have shape \[3,2\]/);
    expect(() => ropeTables([0, 1], 7, 10000)).toThrow(ShapeError);
    expect(() => softmax(x, 3)).toThrow(/dim 3 out of range/);
    expect(() => sum(x, -4)).toThrow(ShapeError);
    expect(() => argmax(Tensor.zeros([2, 0]))).toThrow(/size 0/);
    expect(() => embedding(Tensor.zeros([4, 2]), Tensor.zeros([3]))).toThrow(/'ids' has dtype f32, expected i32\|i64/);
    expect(() => modulate(x, Tensor.zeros([5]), Tensor.zeros([4]))).toThrow(/modulate: shapes/);
    expect(() => clamp(x, NaN, 1)).toThrow(ShapeError);
  });
});

// The differential harness runs the fast paths with the best ISA of the machine; this reruns the
// pointwise families' harness cases with the AVX2 and plain scalar fast paths selected, against the
// same scalar reference and the same per-case tolerances.
describe.each(['avx2', 'scalar'] as const)('pointwise harness cases on the %s fast path', (isa) => {
  const all: OpCase[] = [...elementwiseCases, ...normCases, ...ropeCases, ...softmaxCases, ...reduceCases, ...embeddingCases];
  const run = (c: OpCase, impl: 'fast' | 'reference') => {
    native.setCpuImpl(impl);
    try {
      return tidy(() => {
        const r = c.run('cpu');
        return (Array.isArray(r) ? r : [r]).map((t: Tensor) => Float64Array.from((t.dtype === 'f32' || t.dtype === 'i32' ? t.dataSync() : t.toFloat32Sync()) as ArrayLike<number>));
      });
    } finally {
      native.setCpuImpl('fast');
    }
  };
  it(`all ${all.length} cases match the reference`, () => {
    const eff = native.setCpuIsa('pointwise', isa);
    expect(isa === 'scalar' ? ['scalar'] : ['scalar', 'avx2']).toContain(eff);
    try {
      for (const c of all) {
        const ref = run(c, 'reference'), got = run(c, 'fast');
        for (let k = 0; k < ref.length; k++) {
          const tol = c.tol.exact ? { atol: 0, rtol: 0 } : { atol: c.tol.atol, rtol: c.tol.rtol ?? 0 };
          expectClose(got[k], ref[k], tol.atol, tol.rtol, `${c.op} ${c.name} output ${k} (${c.tol.why})`);
        }
      }
    } finally {
      native.setCpuIsa('pointwise', 'auto');
    }
  });
});
