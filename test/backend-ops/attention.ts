// Attention cases: KV-cache decode (Tq = 1) from strided cache views, causal prefill, sliding
// windows, key masks of every dtype, cross-attention with Tk != Tq, GQA ratios 1/2/4/5 and head
// dims 8..128 (including ones that are not a multiple of 16), f32 and bf16 (KV cache) K/V.
import { Tensor, attention, type Device, type DType, type MatmulPrecision } from '../../src/runtime/index.js';
import { normal, randomInts } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

// f32 accumulation over up to 128-long dots and ~300 keys against a double reference; outputs
// are convex combinations of N(0,1) values, so |out| < 5.
const tol: Tolerance = { atol: 2e-5, rtol: 2e-5, why: 'fp32 dot products and online softmax vs a double-precision reference' };

interface Spec {
  name: string;
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  causal?: boolean;
  qOffset?: number;
  window?: number;
  mask?: DType;
  /** K/V live in a [B, cacheLen, Hkv, D] buffer and are passed as a narrowed view. */
  cacheLen?: number;
  /** q is passed as a permuted view of a [B, H, T, D] tensor. */
  qPermuted?: boolean;
  /** K/V stored as bf16 (a bf16 KV cache). */
  bf16Kv?: boolean;
  /** Batch 1's mask hides its first two thirds (a left-padded prompt), batch 0's first key. */
  leftPad?: boolean;
  scale?: number;
}

function build(s: Spec, device: Device, seed: number, precision?: MatmulPrecision): Tensor {
  const qn = s.B * s.Tq * s.Hq * s.D;
  const q = s.qPermuted
    ? Tensor.fromArray(normal(qn, seed), [s.B, s.Hq, s.Tq, s.D], { device }).permute([0, 2, 1, 3])
    : Tensor.fromArray(normal(qn, seed), [s.B, s.Tq, s.Hq, s.D], { device });
  const len = s.cacheLen ?? s.Tk;
  const kvn = s.B * len * s.Hkv * s.D;
  let k = Tensor.fromArray(normal(kvn, seed + 1), [s.B, len, s.Hkv, s.D], { device });
  let v = Tensor.fromArray(normal(kvn, seed + 2), [s.B, len, s.Hkv, s.D], { device });
  if (s.bf16Kv) {
    k = k.to('bf16');
    v = v.to('bf16');
  }
  if (s.cacheLen) {
    k = k.narrow(1, 0, s.Tk);
    v = v.narrow(1, 0, s.Tk);
  }
  let keyMask: Tensor | undefined;
  if (s.mask) {
    // Mostly ones, some zeros; batch 1 keeps only a short prefix (padding) when B > 1.
    const bits = randomInts(s.B * s.Tk, seed + 3, 0, 5);
    const m = Array.from(bits, (x, idx) => {
      const b = Math.floor(idx / s.Tk),
        j = idx % s.Tk;
      if (s.leftPad) return b === 1 ? (j < Math.floor((2 * s.Tk) / 3) ? 0 : 1) : j === 0 ? 0 : 1;
      return b === 1 ? (j < Math.ceil(s.Tk / 3) ? 1 : 0) : x === 0 ? 0 : 1;
    });
    const base = Tensor.fromArray(m, [s.B, s.Tk], { device });
    keyMask = s.mask === 'f32' ? base : base.to(s.mask);
  }
  return attention(q, k, v, { causal: s.causal, qOffset: s.qOffset, window: s.window, keyMask, scale: s.scale, precision });
}

