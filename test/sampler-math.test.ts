// Sampler math against plain references written straight from the formulas (UPSTREAM.md:
// Flow-matching sampler, Repaint): schedules vs the upstream tables, APG/ADG vs direct float64
// implementations, DCW's closed form vs an explicit Haar DWT → scale → inverse DWT, repaint
// bookkeeping, and the sampler loop's behaviour (exact flow recovery, progress, abort, typed option
// errors).
import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/runtime/tensor.js';
import { ShapeError } from '../src/runtime/errors.js';
import {
  baseSchedule,
  linspaceF32,
  shiftTimestep,
  truncateForCoverNoise,
  turboSchedule,
  TURBO_SHIFT_TABLES,
  TURBO_VALID_TIMESTEPS,
} from '../src/pipeline/diffusion/schedules.js';
import { adgCombine, apgCombine, cfgCombineHost, MomentumBuffer } from '../src/pipeline/diffusion/guidance.js';
import { applyDcw } from '../src/pipeline/diffusion/dcw.js';
import {
  repaintRegionFrames,
  resolveRepaintConfig,
  roundHalfEven,
  softMaskRow,
  softRegionMask,
} from '../src/pipeline/diffusion/repaint.js';
import { sample, type VelocityFn } from '../src/pipeline/diffusion/sampler.js';
import { SamplerConfigError } from '../src/pipeline/diffusion/sampler-errors.js';
import { AbortedError } from '../src/pipeline/errors.js';
import { retakeNoise } from '../src/pipeline/diffusion/noise.js';
import { uniform } from './support/random.js';

/** Seeded values in [-2, 2), so failures reproduce. */
const rand = (n: number, seed: number): Float32Array => uniform(n, seed, -2, 2);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('schedules', () => {
  it('turbo: continuous shift reproduces the upstream 8-step tables (float32)', () => {
    for (const s of [1, 2, 3] as const) expect(turboSchedule({ steps: 8, shift: s })).toEqual(TURBO_SHIFT_TABLES[s].map(Math.fround));
    expect(turboSchedule({ steps: 4, shift: 3 })).toEqual([1, 0.9, 0.75, 0.5].map(Math.fround));
    expect(TURBO_VALID_TIMESTEPS.length).toBe(20);
  });

  it('turbo: custom timesteps drop trailing zeros and snap to valid values', () => {
    expect(turboSchedule({ timesteps: [0.99, 0.82, 0.31, 0, 0] })).toEqual([1, 0.8333333333333334, 0.3].map(Math.fround));
    expect(turboSchedule({ timesteps: Array.from({ length: 25 }, (_, i) => 1 - i / 25) }).length).toBe(20);
  });

  it('turbo: rejects bad options with typed errors naming them', () => {
    expect(() => turboSchedule({ steps: 9 })).toThrow(SamplerConfigError);
    expect(() => turboSchedule({ steps: 9 })).toThrow(/'steps'/);
    expect(() => turboSchedule({ shift: 0 })).toThrow(/'shift'/);
    expect(() => turboSchedule({ timesteps: [0.5, 0.7] })).toThrow(/'timesteps'.*decrease/);
    expect(() => turboSchedule({ timesteps: [1.5] })).toThrow(/outside \[0, 1\]/);
    expect(() => turboSchedule({ timesteps: [0, 0] })).toThrow(SamplerConfigError);
  });

  it('base: float32 linspace then the float32 shift; matches the formula within float32 rounding', () => {
    expect(linspaceF32(1, 0, 9)).toEqual([1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]);
    for (const [n, s] of [
      [8, 3],
      [30, 1],
      [50, 3],
      [7, 2.5],
    ]) {
      const got = baseSchedule({ steps: n, shift: s });
      expect(got.length).toBe(n + 1);
      expect(got[0]).toBe(1);
      expect(got[n]).toBe(0);
      // float32 rounding of a few ops: |error| stays below 4 ulp at 1.
      got.forEach((v, i) => expect(Math.abs(v - shiftTimestep(1 - i / n, s))).toBeLessThan(5e-7));
    }
    expect(baseSchedule({ timesteps: [1, 0.9, 0.75, 0.55, 0.3, 0] })).toEqual([1, 0.9, 0.75, 0.55, 0.3, 0].map(Math.fround));
  });

  it('cover noise: t* is the nearest schedule value to 1 - strength', () => {
    const t = turboSchedule({ steps: 8, shift: 3 });
    const r = truncateForCoverNoise(t, 0.3);
    expect(r.tStar).toBe(0.75);
    expect(r.schedule.length).toBe(4);
    expect(truncateForCoverNoise(t, 0.45).tStar).toBe(0.5); // |0.5 - 0.55| < |0.643 - 0.55|
    expect(truncateForCoverNoise(t, 0.35).tStar).toBe(Math.fround(9 / 14));
    const b = baseSchedule({ steps: 4, shift: 1 });
    expect(truncateForCoverNoise(b, 1, b.length - 1).tStar).toBe(0.25); // 0 is not a start candidate
    expect(() => truncateForCoverNoise(t, 0)).toThrow(/coverNoiseStrength/);
  });
});

