// Flow-matching timestep schedules (UPSTREAM.md: Schedules, Cover strength and noise): the turbo
// schedule (continuous shift, which reproduces the upstream fixed tables, or custom timesteps
// snapped to the 20 valid values), the base/SFT schedule (torch-style float32 linspace shifted in
// float32), and the truncation used by cover_noise_strength. Values are float32-representable
// because upstream stores them in a float32 tensor and reads them back with .item().
import { SamplerConfigError } from './sampler-errors.js';

const f32 = Math.fround;

/** The legacy 8-step turbo tables (final 0 excluded), keyed by shift. */
export const TURBO_SHIFT_TABLES: Readonly<Record<1 | 2 | 3, readonly number[]>> = {
  1: [1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125],
  2: [1, 14 / 15, 6 / 7, 10 / 13, 2 / 3, 6 / 11, 0.4, 2 / 9],
  3: [1, 21 / 22, 0.9, 5 / 6, 0.75, 9 / 14, 0.5, 0.3],
};

/** Every value of the three tables: custom turbo timesteps snap to the nearest of these. */
export const TURBO_VALID_TIMESTEPS: readonly number[] = [
  ...new Set([...TURBO_SHIFT_TABLES[1], ...TURBO_SHIFT_TABLES[2], ...TURBO_SHIFT_TABLES[3]]),
].sort((a, b) => b - a);

/** Turbo models were distilled for at most this many steps. */
export const TURBO_MAX_STEPS = 8;
/** Upstream keeps at most this many custom turbo timesteps. */
export const TURBO_MAX_CUSTOM_TIMESTEPS = 20;

/** t' = s·t / (1 + (s−1)·t): spends more steps near t = 1 for s > 1. */
export function shiftTimestep(t: number, shift: number): number {
  return (shift * t) / (1 + (shift - 1) * t);
}

function checkShift(shift: number): void {
  if (!Number.isFinite(shift) || shift <= 0) throw new SamplerConfigError('shift', `must be a positive number, got ${shift}`);
}

function checkSteps(steps: number, max: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw new SamplerConfigError('steps', `must be an integer in [1, ${max}], got ${steps}`);
  }
}

function checkTimesteps(ts: readonly number[]): void {
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    if (!Number.isFinite(t) || t < 0 || t > 1) throw new SamplerConfigError('timesteps', `value ${i} is ${t}, outside [0, 1]`);
    if (i > 0 && !(t < ts[i - 1]))
      throw new SamplerConfigError('timesteps', `must decrease strictly (value ${i} = ${t} after ${ts[i - 1]})`);
  }
}

/**
 * Turbo schedule without the final 0: t_i = shift(1 − i/n) for i < n, rounded to float32.
 * With custom timesteps, trailing zeros are dropped, at most 20 are kept and each snaps to the
 * nearest valid table value (first of equals, as Python's min()).
 */
export function turboSchedule(opts: { steps?: number; shift?: number; timesteps?: readonly number[] } = {}): number[] {
  if (opts.timesteps) {
    const ts = [...opts.timesteps];
    while (ts.length > 0 && ts[ts.length - 1] === 0) ts.pop();
    checkTimesteps(ts);
    if (ts.length === 0) throw new SamplerConfigError('timesteps', 'no non-zero timestep given');
    return ts.slice(0, TURBO_MAX_CUSTOM_TIMESTEPS).map((t) => {
      let best = TURBO_VALID_TIMESTEPS[0];
      for (const v of TURBO_VALID_TIMESTEPS) if (Math.abs(v - t) < Math.abs(best - t)) best = v;
      return f32(best);
    });
  }
  const steps = opts.steps ?? TURBO_MAX_STEPS;
  const shift = opts.shift ?? 3;
  checkSteps(steps, TURBO_MAX_STEPS);
  checkShift(shift);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(f32(shiftTimestep(1 - i / steps, shift)));
  return out;
}

/** torch.linspace(start, end, n) for float32 (CPU kernel: halves computed from either end). */
export function linspaceF32(start: number, end: number, n: number): number[] {
  if (n === 1) return [f32(start)];
  const step = f32(f32(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i < half ? f32(start + f32(step * i)) : f32(end - f32(step * (n - 1 - i))));
  return out;
}

/**
 * Base/SFT schedule including the final 0: linspace(1, 0, steps+1) in float32, then the shift
 * applied with float32 arithmetic. Custom timesteps are used as given (no shift, no snapping).
 */
export function baseSchedule(opts: { steps?: number; shift?: number; timesteps?: readonly number[] } = {}): number[] {
  if (opts.timesteps) {
    checkTimesteps(opts.timesteps);
    if (opts.timesteps.length < 2) throw new SamplerConfigError('timesteps', 'needs at least two values (one step)');
    return opts.timesteps.map(f32);
  }
  const steps = opts.steps ?? 30;
  const shift = opts.shift ?? 1;
  checkSteps(steps, 1000);
  checkShift(shift);
  const t = linspaceF32(1, 0, steps + 1);
  if (shift === 1) return t;
  const s = f32(shift),
    s1 = f32(shift - 1);
  return t.map((v) => f32(f32(s * v) / f32(1 + f32(s1 * v))));
}

/**
 * cover_noise_strength (UPSTREAM.md: Cover strength and noise): the start time t* is the schedule
 * value nearest to 1 − strength (first of equals); the schedule then starts at t*. `candidates` is
 * how many leading values may be chosen (the base schedule's final 0 is not a candidate).
 */
export function truncateForCoverNoise(
  schedule: readonly number[],
  strength: number,
  candidates = schedule.length,
): { tStar: number; startIndex: number; schedule: number[] } {
  if (!(strength > 0 && strength <= 1)) throw new SamplerConfigError('coverNoiseStrength', `must be in (0, 1], got ${strength}`);
  const target = 1 - strength;
  let best = 0;
  for (let i = 1; i < candidates; i++) if (Math.abs(schedule[i] - target) < Math.abs(schedule[best] - target)) best = i;
  return { tStar: schedule[best], startIndex: best, schedule: schedule.slice(best) };
}
