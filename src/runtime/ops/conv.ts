// 1-D convolutions and the Snake activation (channels-first [B, C, T]), as used by the Oobleck VAE.
// Wrappers compute the output length like torch and hand contiguous f32 activations to the native
// kernels (native/ops_conv.cc validates the call); weights stay in their stored dtype. A conv can
// apply Snake to its input as it reads it (`inputSnake`), so the activated tensor is never stored.
import { isFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native, type TensorDesc } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank, intOption, runInto } from './args.js';
import { precisionCode, type MatmulPrecision } from './matmul.js';

/** Snake on a conv's input: the conv reads snake(x, alpha, beta, { logScale }) (see `snake`). */
export interface InputSnake {
  /** [C] or [1, C, 1], C the conv's input channels. */
  alpha: Tensor;
  beta: Tensor;
  logScale: boolean;
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  /** Added to the output ([B, Cout, Tout]): a skip connection fused into the convolution. */
  residual?: Tensor | null;
  /**
   * Write the output over `residual` (which must be contiguous f32 and must not share memory with
   * x) instead of a new tensor: the result is a new view of residual's memory, and residual's old
   * values are gone. A skip connection then needs no second activation-sized buffer. Default false.
   */
  residualInPlace?: boolean;
  /** Snake applied to x as the conv reads it: conv1d(snake(x, ...)) without storing snake(x). */
  inputSnake?: InputSnake | null;
  /** As for `linear`: 'bf16' multiplies bf16-rounded x and w with f32 accumulation; default 'fp32' (exact). */
  precision?: MatmulPrecision;
  /**
   * The weight is a constant (a model's): on the CPU its packed form is made on the first call and
   * kept with the weight's buffer for later calls (freed with it), instead of being packed on every
   * call. Each precision used keeps one form: about the weight's f32 size at 'fp32', half at 'bf16'.
   * The weight must not be written while it is cached. Default false.
   */
  cacheWeight?: boolean;
}

export interface ConvTranspose1dOptions {
  stride?: number;
  padding?: number;
  outputPadding?: number;
  dilation?: number;
  /** As for conv1d. */
  precision?: MatmulPrecision;
  /** As for conv1d. */
  cacheWeight?: boolean;
  /** As for conv1d. */
  inputSnake?: InputSnake | null;
}

/** Activations go to the kernels as contiguous f32; other float dtypes are converted, anything else is passed on for the glue to reject. */
function activation(x: Tensor): Tensor {
  return isFloat(x.dtype) && x.dtype !== 'f32' ? x.to('f32') : x.contiguous();
}

/** The ranks both convolutions read their output length from, and the options they share. */
function geometry(op: string, x: Tensor, w: Tensor, wLayout: string, opts: Conv1dOptions | ConvTranspose1dOptions) {
  expectRank(op, 'x', x, 3, '[B, Cin, T]');
  expectRank(op, 'w', w, 3, wLayout);
  return {
    stride: intOption(op, 'stride', opts.stride, 1, 1),
    padding: intOption(op, 'padding', opts.padding, 0, 0),
    dilation: intOption(op, 'dilation', opts.dilation, 1, 1),
  };
}

/** A per-channel parameter stored as [1, C, 1] is viewed as [C]; other shapes go on as they are. */
function channelParam(p: Tensor): Tensor {
  return p.ndim === 3 && p.shape[0] === 1 && p.shape[2] === 1 ? p.reshape([p.shape[1]]) : p;
}

/** The native arguments (alpha, beta, logScale) of an optional input Snake, and the reshaped views to free after the call. */
function snakeArgs(act: InputSnake | null | undefined): {
  args: [TensorDesc | null, TensorDesc | null, boolean];
  temps: (Tensor | null)[];
} {
  if (!act) return { args: [null, null, false], temps: [] };
  const a = channelParam(act.alpha),
    b = channelParam(act.beta);
  return { args: [a.desc(), b.desc(), !!act.logScale], temps: [a === act.alpha ? null : a, b === act.beta ? null : b] };
}

