// The flow-matching sampler of ACE-Step 1.5 (UPSTREAM.md: Flow-matching sampler, Cover strength and
// noise, Repaint): x_t = t·noise + (1−t)·x0, the model predicts v ≈ noise − x0, and sampling
// integrates from t = 1 down to 0. It is written against a small model interface (a velocity
// callback plus opaque condition objects), so it knows nothing about the DiT. The sampler state
// lives on the host as Float32Array: it is tiny next to a DiT forward, and guidance needs float64
// projections.
//
// Variants differ only where upstream's generate_audio differs:
//  - turbo: schedule without the final 0; the last step returns x − v·t; no CFG.
//  - base / sft: schedule with the final 0 (Euler pairs); optional CFG (APG/ADG) on a [cond; uncond]
//    decoder batch; SDE's next time ignores the shift (1 − (i+1)/N). With custom timesteps the
//    number of cover steps comes from `steps` (default 30) for base, from the timesteps for sft.
import type { Device } from '../../runtime/dtype.js';
import { ShapeError } from '../../runtime/errors.js';
import { Tensor } from '../../runtime/tensor.js';
import { applyDcw, type DcwOptions } from './dcw.js';
import { adgCombine, apgCombine, cfgCombineHost, MomentumBuffer, type LatentShape } from './guidance.js';
import { repaintBoundaryBlend, repaintInject, roundHalfEven } from './repaint.js';
import { SamplerConfigError } from './sampler-errors.js';
import { throwIfAborted } from '../errors.js';
import { baseSchedule, truncateForCoverNoise, turboSchedule } from './schedules.js';

const f32 = Math.fround;

export type SamplerVariant = 'turbo' | 'base' | 'sft';

/** What the sampler tells the model about a decoder call. */
export interface DecoderCallInfo {
  /** Step index in the (possibly truncated) schedule. */
  step: number;
  /** 'corrector' is Heun's second evaluation (upstream gives it a fresh, unused cache). */
  phase: 'predictor' | 'corrector';
  /** 0: the main (cover) condition; 1: the non-cover condition after the audio_cover_strength switch. */
  condition: 0 | 1;
  /** True on the first call with a condition: a cross-attention K/V cache must be rebuilt. */
  freshCache: boolean;
}

/**
 * The decoder as the sampler sees it: velocity for x_t ([B', T, C] f32) at time t for every item.
 * With guidance B' = 2B and `cond` must describe the batch [cond; uncond] (the model's
 * prepareCondition builds it); otherwise B' = B.
 */
export type VelocityFn<C> = (x: Tensor, t: number, cond: C, info: DecoderCallInfo) => Tensor | Promise<Tensor>;

export interface SamplerConditions<C> {
  /** The task's condition (for a cover: the cover condition). */
  main: C;
  /** The non-cover condition (UPSTREAM.md: Cover strength and noise), needed when audioCoverStrength < 1. */
  nonCover?: C;
}

export interface RepaintSampling {
  /** [B, T] 1 inside the region that is generated, 0 where the source is kept. */
  mask: Uint8Array;
  /** The clean source latents [B, T, C] (not silenced). */
  cleanSrc: Float32Array;
  /** Steps with index < round(ratio·N) re-inject the re-noised source outside the region. */
  injectionRatio: number;
  /** Latent ramp length of the boundary blend after sampling (0: no blend). */
  crossfadeFrames: number;
}

export type SamplerTraceEvent =
  | { type: 'decode'; step: number; phase: 'predictor' | 'corrector'; t: number; x: Float32Array; v: Float32Array }
  | { type: 'inject'; step: number; tNext: number; before: Float32Array; after: Float32Array }
  | { type: 'beforeBlend'; x: Float32Array };

export interface SamplerOptions {
  variant: SamplerVariant;
  /** Turbo: 1..8 (default 8). Base/SFT: default 30. */
  steps?: number;
  /** Turbo default 3, base/SFT default 1. */
  shift?: number;
  /** Custom schedule (turbo: snapped to the valid table values; base/SFT: used as given, with the final 0). */
  timesteps?: readonly number[];
  method?: 'ode' | 'sde';
  /** Heun (2nd order) instead of Euler; ODE only. */
  heun?: boolean;
  /** Base/SFT only; > 1 enables CFG (default 1: off). */
  guidanceScale?: number;
  guidance?: 'apg' | 'adg';
  cfgIntervalStart?: number;
  cfgIntervalEnd?: number;
  /** > 0: scale v down so that ||v|| <= threshold·||x|| per item (norms over T and C; default off). */
  velocityNormThreshold?: number;
  /** > 0: v ← (1 − f)·v + f·v_prev, v_prev being the previous step's velocity (default off). */
  velocityEmaFactor?: number;
  /** DCW correction after every step; off unless given. */
  dcw?: DcwOptions | null;
  /** Steps with index >= int(N·strength) use the non-cover condition (default 1). */
  audioCoverStrength?: number;
  /** > 0: start from t*·noise + (1−t*)·srcLatents at the schedule value nearest to 1 − strength. */
  coverNoiseStrength?: number;
  /** Raw source latents [B, T, C] for coverNoiseStrength. */
  srcLatents?: Float32Array;
  repaint?: RepaintSampling | null;
  /** SDE renoise noise for step i ([B, T, C]); required for method 'sde'. */
  sdeNoise?: (step: number) => Float32Array | Promise<Float32Array>;
  /** Called after each step with (steps done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Checked before every step. */
  signal?: AbortSignal;
  trace?: (e: SamplerTraceEvent) => void;
  /** Device of the tensors handed to the velocity function (default: the runtime default). */
  device?: Device;
}

