// conv1d / convTranspose1d / snake cases: the Oobleck VAE patterns (kernel-7 residual units at
// dilations 1/3/9, kernel-1 convs, strided kernel-2s downsampling, transposed kernel-2s upsampling
// at strides 2/4/6/10) plus groups, odd lengths, channel counts that are not multiples of the
// micro-tile, reductions longer than one reduction chunk, bf16/f16 weights and strided views, and
// the bf16 precision mode (odd reductions, reductions past one bf16 chunk of 512, residuals),
// weights packed once and reused (cacheWeight), Snake fused into the conv that reads it
// (inputSnake) and the skip written over the residual (residualInPlace).
import {
  Tensor,
  convTranspose1d,
  conv1d,
  snake,
  type DType,
  type Device,
  type InputSnake,
  type MatmulPrecision,
} from '../../src/runtime/index.js';
import { randnTensor as tensor, uniform } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

export const cases: OpCase[] = [];

// Weights are scaled by 1/sqrt(fan-in), so outputs are O(1); the fast kernels accumulate in f32
// in a different order from the f64 reference: error ~ sqrt(fan-in) * 2^-24 * O(1) << 1e-4.
const convTol: Tolerance = { atol: 1e-4, rtol: 1e-4, why: 'f32 accumulation (blocked order) vs the f64-accumulating reference' };

interface ConvSpec {
  name: string;
  B: number;
  Cin: number;
  Cout: number;
  T: number;
  K: number;
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  wdtype?: DType;
  transposedInput?: boolean;
  residual?: boolean;
  precision?: MatmulPrecision;
  /** Snake on the input (log-scale parameters, as the VAE stores them). */
  snake?: boolean;
  residualInPlace?: boolean;
}

// Log-scale Snake parameters over C channels (alpha, beta in e^[-1, 1]) and inputs up to |x| 3,
// so sin^2 spans whole periods.
function inputSnake(C: number, seed: number, device: Device): InputSnake {
  return {
    alpha: Tensor.fromArray(uniform(C, seed, -1, 1), [1, C, 1], { device }),
    beta: Tensor.fromArray(uniform(C, seed + 1, -1, 1), [C], { device }),
    logScale: true,
  };
}

// A fused Snake adds the reference's libm sinf against the fast path's polynomial (< 2e-7 of
// sin^2, times 1/beta <= e) on every input, summed over the fan-in like the f32 rounding.
const snakeConvTol: Tolerance = {
  atol: 2e-4,
  rtol: 1e-4,
  why: 'f32 accumulation (blocked order) vs the f64 reference, plus the vectorised sin vs libm sinf on each Snake input',
};

function addConv(s: ConvSpec): void {
  const groups = s.groups ?? 1;
  cases.push({
    op: 'conv1d',
    name: s.name,
    tol: s.snake ? snakeConvTol : convTol,
    run: (device) => {
      const fanIn = (s.Cin / groups) * s.K;
      // A [B, T, Cin] tensor transposed to [B, Cin, T] exercises the non-contiguous input path.
      const x = s.transposedInput ? tensor([s.B, s.T, s.Cin], 1, device).transpose(1, 2) : tensor([s.B, s.Cin, s.T], 1, device);
      const w = tensor([s.Cout, s.Cin / groups, s.K], 2, device, 1 / Math.sqrt(fanIn), s.wdtype ?? 'f32');
      const b = s.bias === false ? null : tensor([s.Cout], 3, device, 0.5, s.wdtype ?? 'f32');
      const Tout = Math.floor((s.T + 2 * (s.padding ?? 0) - (s.dilation ?? 1) * (s.K - 1) - 1) / (s.stride ?? 1)) + 1;
      const residual = s.residual ? tensor([s.B, s.Cout, Tout], 10, device) : null;
      return conv1d(x, w, b, {
        stride: s.stride,
        padding: s.padding,
        dilation: s.dilation,
        groups,
        residual,
        precision: s.precision,
        inputSnake: s.snake ? inputSnake(s.Cin, 11, device) : null,
        residualInPlace: s.residualInPlace,
      });
    },
  });
}

interface ConvTSpec {
  name: string;
  B: number;
  Cin: number;
  Cout: number;
  T: number;
  K: number;
  stride?: number;
  padding?: number;
  outputPadding?: number;
  dilation?: number;
  bias?: boolean;
  wdtype?: DType;
  precision?: MatmulPrecision;
  snake?: boolean;
}

