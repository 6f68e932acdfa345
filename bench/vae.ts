// Oobleck VAE benchmark: the conv / transposed-conv / Snake shapes of the official VAE
// (channels 128*[1,2,4,8,16], strides 2,4,4,6,10, dilations 1/3/9) and a whole 30 s decode
// (750 latent frames -> 1.44 M stereo samples at 48 kHz) with random weights, each beside PyTorch
// (bench/vae_torch.py: F.conv1d / F.conv_transpose1d and the same decoder written in torch) when
// /usr/bin/python3 has torch. Every conv shape and the decode run at fp32 and at bf16 precision
// (bf16 operands, f32 accumulation; the decode row reports the bf16 audio's cosine and SNR against
// the fp32 audio), both against torch fp32. Discovered by bench/run.ts through `suites()`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hopLength, OobleckVae, type VaeConfig } from '../src/models/vae.js';
import { Weights } from '../src/models/layers.js';
import { conv1d, convTranspose1d, snake, Tensor, tidy, type Device, type MatmulPrecision } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { randomValues, ratioOf, timeQueued, wanted, type BenchContext, type BenchRow, type Suite } from './suite.js';

/** The official ACE-Step 1.5 VAE config (UPSTREAM.md: VAE). */
export const OFFICIAL_VAE: VaeConfig = {
  audioChannels: 2,
  channelMultiples: [1, 2, 4, 8, 16],
  decoderChannels: 128,
  decoderInputChannels: 64,
  downsamplingRatios: [2, 4, 4, 6, 10],
  encoderHiddenSize: 128,
  samplingRate: 48000,
};

interface Layer {
  op: 'conv1d' | 'conv_transpose1d' | 'snake';
  cin: number;
  cout: number;
  t: number;
  k: number;
  stride: number;
  padding: number;
  dilation: number;
}

function rand(shape: number[], scale: number, seed: number): Tensor {
  return Tensor.fromArray(
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      scale,
      seed,
    ),
    shape,
  );
}

function layerFlops(L: Layer): number {
  if (L.op === 'snake') return 8 * L.cin * L.t; // bytes moved (read + write f32)
  const tout = L.op === 'conv1d' ? Math.floor((L.t + 2 * L.padding - L.dilation * (L.k - 1) - 1) / L.stride) + 1 : L.t;
  return 2 * L.cin * L.cout * L.k * tout;
}

function layerName(L: Layer): string {
  if (L.op === 'snake') return `vae.snake C${L.cin}`;
  if (L.op === 'conv1d') return `vae.conv1d k${L.k} s${L.stride} d${L.dilation}`;
  return `vae.convT1d k${L.k} s${L.stride}`;
}

function layers(quick: boolean): Layer[] {
  const f = quick ? 0.25 : 1;
  const t = (n: number) => Math.max(64, Math.round(n * f));
  const conv = (cin: number, cout: number, T: number, k: number, stride = 1, padding = 0, dilation = 1): Layer => ({
    op: 'conv1d',
    cin,
    cout,
    t: t(T),
    k,
    stride,
    padding,
    dilation,
  });
  const convT = (cin: number, cout: number, T: number, s: number): Layer => ({
    op: 'conv_transpose1d',
    cin,
    cout,
    t: t(T),
    k: 2 * s,
    stride: s,
    padding: Math.ceil(s / 2),
    dilation: 1,
  });
  return [
    conv(128, 128, 96000, 7, 1, 3, 1),
    conv(128, 128, 96000, 7, 1, 27, 9),
    conv(128, 128, 96000, 1),
    conv(512, 512, 12000, 7, 1, 9, 3),
    conv(1024, 1024, 3000, 7, 1, 3, 1),
    conv(1024, 1024, 3000, 1),
    conv(128, 128, 96000, 4, 2, 1),
    conv(256, 512, 12000, 8, 4, 2),
    conv(1024, 2048, 3000, 20, 10, 5),
    convT(128, 128, 48000, 2),
    convT(256, 128, 12000, 4),
    convT(1024, 512, 2000, 6),
    convT(2048, 1024, 300, 10),
    { op: 'snake', cin: 128, cout: 128, t: t(96000), k: 1, stride: 1, padding: 0, dilation: 1 },
  ];
}

/** Multiply-adds x2 of one decode of `frames` latent frames. */
export function decodeFlops(cfg: VaeConfig, frames: number): number {
  const mult = [1, ...cfg.channelMultiples],
    n = mult.length,
    c = cfg.decoderChannels;
  let T = frames,
    flops = 2 * cfg.decoderInputChannels * c * mult[n - 1] * 7 * T;
  [...cfg.downsamplingRatios].reverse().forEach((s, i) => {
    const cin = c * mult[n - i - 1],
      cout = c * mult[n - i - 2];
    flops += 2 * cin * cout * 2 * s * T;
    T *= s;
    flops += 3 * (2 * cout * cout * 8 * T);
  });
  return flops + 2 * c * cfg.audioChannels * 7 * T;
}