const specs: Spec[] = [
  { name: 'decode Tk=1 from cache', B: 2, Tq: 1, Tk: 1, Hq: 16, Hkv: 8, D: 128, causal: true, qOffset: 0, cacheLen: 320 },
  { name: 'decode Tk=17 from cache', B: 2, Tq: 1, Tk: 17, Hq: 16, Hkv: 8, D: 128, causal: true, qOffset: 16, cacheLen: 320 },
  { name: 'decode Tk=300 from cache', B: 2, Tq: 1, Tk: 300, Hq: 16, Hkv: 8, D: 128, causal: true, qOffset: 299, cacheLen: 320 },
  { name: 'decode Tk=300 GQA 5 D=64 masked', B: 2, Tq: 1, Tk: 300, Hq: 5, Hkv: 1, D: 64, causal: true, qOffset: 299, mask: 'i64' },
  {
    name: 'decode Tk=300 bf16 K/V from cache',
    B: 2,
    Tq: 1,
    Tk: 300,
    Hq: 16,
    Hkv: 8,
    D: 128,
    causal: true,
    qOffset: 299,
    cacheLen: 320,
    bf16Kv: true,
  },
  {
    name: 'decode Tk=90 bf16 K/V GQA 3 D=40 masked',
    B: 2,
    Tq: 1,
    Tk: 90,
    Hq: 6,
    Hkv: 2,
    D: 40,
    causal: true,
    qOffset: 89,
    mask: 'u8',
    bf16Kv: true,
  },
  {
    name: 'decode Tk=151 bf16 K/V left-padded rows',
    B: 2,
    Tq: 1,
    Tk: 151,
    Hq: 16,
    Hkv: 8,
    D: 128,
    causal: true,
    qOffset: 150,
    cacheLen: 200,
    mask: 'u8',
    leftPad: true,
    bf16Kv: true,
  },
  {
    name: 'chunked prefill bf16 K/V from cache',
    B: 2,
    Tq: 30,
    Tk: 70,
    Hq: 4,
    Hkv: 2,
    D: 16,
    causal: true,
    qOffset: 40,
    cacheLen: 100,
    bf16Kv: true,
  },
  { name: 'prefill causal G=4 D=64', B: 1, Tq: 70, Tk: 70, Hq: 4, Hkv: 1, D: 64, causal: true },
  {
    name: 'chunked prefill causal qOffset=40 from cache',
    B: 2,
    Tq: 30,
    Tk: 70,
    Hq: 4,
    Hkv: 2,
    D: 16,
    causal: true,
    qOffset: 40,
    cacheLen: 100,
  },
  { name: 'negative qOffset (leading rows see nothing)', B: 1, Tq: 9, Tk: 9, Hq: 2, Hkv: 2, D: 8, causal: true, qOffset: -3 },
  { name: 'window 16 G=5 D=8 u8 mask', B: 2, Tq: 150, Tk: 150, Hq: 5, Hkv: 1, D: 8, window: 16, mask: 'u8' },
  { name: 'window 128 G=2 D=128 T=300', B: 1, Tq: 300, Tk: 300, Hq: 4, Hkv: 2, D: 128, window: 128 },
  { name: 'window 0 (self only)', B: 1, Tq: 20, Tk: 20, Hq: 2, Hkv: 1, D: 16, window: 0 },
  { name: 'bidirectional f32 mask D=40', B: 2, Tq: 45, Tk: 45, Hq: 2, Hkv: 2, D: 40, mask: 'f32' },
  { name: 'cross-attention Tq=37 Tk=91 i32 mask', B: 2, Tq: 37, Tk: 91, Hq: 4, Hkv: 4, D: 16, mask: 'i32' },
  { name: 'cross-attention unmasked q permuted view D=72', B: 1, Tq: 33, Tk: 129, Hq: 4, Hkv: 2, D: 72, qPermuted: true },
  // Query blocks of 64, 64 and 48 rows (48: an odd number of 16-row vectors), 6-row P.V blocks
  // with a remainder of 4, key groups of 12 running past Tk, and consecutive work items switching
  // kv head and batch (the per-head packed K/V is refreshed).
  { name: 'cross-attention G=2 D=128 Tq=88 Tk=83, 3 kv heads', B: 2, Tq: 88, Tk: 83, Hq: 6, Hkv: 3, D: 128 },
  {
    name: 'causal + window + mask, scale 0.3',
    B: 2,
    Tq: 80,
    Tk: 80,
    Hq: 4,
    Hkv: 4,
    D: 32,
    causal: true,
    window: 5,
    mask: 'u8',
    scale: 0.3,
  },
];

export const cases: OpCase[] = specs.map((s, n) => ({
  op: 'attention',
  name: s.name,
  tol,
  run: (device) => build(s, device, 100 + 10 * n),
}));