function addConvT(s: ConvTSpec): void {
  cases.push({
    op: 'convTranspose1d',
    name: s.name,
    tol: s.snake ? snakeConvTol : convTol,
    run: (device) => {
      const x = tensor([s.B, s.Cin, s.T], 4, device);
      const w = tensor([s.Cin, s.Cout, s.K], 5, device, 1 / Math.sqrt(s.Cin * Math.max(1, s.K / (s.stride ?? 1))), s.wdtype ?? 'f32');
      const b = s.bias === false ? null : tensor([s.Cout], 6, device, 0.5, s.wdtype ?? 'f32');
      return convTranspose1d(x, w, b, {
        stride: s.stride,
        padding: s.padding,
        outputPadding: s.outputPadding,
        dilation: s.dilation,
        precision: s.precision,
        inputSnake: s.snake ? inputSnake(s.Cin, 7, device) : null,
      });
    },
  });
}

addConv({ name: 'k3 p1 [2,5,17]->7', B: 2, Cin: 5, Cout: 7, T: 17, K: 3, padding: 1 });
for (const d of [1, 3, 9]) {
  addConv({ name: `residual k7 dil${d} pad${3 * d} [1,32,100]`, B: 1, Cin: 32, Cout: 32, T: 100, K: 7, dilation: d, padding: 3 * d });
}
addConv({ name: 'residual k7 dil9 pad27 short T [2,16,5]', B: 2, Cin: 16, Cout: 16, T: 5, K: 7, dilation: 9, padding: 27 });
addConv({ name: 'k1 [2,48,70]->40', B: 2, Cin: 48, Cout: 40, T: 70, K: 1 });
addConv({ name: 'k1 + residual [2,40,70]->40', B: 2, Cin: 40, Cout: 40, T: 70, K: 1, residual: true });
addConv({
  name: 'k7 dil3 + residual, no bias [1,20,45]->20',
  B: 1,
  Cin: 20,
  Cout: 20,
  T: 45,
  K: 7,
  dilation: 3,
  padding: 9,
  residual: true,
  bias: false,
});
addConv({ name: 'k1 no bias [1,8,33]->2', B: 1, Cin: 8, Cout: 2, T: 33, K: 1, bias: false });
for (const s of [2, 4, 6, 10]) {
  addConv({
    name: `downsample k${2 * s} s${s} p${Math.ceil(s / 2)} [2,16,120]->32`,
    B: 2,
    Cin: 16,
    Cout: 32,
    T: 120,
    K: 2 * s,
    stride: s,
    padding: Math.ceil(s / 2),
  });
}
// Long enough for the vectorised phase split (16 output columns from S loads) and, at T 900 / 1700,
// for a second 384-step time block (its split starts mid-row).
addConv({ name: 'downsample k20 s10 p5 long T [1,8,4000]->12', B: 1, Cin: 8, Cout: 12, T: 4000, K: 20, stride: 10, padding: 5 });
addConv({ name: 'downsample k4 s2 p1 two time blocks [2,20,901]->16', B: 2, Cin: 20, Cout: 16, T: 901, K: 4, stride: 2, padding: 1 });
addConv({
  name: 'bf16 downsample k12 s6 p3 two time blocks [1,40,2400]->24',
  B: 1,
  Cin: 40,
  Cout: 24,
  T: 2400,
  K: 12,
  stride: 6,
  padding: 3,
  precision: 'bf16',
});
addConv({ name: 'downsample k8 s4 p2 odd T [1,12,103]->20', B: 1, Cin: 12, Cout: 20, T: 103, K: 8, stride: 4, padding: 2 });
addConv({ name: 'encoder head k3 p1 [1,64,30]->16', B: 1, Cin: 64, Cout: 16, T: 30, K: 3, padding: 1 });
addConv({ name: 'long reduction k7 [1,130,40]->70', B: 1, Cin: 130, Cout: 70, T: 40, K: 7, padding: 3 });
addConv({ name: 'groups 2 s2 d2 [2,8,41]->6', B: 2, Cin: 8, Cout: 6, T: 41, K: 3, stride: 2, dilation: 2, padding: 1, groups: 2 });
addConv({ name: 'depthwise k5 p2 [1,12,50]', B: 1, Cin: 12, Cout: 12, T: 50, K: 5, padding: 2, groups: 12 });
addConv({ name: 'stride 3 dilation 2 no pad [1,6,64]->9', B: 1, Cin: 6, Cout: 9, T: 64, K: 4, stride: 3, dilation: 2 });
addConv({ name: 'bf16 weights k7 [1,24,65]->24', B: 1, Cin: 24, Cout: 24, T: 65, K: 7, padding: 3, wdtype: 'bf16' });
addConv({ name: 'f16 weights k4 s2 p1 [1,24,64]->32', B: 1, Cin: 24, Cout: 32, T: 64, K: 4, stride: 2, padding: 1, wdtype: 'f16' });
addConv({ name: 'transposed-view input k7 p3 [2,20,37]->12', B: 2, Cin: 20, Cout: 12, T: 37, K: 7, padding: 3, transposedInput: true });
addConv({ name: 'audio-in k7 p3 [2,2,96]->16', B: 2, Cin: 2, Cout: 16, T: 96, K: 7, padding: 3 });
// bf16 precision: both sides round x and w to bf16; R = 21*7 = 147 is odd (a half pair), 80*7 = 560
// crosses the 512-step bf16 chunk, T = 400 crosses the 384-step time block.
const bf16: MatmulPrecision = 'bf16';
addConv({
  name: 'bf16 k7 dil3 + residual [1,21,400]->19',
  B: 1,
  Cin: 21,
  Cout: 19,
  T: 400,
  K: 7,
  dilation: 3,
  padding: 9,
  residual: true,
  precision: bf16,
});
addConv({ name: 'bf16 long reduction k7 [1,80,60]->24', B: 1, Cin: 80, Cout: 24, T: 60, K: 7, padding: 3, precision: bf16 });
addConv({ name: 'bf16 k1 + residual [2,40,70]->40', B: 2, Cin: 40, Cout: 40, T: 70, K: 1, residual: true, precision: bf16 });
addConv({ name: 'bf16 k8 s4 p2 [1,12,103]->20', B: 1, Cin: 12, Cout: 20, T: 103, K: 8, stride: 4, padding: 2, precision: bf16 });
addConv({
  name: 'bf16 weights, bf16 precision k7 [1,24,65]->24',
  B: 1,
  Cin: 24,
  Cout: 24,
  T: 65,
  K: 7,
  padding: 3,
  wdtype: 'bf16',
  precision: bf16,
});