/** A VAE with random weights in the official layout (plain `.weight` tensors, no weight_norm). */
export function randomVae(cfg: VaeConfig, device: Device = 'cpu'): OobleckVae {
  let seed = 1;
  const src = {
    has: (n: string) => !n.includes('weight_g') && !n.includes('parametrizations'),
    get: (n: string): Tensor => {
      const s = guessShape(cfg, n);
      const fan = s.length === 3 ? s[1] * s[2] : 1;
      if (n.endsWith('.alpha') || n.endsWith('.beta')) return rand(s, 0.3, seed++);
      return rand(s, n.endsWith('.bias') ? 0.05 : 1 / Math.sqrt(fan), seed++);
    },
  };
  return OobleckVae.fromWeights(cfg, new Weights(src, '', 'random weights'), device);
}

/** Tensor shapes of the official layout, by name (mirrors OobleckVae.fromWeights). */
function guessShape(cfg: VaeConfig, name: string): number[] {
  const mult = [1, ...cfg.channelMultiples],
    n = mult.length,
    h = cfg.encoderHiddenSize,
    c = cfg.decoderChannels;
  const ratios = cfg.downsamplingRatios,
    up = [...ratios].reverse();
  const m = /^(encoder|decoder)\.(?:block\.(\d+)\.)?(.*)$/.exec(name);
  if (!m) throw new Error(`unknown tensor ${name}`);
  const [, part, blk, rest] = m;
  const b = blk === undefined ? -1 : Number(blk);
  const leaf = rest.split('.').pop()!;
  const vec = (ch: number) => (leaf === 'bias' ? [ch] : [1, ch, 1]);
  if (part === 'encoder') {
    if (b < 0) {
      if (rest.startsWith('conv1')) return leaf === 'bias' ? [h] : [h, cfg.audioChannels, 7];
      if (rest.startsWith('snake1')) return vec(h * mult[n - 1]);
      return leaf === 'bias' ? [h] : [h, h * mult[n - 1], 3];
    }
    const cin = h * mult[b],
      cout = h * mult[b + 1];
    if (rest.startsWith('res_unit'))
      return rest.includes('snake') ? vec(cin) : leaf === 'bias' ? [cin] : [cin, cin, rest.includes('conv1') ? 7 : 1];
    if (rest.startsWith('snake1')) return vec(cin);
    return leaf === 'bias' ? [cout] : [cout, cin, 2 * ratios[b]];
  }
  if (b < 0) {
    if (rest.startsWith('conv1')) return leaf === 'bias' ? [c * mult[n - 1]] : [c * mult[n - 1], cfg.decoderInputChannels, 7];
    if (rest.startsWith('snake1')) return vec(c);
    return [cfg.audioChannels, c, 7];
  }
  const cin = c * mult[n - b - 1],
    cout = c * mult[n - b - 2];
  if (rest.startsWith('res_unit'))
    return rest.includes('snake') ? vec(cout) : leaf === 'bias' ? [cout] : [cout, cout, rest.includes('conv1') ? 7 : 1];
  if (rest.startsWith('snake1')) return vec(cin);
  return leaf === 'bias' ? [cout] : [cin, cout, 2 * up[b]];
}

interface TorchResult {
  layers: number[];
  decode: number | null;
}

