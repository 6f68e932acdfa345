// Repaint bookkeeping (UPSTREAM.md: Repaint): the region in latent frames, the
// repaint mode → (injection ratio, latent crossfade frames, waveform crossfade seconds) mapping,
// the per-step injection of the re-noised clean source outside the region, the latent boundary
// blend after sampling and the waveform splice after decoding.
import { SamplerConfigError } from './sampler-errors.js';

const f32 = Math.fround;

export type RepaintMode = 'aggressive' | 'conservative' | 'balanced';

export interface RepaintConfig {
  injectionRatio: number;
  crossfadeFrames: number;
  wavCrossfadeSeconds: number;
}

/** Python's round(): halves go to the even neighbour (round(12.5) = 12). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `_resolve_repaint_config`: balanced s gives (1−s, round(25(1−s)), 0.05(1−s)). */
export function resolveRepaintConfig(mode: RepaintMode = 'balanced', strength = 0.5): RepaintConfig {
  if (mode === 'aggressive') return { injectionRatio: 0, crossfadeFrames: 0, wavCrossfadeSeconds: 0 };
  if (mode === 'conservative') return { injectionRatio: 1, crossfadeFrames: 25, wavCrossfadeSeconds: 0.05 };
  if (mode !== 'balanced')
    throw new SamplerConfigError('repaintMode', `must be aggressive, conservative or balanced, got '${String(mode)}'`);
  if (!(strength >= 0 && strength <= 1)) throw new SamplerConfigError('repaintStrength', `must be in [0, 1], got ${strength}`);
  const k = 1 - strength;
  return { injectionRatio: k, crossfadeFrames: roundHalfEven(25 * k), wavCrossfadeSeconds: 0.05 * k };
}

/**
 * Region [start, end) in latent frames for seconds on the source timeline:
 * int(s·sampleRate // hop), with end ≥ start + 1.
 */
export function repaintRegionFrames(startS: number, endS: number, sampleRate = 48000, hop = 1920): [number, number] {
  if (!Number.isFinite(startS) || startS < 0) throw new SamplerConfigError('repaintingStart', `must be >= 0 seconds here, got ${startS}`);
  if (!Number.isFinite(endS) || endS <= startS)
    throw new SamplerConfigError('repaintingEnd', `must be after the start (${startS} s), got ${endS}`);
  const s = Math.floor((startS * sampleRate) / hop);
  const e = Math.max(Math.floor((endS * sampleRate) / hop), s + 1);
  return [s, e];
}

/**
 * The soft mask of one row: the hard mask values, plus linear ramps over up to `cf` positions on
 * each side of the span [first one, last one]. A ramp cut by the row's edge is recomputed over the
 * positions left (linspace(0, 1, n + 2)[1:-1]), as upstream does. Rows that are all ones or all
 * zeros get no ramps.
 */
export function softMaskRow(hard: ArrayLike<number>, cf: number): Float32Array {
  const n = hard.length;
  const m = Float32Array.from(hard, (v) => (v ? 1 : 0));
  let left = -1,
    right = -1;
  for (let i = 0; i < n; i++) {
    if (m[i]) {
      if (left < 0) left = i;
      right = i + 1;
    }
  }
  if (left < 0 || cf <= 0 || m.every((v) => v === 1)) return m;
  const fs = Math.max(left - cf, 0);
  const nl = left - fs;
  for (let j = 0; j < nl; j++) m[fs + j] = f32((j + 1) / (nl + 1));
  const fe = Math.min(right + cf, n);
  const nr = fe - right;
  for (let j = 0; j < nr; j++) m[right + j] = f32(1 - (j + 1) / (nr + 1));
  return m;
}

/** The soft mask of a single region [start, end) in a row of `length` positions. */
export function softRegionMask(length: number, start: number, end: number, cf: number): Float32Array {
  const hard = new Uint8Array(length);
  hard.fill(1, Math.max(0, start), Math.min(length, end));
  return softMaskRow(hard, cf);
}

/**
 * In place: outside the region (mask 0) x becomes t·noise + (1 − t)·clean, i.e. the clean source
 * re-noised to the time the sampler just reached. mask is [B, T], the arrays [B, T, C].
 */
