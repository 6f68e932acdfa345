// Oobleck VAE model behaviour beyond the golden cases: tiled decode / encode agree with the
// direct pass once the overlap covers the receptive field, the upstream overlap and window rules,
// progress reporting, config and checkpoint errors, and exact output lengths.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/io/errors.js';
import {
  effectiveOverlap,
  hopLength,
  upstreamDecodeChunk,
  OobleckVae,
  parseVaeConfig,
  tileWindows,
  VaeTilingError,
  type VaeConfig,
} from '../src/models/vae.js';
import { ShapeError, Tensor, tidy } from '../src/runtime/index.js';
import { normal, uniform } from './support/random.js';

const ckptDir = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'vae-tiny');
let vae: OobleckVae;

beforeAll(() => {
  vae = OobleckVae.load(ckptDir);
});
afterAll(() => vae?.dispose());

/**
 * How many latent frames on each side can influence one output sample of the decoder, walking
 * back from the output: a k-tap conv with dilation d widens the radius by d*(k-1)/2 samples at its
 * rate; a transposed conv (k = 2s, stride s, padding ceil(s/2)) maps a radius r at its output to
 * at most ceil(r/s) + 2 input steps (the kernel spans two input steps plus rounding).
 */
function decoderRadiusFrames(cfg: VaeConfig): number {
  let r = 3; // conv2, k7
  for (const s of cfg.downsamplingRatios) {
    // decoder blocks in reverse order of upsampling = the downsampling ratios in order
    r += 3 * (1 + 3 + 9); // three residual units, k7 at dilations 1, 3, 9
    r = Math.ceil(r / s) + 2;
  }
  return r + 3; // conv1, k7
}