for (const s of [2, 4, 6, 10]) {
  addConvT({
    name: `upsample k${2 * s} s${s} p${Math.ceil(s / 2)} [2,24,13]->16`,
    B: 2,
    Cin: 24,
    Cout: 16,
    T: 13,
    K: 2 * s,
    stride: s,
    padding: Math.ceil(s / 2),
  });
}
for (const s of [2, 10]) {
  addConvT({
    name: `bf16 upsample k${2 * s} s${s} [1,33,29]->16`,
    B: 1,
    Cin: 33,
    Cout: 16,
    T: 29,
    K: 2 * s,
    stride: s,
    padding: Math.ceil(s / 2),
    precision: 'bf16',
  });
}
// Cin 300 x 2 taps = 600 reduction steps: a phase's tiles are read back between chunks (f32 KC 256, bf16 512).
for (const precision of ['fp32', 'bf16'] as const) {
  addConvT({
    name: `${precision} long reduction k4 s2 [1,300,53]->12`,
    B: 1,
    Cin: 300,
    Cout: 12,
    T: 53,
    K: 4,
    stride: 2,
    padding: 1,
    precision,
  });
}
addConvT({ name: 'stride 1 k3 [1,8,20]->5', B: 1, Cin: 8, Cout: 5, T: 20, K: 3 });
addConvT({
  name: 'outputPadding 1 s3 d2 k5 p2 [2,6,11]->7',
  B: 2,
  Cin: 6,
  Cout: 7,
  T: 11,
  K: 5,
  stride: 3,
  padding: 2,
  outputPadding: 1,
  dilation: 2,
});
addConvT({ name: 'kernel shorter than stride k2 s5 [1,4,9]->3', B: 1, Cin: 4, Cout: 3, T: 9, K: 2, stride: 5 });
addConvT({ name: 'long reduction k4 s2 p1 [1,300,9]->13', B: 1, Cin: 300, Cout: 13, T: 9, K: 4, stride: 2, padding: 1 });
addConvT({
  name: 'bf16 weights no bias k8 s4 p2 [1,16,25]->8',
  B: 1,
  Cin: 16,
  Cout: 8,
  T: 25,
  K: 8,
  stride: 4,
  padding: 2,
  wdtype: 'bf16',
  bias: false,
});

