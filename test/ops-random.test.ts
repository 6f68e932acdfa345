// randn: agreement with torch's CUDA generator (the first values for seed 42 that acestep.cpp's
// tests/CUDA0-BF16.log records; UPSTREAM.md: Noise and seeds), statistical
// properties within stated bounds, and bit-exact reproducibility by seed and offset.
import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError, Tensor, randn, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';

afterAll(() => native.setCpuImpl('fast'));

const values = (shape: number[], seed: number, offset?: number) => tidy(() => randn(shape, seed, { offset }).dataSync() as Float32Array);

describe('randn', () => {
  it('matches torch.randn(generator=cuda(42), dtype=bf16) first values (UPSTREAM.md: Noise and seeds)', () => {
    const bf = tidy(() => randn([1, 2170, 64], 42).to('bf16').toFloat32Sync());
    expect(Array.from(bf.subarray(0, 4))).toEqual([0.1943359375, 2.15625, -0.171875, 0.84765625]);
  });

  it('is bit-exact for the same seed, and offset k continues the same stream', () => {
    const a = values([5000], 7),
      b = values([5000], 7);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const tail = values([1000], 7, 4000);
    expect(Array.from(tail)).toEqual(Array.from(a.subarray(4000)));
    native.setCpuImpl('reference');
    const r = values([5000], 7);
    native.setCpuImpl('fast');
    expect(Array.from(r)).toEqual(Array.from(a));
  });

  it('has mean 0, std 1, normal tails and no lag correlation (n = 400k)', () => {
    const n = 400_000;
    const x = values([n], 12345);
    let s = 0,
      s2 = 0,
      s4 = 0,
      lag = 0,
      in1 = 0;
    for (let i = 0; i < n; i++) {
      s += x[i];
      s2 += x[i] * x[i];
      s4 += x[i] ** 4;
      if (i > 0) lag += x[i] * x[i - 1];
      if (Math.abs(x[i]) < 1) in1++;
    }
    const mean = s / n,
      v = s2 / n - mean * mean;
    // Bounds are 6 standard errors: mean 1/sqrt(n), variance sqrt(2/n), kurtosis sqrt(96/n),
    // lag-1 correlation 1/sqrt(n), the 1-sigma fraction sqrt(p(1-p)/n).
    expect(Math.abs(mean)).toBeLessThan(6 / Math.sqrt(n));
    expect(Math.abs(v - 1)).toBeLessThan(6 * Math.sqrt(2 / n));
    expect(Math.abs(s4 / n / (v * v) - 3)).toBeLessThan(6 * Math.sqrt(96 / n));
    expect(Math.abs(lag / n)).toBeLessThan(6 / Math.sqrt(n));
    expect(Math.abs(in1 / n - 0.682689)).toBeLessThan(6 * Math.sqrt((0.6827 * 0.3173) / n));
  });

  it('gives uncorrelated streams for neighbouring seeds', () => {
    const n = 200_000;
    const a = values([n], 1),
      b = values([n], 2);
    let c = 0;
    for (let i = 0; i < n; i++) c += a[i] * b[i];
    expect(Math.abs(c / n)).toBeLessThan(6 / Math.sqrt(n));
  });

  it('rejects bad seeds and offsets', () => {
    expect(() => randn([2], -1)).toThrow(ShapeError);
    expect(() => randn([2], 1.5)).toThrow(/seed/);
    expect(() => randn([2], 1, { offset: -3 })).toThrow(/offset/);
    expect(() => Tensor.zeros([1]).dispose()).not.toThrow();
  });
});