export interface SampleResult {
  latents: Float32Array;
  shape: LatentShape;
  /** The time grid that was run (turbo: without the final 0). */
  schedule: number[];
  coverSteps: number;
}

interface Plan {
  /** Start times of the steps. */
  t: number[];
  /** Euler target of step i (turbo's last step: null, meaning x0 = x − v·t). */
  next: (number | null)[];
  /** SDE renoise time after step i. */
  sdeNext: number[];
  coverSteps: number;
  /** Non-null when the start point is t*·noise + (1−t*)·src. */
  tStar: number | null;
}

function plan(o: SamplerOptions): Plan {
  const strength = o.audioCoverStrength ?? 1;
  if (!(strength >= 0 && strength <= 1)) throw new SamplerConfigError('audioCoverStrength', `must be in [0, 1], got ${strength}`);
  const noiseStrength = o.coverNoiseStrength ?? 0;
  if (!(noiseStrength >= 0 && noiseStrength <= 1))
    throw new SamplerConfigError('coverNoiseStrength', `must be in [0, 1], got ${noiseStrength}`);
  if (o.variant === 'turbo') {
    let t = turboSchedule({ steps: o.steps, shift: o.shift, timesteps: o.timesteps });
    let tStar: number | null = null;
    if (noiseStrength > 0) {
      const tr = truncateForCoverNoise(t, noiseStrength);
      t = tr.schedule;
      tStar = tr.tStar;
    }
    const n = t.length;
    const next = t.map((_, i) => (i + 1 < n ? t[i + 1] : null));
    return { t, next, sdeNext: next.map((v) => v ?? 0), coverSteps: Math.floor(n * strength), tStar };
  }
  if (o.variant !== 'base' && o.variant !== 'sft')
    throw new SamplerConfigError('variant', `must be turbo, base or sft, got '${String(o.variant)}'`);
  let full = baseSchedule({ steps: o.steps, shift: o.shift, timesteps: o.timesteps });
  // Upstream quirk kept on purpose: the base file takes cover_steps from the steps argument before
  // custom timesteps override it; the SFT file takes it after.
  let coverSteps = Math.floor((o.variant === 'base' ? (o.steps ?? 30) : full.length - 1) * strength);
  let tStar: number | null = null;
  if (noiseStrength > 0) {
    const tr = truncateForCoverNoise(full, noiseStrength, full.length - 1);
    full = tr.schedule;
    tStar = tr.tStar;
    coverSteps = Math.floor((full.length - 1) * strength);
  }
  const n = full.length - 1;
  const t = full.slice(0, n);
  return { t, next: full.slice(1), sdeNext: t.map((_, i) => 1 - (i + 1) / n), coverSteps, tStar };
}

function checkLen(name: string, a: Float32Array | Uint8Array | undefined, n: number, dims: string): void {
  if (a && a.length !== n) throw new ShapeError(`sampler: ${name} has ${a.length} values, expected ${n} (${dims})`);
}

/** x − v·s, elementwise in float32. */
function axpy(x: Float32Array, v: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  const k = f32(s);
  for (let i = 0; i < x.length; i++) out[i] = f32(x[i] - f32(v[i] * k));
  return out;
}

/** t·n + (1 − t)·x. */
function renoise(x: Float32Array, t: number, n: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const a = f32(t),
    b = f32(1 - t);
  for (let i = 0; i < x.length; i++) out[i] = f32(f32(a * n[i]) + f32(b * x[i]));
  return out;
}

function twice(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 2);
  out.set(x, 0);
  out.set(x, x.length);
  return out;
}

/**
 * Runs the sampler from `noise` ([B, T, C]) and returns the final latents. The velocity function is
 * called once per step (twice with Heun), with the condition active at that step.
 */
