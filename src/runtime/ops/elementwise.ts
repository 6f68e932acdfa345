// Elementwise ops with numpy broadcasting: unary math, binary arithmetic (the second operand may be
// a number), and the fused combinations model code uses (swiglu, modulate, gatedAdd). Inputs are
// expanded to the output shape as stride-0 views, so broadcasting never copies. Results are new
// contiguous f32 tensors, computed in float32 in torch's operation order; native/ops_elementwise.cc
// validates dtypes, devices and shapes.
import { ShapeError } from '../errors.js';
import { native, type TensorDesc } from '../native.js';
import { Tensor } from '../tensor.js';
import { shapeStr } from './args.js';

// Op codes: must match kernels/cpu/elementwise.h.
const UNARY = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  rsqrt: 4,
  abs: 5,
  tanh: 6,
  sigmoid: 7,
  silu: 8,
  gelu: 9,
  geluTanh: 10,
  softplus: 11,
  sin: 12,
  cos: 13,
  square: 14,
  relu: 15,
  affine: 16,
  clamp: 17,
  divScalar: 18,
} as const;
const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, swiglu: 6 } as const;
const TERNARY = { modulate: 0, gatedAdd: 1 } as const;

/** numpy broadcast of several shapes; throws a ShapeError naming the op and the shapes. */
export function broadcastShapes(shapes: readonly (readonly number[])[], what = 'broadcast'): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = nd - s.length + i;
      const n = s[i];
      if (n === out[d] || n === 1) continue;
      if (out[d] === 1) out[d] = n;
      else throw new ShapeError(`${what}: shapes ${shapes.map(shapeStr).join(', ')} do not broadcast`);
    }
  }
  return out;
}

function unaryOp(op: string, code: number, x: Tensor, p0 = 0, p1 = 0): Tensor {
  if (!(x instanceof Tensor)) throw new ShapeError(`${op}: expected a tensor`);
  const out = Tensor.empty(x.shape, 'f32', x.device);
  try {
    native.unary(x.desc(), out.desc(), code, p0, p1);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

// Runs an n-ary op over inputs broadcast to a common shape.
function naryOp(op: string, xs: Tensor[], names: string[], call: (descs: TensorDesc[], out: TensorDesc) => void): Tensor {
  xs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ShapeError(`${op}: '${names[i]}' must be a tensor`);
  });
  const shape = broadcastShapes(
    xs.map((t) => t.shape),
    op,
  );
  const out = Tensor.empty(shape, 'f32', xs[0].device);
  const views = xs.map((t) => t.expand(shape));
  try {
    call(
      views.map((v) => v.desc()),
      out.desc(),
    );
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    views.forEach((v) => v.dispose());
  }
  return out;
}

function binaryOp(op: keyof typeof BINARY, a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new ShapeError(`${op}: operands must be tensors`);
  return naryOp(op, [a, b], ['a', 'b'], (d, o) => native.binary(d[0], d[1], o, BINARY[op]));
}

// The Tensor-op-number forms map onto single-parameter unary kernels.
function withScalar(op: keyof typeof BINARY, a: Tensor, b: Tensor | number, code: number, p: (c: number) => [number, number]): Tensor {
  if (typeof b !== 'number') return binaryOp(op, a, b);
  if (!(a instanceof Tensor)) throw new ShapeError(`${op}: first operand must be a tensor`);
  return unaryOp(op, code, a, ...p(b));
}

export const add = (a: Tensor, b: Tensor | number): Tensor => withScalar('add', a, b, UNARY.affine, (c) => [1, c]);
export const sub = (a: Tensor, b: Tensor | number): Tensor => withScalar('sub', a, b, UNARY.affine, (c) => [1, -c]);
export const mul = (a: Tensor, b: Tensor | number): Tensor => withScalar('mul', a, b, UNARY.affine, (c) => [c, 0]);
/** a / b; a number divisor is a true division, not a multiply by its reciprocal. */
export const div = (a: Tensor, b: Tensor | number): Tensor => withScalar('div', a, b, UNARY.divScalar, (c) => [c, 0]);
/** Elementwise maximum; NaN propagates (torch.maximum). */
export const maximum = (a: Tensor, b: Tensor | number): Tensor => withScalar('maximum', a, b, UNARY.clamp, (c) => [c, Infinity]);
/** Elementwise minimum; NaN propagates (torch.minimum). */
export const minimum = (a: Tensor, b: Tensor | number): Tensor => withScalar('minimum', a, b, UNARY.clamp, (c) => [-Infinity, c]);

export const neg = (x: Tensor): Tensor => unaryOp('neg', UNARY.neg, x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', UNARY.exp, x);
export const log = (x: Tensor): Tensor => unaryOp('log', UNARY.log, x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', UNARY.sqrt, x);
/** 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', UNARY.rsqrt, x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', UNARY.abs, x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', UNARY.tanh, x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', UNARY.sigmoid, x);
/** x * sigmoid(x), evaluated as x / (1 + exp(-x)) like torch. */
export const silu = (x: Tensor): Tensor => unaryOp('silu', UNARY.silu, x);
/** Exact (erf) GELU. */
export const gelu = (x: Tensor): Tensor => unaryOp('gelu', UNARY.gelu, x);
/** tanh-approximated GELU (torch approximate='tanh'). */
export const geluTanh = (x: Tensor): Tensor => unaryOp('geluTanh', UNARY.geluTanh, x);
/** log(1 + exp(x)), linear above 20 (torch defaults beta=1, threshold=20). */
export const softplus = (x: Tensor): Tensor => unaryOp('softplus', UNARY.softplus, x);
export const sin = (x: Tensor): Tensor => unaryOp('sin', UNARY.sin, x);
export const cos = (x: Tensor): Tensor => unaryOp('cos', UNARY.cos, x);
export const square = (x: Tensor): Tensor => unaryOp('square', UNARY.square, x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', UNARY.relu, x);

export function scale(x: Tensor, s: number): Tensor {
  return unaryOp('scale', UNARY.affine, x, s, 0);
}
export function addScalar(x: Tensor, c: number): Tensor {
  return unaryOp('addScalar', UNARY.affine, x, 1, c);
}
/** x * s + c (two roundings, no FMA). */
export function affine(x: Tensor, s: number, c: number): Tensor {
  return unaryOp('affine', UNARY.affine, x, s, c);
}
/** min(max(x, lo), hi), as torch.clamp. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new ShapeError(`clamp: bounds must not be NaN (got ${lo}, ${hi})`);
  return unaryOp('clamp', UNARY.clamp, x, lo, hi);
}

/** silu(gate) * up, broadcast. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return binaryOp('swiglu', gate, up);
}
/** x * (1 + scale) + shift, broadcast (DiT adaptive norm modulation). */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  return naryOp('modulate', [x, shift, scale], ['x', 'shift', 'scale'], (d, o) => native.ternary(d[0], d[1], d[2], o, TERNARY.modulate));
}
/** x + y * gate, broadcast (gated residual). */
export function gatedAdd(x: Tensor, y: Tensor, gate: Tensor): Tensor {
  return naryOp('gatedAdd', [x, y, gate], ['x', 'y', 'gate'], (d, o) => native.ternary(d[0], d[1], d[2], o, TERNARY.gatedAdd));
}
