// 1-D convolutions and the Snake activation (channels-first [B, C, T]), as used by the Oobleck VAE.
// Wrappers validate shapes and hyper-parameters, compute the output length like torch and hand
// contiguous f32 activations to the native kernels; weights stay in their stored dtype.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  /** Added to the output ([B, Cout, Tout]): a skip connection fused into the convolution. */
  residual?: Tensor | null;
}

export interface ConvTranspose1dOptions {
  stride?: number;
  padding?: number;
  outputPadding?: number;
  dilation?: number;
}

function intOpt(op: string, name: string, v: number | undefined, def: number, min: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new ShapeError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  return x;
}

function expectFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32' && t.dtype !== 'bf16' && t.dtype !== 'f16') {
    throw new ShapeError(`${op}: ${name} must be a float tensor (f32, bf16 or f16), got ${t.dtype}`);
  }
}

function expect3d(op: string, name: string, t: Tensor): void {
  if (t.ndim !== 3) throw new ShapeError(`${op}: ${name} must be 3-D, got [${t.shape.join(',')}]`);
}

function expectDevice(op: string, x: Tensor, others: (Tensor | null)[]): void {
  for (const o of others) {
    if (o && o.device !== x.device) throw new ShapeError(`${op}: tensors on different devices (${x.device} and ${o.device})`);
  }
}

/** f32 contiguous copy/view of an activation. */
function activation(op: string, x: Tensor): Tensor {
  expect3d(op, 'x', x);
  expectFloat(op, 'x', x);
  return x.dtype === 'f32' ? x.contiguous() : x.to('f32');
}

function checkBias(op: string, bias: Tensor | null, cout: number): void {
  if (!bias) return;
  expectFloat(op, 'bias', bias);
  if (bias.ndim !== 1 || bias.shape[0] !== cout) throw new ShapeError(`${op}: bias must be [${cout}], got [${bias.shape.join(',')}]`);
}

/** torch.nn.functional.conv1d: x [B, Cin, T], w [Cout, Cin/groups, K] -> [B, Cout, Tout]. */
export function conv1d(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv1dOptions = {}): Tensor {
  const op = 'conv1d';
  const stride = intOpt(op, 'stride', opts.stride, 1, 1);
  const padding = intOpt(op, 'padding', opts.padding, 0, 0);
  const dilation = intOpt(op, 'dilation', opts.dilation, 1, 1);
  const groups = intOpt(op, 'groups', opts.groups, 1, 1);
  expect3d(op, 'w', w);
  expectFloat(op, 'w', w);
  expect3d(op, 'x', x);
  const [B, Cin, T] = x.shape;
  const [Cout, cinG, K] = w.shape;
  if (Cin % groups !== 0 || Cout % groups !== 0) {
    throw new ShapeError(`${op}: channels ${Cin}->${Cout} are not divisible by groups ${groups}`);
  }
  if (cinG !== Cin / groups) throw new ShapeError(`${op}: w [${w.shape.join(',')}] expects ${cinG * groups} input channels, x has ${Cin}`);
  if (K < 1) throw new ShapeError(`${op}: kernel size must be >= 1`);
  const span = dilation * (K - 1) + 1;
  if (T + 2 * padding < span) {
    throw new ShapeError(`${op}: input length ${T} with padding ${padding} is shorter than the kernel span ${span}`);
  }
  checkBias(op, bias, Cout);
  const res = opts.residual ?? null;
  expectDevice(op, x, [w, bias, res]);
  const Tout = Math.floor((T + 2 * padding - span) / stride) + 1;
  if (res && (res.ndim !== 3 || res.shape[0] !== B || res.shape[1] !== Cout || res.shape[2] !== Tout)) {
    throw new ShapeError(`${op}: residual [${res.shape.join(',')}] must match the output [${B},${Cout},${Tout}]`);
  }
  const xc = activation(op, x);
  const wc = w.contiguous();
  const rc = res ? activation(op, res) : null;
  const out = Tensor.empty([B, Cout, Tout], 'f32', x.device);
  try {
    native.conv1d(xc.desc(), wc.desc(), bias ? bias.desc() : null, out.desc(), stride, padding, dilation, groups, rc ? rc.desc() : null);
  } finally {
    xc.dispose();
    wc.dispose();
    rc?.dispose();
  }
  return out;
}