export function repaintInject(
  x: Float32Array,
  clean: Float32Array,
  noise: Float32Array,
  mask: Uint8Array,
  shape: readonly [number, number, number],
  t: number,
): void {
  const [B, T, C] = shape;
  const a = f32(t),
    b = f32(1 - t);
  for (let f = 0; f < B * T; f++) {
    if (mask[f]) continue;
    for (let c = f * C; c < (f + 1) * C; c++) x[c] = f32(f32(a * noise[c]) + f32(b * clean[c]));
  }
}

/** x·m + clean·(1 − m) with each item's soft mask (an item without a region becomes clean). */
export function repaintBoundaryBlend(
  x: Float32Array,
  clean: Float32Array,
  mask: Uint8Array,
  shape: readonly [number, number, number],
  crossfadeFrames: number,
): Float32Array {
  const [B, T, C] = shape;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    const m = softMaskRow(mask.subarray(b * T, (b + 1) * T), crossfadeFrames);
    for (let t = 0; t < T; t++) {
      const w = m[t];
      for (let c = (b * T + t) * C; c < (b * T + t + 1) * C; c++) out[c] = f32(f32(w * x[c]) + f32(f32(1 - w) * clean[c]));
    }
  }
  return out;
}

/**
 * Waveform splice for one item ([channels, samples] each): over the first min(len) samples
 * out = m·pred + (1 − m)·src with the soft mask of [int(startS·sr), int(endS·sr)) and
 * int(crossfadeS·sr) ramp samples; pred samples past the source are kept as they are.
 */
export function repaintWaveformSplice(
  pred: Float32Array,
  predSamples: number,
  src: Float32Array,
  srcSamples: number,
  channels: number,
  sampleRate: number,
  startS: number,
  endS: number,
  crossfadeS: number,
): Float32Array {
  if (pred.length !== channels * predSamples)
    throw new SamplerConfigError('pred', `has ${pred.length} values, expected ${channels}×${predSamples}`);
  if (src.length !== channels * srcSamples)
    throw new SamplerConfigError('src', `has ${src.length} values, expected ${channels}×${srcSamples}`);
  const n = Math.min(predSamples, srcSamples);
  const m = softRegionMask(n, Math.floor(startS * sampleRate), Math.floor(endS * sampleRate), Math.floor(crossfadeS * sampleRate));
  const out = Float32Array.from(pred);
  for (let ch = 0; ch < channels; ch++) {
    for (let i = 0; i < n; i++) {
      const p = pred[ch * predSamples + i],
        s = src[ch * srcSamples + i];
      out[ch * predSamples + i] = f32(f32(m[i] * p) + f32(f32(1 - m[i]) * s));
    }
  }
  return out;
}

/**
 * The repaint source (UPSTREAM.md: Task assembly, Repaint): the clean latents with frames [start,
 * end) replaced by the silence latent's frames at the same positions. silence is [Ts, C] with Ts ≥
 * end.
 */
export function silenceRegion(
  clean: Float32Array,
  silence: Float32Array,
  silenceFrames: number,
  shape: readonly [number, number, number],
  start: number,
  end: number,
): Float32Array {
  const [B, T, C] = shape;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= T)) {
    throw new SamplerConfigError('repaint region', `[${start}, ${end}) is not a frame range inside [0, ${T})`);
  }
  if (end > silenceFrames) throw new SamplerConfigError('silenceLatent', `has ${silenceFrames} frames, the region ends at ${end}`);
  const out = Float32Array.from(clean);
  for (let b = 0; b < B; b++) out.set(silence.subarray(start * C, end * C), (b * T + start) * C);
  return out;
}

/**
 * Chunk mask [T] of a repaint item: 'explicit' is 1 inside [start, end) and 0 outside; 'auto'
 * (upstream's default) ends up all ones, because upstream writes 2.0 into a boolean mask.
 */
export function repaintChunkMask(T: number, start: number, end: number, mode: 'auto' | 'explicit' = 'auto'): Uint8Array {
  if (mode !== 'auto' && mode !== 'explicit')
    throw new SamplerConfigError('chunkMaskMode', `must be 'auto' or 'explicit', got '${String(mode)}'`);
  const m = new Uint8Array(T);
  if (mode === 'auto') m.fill(1);
  else m.fill(1, Math.max(0, start), Math.min(T, end));
  return m;
}
