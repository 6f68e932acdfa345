// Task assembly, on host arrays only (no models, no tensors): the per-item plan of a generation
// (task, instruction, caption, lyrics, metadata, audio codes, seed), the task relabelling and
// instructions, the latent length T of the batch, and the DiT's source inputs — the clean latents
// (source audio, code hints or silence, right-padded with silence), the repaint source with its
// region silenced, the chunk mask and the sampler's repaint mask. generateMusic and the golden
// sampler cases both build their inputs through these functions.
import type { GenerationParams } from './params.js';
import { ditInstruction, type TaskType } from './conditioning/prompts.js';
import { repaintChunkMask, silenceRegion } from './diffusion/repaint.js';
import { DEFAULT_MAX_DURATION } from './lm/music-vocabulary.js';

/** Minimum latent length of a generation (UPSTREAM.md: Task assembly: 128 frames, 5.12 s at 25 Hz). */
export const MIN_LATENT_FRAMES = 128;
/** Duration used when neither the user nor the LM gave one (UPSTREAM.md: Task assembly). */
export const FALLBACK_DURATION = 120;
/** Longest output of a generation in seconds (upstream's duration limit): longer sources and code strings are cut to it. */
export const MAX_OUTPUT_SECONDS = DEFAULT_MAX_DURATION;

export interface ItemMetas {
  bpm: number | string | null;
  timesignature: string | null;
  keyscale: string | null;
  duration: number | null;
}

/** What one batch item generates; the LM plan fills in what the user left open. */
export interface ItemPlan {
  task: TaskType;
  instruction: string;
  caption: string;
  lyrics: string;
  language: string;
  metas: ItemMetas;
  audioCodes: string;
  seed: number;
}

/** The silence latent on the host: [frames, C]. */
export interface SilenceLatent {
  data: Float32Array;
  frames: number;
  C: number;
}

/** A repaint / lego region in seconds of the (padded) source. */
export interface RepaintRegion {
  startS: number;
  endS: number;
}

/** The lyrics the DiT and LM read: '[Instrumental]' when instrumental or empty. */
export function effectiveLyrics(p: GenerationParams): string {
  return p.instrumental || p.lyrics.trim() === '' ? '[Instrumental]' : p.lyrics;
}

/** One item per seed, with the user's parameters. */
export function initialItems(p: GenerationParams, seeds: number[]): ItemPlan[] {
  const lyrics = effectiveLyrics(p);
  return seeds.map((seed) => ({
    task: p.taskType,
    instruction: p.instruction,
    caption: p.caption,
    lyrics,
    language: p.vocalLanguage,
    // As upstream's DiT metadata: bpm 0 and blank strings are N/A, other strings verbatim.
    metas: {
      bpm: p.bpm || null,
      timesignature: p.timesignature.trim() && p.timesignature !== 'N/A' ? p.timesignature : null,
      keyscale: p.keyscale.trim() ? p.keyscale : null,
      duration: p.duration > 0 ? p.duration : null,
    },
    audioCodes: p.audioCodes,
    seed,
  }));
}

/**
 * Relabels text2music with audio codes as cover (UPSTREAM.md: Task assembly) and gives each item the
 * instruction of its task (a user instruction is kept unless the task changed). Returns the batch's
 * effective task.
 */
export function relabelTasks(items: ItemPlan[], p: GenerationParams): TaskType {
  for (const it of items) {
    if (it.task === 'text2music' && it.audioCodes) it.task = 'cover';
    const tracks = p.taskType === 'complete' ? p.completeTrackClasses : p.trackName ? [p.trackName] : [];
    if (!it.instruction || it.task !== p.taskType) it.instruction = ditInstruction(it.task, tracks);
  }
  return items[0].task;
}

/** Python round(x, 1) for the durations this sees (non-negative, one decimal). */
function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export interface LatentLength {
  /** Latent frames of the batch: the longest item, at least MIN_LATENT_FRAMES, at most MAX_OUTPUT_SECONDS. */
  T: number;
  /** Latent frames each item asks for (codes x pool window, the source, or its duration). */
  itemFrames: number[];
}

/**
 * The batch's latent length (UPSTREAM.md: Task assembly). `sourceFrames` is null without source audio. Each
 * item is capped at MAX_OUTPUT_SECONDS: codes beyond it (an LM that wrote no duration) are dropped.
 */
export function latentLength(
  items: ItemPlan[],
  sourceFrames: number | null,
  poolWindow: number,
  sampleRate: number,
  hop: number,
): LatentLength {
  const maxFrames = Math.floor((MAX_OUTPUT_SECONDS * sampleRate) / hop);
  const itemFrames = items
    .map((it) => {
      if (it.audioCodes) return poolWindow * (it.audioCodes.match(/<\|audio_code_\d+\|>/g)?.length ?? 0);
      if (sourceFrames !== null) return sourceFrames;
      const d = it.metas.duration ?? FALLBACK_DURATION;
      return Math.floor(Math.trunc(round1(Math.max(0.1, d)) * sampleRate) / hop);
    })
    .map((f) => Math.min(f, maxFrames));
  return { T: Math.max(MIN_LATENT_FRAMES, ...itemFrames), itemFrames };
}

