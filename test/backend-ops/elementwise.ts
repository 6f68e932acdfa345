// Elementwise cases: every unary op over odd sizes, strided and bf16 inputs; binary and fused ops
// over the broadcasting patterns the models use ([B,T,C]+[C], [B,T,C]*[B,1,C], [B,C,T]+[1,C,1],
// size-1 dims, transposed operands) and the Tensor-op-number forms.
import {
  abs,
  add,
  addScalar,
  affine,
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
  scale,
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
  type Device,
} from '../../src/runtime/index.js';
import { normal, uniform } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, device: Device, lo = -4, hi = 4) =>
  Tensor.fromArray(uniform(numel(shape), seed, lo, hi), shape, { device });

const EXACT: Tolerance = {
  atol: 0,
  exact: true,
  why: 'one IEEE float32 operation (or a fixed sequence of them) per element, same on every path',
};
const VEXP: Tolerance = {
  atol: 1e-7,
  rtol: 2e-6,
  why: 'vector exp polynomial is within ~2 ulp of libm expf; the division keeps the relative error',
};
const VTANH: Tolerance = { atol: 1e-6, why: 'tanh as (1-e)/(1+e) with vector exp: absolute error ~2e-7 (relative error grows near 0)' };
const LIBM: Tolerance = {
  atol: 1e-7,
  rtol: 4e-6,
  why: 'the CPU fast path calls the same libm function (bit-exact); CUDA libdevice log/erf/sin/cos/log1p are within 2 ulp',
};

type Unary = [string, (x: Tensor) => Tensor, Tolerance, [number, number]];
const unaries: Unary[] = [
  ['neg', neg, EXACT, [-4, 4]],
  ['exp', exp, VEXP, [-20, 20]],
  ['log', log, LIBM, [0.01, 50]],
  ['sqrt', sqrt, EXACT, [0, 50]],
  ['rsqrt', rsqrt, EXACT, [0.01, 50]],
  ['abs', abs, EXACT, [-4, 4]],
  ['tanh', tanh, VTANH, [-6, 6]],
  ['sigmoid', sigmoid, VEXP, [-30, 30]],
  ['silu', silu, VEXP, [-30, 30]],
  ['gelu', gelu, LIBM, [-6, 6]],
  ['geluTanh', geluTanh, { atol: 2e-6, why: 'tanh error ~2e-7 scaled by 0.5|x| <= 3' }, [-6, 6]],
  ['softplus', softplus, LIBM, [-30, 30]],
  ['sin', sin, LIBM, [-10, 10]],
  ['cos', cos, LIBM, [-10, 10]],
  ['square', square, EXACT, [-4, 4]],
  ['relu', relu, EXACT, [-4, 4]],
  ['scale', (x) => scale(x, 0.37), EXACT, [-4, 4]],
  ['addScalar', (x) => addScalar(x, -1.25), EXACT, [-4, 4]],
  ['affine', (x) => affine(x, 1.7, 0.3), EXACT, [-4, 4]],
  ['clamp', (x) => clamp(x, -1, 2.5), EXACT, [-4, 4]],
  ['add number', (x) => add(x, 3), EXACT, [-4, 4]],
  ['sub number', (x) => sub(x, 0.5), EXACT, [-4, 4]],
  ['mul number', (x) => mul(x, -2.5), EXACT, [-4, 4]],
  ['div number', (x) => div(x, 3), EXACT, [-4, 4]],
  ['maximum number', (x) => maximum(x, 0.25), EXACT, [-4, 4]],
  ['minimum number', (x) => minimum(x, 0.25), EXACT, [-4, 4]],
];

export const cases: OpCase[] = [];

const unaryShapes: number[][] = [[1], [7], [16], [33, 17], [2, 3, 129], [3, 1, 1000], [3, 20011]];
for (const [name, fn, tol, [lo, hi]] of unaries) {
  for (const shape of unaryShapes) {
    cases.push({ op: name, name: `[${shape}]`, tol, run: (d) => fn(rand(shape, numel(shape) + 11, d, lo, hi)) });
  }
  cases.push({ op: name, name: 'transposed [40,9]^T', tol, run: (d) => fn(rand([40, 9], 5, d, lo, hi).transpose(0, 1)) });
  cases.push({ op: name, name: 'sliced step 2 [6,50]', tol, run: (d) => fn(rand([6, 50], 6, d, lo, hi).slice(1, 1, 50, 2)) });
  cases.push({ op: name, name: 'bf16 [5,31]', tol, run: (d) => fn(rand([5, 31], 8, d, lo, hi).to('bf16')) });
}