// Fused input Snake: unstrided convs stage the rows a reduction chunk reads (padding on both sides
// and T shorter than the taps' reach; a second 384-step time block; Cin 80 x 7 = 560 taps crossing
// the 256 / 512-step chunks mid-channel; groups offset the channel parameters), strided convs
// activate their phase split, transposed convs stage (channel, shift) rows; fp32 and bf16.
for (const precision of ['fp32', 'bf16'] as const) {
  for (const d of [1, 9]) {
    addConv({
      name: `${precision} snake + k7 dil${d} [1,24,420]->24`,
      B: 1,
      Cin: 24,
      Cout: 24,
      T: 420,
      K: 7,
      dilation: d,
      padding: 3 * d,
      precision,
      snake: true,
    });
  }
  addConv({
    name: `${precision} snake + k7 dil9 short T [2,16,5]`,
    B: 2,
    Cin: 16,
    Cout: 16,
    T: 5,
    K: 7,
    dilation: 9,
    padding: 27,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + long reduction k7 [1,80,60]->24`,
    B: 1,
    Cin: 80,
    Cout: 24,
    T: 60,
    K: 7,
    padding: 3,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + k1 + residual [2,40,70]->40`,
    B: 2,
    Cin: 40,
    Cout: 40,
    T: 70,
    K: 1,
    residual: true,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + downsample k8 s4 p2 [1,12,903]->20`,
    B: 1,
    Cin: 12,
    Cout: 20,
    T: 903,
    K: 8,
    stride: 4,
    padding: 2,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + downsample k20 s10 p5 [1,8,4000]->12`,
    B: 1,
    Cin: 8,
    Cout: 12,
    T: 4000,
    K: 20,
    stride: 10,
    padding: 5,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + groups 2 s2 d2 [2,8,41]->6`,
    B: 2,
    Cin: 8,
    Cout: 6,
    T: 41,
    K: 3,
    stride: 2,
    dilation: 2,
    padding: 1,
    groups: 2,
    precision,
    snake: true,
  });
  addConv({
    name: `${precision} snake + groups 2 k3 p1 [1,16,50]->8`,
    B: 1,
    Cin: 16,
    Cout: 8,
    T: 50,
    K: 3,
    padding: 1,
    groups: 2,
    precision,
    snake: true,
  });
  for (const s of [2, 10]) {
    addConvT({
      name: `${precision} snake + upsample k${2 * s} s${s} [1,33,29]->16`,
      B: 1,
      Cin: 33,
      Cout: 16,
      T: 29,
      K: 2 * s,
      stride: s,
      padding: Math.ceil(s / 2),
      precision,
      snake: true,
    });
  }
  addConvT({
    name: `${precision} snake + upsample long reduction k4 s2 [1,300,420]->12`,
    B: 1,
    Cin: 300,
    Cout: 12,
    T: 420,
    K: 4,
    stride: 2,
    padding: 1,
    precision,
    snake: true,
  });
  addConvT({
    name: `${precision} snake + outputPadding 1 s3 d2 k5 p2 [2,6,11]->7`,
    B: 2,
    Cin: 6,
    Cout: 7,
    T: 11,
    K: 5,
    stride: 3,
    padding: 2,
    outputPadding: 1,
    dilation: 2,
    precision,
    snake: true,
  });
}
// The skip written over the residual: its values are read before each output overwrites them.
addConv({ name: 'residualInPlace k1 [2,40,70]->40', B: 2, Cin: 40, Cout: 40, T: 70, K: 1, residual: true, residualInPlace: true });
addConv({
  name: 'residualInPlace bf16 snake k7 dil3 [1,21,400]->21',
  B: 1,
  Cin: 21,
  Cout: 21,
  T: 400,
  K: 7,
  dilation: 3,
  padding: 9,
  residual: true,
  residualInPlace: true,
  precision: 'bf16',
  snake: true,
});

// cacheWeight: one weight through several calls, so later calls read the packed forms the first
// ones kept (fp32 and bf16 of the same weight side by side; other lengths, paddings and residuals
// than the call that packed it). Every output is compared with the reference, which packs nothing.
cases.push({
  op: 'conv1d',
  name: 'cached weight k7 [1,24,T]->20: fp32, bf16, fp32 longer, bf16 + residual, dilation 3',
  tol: convTol,
  run: (device) => {
    const w = tensor([20, 24, 7], 21, device, 1 / Math.sqrt(24 * 7));
    const b = tensor([20], 22, device, 0.5);
    const x1 = tensor([1, 24, 65], 23, device),
      x2 = tensor([2, 24, 130], 24, device);
    const res = tensor([2, 20, 130], 25, device);
    const opts = { padding: 3, cacheWeight: true };
    return [
      conv1d(x1, w, b, opts),
      conv1d(x1, w, b, { ...opts, precision: 'bf16' }),
      conv1d(x2, w, b, opts),
      conv1d(x2, w, b, { ...opts, precision: 'bf16', residual: res }),
      conv1d(x2, w, b, { ...opts, padding: 9, dilation: 3 }),
    ];
  },
});
cases.push({
  op: 'conv1d',
  name: 'cached weight k8 s4 groups 2 [1,16,T]->12: fp32, bf16, fp32 other T',
  tol: convTol,
  run: (device) => {
    const w = tensor([12, 8, 8], 26, device, 1 / Math.sqrt(8 * 8));
    const x1 = tensor([1, 16, 103], 27, device),
      x2 = tensor([1, 16, 64], 28, device);
    const opts = { stride: 4, padding: 2, groups: 2, cacheWeight: true };
    return [conv1d(x1, w, null, opts), conv1d(x1, w, null, { ...opts, precision: 'bf16' }), conv1d(x2, w, null, opts)];
  },
});
for (const s of [4, 10]) {
  cases.push({
    op: 'convTranspose1d',
    name: `cached weight k${2 * s} s${s} [1,33,T]->16: fp32, bf16, shorter T (unreached phases), other padding`,
    tol: convTol,
    run: (device) => {
      const w = tensor([33, 16, 2 * s], 29, device, 1 / Math.sqrt(33 * 2));
      const b = tensor([16], 30, device, 0.5);
      const x1 = tensor([1, 33, 29], 31, device),
        x2 = tensor([2, 33, 1], 32, device);
      const opts = { stride: s, padding: Math.ceil(s / 2), cacheWeight: true };
      return [
        convTranspose1d(x1, w, b, opts),
        convTranspose1d(x1, w, b, { ...opts, precision: 'bf16' }),
        convTranspose1d(x2, w, b, opts),
        convTranspose1d(x1, w, b, { ...opts, padding: 1, outputPadding: 1 }),
        convTranspose1d(x2, w, b, { ...opts, precision: 'bf16' }),
      ];
    },
  });
}

interface SnakeSpec {
  name: string;
  shape: [number, number, number];
  logScale: boolean;
  xRange: number;
  paramShape: 'vector' | 'broadcast';
  pdtype?: DType;
}

function addSnake(s: SnakeSpec): void {
  const [B, C, T] = s.shape;
  cases.push({
    op: 'snake',
    name: s.name,
    // sin is a polynomial after reduction by pi in the fast path (|error| < 2e-7 on [-pi/2, pi/2]),
    // libm's sinf in the reference; scaled by 1/beta (<= ~3 here).
    tol: { atol: 2e-6, rtol: 1e-6, why: 'vectorised sin (Cody-Waite reduction + degree-11 polynomial) vs libm sinf' },
    run: (device) => {
      const x = Tensor.fromArray(uniform(B * C * T, 7, -s.xRange, s.xRange), [B, C, T], { device });
      const lo = s.logScale ? -1 : 0.2,
        hi = s.logScale ? 1 : 3;
      const pshape = s.paramShape === 'vector' ? [C] : [1, C, 1];
      let a = Tensor.fromArray(uniform(C, 8, lo, hi), pshape, { device });
      let b = Tensor.fromArray(uniform(C, 9, lo, hi), pshape, { device });
      if (s.pdtype && s.pdtype !== 'f32') {
        a = a.to(s.pdtype);
        b = b.to(s.pdtype);
      }
      return snake(x, a, b, { logScale: s.logScale });
    },
  });
}

addSnake({ name: 'log-scale [1,1,1]', shape: [1, 1, 1], logScale: true, xRange: 3, paramShape: 'broadcast' });
addSnake({ name: 'log-scale [2,16,100]', shape: [2, 16, 100], logScale: true, xRange: 3, paramShape: 'broadcast' });
addSnake({ name: 'log-scale large |x| [1,8,4097]', shape: [1, 8, 4097], logScale: true, xRange: 60, paramShape: 'broadcast' });
addSnake({ name: 'linear bf16 params [3,5,31]', shape: [3, 5, 31], logScale: false, xRange: 4, paramShape: 'vector', pdtype: 'bf16' });