export async function sample<C>(
  velocity: VelocityFn<C>,
  conditions: SamplerConditions<C>,
  noise: Float32Array,
  shape: LatentShape,
  opts: SamplerOptions,
): Promise<SampleResult> {
  const [B, T, Ch] = shape;
  if (![B, T, Ch].every((d) => Number.isInteger(d) && d > 0)) throw new ShapeError(`sampler: bad latent shape [${shape.join(', ')}]`);
  const n = B * T * Ch;
  checkLen('noise', noise, n, `[${B}, ${T}, ${Ch}]`);
  const p = plan(opts);
  const N = p.t.length;
  const scale = opts.guidanceScale ?? 1;
  if (!Number.isFinite(scale) || scale < 0) throw new SamplerConfigError('guidanceScale', `must be a number >= 0, got ${scale}`);
  if (opts.variant === 'turbo' && scale > 1) {
    throw new SamplerConfigError('guidanceScale', 'turbo models have guidance distilled in; use 1 (CFG is for base/sft)');
  }
  const cfg = scale > 1;
  const guidance = opts.guidance ?? 'apg';
  if (guidance !== 'apg' && guidance !== 'adg')
    throw new SamplerConfigError('guidance', `must be 'apg' or 'adg', got '${String(guidance)}'`);
  const method = opts.method ?? 'ode';
  if (method !== 'ode' && method !== 'sde') throw new SamplerConfigError('method', `must be 'ode' or 'sde', got '${String(method)}'`);
  const heun = (opts.heun ?? false) && method === 'ode';
  if (method === 'sde' && !opts.sdeNoise)
    throw new SamplerConfigError('sdeNoise', "method 'sde' needs a noise source for the renoise steps");
  if (p.coverSteps < N && conditions.nonCover === undefined) {
    throw new SamplerConfigError(
      'audioCoverStrength',
      `${opts.audioCoverStrength} switches condition at step ${p.coverSteps} but no nonCover condition was given`,
    );
  }
  if (p.tStar !== null && !opts.srcLatents)
    throw new SamplerConfigError('srcLatents', 'coverNoiseStrength > 0 needs the raw source latents');
  checkLen('srcLatents', opts.srcLatents, n, `[${B}, ${T}, ${Ch}]`);
  const rp = opts.repaint ?? null;
  if (rp) {
    checkLen('repaint.mask', rp.mask, B * T, `[${B}, ${T}]`);
    checkLen('repaint.cleanSrc', rp.cleanSrc, n, `[${B}, ${T}, ${Ch}]`);
    if (!(rp.injectionRatio >= 0 && rp.injectionRatio <= 1))
      throw new SamplerConfigError('repaint.injectionRatio', `must be in [0, 1], got ${rp.injectionRatio}`);
    if (!Number.isInteger(rp.crossfadeFrames) || rp.crossfadeFrames < 0) {
      throw new SamplerConfigError('repaint.crossfadeFrames', `must be an integer >= 0, got ${rp.crossfadeFrames}`);
    }
  }
  const lo = f32(opts.cfgIntervalStart ?? 0),
    hi = f32(opts.cfgIntervalEnd ?? 1);
  const inInterval = (t: number) => t >= lo && t <= hi;
  const momentum = new MomentumBuffer();
  const injectionCutoff = rp ? roundHalfEven(rp.injectionRatio * N) : 0;

  const seen = new Set<number>();
  const call = async (x: Float32Array, t: number, step: number, phase: 'predictor' | 'corrector', which: 0 | 1): Promise<Float32Array> => {
    const cond = (which === 1 ? conditions.nonCover : conditions.main) as C;
    const xin = cfg ? twice(x) : x;
    const rows = cfg ? 2 * B : B;
    const fresh = phase === 'corrector' || !seen.has(which);
    seen.add(which);
    using xt = Tensor.fromArray(xin, [rows, T, Ch], { device: opts.device });
    // Disposing twice is harmless when the velocity function hands back its input.
    using vt = await velocity(xt, t, cond, { step, phase, condition: which, freshCache: fresh });
    if (vt.shape.length !== 3 || vt.shape[0] !== rows || vt.shape[1] !== T || vt.shape[2] !== Ch) {
      throw new ShapeError(`sampler: velocity for step ${step} has shape [${vt.shape.join(', ')}], expected [${rows}, ${T}, ${Ch}]`);
    }
    const v = await vt.toFloat32();
    opts.trace?.({ type: 'decode', step, phase, t, x: xin.slice(), v });
    return v;
  };
  const split = (v: Float32Array) => [v.subarray(0, n), v.subarray(n)] as const;
  const clampThr = opts.velocityNormThreshold ?? 0;
  const ema = opts.velocityEmaFactor ?? 0;
  if (!(clampThr >= 0)) throw new SamplerConfigError('velocityNormThreshold', `must be >= 0, got ${clampThr}`);
  if (!(ema >= 0 && ema < 1)) throw new SamplerConfigError('velocityEmaFactor', `must be in [0, 1), got ${ema}`);
  // Upstream's optional velocity clamp: v·min(1, thr·||x||/(||v|| + 1e-10)) per item.
  const clampV = (v: Float32Array, x: Float32Array): Float32Array => {
    if (clampThr <= 0) return v;
    const out = new Float32Array(n);
    const per = T * Ch;
    for (let b = 0; b < B; b++) {
      let vv = 0,
        xx = 0;
      for (let i = b * per; i < (b + 1) * per; i++) {
        vv += v[i] * v[i];
        xx += x[i] * x[i];
      }
      const k = f32(Math.min((clampThr * (Math.sqrt(xx) + 1e-10)) / (Math.sqrt(vv) + 1e-10), 1));
      for (let i = b * per; i < (b + 1) * per; i++) out[i] = f32(v[i] * k);
    }
    return out;
  };
  const blend = (v: Float32Array, prev: Float32Array): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = f32(f32((1 - ema) * v[i]) + f32(ema * prev[i]));
    return out;
  };
  let prevV: Float32Array | null = null;

  let x = p.tStar !== null ? renoise(opts.srcLatents!, p.tStar, noise) : Float32Array.from(noise);
  for (let i = 0; i < N; i++) {
    throwIfAborted(opts.signal, () => `sampling aborted before step ${i + 1} of ${N}`);
    const t = p.t[i];
    const which: 0 | 1 = i >= p.coverSteps ? 1 : 0;
    const raw = await call(x, t, i, 'predictor', which);
    let v: Float32Array;
    if (cfg) {
      const [vc, vu] = split(raw);
      if (!inInterval(t)) v = vc.slice();
      else if (guidance === 'apg') v = apgCombine(vc, vu, shape, scale, { momentum });
      else v = adgCombine(x, vc, vu, shape, t, scale);
    } else v = raw;
    v = clampV(v, x);
    if (ema > 0 && prevV) v = blend(v, prevV);

    const tn = p.next[i];
    if (tn === null) {
      x = axpy(x, v, t);
      opts.onProgress?.(i + 1, N);
      break;
    }
    const denoised = opts.dcw ? axpy(x, v, t) : null;
    let tAfter = tn;
    if (method === 'sde') {
      tAfter = p.sdeNext[i];
      const nz = await opts.sdeNoise!(i);
      checkLen(`sdeNoise(${i})`, nz, n, `[${B}, ${T}, ${Ch}]`);
      x = renoise(denoised ?? axpy(x, v, t), tAfter, nz);
    } else if (heun) {
      const dt = f32(t - tn);
      const xp = axpy(x, v, dt);
      const raw2 = await call(xp, tn, i, 'corrector', which);
      let v2: Float32Array;
      if (cfg) {
        const [vc2, vu2] = split(raw2);
        if (!inInterval(tn)) v2 = vc2.slice();
        // The corrector never touches the APG momentum; ADG needs t > 0, so t = 0 falls back to CFG.
        else if (guidance === 'adg' && tn > 0) v2 = adgCombine(xp, vc2, vu2, shape, tn, scale);
        else v2 = cfgCombineHost(vc2, vu2, scale);
      } else v2 = raw2;
      v2 = clampV(v2, xp);
      if (ema > 0) v2 = blend(v2, v);
      const avg = new Float32Array(n);
      for (let k = 0; k < n; k++) avg[k] = f32(0.5 * f32(v[k] + v2[k]));
      x = axpy(x, avg, dt);
      v = avg;
    } else {
      x = axpy(x, v, f32(t - tn));
    }
    prevV = v;
    if (opts.dcw && denoised) applyDcw(x, denoised, shape, t, opts.dcw);
    if (rp && i < injectionCutoff) {
      const before = opts.trace ? x.slice() : x;
      repaintInject(x, rp.cleanSrc, noise, rp.mask, shape, tAfter);
      opts.trace?.({ type: 'inject', step: i, tNext: tAfter, before, after: x.slice() });
    }
    opts.onProgress?.(i + 1, N);
  }
  if (rp && rp.crossfadeFrames > 0) {
    opts.trace?.({ type: 'beforeBlend', x: x.slice() });
    x = repaintBoundaryBlend(x, rp.cleanSrc, rp.mask, shape, rp.crossfadeFrames);
  }
  return { latents: x, shape, schedule: [...p.t, ...(p.next[N - 1] === null ? [] : [p.next[N - 1] as number])], coverSteps: p.coverSteps };
}