cases.push({
  op: 'special values',
  name: 'exp/silu/sigmoid/tanh/relu/clamp at 0, +-inf, NaN, extremes',
  tol: { atol: 1e-7, rtol: 2e-6, why: 'vector exp within ~2 ulp; infinities and NaN must match exactly' },
  run: (d) => {
    const v = Tensor.fromArray([0, -0, Infinity, -Infinity, NaN, 88.5, -88.5, 100, -100, 1e-30, -1e-30, 20.5], [12], { device: d });
    return [exp(v), silu(v), sigmoid(v), tanh(v), relu(v), clamp(v, -1, 1), maximum(v, 0), softplus(v)];
  },
});

type Binary = [string, (a: Tensor, b: Tensor) => Tensor, Tolerance];
const binaries: Binary[] = [
  ['add', add, EXACT],
  ['sub', sub, EXACT],
  ['mul', mul, EXACT],
  ['div', div, EXACT],
  ['maximum', maximum, EXACT],
  ['minimum', minimum, EXACT],
  ['swiglu', swiglu, VEXP],
];
// [a shape, b shape, how b is made]
const patterns: [string, number[], number[]][] = [
  ['same', [2, 5, 33], [2, 5, 33]],
  ['[B,T,C]+[C]', [2, 5, 33], [33]],
  ['[B,T,C]*[B,1,C]', [2, 9, 37], [2, 1, 37]],
  ['[B,C,T]+[1,C,1]', [2, 7, 45], [1, 7, 1]],
  ['outer [3,1]x[1,4]', [3, 1], [1, 4]],
  ['scalar tensor [1]', [4, 19], [1]],
  ['size-1 dims [4,1,65]x[4,7,1]', [4, 1, 65], [4, 7, 1]],
  ['rank 0-like [1]x[1]', [1], [1]],
  ['long row [2,4099]', [2, 4099], [2, 4099]],
  ['b broadcast first [C]+[B,T,C]', [33], [2, 5, 33]],
  ['rows longer than a 16384 task [3,20011]+[20011]', [3, 20011], [20011]],
  ['contiguous, split into tasks [5,13331]', [5, 13331], [5, 13331]],
];
for (const [name, fn, tol] of binaries) {
  for (const [pname, sa, sb] of patterns) {
    cases.push({
      op: name,
      name: pname,
      tol,
      run: (d) => fn(rand(sa, 1, d), name === 'div' ? rand(sb, 2, d, 0.5, 3) : rand(sb, 2, d)),
    });
  }
  cases.push({
    op: name,
    name: 'transposed b [17,6]^T with [6,17]',
    tol,
    run: (d) => fn(rand([6, 17], 3, d), name === 'div' ? rand([17, 6], 4, d, 0.5, 3).transpose(0, 1) : rand([17, 6], 4, d).transpose(0, 1)),
  });
  cases.push({
    op: name,
    name: 'bf16 a with f32 b [3,40]',
    tol,
    run: (d) => fn(rand([3, 40], 9, d).to('bf16'), rand([3, 40], 10, d, 0.5, 3)),
  });
}

const dit = (d: Device, bt: number[], c: number, seed: number) => ({
  x: Tensor.fromArray(normal(numel([...bt, c]), seed), [...bt, c], { device: d }),
  p: Tensor.fromArray(normal(bt[0] * c, seed + 1, 0.3), [bt[0], 1, c], { device: d }),
  q: Tensor.fromArray(normal(bt[0] * c, seed + 2, 0.3), [bt[0], 1, c], { device: d }),
});
for (const [bt, c] of [
  [[1, 1], 16],
  [[2, 9], 37],
  [[2, 100], 2048],
] as [number[], number][]) {
  cases.push({
    op: 'modulate',
    name: `x[${bt},${c}] shift/scale[B,1,C]`,
    tol: EXACT,
    run: (d) => {
      const { x, p, q } = dit(d, bt, c, 21);
      return modulate(x, p, q);
    },
  });
  cases.push({
    op: 'gatedAdd',
    name: `x,y[${bt},${c}] gate[B,1,C]`,
    tol: EXACT,
    run: (d) => {
      const { x, p } = dit(d, bt, c, 31);
      const y = Tensor.fromArray(normal(x.numel, 77), x.shape, { device: d });
      return gatedAdd(x, y, p);
    },
  });
}
cases.push({
  op: 'modulate',
  name: 'strided x (transposed [C,T]) with [C] shift/scale',
  tol: EXACT,
  run: (d) => modulate(rand([24, 11], 1, d).transpose(0, 1), rand([24], 2, d), rand([24], 3, d)),
});
cases.push({
  op: 'gatedAdd',
  name: 'scalar gate [1] and [T,1] y',
  tol: EXACT,
  run: (d) => gatedAdd(rand([5, 13], 1, d), rand([5, 1], 2, d), rand([1], 3, d)),
});