/** Items without a duration get the source's, or the first item's latent length, in seconds. */
export function fillDurations(items: ItemPlan[], len: LatentLength, sourceFrames: number | null, frameRate: number): void {
  for (const it of items) {
    if (it.metas.duration === null)
      it.metas.duration = sourceFrames !== null ? sourceFrames / frameRate : (len.itemFrames[0] || len.T) / frameRate;
  }
}

export interface TaskLayout {
  /** The task after relabelling (text2music with codes runs as cover). */
  effectiveTask: TaskType;
  /** Latent frames of the batch. */
  T: number;
}

/**
 * The task's layout: relabels the items, fixes the batch's latent length and fills in missing
 * durations. `sourceFrames` is null without source audio.
 */
export function layoutTask(
  items: ItemPlan[],
  p: GenerationParams,
  sourceFrames: number | null,
  dims: { poolWindow: number; sampleRate: number; hop: number; frameRate: number },
): TaskLayout {
  const effectiveTask = relabelTasks(items, p);
  const len = latentLength(items, sourceFrames, dims.poolWindow, dims.sampleRate, dims.hop);
  fillDurations(items, len, sourceFrames, dims.frameRate);
  return { effectiveTask, T: len.T };
}

/** Latent frames [n, C] of the silence latent starting at frame `start`, tiled past its end. */
export function silenceFrames(sil: SilenceLatent, start: number, n: number): Float32Array {
  const { data, frames, C } = sil;
  const out = new Float32Array(n * C);
  for (let f = 0; f < n; f++) out.set(data.subarray(((start + f) % frames) * C, (((start + f) % frames) + 1) * C), f * C);
  return out;
}

/** [B, T, C] silence: every row the silence latent's first T frames, tiled past its end. */
export function silenceBatch(sil: SilenceLatent, B: number, T: number): Float32Array {
  const { data, frames, C } = sil;
  return new Float32Array(B * T * C).map((_, i) => data[((Math.floor(i / C) % T) % frames) * C + (i % C)]);
}

/** One item's latents [len, C] (len may differ from T). */
export interface LatentRow {
  latents: Float32Array;
  frames: number;
}

/**
 * The clean latents [B, T, C]: each row its latents cut to T, shorter rows right-padded with the
 * silence latent's frames from where they end (UPSTREAM.md: Task assembly).
 */
export function cleanLatents(rows: LatentRow[], T: number, sil: SilenceLatent): Float32Array {
  const C = sil.C;
  const clean = new Float32Array(rows.length * T * C);
  rows.forEach(({ latents, frames }, b) => {
    clean.set(latents.subarray(0, Math.min(frames, T) * C), b * T * C);
    if (frames < T) clean.set(silenceFrames(sil, frames, T - frames), (b * T + frames) * C);
  });
  return clean;
}

/** Repaint region [start, end) in latent frames of a T-frame batch (at least one frame). */
export function regionFrames(region: RepaintRegion, T: number, sampleRate: number, hop: number): [number, number] {
  const s = Math.floor((region.startS * sampleRate) / hop);
  const e = Math.min(T, Math.max(Math.floor((region.endS * sampleRate) / hop), s + 1));
  return [s, e];
}

export interface TaskLatents {
  /** [B, T, C] the DiT's source latents. */
  src: Float32Array;
  /** [T] the chunk mask of every row. */
  chunkRow: Uint8Array;
  /** [B, T, C] the chunk mask expanded over the channels. */
  chunkMask: Float32Array;
  /** [B * T] 1 inside the repaint region: the sampler's injection mask (repaint only). */
  repaintMask: Uint8Array | null;
}

/**
 * The DiT's source inputs from the clean latents. With a region, the chunk mask follows
 * `chunkMaskMode`; `silenceSource` (the repaint task) also replaces the region by the silence
 * latent in the source and returns the sampler's repaint mask (UPSTREAM.md: Repaint).
 */
export function taskLatents(
  clean: Float32Array,
  shape: readonly [number, number, number],
  sil: SilenceLatent,
  region: [number, number] | null,
  chunkMaskMode: 'auto' | 'explicit',
  silenceSource: boolean,
): TaskLatents {
  const [B, T, C] = shape;
  let src: Float32Array = Float32Array.from(clean);
  const chunkRow = new Uint8Array(T).fill(1);
  let repaintMask: Uint8Array | null = null;
  if (region) {
    const [s, e] = region;
    chunkRow.set(repaintChunkMask(T, s, e, chunkMaskMode));
    if (silenceSource) {
      src = silenceRegion(clean, silenceFrames(sil, 0, T), T, shape, s, e);
      repaintMask = new Uint8Array(B * T);
      for (let b = 0; b < B; b++) repaintMask.fill(1, b * T + s, b * T + e);
    }
  }
  const chunkMask = new Float32Array(B * T * C);
  for (let f = 0; f < B * T; f++) chunkMask.fill(chunkRow[f % T], f * C, (f + 1) * C);
  return { src, chunkRow, chunkMask, repaintMask };
}