describe('guidance vs plain float64 references', () => {
  const B = 2,
    T = 7,
    C = 5,
    n = B * T * C;
  const at = (b: number, t: number, c: number) => (b * T + t) * C + c;

  it('CFG: v_u + w (v_c - v_u)', () => {
    const vc = rand(n, 1),
      vu = rand(n, 2);
    const got = cfgCombineHost(vc, vu, 4);
    expect(
      maxDiff(
        got,
        Array.from(vc, (v, i) => vu[i] + 4 * (v - vu[i])),
      ),
    ).toBeLessThan(1e-5);
  });

  it('APG with momentum over two calls, norm clip along time, orthogonal part only', () => {
    const w = 5,
      thr = 2.5;
    const calls = [
      [rand(n, 3), rand(n, 4)],
      [rand(n, 5), rand(n, 6)],
    ];
    const buf = new MomentumBuffer(-0.75);
    let running: number[] | null = null;
    for (const [vc, vu] of calls) {
      const got = apgCombine(vc, vu, [B, T, C], w, { momentum: buf, normThreshold: thr });
      const d = Array.from(vc, (v, i) => v - vu[i] + (running ? -0.75 * running[i] : 0));
      running = d.slice();
      const want = new Float64Array(n);
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < C; c++) {
          let dn = 0,
            vn = 0;
          for (let t = 0; t < T; t++) {
            dn += d[at(b, t, c)] ** 2;
            vn += vc[at(b, t, c)] ** 2;
          }
          const k = Math.min(1, thr / Math.sqrt(dn));
          let dot = 0;
          for (let t = 0; t < T; t++) dot += k * d[at(b, t, c)] * vc[at(b, t, c)];
          for (let t = 0; t < T; t++) {
            const i = at(b, t, c);
            want[i] = vc[i] + (w - 1) * (k * d[i] - (dot / vn) * vc[i]);
          }
        }
      }
      // float32 storage of intermediates: relative error ~1e-7 on O(10) values.
      expect(maxDiff(got, want)).toBeLessThan(2e-5);
    }
    // The clip is active here (|d| over 7 frames of values in [-4, 4) exceeds 2.5).
    const [vc, vu] = calls[0];
    let dn = 0;
    for (let t = 0; t < T; t++) dn += (vc[at(0, t, 0)] - vu[at(0, t, 0)]) ** 2;
    expect(Math.sqrt(dn)).toBeGreaterThan(2.5);
  });

  it('ADG: rotation by the clipped angle, converted back to a velocity', () => {
    const x = rand(n, 7),
      vc = rand(n, 8),
      vu = rand(n, 9);
    const t = 0.6,
      w = 5,
      wp = w - 1 + 1e-3,
      clip = 3.14 / 6;
    const got = adgCombine(x, vc, vu, [B, T, C], t, w);
    const want = new Float64Array(n);
    for (let f = 0; f < B * T; f++) {
      const hc = [],
        hu = [];
      for (let c = 0; c < C; c++) {
        hc.push(x[f * C + c] - t * vc[f * C + c]);
        hu.push(x[f * C + c] - t * vu[f * C + c]);
      }
      const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
      const theta = Math.acos(Math.min(Math.max(dot(hc, hu) / Math.sqrt(dot(hc, hc) * dot(hu, hu)), -1 + 1e-6), 1 - 1e-6));
      const tn = Math.min(wp * theta, clip);
      const diff = hc.map((v, i) => v - hu[i]);
      const k = dot(diff, hu) / (dot(hu, hu) + 1e-8);
      for (let c = 0; c < C; c++) {
        const perp = diff[c] - k * hu[c];
        const xn = Math.cos(tn) * hc[c] + (perp * Math.sin(tn)) / Math.sin(theta);
        want[f * C + c] = (x[f * C + c] - xn) / t;
      }
    }
    expect(maxDiff(got, want)).toBeLessThan(5e-5);
  });
});