/** torch.nn.functional.conv_transpose1d (groups 1): x [B, Cin, T], w [Cin, Cout, K] -> [B, Cout, Tout]. */
export function convTranspose1d(x: Tensor, w: Tensor, bias: Tensor | null, opts: ConvTranspose1dOptions = {}): Tensor {
  const op = 'convTranspose1d';
  const stride = intOpt(op, 'stride', opts.stride, 1, 1);
  const padding = intOpt(op, 'padding', opts.padding, 0, 0);
  const outputPadding = intOpt(op, 'outputPadding', opts.outputPadding, 0, 0);
  const dilation = intOpt(op, 'dilation', opts.dilation, 1, 1);
  if (outputPadding >= stride && outputPadding >= dilation) {
    throw new ShapeError(`${op}: outputPadding ${outputPadding} must be smaller than stride ${stride} or dilation ${dilation}`);
  }
  expect3d(op, 'w', w);
  expectFloat(op, 'w', w);
  expect3d(op, 'x', x);
  const [B, Cin, T] = x.shape;
  const [wCin, Cout, K] = w.shape;
  if (wCin !== Cin) throw new ShapeError(`${op}: w [${w.shape.join(',')}] expects ${wCin} input channels, x has ${Cin}`);
  if (K < 1 || T < 1) throw new ShapeError(`${op}: kernel size and input length must be >= 1 (K ${K}, T ${T})`);
  const Tout = (T - 1) * stride - 2 * padding + dilation * (K - 1) + outputPadding + 1;
  if (Tout < 1) throw new ShapeError(`${op}: output length ${Tout} is not positive (padding ${padding} too large)`);
  checkBias(op, bias, Cout);
  expectDevice(op, x, [w, bias]);
  const xc = activation(op, x);
  const wc = w.contiguous();
  const out = Tensor.empty([B, Cout, Tout], 'f32', x.device);
  try {
    native.convTranspose1d(xc.desc(), wc.desc(), bias ? bias.desc() : null, out.desc(), stride, padding, outputPadding, dilation);
  } finally {
    xc.dispose();
    wc.dispose();
  }
  return out;
}

/** Per-channel parameter given as [C] or [1, C, 1], viewed as [C]. */
function channelParam(op: string, name: string, p: Tensor, C: number): Tensor {
  expectFloat(op, name, p);
  const ok = (p.ndim === 1 && p.shape[0] === C) || (p.ndim === 3 && p.shape[0] === 1 && p.shape[1] === C && p.shape[2] === 1);
  if (!ok) throw new ShapeError(`${op}: ${name} must be [${C}] or [1,${C},1], got [${p.shape.join(',')}]`);
  return p.reshape([C]);
}

/**
 * Snake1d: x + 1/(beta + 1e-9) * sin(alpha * x)^2 per channel; with logScale alpha and beta are
 * stored as logarithms and exponentiated first (the Oobleck VAE's convention).
 */
export function snake(x: Tensor, alpha: Tensor, beta: Tensor, opts: { logScale: boolean }): Tensor {
  const op = 'snake';
  expect3d(op, 'x', x);
  const C = x.shape[1];
  const a = channelParam(op, 'alpha', alpha, C);
  const b = channelParam(op, 'beta', beta, C);
  expectDevice(op, x, [alpha, beta]);
  const xc = activation(op, x);
  const out = Tensor.empty(x.shape, 'f32', x.device);
  try {
    native.snake(xc.desc(), a.desc(), b.desc(), out.desc(), !!opts.logScale);
  } finally {
    xc.dispose();
    a.dispose();
    b.dispose();
  }
  return out;
}