/** torch.nn.functional.conv1d: x [B, Cin, T], w [Cout, Cin/groups, K] -> [B, Cout, Tout]. */
export function conv1d(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv1dOptions = {}): Tensor {
  const op = 'conv1d';
  const { stride, padding, dilation } = geometry(op, x, w, '[Cout, Cin/groups, K]', opts);
  const groups = intOption(op, 'groups', opts.groups, 1, 1);
  const precision = precisionCode(opts, op);
  const [B, , T] = x.shape;
  const [Cout, , K] = w.shape;
  const span = dilation * (K - 1) + 1;
  if (T + 2 * padding < span) {
    throw new ShapeError(`${op}: input length ${T} with padding ${padding} is shorter than the kernel span ${span}`);
  }
  const Tout = Math.floor((T + 2 * padding - span) / stride) + 1;
  const res = opts.residual ?? null;
  if (opts.residualInPlace && (!res || res.dtype !== 'f32' || !res.isContiguous)) {
    throw new ShapeError(`${op}: residualInPlace needs a contiguous f32 residual`);
  }
  const act = snakeArgs(opts.inputSnake);
  const xc = activation(x);
  const wc = w.contiguous();
  const rc = res ? activation(res) : null;
  // In place, the output is rc: a view of residual's buffer (contiguous f32, so no copy was made).
  const inPlace = !!opts.residualInPlace;
  const out = inPlace ? rc! : Tensor.empty([B, Cout, Tout], 'f32', x.device);
  return runInto(out, [xc, wc, inPlace ? null : rc, ...act.temps], () =>
    native.conv1d(
      xc.desc(),
      wc.desc(),
      bias ? bias.desc() : null,
      out.desc(),
      stride,
      padding,
      dilation,
      groups,
      rc ? rc.desc() : null,
      precision,
      !!opts.cacheWeight,
      ...act.args,
    ),
  );
}

/** torch.nn.functional.conv_transpose1d (groups 1): x [B, Cin, T], w [Cin, Cout, K] -> [B, Cout, Tout]. */
export function convTranspose1d(x: Tensor, w: Tensor, bias: Tensor | null, opts: ConvTranspose1dOptions = {}): Tensor {
  const op = 'convTranspose1d';
  const { stride, padding, dilation } = geometry(op, x, w, '[Cin, Cout, K]', opts);
  const outputPadding = intOption(op, 'outputPadding', opts.outputPadding, 0, 0);
  const precision = precisionCode(opts, op);
  const [B, , T] = x.shape;
  const [, Cout, K] = w.shape;
  const Tout = (T - 1) * stride - 2 * padding + dilation * (K - 1) + outputPadding + 1;
  if (Tout < 1) throw new ShapeError(`${op}: output length ${Tout} is not positive (padding ${padding} too large)`);
  const act = snakeArgs(opts.inputSnake);
  const xc = activation(x);
  const wc = w.contiguous();
  const out = Tensor.empty([B, Cout, Tout], 'f32', x.device);
  return runInto(out, [xc, wc, ...act.temps], () =>
    native.convTranspose1d(
      xc.desc(),
      wc.desc(),
      bias ? bias.desc() : null,
      out.desc(),
      stride,
      padding,
      outputPadding,
      dilation,
      precision,
      !!opts.cacheWeight,
      ...act.args,
    ),
  );
}

/**
 * Snake1d: x + 1/(beta + 1e-9) * sin(alpha * x)^2 per channel; with logScale alpha and beta are
 * stored as logarithms and exponentiated first (the Oobleck VAE's convention). alpha and beta are
 * [C] or [1, C, 1].
 */
export function snake(x: Tensor, alpha: Tensor, beta: Tensor, opts: { logScale: boolean }): Tensor {
  const a = channelParam(alpha);
  const b = channelParam(beta);
  const xc = activation(x);
  const out = Tensor.empty(x.shape, 'f32', x.device);
  return runInto(out, [xc, a === alpha ? null : a, b === beta ? null : b], () =>
    native.snake(xc.desc(), a.desc(), b.desc(), out.desc(), !!opts.logScale),
  );
}