describe('DCW', () => {
  it('closed form equals Haar DWT (zero mode) -> scaled bands -> inverse DWT, odd T included', () => {
    for (const T of [6, 7]) {
      const B = 2,
        C = 3,
        n = B * T * C,
        t = 0.7;
      const x = rand(n, 10 + T),
        den = rand(n, 20 + T);
      const got = x.slice();
      applyDcw(got, den, [B, T, C], t);
      const sL = t * 0.05,
        sH = (1 - t) * 0.02,
        r = Math.SQRT1_2;
      const want = Float64Array.from(x);
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < C; c++) {
          const d = Array.from({ length: T + (T % 2) }, (_, i) => (i < T ? x[(b * T + i) * C + c] - den[(b * T + i) * C + c] : 0));
          for (let k = 0; k < d.length / 2; k++) {
            const lo = (d[2 * k] + d[2 * k + 1]) * r,
              hi = (d[2 * k] - d[2 * k + 1]) * r;
            const corr0 = (sL * lo + sH * hi) * r,
              corr1 = (sL * lo - sH * hi) * r;
            want[(b * T + 2 * k) * C + c] += corr0;
            if (2 * k + 1 < T) want[(b * T + 2 * k + 1) * C + c] += corr1;
          }
        }
      }
      expect(maxDiff(got, want)).toBeLessThan(1e-6);
    }
  });

  it('low / high modes keep one band only; an unknown mode is a typed error', () => {
    const x = rand(12, 1),
      den = rand(12, 2);
    const low = x.slice(),
      high = x.slice(),
      both = x.slice();
    applyDcw(low, den, [1, 4, 3], 0.5, { mode: 'low' });
    applyDcw(high, den, [1, 4, 3], 0.5, { mode: 'high' });
    applyDcw(both, den, [1, 4, 3], 0.5, { mode: 'double' });
    const sum = Array.from(x, (v, i) => low[i] + high[i] - v);
    expect(maxDiff(sum, both)).toBeLessThan(1e-6);
    expect(maxDiff(low, x)).toBeGreaterThan(1e-3);
    expect(() => applyDcw(x, den, [1, 4, 3], 0.5, { mode: 'pix' as never })).toThrow(/dcw.mode/);
  });
});

