// Elementwise ops (unary math, broadcast binary arithmetic, the fused swiglu / modulate / gatedAdd)
// against independent plain-JS math (double precision, or float32 with Math.fround where the op
// order is specified), their typed errors, and the harness cases on the narrower ISA paths. The
// differential harness (backend-ops.test.ts) holds the fast and CUDA paths to the scalar reference;
// this file holds the reference (and the default fast path) to the math.
import { afterAll, describe, expect, it } from 'vitest';
import {
  abs,
  add,
  clamp,
  cos,
  div,
  exp,
  gatedAdd,
  gelu,
  geluTanh,
  log,
  maximum,
  minimum,
  modulate,
  mul,
  neg,
  relu,
  rsqrt,
  ShapeError,
  sigmoid,
  silu,
  sin,
  softplus,
  sqrt,
  square,
  sub,
  swiglu,
  tanh,
  Tensor,
} from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { cases } from './backend-ops/elementwise.js';
import { expectClose } from './support/compare.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal, uniform } from './support/random.js';

const f = Math.fround;
const impls = ['fast', 'reference'] as const;
afterAll(() => native.setCpuImpl('fast'));

// Where each tolerance comes from.
const ULP = 'libm float32 functions and the vector exp are within a few ulp; tanh-based results have an ' + 'absolute floor near zero';
const ONE_ROUNDING = 'one float32 operation per element: the rounded double result exactly';
const TORCH_ORDER = 'each step rounded in float32 in torch order; swiglu: exp within a few ulp';

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; integrate the series / continued fraction in double.
  const t = Math.abs(x);
  if (t < 3) {
    let s = 0,
      term = t;
    for (let n = 0; n < 200; n++) {
      s += term / (2 * n + 1);
      term *= (-t * t) / (n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * s;
  }
  let cf = 0;
  for (let k = 60; k >= 1; k--) cf = k / 2 / (t + cf);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + cf));
}

describe.each(impls)('elementwise ops vs plain math (%s kernels)', (impl) => {
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
      expectClose(t.dataSync() as Float32Array, input.map(fn), { atol: atol, rtol: 2e-6, why: ULP }, name);
    }
  });

  it('binary ops broadcast like numpy', () => {
    use();
    const a = uniform(2 * 3 * 5, 3, -2, 2),
      b = uniform(5, 4, 0.5, 2),
      c = uniform(2 * 5, 5, -2, 2);
    const ta = Tensor.fromArray(a, [2, 3, 5]),
      tb = Tensor.fromArray(b, [5]),
      tc = Tensor.fromArray(c, [2, 1, 5]);
    const at = (i: number, j: number, k: number) => a[(i * 3 + j) * 5 + k];
    const want = (fn: (x: number, y: number) => number, other: 'b' | 'c') => {
      const out: number[] = [];
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 3; j++) for (let k = 0; k < 5; k++) out.push(f(fn(at(i, j, k), other === 'b' ? b[k] : c[i * 5 + k])));
      return out;
    };
    // One float32 operation per element: results must be exactly the rounded double result.
    expectClose(
      add(ta, tb).dataSync() as Float32Array,
      want((x, y) => x + y, 'b'),
      { atol: 0, rtol: 0, why: ONE_ROUNDING },
      'add [2,3,5]+[5]',
    );
    expectClose(
      sub(ta, tc).dataSync() as Float32Array,
      want((x, y) => x - y, 'c'),
      { atol: 0, rtol: 0, why: ONE_ROUNDING },
      'sub [2,3,5]-[2,1,5]',
    );
    expectClose(
      mul(ta, tc).dataSync() as Float32Array,
      want((x, y) => x * y, 'c'),
      { atol: 0, rtol: 0, why: ONE_ROUNDING },
      'mul [2,3,5]*[2,1,5]',
    );
    expectClose(
      div(ta, tb).dataSync() as Float32Array,
      want((x, y) => x / y, 'b'),
      { atol: 0, rtol: 0, why: ONE_ROUNDING },
      'div [2,3,5]/[5]',
    );
    expectClose(maximum(ta, tb).dataSync() as Float32Array, want(Math.max, 'b'), { atol: 0, rtol: 0, why: ONE_ROUNDING }, 'maximum');
    expectClose(minimum(ta, tc).dataSync() as Float32Array, want(Math.min, 'c'), { atol: 0, rtol: 0, why: ONE_ROUNDING }, 'minimum');
    expect(add(tb, ta).shape).toEqual([2, 3, 5]);
    expect(Array.from(add(Tensor.fromArray([1, 2, 3], [3, 1]), Tensor.fromArray([10, 20], [1, 2])).dataSync())).toEqual([
      11, 21, 12, 22, 13, 23,
    ]);
    expect(Array.from(div(Tensor.fromArray([1, 2], [2]), 3).dataSync())).toEqual([f(1 / 3), f(2 / 3)]);
    expect(Array.from(maximum(Tensor.fromArray([NaN, 1], [2]), Tensor.fromArray([0, NaN], [2])).dataSync())).toEqual([NaN, NaN]);
  });

  it('fused ops round each step in float32 (torch order)', () => {
    use();
    const n = 2 * 4 * 6;
    const x = normal(n, 6),
      y = normal(n, 7),
      g = normal(12, 8),
      s = normal(12, 9);
    const tx = Tensor.fromArray(x, [2, 4, 6]),
      ty = Tensor.fromArray(y, [2, 4, 6]);
    const tg = Tensor.fromArray(g, [2, 1, 6]),
      ts = Tensor.fromArray(s, [2, 1, 6]);
    const mod: number[] = [],
      gated: number[] = [],
      sw: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = Math.floor(i / 24) * 6 + (i % 6);
      mod.push(f(f(x[i] * f(1 + s[k])) + g[k]));
      gated.push(f(x[i] + f(y[i] * g[k])));
      sw.push(f(f(x[i] / f(1 + f(Math.exp(-x[i])))) * y[i]));
    }
    expectClose(modulate(tx, tg, ts).dataSync() as Float32Array, mod, { atol: 0, rtol: 0, why: TORCH_ORDER }, 'modulate');
    expectClose(gatedAdd(tx, ty, tg).dataSync() as Float32Array, gated, { atol: 0, rtol: 0, why: TORCH_ORDER }, 'gatedAdd');
    expectClose(
      swiglu(tx, ty).dataSync() as Float32Array,
      sw,
      { atol: 1e-7, rtol: 2e-6, why: TORCH_ORDER },
      'swiglu (exp within a few ulp)',
    );
  });
});

describe('typed errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => add(x, Tensor.zeros([3, 3]))).toThrow(/add: shapes \[2,3,4\], \[3,3\] do not broadcast/);
    expect(() => exp(Tensor.zeros([3], 'i32'))).toThrow(ShapeError);
    expect(() => modulate(x, Tensor.zeros([5]), Tensor.zeros([4]))).toThrow(/modulate: shapes/);
    expect(() => clamp(x, NaN, 1)).toThrow(ShapeError);
  });
});

describeNarrowIsaPaths('elementwise', cases);
