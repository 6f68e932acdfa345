// Seeded sampler noise: per-item seeds, one-stream batches, SDE draws beyond the initial noise,
// the acestep.cpp / torch CUDA anchor (seed 42 → 0.194336, 2.156250, −0.171875, 0.847656 after
// bf16 rounding, UPSTREAM.md: Noise and seeds), and typed seed errors.
import { describe, expect, it } from 'vitest';
import { randn } from '../src/runtime/index.js';
import { initialNoise, resolveSeeds, sdeNoiseFromSeed } from '../src/pipeline/diffusion/noise.js';
import { SamplerConfigError } from '../src/pipeline/diffusion/sampler-errors.js';

function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >> 16) & 1)) & 0xffff0000;
  return f[0];
}

describe('sampler noise', () => {
  it('seed 42 reproduces the torch CUDA / acestep.cpp reference values (bf16)', async () => {
    const x = await initialNoise([1, 2170, 64], [42]);
    expect(Array.from(x.subarray(0, 4), bf16)).toEqual([0.194336, 2.15625, -0.171875, 0.847656].map(bf16));
  });

  it('a seed list gives each item its own stream; one seed is one stream over the batch', async () => {
    const shape = [2, 10, 8] as const;
    const per = await initialNoise(shape, [7, 8]);
    const a = randn([1, 10, 8], 7).dataSync() as Float32Array,
      b = randn([1, 10, 8], 8).dataSync() as Float32Array;
    expect(Array.from(per.subarray(0, 80))).toEqual(Array.from(a));
    expect(Array.from(per.subarray(80))).toEqual(Array.from(b));
    const one = await initialNoise(shape, 7);
    expect(Array.from(one)).toEqual(Array.from(randn([2, 10, 8], 7).dataSync() as Float32Array));
    expect(Array.from(await initialNoise(shape, [7, 8]))).toEqual(Array.from(per));
  });

  it('SDE draws continue the stream past the initial noise and differ per step', async () => {
    const shape = [1, 4, 4] as const;
    const f = sdeNoiseFromSeed(shape, 5);
    const long = randn([48], 5).dataSync() as Float32Array;
    expect(Array.from(await f(0))).toEqual(Array.from(long.subarray(16, 32)));
    expect(Array.from(await f(1))).toEqual(Array.from(long.subarray(32, 48)));
  });

  it('unset or negative seeds are drawn at random; bad seeds are typed errors', async () => {
    const s = resolveSeeds([-1, null, undefined, 3]);
    expect(s[3]).toBe(3);
    for (const v of s.slice(0, 3)) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    expect(() => resolveSeeds([1.5])).toThrow(SamplerConfigError);
    expect(() => resolveSeeds([2 ** 40])).toThrow(/seed 0/);
    await expect(initialNoise([2, 3, 4], [1])).rejects.toThrow(/1 seeds for batch 2/);
  });
});