describe('repaint bookkeeping', () => {
  it('mode mapping uses banker rounding; region frames from seconds', () => {
    expect(roundHalfEven(12.5)).toBe(12);
    expect(roundHalfEven(13.5)).toBe(14);
    expect(roundHalfEven(-0.5)).toBe(-0);
    expect(resolveRepaintConfig('balanced', 0.5)).toEqual({ injectionRatio: 0.5, crossfadeFrames: 12, wavCrossfadeSeconds: 0.025 });
    expect(resolveRepaintConfig('aggressive')).toEqual({ injectionRatio: 0, crossfadeFrames: 0, wavCrossfadeSeconds: 0 });
    expect(() => resolveRepaintConfig('balanced', 2)).toThrow(/repaintStrength/);
    expect(repaintRegionFrames(0.48, 0.96)).toEqual([12, 24]);
    expect(repaintRegionFrames(1.0, 1.01)).toEqual([25, 26]); // end >= start + 1
    expect(() => repaintRegionFrames(2, 1)).toThrow(/repaintingEnd/);
  });

  it('soft mask: ramps k/(cf+1), recomputed when cut by an edge; full rows untouched', () => {
    expect(Array.from(softRegionMask(10, 4, 6, 2))).toEqual([0, 0, 1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3, 0, 0].map(Math.fround));
    expect(Array.from(softRegionMask(6, 2, 4, 5))).toEqual([1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3].map(Math.fround));
    expect(Array.from(softMaskRow([1, 1, 1], 4))).toEqual([1, 1, 1]);
    expect(Array.from(softMaskRow([0, 0, 0], 4))).toEqual([0, 0, 0]);
  });
});