function torchTimes(req: unknown): TorchResult | string {
  const py = '/usr/bin/python3';
  const here = dirname(fileURLToPath(import.meta.url));
  const script = [join(here, 'vae_torch.py'), join(here, '..', '..', 'bench', 'vae_torch.py')].find((p) => existsSync(p));
  if (!existsSync(py) || !script) return 'no /usr/bin/python3 or bench/vae_torch.py';
  try {
    execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return 'torch not installed (bash bench/setup.sh)';
  }
  const text = execFileSync(py, [script], { input: JSON.stringify(req), encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(text) as TorchResult;
}

interface Decoded {
  precision: MatmulPrecision;
  seconds: number;
  cpuSeconds: number;
  audio: Float32Array;
}

/** One decode of `frames` random latents (the same for every precision), wall and process CPU seconds. */
function timeDecode(vae: OobleckVae, frames: number, precision: MatmulPrecision): Decoded {
  vae.setPrecision(precision);
  const z = rand([1, 64, frames], 1, 4);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const audio = vae.decode(z);
  native.syncBlocking();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  if (audio.shape[2] !== frames * hopLength(OFFICIAL_VAE)) throw new Error(`decode produced ${audio.shape[2]} samples`);
  const values = audio.toFloat32Sync();
  audio.dispose();
  z.dispose();
  return { precision, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, audio: values };
}

/** Cosine and SNR (dB) of `got` against `want`. */
function fidelity(want: Float32Array, got: Float32Array): { cosine: number; snrDb: number } {
  let dot = 0,
    ww = 0,
    gg = 0,
    ee = 0;
  for (let i = 0; i < want.length; i++) {
    dot += want[i] * got[i];
    ww += want[i] * want[i];
    gg += got[i] * got[i];
    ee += (want[i] - got[i]) ** 2;
  }
  return { cosine: dot / Math.sqrt(ww * gg), snrDb: 10 * Math.log10(ww / ee) };
}

function timeLayer(L: Layer, minSeconds: number, precision: MatmulPrecision): number {
  return tidy(() => {
    const x = rand([1, L.cin, L.t], 1, 7);
    if (L.op === 'snake') {
      const a = rand([L.cin], 0.3, 8),
        b = rand([L.cin], 0.3, 9);
      return timeQueued(() => snake(x, a, b, { logScale: true }).dispose(), minSeconds);
    }
    const bias = rand([L.cout], 0.05, 10);
    if (L.op === 'conv1d') {
      const w = rand([L.cout, L.cin, L.k], 1 / Math.sqrt(L.cin * L.k), 11);
      return timeQueued(
        () => conv1d(x, w, bias, { stride: L.stride, padding: L.padding, dilation: L.dilation, precision, cacheWeight: true }).dispose(),
        minSeconds,
      );
    }
    const w = rand([L.cin, L.cout, L.k], 1 / Math.sqrt(2 * L.cin), 12);
    return timeQueued(
      () =>
        convTranspose1d(x, w, bias, { stride: L.stride, padding: L.padding, dilation: L.dilation, precision, cacheWeight: true }).dispose(),
      minSeconds,
    );
  });
}

async function run(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const ls = layers(ctx.quick).filter((L) => wanted(ctx, layerName(L)));
  const frames = ctx.quick ? 75 : 750;
  const doDecode = wanted(ctx, 'vae.decode');
  const ours = ls.map((L) => timeLayer(L, ctx.minSeconds, 'fp32'));
  const oursBf16 = ls.map((L) => (L.op === 'snake' ? null : timeLayer(L, ctx.minSeconds, 'bf16')));
  const decodes: Decoded[] = [];
  if (doDecode) {
    const vae = randomVae(OFFICIAL_VAE);
    try {
      tidy(() => vae.decode(rand([1, 64, 8], 1, 3))).dispose(); // warm-up
      for (const precision of ['fp32', 'bf16'] as const) decodes.push(timeDecode(vae, frames, precision));
    } finally {
      vae.dispose();
    }
  }
  const cfgPy = {
    audio_channels: 2,
    channel_multiples: OFFICIAL_VAE.channelMultiples,
    decoder_channels: 128,
    decoder_input_channels: 64,
    downsampling_ratios: OFFICIAL_VAE.downsamplingRatios,
  };
  ctx.log('vae: timing the PyTorch reference');
  const torch = torchTimes({
    threads: ctx.threads,
    min_seconds: ctx.minSeconds,
    layers: ls,
    decode: doDecode ? { frames, config: cfgPy } : null,
  });
  const refName = typeof torch === 'string' ? torch : 'torch F.conv1d / F.conv_transpose1d (f32)';
  ls.forEach((L, i) => {
    const work = layerFlops(L) / 1e9;
    const ref = typeof torch === 'string' ? null : work / torch.layers[i];
    const timed: [string, number | null][] = [
      ['f32', ours[i]],
      ['bf16', oursBf16[i]],
    ];
    for (const [dtype, seconds] of timed) {
      if (seconds === null) continue;
      emit({
        name: layerName(L),
        shape: `${L.cin}->${L.cout} T${L.t}`,
        dtype,
        ours: work / seconds,
        unit: L.op === 'snake' ? 'GB/s' : 'GFLOP/s',
        reference: L.op === 'snake' ? 'torch x + 1/b * sin(a x)^2' : refName,
        ref,
        ratio: ratioOf(work / seconds, ref),
      });
    }
  });
  const work = decodeFlops(OFFICIAL_VAE, frames) / 1e9;
  const ref = typeof torch === 'string' || torch.decode === null ? null : work / torch.decode;
  for (const d of decodes) {
    emit({
      name: 'vae.decode',
      shape: `${frames} frames (${frames / 25} s)`,
      dtype: d.precision === 'fp32' ? 'f32' : 'bf16',
      ours: work / d.seconds,
      unit: 'GFLOP/s',
      reference: typeof torch === 'string' ? torch : 'torch Oobleck decoder (same layers, f32)',
      ref,
      ratio: ratioOf(work / d.seconds, ref),
      oursSeconds: d.seconds,
      oursCpuSeconds: d.cpuSeconds,
      refSeconds: typeof torch === 'string' ? null : torch.decode,
      ...(d.precision === 'bf16' ? fidelity(decodes[0].audio, d.audio) : {}),
    });
  }
}

export function suites(): Suite[] {
  return [{ name: 'vae', run }];
}