// bf16 precision. Against its rounding reference (the same rounded q·scale, K and V; f32 or double
// sums) the outputs differ only where the probabilities are rounded: relative to the running max
// of each 64-key tile in the vdpbf16ps path, relative to the row max in the reference, not at all
// on the rounded-copy path (D = 40), each within 2^-9 relative, so
// |diff| <= 2^-8 * sum_j p_j |v_j| / sum_j p_j <= 2^-8 * max|v| (~0.02 for these N(0,1) values);
// independent roundings over many keys mostly cancel: the measured worst case is 1.8e-3.
const bf16Tol: Tolerance = {
  atol: 4e-3,
  why: 'bf16 probabilities rounded against the tile max (fast) or the row max (reference): <= 2^-8 * mean |v| over p, measured <= 1.8e-3',
};
// Against the exact fp32 op: rounding q·scale and K (2^-9 relative each) moves a score by about
// 2^-9 * sqrt(2/3) * scale * sqrt(sum_e (q_e k_e)^2): 1.3e-3 RMS at scale 1/sqrt(D), 2.6e-3 at
// scale 0.3 with D = 32; the softmax passes that on scaled by the spread of v (sharper at the
// larger scale and with few visible keys), and V and P add their own 2^-9 relative roundings. The
// measured worst cases: 6-8e-3 at scale 1/sqrt(D), 1.7e-2 for scale 0.3 and a window of 5.
const bf16VsF32Tol: Tolerance = {
  atol: 3e-2,
  why: 'bf16 rounding of q·scale, K, V and P against the exact f32 op: score errors ~1.3e-3 RMS (2.6e-3 at scale 0.3), measured <= 1.7e-2',
};

const bf16Specs: Spec[] = [
  // The DiT's shapes at a smaller width: self-attention with the window of its sliding layers and
  // a padded batch, cross-attention over encoder states with a padding mask.
  { name: 'bf16 self window 128 G=2 D=128 T=300 u8 mask', B: 2, Tq: 300, Tk: 300, Hq: 4, Hkv: 2, D: 128, window: 128, mask: 'u8' },
  {
    name: 'bf16 full G=2 D=128 T=91 (odd key count), q permuted, f32 K/V narrowed from a cache',
    B: 1,
    Tq: 91,
    Tk: 91,
    Hq: 4,
    Hkv: 2,
    D: 128,
    qPermuted: true,
    cacheLen: 100,
  },
  { name: 'bf16 cross Tq=88 Tk=83 G=2 D=128 i32 mask', B: 2, Tq: 88, Tk: 83, Hq: 6, Hkv: 3, D: 128, mask: 'i32' },
  // An odd first key (window start), D = 48 (a 32-row query block plus one of 16 pairs), G = 5.
  {
    name: 'bf16 causal + window 5 D=32 u8 mask, scale 0.3',
    B: 2,
    Tq: 80,
    Tk: 80,
    Hq: 4,
    Hkv: 4,
    D: 32,
    causal: true,
    window: 5,
    mask: 'u8',
    scale: 0.3,
  },
  { name: 'bf16 window 16 G=5 D=48', B: 1, Tq: 70, Tk: 70, Hq: 5, Hkv: 1, D: 48, window: 16 },
  // One query (rows = G) from a bf16 cache view, and D = 40: the rounded-copy path on f32 kernels.
  {
    name: 'bf16 decode Tk=300 bf16 K/V from cache',
    B: 2,
    Tq: 1,
    Tk: 300,
    Hq: 16,
    Hkv: 8,
    D: 128,
    causal: true,
    qOffset: 299,
    cacheLen: 320,
    bf16Kv: true,
  },
  { name: 'bf16 f32 mask D=40 (rounded copies)', B: 2, Tq: 45, Tk: 45, Hq: 2, Hkv: 2, D: 40, mask: 'f32' },
];

const skipCuda = 'CUDA attention computes bf16 precision in f32; the bf16-vs-fp32 cases cover it';
cases.push(
  ...bf16Specs.map((s, n) => ({
    op: 'attention',
    name: s.name,
    tol: bf16Tol,
    skipCuda,
    run: (device: Device) => build(s, device, 500 + 10 * n, 'bf16'),
  })),
  ...[bf16Specs[0], bf16Specs[2], bf16Specs[3]].map((s, n) => ({
    op: 'attention',
    name: `${s.name} vs fp32`,
    tol: bf16VsF32Tol,
    run: (device: Device) => build(s, device, 700 + 10 * n, 'bf16'),
    reference: (device: Device) => build(s, device, 700 + 10 * n, 'fp32'),
  })),
);