describe('sampler loop', () => {
  const shape = [1, 4, 3] as const;
  const n = 12;
  const target = rand(n, 42);
  const noise0 = rand(n, 43);
  // The straight path x_t = t·noise0 + (1−t)·target has the constant velocity noise0 − target;
  // every integrator must land on target from noise0. The field also checks that it is fed x_t.
  const exact: VelocityFn<null> = (x, t) => {
    const xs = x.toFloat32Sync();
    for (let i = 0; i < xs.length; i++) expect(Math.abs(xs[i] - (t * noise0[i % n] + (1 - t) * target[i % n]))).toBeLessThan(1e-5);
    return Tensor.fromArray(
      Float32Array.from(xs, (_, i) => noise0[i % n] - target[i % n]),
      x.shape,
    );
  };

  it('recovers x0 of a straight flow with turbo, base and Heun (within float32 rounding)', async () => {
    for (const opts of [
      { variant: 'turbo' as const },
      { variant: 'base' as const, steps: 6, shift: 3 },
      { variant: 'base' as const, steps: 4, heun: true },
    ]) {
      const r = await sample(exact, { main: null }, noise0, shape, opts);
      expect(maxDiff(r.latents, target)).toBeLessThan(1e-5);
    }
  });

  it('reports progress per step and aborts between steps', async () => {
    const seen: string[] = [];
    await sample(exact, { main: null }, noise0, shape, { variant: 'turbo', steps: 4, onProgress: (d, t) => seen.push(`${d}/${t}`) });
    expect(seen).toEqual(['1/4', '2/4', '3/4', '4/4']);
    const ac = new AbortController();
    let calls = 0;
    const stopAfter2: VelocityFn<null> = (x, t, c, info) => {
      if (++calls === 2) ac.abort();
      return exact(x, t, c, info);
    };
    const p = sample(stopAfter2, { main: null }, noise0, shape, { variant: 'turbo', signal: ac.signal });
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    await expect(p).rejects.toThrow(/before step 3 of 8/);
    expect(calls).toBe(2);
  });

  it('rejects inconsistent options and bad model output with typed errors', async () => {
    const noise = noise0;
    const run = (o: Parameters<typeof sample>[4], v: VelocityFn<null> = exact) => sample(v, { main: null }, noise, shape, o);
    await expect(run({ variant: 'turbo', guidanceScale: 3 })).rejects.toThrow(/guidanceScale/);
    await expect(run({ variant: 'turbo', audioCoverStrength: 0.5 })).rejects.toThrow(/no nonCover condition/);
    await expect(run({ variant: 'turbo', method: 'sde' })).rejects.toThrow(/sdeNoise/);
    await expect(run({ variant: 'turbo', coverNoiseStrength: 0.5 })).rejects.toThrow(/srcLatents/);
    await expect(run({ variant: 'base', guidance: 'foo' as never, guidanceScale: 2 })).rejects.toThrow(/'guidance'/);
    await expect(sample(exact, { main: null }, noise.subarray(1), shape, { variant: 'turbo' })).rejects.toBeInstanceOf(ShapeError);
    const wrong: VelocityFn<null> = (x) => Tensor.zeros([1, 4, 2]);
    await expect(run({ variant: 'turbo' }, wrong)).rejects.toThrow(/velocity for step 0 has shape \[1, 4, 2\]/);
  });

  it('velocity clamp and EMA follow the upstream formulas (turbo, 3 steps, plain reference)', async () => {
    const vs = [rand(n, 60), rand(n, 61), rand(n, 62)].map((v, k) => v.map((a) => a * (k + 2)));
    let call = 0;
    const field: VelocityFn<null> = (x) => Tensor.fromArray(vs[call++], x.shape);
    const thr = 0.5,
      f = 0.3;
    const r = await sample(field, { main: null }, noise0, shape, {
      variant: 'turbo',
      steps: 3,
      velocityNormThreshold: thr,
      velocityEmaFactor: f,
    });
    const ts = turboSchedule({ steps: 3, shift: 3 });
    let x = Array.from(noise0);
    let prev: number[] | null = null;
    for (let i = 0; i < 3; i++) {
      const nv = Math.hypot(...vs[i]),
        nx = Math.hypot(...x);
      let v = Array.from(vs[i], (a) => a * Math.min(1, (thr * (nx + 1e-10)) / (nv + 1e-10)));
      if (prev) {
        const p = prev;
        v = v.map((a, k) => (1 - f) * a + f * p[k]);
      }
      const dt = i < 2 ? ts[i] - ts[i + 1] : ts[i];
      x = x.map((a, k) => a - v[k] * dt);
      prev = v;
    }
    expect(maxDiff(r.latents, x)).toBeLessThan(1e-5);
    await expect(sample(field, { main: null }, noise0, shape, { variant: 'turbo', velocityEmaFactor: 1 })).rejects.toThrow(
      /velocityEmaFactor/,
    );
  });

  it('retake noise rotates between the two draws', () => {
    const a = rand(n, 70),
      b = rand(n, 71);
    expect(Array.from(retakeNoise(a, b, 0))).toEqual(Array.from(a));
    expect(maxDiff(retakeNoise(a, b, 1), b)).toBeLessThan(1e-6);
    const h = retakeNoise(a, b, 0.5);
    expect(
      maxDiff(
        h,
        Array.from(a, (v, i) => Math.SQRT1_2 * (v + b[i])),
      ),
    ).toBeLessThan(1e-6);
    expect(() => retakeNoise(a, b, 2)).toThrow(/retakeVariance/);
  });

  it('CFG doubles the decoder batch as [x; x] and the conditions switch once', async () => {
    const rows: number[] = [];
    const conds: string[] = [];
    const v: VelocityFn<string> = (x, t, c) => {
      rows.push(x.shape[0]);
      conds.push(c);
      const xs = x.toFloat32Sync();
      expect(maxDiff(xs.subarray(0, n), xs.subarray(n))).toBe(0);
      return Tensor.fromArray(new Float32Array(xs.length), x.shape);
    };
    await sample(v, { main: 'a', nonCover: 'b' }, rand(n, 3), shape, {
      variant: 'base',
      steps: 4,
      guidanceScale: 3,
      audioCoverStrength: 0.5,
    });
    expect(rows).toEqual([2, 2, 2, 2]);
    expect(conds).toEqual(['a', 'a', 'b', 'b']);
  });
});
