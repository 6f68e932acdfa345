// Seeded sampler noise (UPSTREAM.md: Noise and seeds): the initial noise per batch item from its
// own seed (a seed list gives item b the stream of seeds[b]; one seed covers the whole batch as one
// stream) and the SDE renoise draws. Philox counters make every draw reproducible; the SDE draws
// use counter offsets past the initial noise so they never repeat it.
import { randomInt } from 'node:crypto';
import { randn } from '../../runtime/index.js';
import { SamplerConfigError } from './sampler-errors.js';
import type { LatentShape } from './guidance.js';

/** A seed of null, undefined or < 0 means "draw a random one" (upstream: -1 = random). */
export type Seed = number | null | undefined;

const MAX_SEED = 2 ** 32 - 1;

/** Resolves seeds: random ones for unset entries; integers in [0, 2^32) kept as they are. */
export function resolveSeeds(seeds: readonly Seed[]): number[] {
  return seeds.map((s, i) => {
    if (s === null || s === undefined || s < 0) return randomInt(0, MAX_SEED);
    if (!Number.isInteger(s) || s > MAX_SEED) throw new SamplerConfigError('seed', `seed ${i} must be an integer in [0, 2^32), got ${s}`);
    return s;
  });
}

/**
 * Initial noise [B, T, C]: with one seed per item each item is drawn from its own seed; with a
 * single seed the batch is one stream.
 */
export async function initialNoise(shape: LatentShape, seeds: Seed | readonly Seed[]): Promise<Float32Array> {
  const [B, T, C] = shape;
  const out = new Float32Array(B * T * C);
  if (!Array.isArray(seeds)) {
    const t = randn([B, T, C], resolveSeeds([seeds as Seed])[0], { device: 'cpu' });
    out.set(await t.toFloat32());
    t.dispose();
    return out;
  }
  if (seeds.length !== B) throw new SamplerConfigError('seed', `${seeds.length} seeds for batch ${B}`);
  const s = resolveSeeds(seeds);
  for (let b = 0; b < B; b++) {
    const t = randn([1, T, C], s[b], { device: 'cpu' });
    out.set(await t.toFloat32(), b * T * C);
    t.dispose();
  }
  return out;
}

/** SDE noise for step i: the stream of `seed` continued past the initial noise. */
export function sdeNoiseFromSeed(shape: LatentShape, seed: number): (step: number) => Promise<Float32Array> {
  const n = shape[0] * shape[1] * shape[2];
  const s = resolveSeeds([seed])[0];
  return async (step) => {
    using t = randn([...shape], s, { offset: (step + 1) * n, device: 'cpu' });
    return await t.toFloat32();
  };
}

/**
 * retake_variance (UPSTREAM.md: Cover strength and noise): cos(v·π/2)·noise + sin(v·π/2)·retake, a
 * rotation that keeps unit variance; v = 0 keeps the noise, v = 1 replaces it.
 */
export function retakeNoise(noise: Float32Array, retake: Float32Array, variance: number): Float32Array {
  if (!(variance >= 0 && variance <= 1)) throw new SamplerConfigError('retakeVariance', `must be in [0, 1], got ${variance}`);
  if (retake.length !== noise.length)
    throw new SamplerConfigError('retakeVariance', `retake noise has ${retake.length} values, noise has ${noise.length}`);
  const a = Math.fround(Math.cos((variance * Math.PI) / 2)),
    b = Math.fround(Math.sin((variance * Math.PI) / 2));
  return Float32Array.from(noise, (v, i) => Math.fround(Math.fround(a * v) + Math.fround(b * retake[i])));
}