/** The same bound for the encoder, in input samples per side of one latent frame. */
function encoderRadiusSamples(cfg: VaeConfig): number {
  let r = 1; // conv2, k3
  for (const s of [...cfg.downsamplingRatios].reverse()) {
    r = r * s + 2 * s; // strided conv k = 2s, padding ceil(s/2)
    r += 3 * (1 + 3 + 9);
  }
  return r + 3; // conv1, k7
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('tiled decode', () => {
  it('matches the direct decode when the overlap covers the receptive field', () => {
    const radius = decoderRadiusFrames(vae.config);
    expect(radius).toBeGreaterThan(4);
    const overlap = radius + 1,
      chunk = 2 * overlap + 16,
      T = 5 * chunk + 3;
    const z = Tensor.fromArray(normal(2 * vae.latentChannels * T, 5), [2, vae.latentChannels, T]);
    const progress: [number, number][] = [];
    const [tiled, direct] = tidy(() => [
      vae.decodeTiled(z, { chunkSize: chunk, overlap, onProgress: (d, t) => progress.push([d, t]) }).dataSync() as Float32Array,
      vae.decode(z).dataSync() as Float32Array,
    ]);
    z.dispose();
    expect(tiled.length).toBe(2 * vae.config.audioChannels * T * vae.hop);
    // Every kept sample sees exactly the same inputs in both passes (the window reaches at least
    // `radius` frames past its core, or the signal edge), and the kernels reduce each output in a
    // fixed order independent of the sequence length, so only the conv paths' zero padding could
    // differ, and it lies outside the receptive field: the bound is float rounding noise.
    expect(maxAbs(tiled, direct)).toBeLessThan(1e-5);
    const tiles = tileWindows(T, chunk - 2 * overlap, overlap).length;
    expect(progress).toEqual(Array.from({ length: 2 * tiles }, (_, i) => [i + 1, 2 * tiles]));
  });

  it('differs from the direct decode near seams when the overlap is too small (the check can fail)', () => {
    const T = 40;
    const z = Tensor.fromArray(normal(vae.latentChannels * T, 6), [1, vae.latentChannels, T]);
    const d = tidy(() =>
      maxAbs(vae.decodeTiled(z, { chunkSize: 12, overlap: 2 }).dataSync() as Float32Array, vae.decode(z).dataSync() as Float32Array),
    );
    z.dispose();
    expect(d).toBeGreaterThan(1e-3);
  });

  it('decodes short inputs whole and sizes chunks from a memory budget', () => {
    const z = Tensor.fromArray(normal(vae.latentChannels * 7, 7), [1, vae.latentChannels, 7]);
    const n: number[] = [];
    const d = tidy(() =>
      maxAbs(
        vae.decodeTiled(z, { chunkSize: 7, onProgress: (_, t) => n.push(t) }).dataSync() as Float32Array,
        vae.decode(z).dataSync() as Float32Array,
      ),
    );
    expect(d).toBe(0);
    expect(n).toEqual([1]);
    const perFrame = vae.config.decoderChannels * vae.hop * 4 * 6;
    expect(vae.decodeChunkForBudget(100 * perFrame)).toBe(100);
    expect(() => vae.decodeChunkForBudget(0)).toThrow(VaeTilingError);
    expect(() => vae.decodeTiled(z, { chunkSize: 0 })).toThrow(VaeTilingError);
    expect(() => vae.decodeTiled(z, { chunkSize: 4, overlap: -1 })).toThrow(VaeTilingError);
    z.dispose();
  });
});

describe('tiling rules', () => {
  it('halves the overlap while chunk - 2*overlap <= 0, floor 4', () => {
    expect(effectiveOverlap(512, 64)).toBe(64);
    expect(effectiveOverlap(12, 12)).toBe(4); // 12 -> 6 -> 3, raised to the floor 4
    expect(effectiveOverlap(10, 3)).toBe(3); // already fits; below 4 as requested
    expect(effectiveOverlap(128, 64)).toBe(32);
    expect(effectiveOverlap(8, 4)).toBe(4); // cannot go below the floor (stride 0 is an error later)
  });

  it('picks upstream chunk sizes from free device memory', () => {
    const G = 1024 ** 3;
    expect([30 * G, 24 * G, 20 * G, 16 * G, 12 * G, 11.9 * G, 2 * G].map(upstreamDecodeChunk)).toEqual([512, 512, 384, 384, 256, 128, 128]);
  });

  it('lays out windows like upstream', () => {
    expect(tileWindows(30, 8, 2)).toEqual([
      { coreStart: 0, coreEnd: 8, winStart: 0, winEnd: 10 },
      { coreStart: 8, coreEnd: 16, winStart: 6, winEnd: 18 },
      { coreStart: 16, coreEnd: 24, winStart: 14, winEnd: 26 },
      { coreStart: 24, coreEnd: 30, winStart: 22, winEnd: 30 },
    ]);
  });
});

describe('encode', () => {
  it('maps N samples to N/hop frames; tiled encode matches the direct one when the overlap covers the receptive field', () => {
    const hop = vae.hop;
    const radius = encoderRadiusSamples(vae.config);
    const overlap = Math.ceil((radius + 1) / hop) * hop,
      chunk = 2 * overlap + 12 * hop,
      N = 4 * chunk + 5 * hop;
    const audio = Tensor.fromArray(uniform(2 * 2 * N, 8, -0.9, 0.9), [2, 2, N]);
    const [tm, ts, dm, ds] = tidy(() => {
      const t = vae.encodeTiled(audio, { chunkSize: chunk, overlap });
      const d = vae.encode(audio);
      expect(d.mean.shape).toEqual([2, vae.latentChannels, N / hop]);
      return [t.mean, t.std, d.mean, d.std].map((x) => x.dataSync() as Float32Array);
    });
    audio.dispose();
    expect(maxAbs(tm, dm)).toBeLessThan(1e-5);
    expect(maxAbs(ts, ds)).toBeLessThan(1e-5);
    for (const s of ds) expect(s).toBeGreaterThan(1e-4); // softplus(.) + 1e-4 > 1e-4
  });

  it('samples mean + std * randn(seed): reproducible, and standardised draws look N(0, 1)', () => {
    const N = 400 * vae.hop;
    const audio = Tensor.fromArray(uniform(2 * 2 * N, 9, -0.9, 0.9), [2, 2, N]);
    const [m, s, a, b, c] = tidy(() => {
      const p = vae.encode(audio);
      return [p.mean, p.std, vae.sample(p, 42), vae.sample(p, 42), vae.sample(p, 43)].map((x) => x.dataSync() as Float32Array);
    });
    audio.dispose();
    expect(maxAbs(a, b)).toBe(0);
    expect(maxAbs(a, c)).toBeGreaterThan(0.1);
    let sum = 0,
      sq = 0;
    for (let i = 0; i < a.length; i++) {
      const z = (a[i] - m[i]) / s[i];
      sum += z;
      sq += z * z;
    }
    const n = a.length,
      mean = sum / n,
      sd = Math.sqrt(sq / n - mean * mean);
    // n = 6400 draws: the sample mean has sd 1/80 and the sample sd about 1/113; 5 sigma bounds.
    expect(Math.abs(mean)).toBeLessThan(5 / 80);
    expect(Math.abs(sd - 1)).toBeLessThan(5 / 113);
  });

  it('rejects audio with the wrong channel count or too few samples', () => {
    tidy(() => {
      expect(() => vae.encode(Tensor.zeros([1, 1, 64]))).toThrow(ShapeError);
      expect(() => vae.encode(Tensor.zeros([1, 2, vae.hop - 1]))).toThrow(/at least/);
      expect(() => vae.decode(Tensor.zeros([1, vae.latentChannels + 1, 4]))).toThrow(ShapeError);
    });
  });
});

describe('config and checkpoint', () => {
  it('reads sizes from config.json (hop = product of ratios)', () => {
    const raw = JSON.parse(readFileSync(join(ckptDir, 'config.json'), 'utf8'));
    const cfg = parseVaeConfig(raw, 'config.json');
    expect(hopLength(cfg)).toBe(8);
    const official = parseVaeConfig(
      {
        audio_channels: 2,
        channel_multiples: [1, 2, 4, 8, 16],
        decoder_channels: 128,
        decoder_input_channels: 64,
        downsampling_ratios: [2, 4, 4, 6, 10],
        encoder_hidden_size: 128,
        sampling_rate: 48000,
      },
      'official',
    );
    expect(hopLength(official)).toBe(1920);
    expect(() => parseVaeConfig({ ...raw, downsampling_ratios: [2, 'x'] }, 'c.json')).toThrow(/downsampling_ratios/);
    expect(() => parseVaeConfig({ ...raw, channel_multiples: [1, 2, 4] }, 'c.json')).toThrow(/same length/);
    expect(() => parseVaeConfig({ ...raw, decoder_channels: undefined }, 'c.json')).toThrow(CheckpointError);
  });

  it('names the tensor when a checkpoint does not match its config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vae-'));
    cpSync(ckptDir, dir, { recursive: true });
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, decoder_channels: 16 }));
    expect(() => OobleckVae.load(dir)).toThrow(/decoder\.block\.0\.\S+ .*expected shape|expected shape/);
    expect(() => OobleckVae.load(join(dir, 'missing'))).toThrow(CheckpointError);
  });
});
