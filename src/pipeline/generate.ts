// generateMusic: the whole library pipeline (spec 12.6, 13.6, 14, 15, 17). Parameters are
// validated first (a ParamError is thrown before any model runs); everything after that is
// reported in the result instead: success=false with the error message, like upstream's
// GenerationResult. Stages: source/reference audio -> VAE latents, the LM plan (text2music with
// thinking), task assembly (src latents, chunk masks, cover flags, instructions), text
// conditioning, DiT sampling, VAE tiled decode, peak limit, normalisation, fades, saving.
import { freemem } from 'node:os';
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AcestepError } from '../runtime/errors.js';
import { concat, flush, pad, tidy, Tensor } from '../runtime/index.js';
import { loadAudio, saveAudio, extensionOf, limitPeak, normalizePeak, applyFades, keyFromParams, type Pcm } from '../io/audio/index.js';
import type { AceStep } from './engine.js';
import { resolveConfig, resolveParams, planSeeds, type GenerationConfig, type GenerationParams } from './params.js';
import { planWithLm, type UserMetas } from './lm/planner.js';
import { type LmMetadata } from './lm/output.js';
import { ditCaptionPrompt, ditInstruction, ditLyricsPrompt, formatMetas, DEFAULT_DIT_INSTRUCTION, type TaskType } from './conditioning/prompts.js';
import { captionIds, lyricIds, nonCoverCaptionIds } from './conditioning/text-conditioning.js';
import { ditVelocity, prepareDiTCondition, withNullCondition, type DiTStepCondition } from './diffusion/dit-sampling.js';
import { sample, type SamplerOptions } from './diffusion/sampler.js';
import { initialNoise, retakeNoise, sdeNoiseFromSeed } from './diffusion/noise.js';
import { repaintChunkMask, repaintWaveformSplice, resolveRepaintConfig, silenceRegion } from './diffusion/repaint.js';
import { TURBO_MAX_STEPS } from './diffusion/schedules.js';
import { paramsRecord, FLOAT_PARAM_KEYS } from './results.js';
import { sampleAudioLatents } from './conditioning/audio-latents.js';

/** Minimum latent length of a generation (spec 14.2: 128 frames, 5.12 s at 25 Hz). */
export const MIN_LATENT_FRAMES = 128;
/** Duration used when neither the user nor the LM gave one (spec 14.1). */
export const FALLBACK_DURATION = 120;
/** Reference audio is tiled/cut to this many seconds before encoding (spec 6.1). */
export const REFERENCE_SECONDS = 30;

export type ProgressEvent =
  | { stage: 'encode'; what: 'source' | 'reference' }
  | { stage: 'lm'; item: number; phase: 1 | 2; step: number }
  | { stage: 'dit'; step: number; total: number }
  | { stage: 'vae'; tile: number; total: number }
  | { stage: 'save'; item: number; total: number };

export interface RunOptions {
  /** Folder for the audio files (created if missing); null/absent = keep the audio in memory only. */
  saveDir?: string | null;
  onProgress?: (e: ProgressEvent) => void;
  /** Checked between stages, LM tokens and DiT steps (a running VAE decode finishes first). */
  signal?: AbortSignal;
}

export interface GeneratedAudio {
  /** The saved file, or null when no saveDir was given. */
  path: string | null;
  /** sha256-derived id of the item's parameters (upstream generate_uuid_from_params). */
  key: string;
  sampleRate: number;
  /** Post-processed audio, one Float32Array per channel. */
  channels: Float32Array[];
  /** The item's parameters (snake_case, as saved upstream) with seed and audio_codes. */
  params: Record<string, unknown>;
}

export interface GenerationResult {
  success: boolean;
  error: string | null;
  /** Error code of a typed error (e.g. ERR_ABORTED), null on success. */
  errorCode: string | null;
  statusMessage: string;
  audios: GeneratedAudio[];
  extraOutputs: {
    lmMetadata: (LmMetadata | UserMetas)[] | null;
    /** Seconds per stage: lm_phase1_time, lm_phase2_time, lm_total_time, dit_encoder_time, dit_diffusion_time, vae_decode_time, save_time, pipeline_total_time. */
    timeCosts: Record<string, number>;
    seeds: number[];
    /** Latent frames T of the batch (audio length = T * hop samples). */
    latentFrames: number;
    /** The task after upstream's relabelling (text2music with LM codes runs as cover). */
    effectiveTask: TaskType;
  };
}

/** The AbortSignal fired between pipeline stages. */
export class PipelineAbortedError extends AcestepError {
  constructor(stage: string) {
    super(`generation aborted before ${stage}`, 'ERR_ABORTED');
  }
}

function checkAbort(signal: AbortSignal | undefined, stage: string): void {
  if (signal?.aborted) throw new PipelineAbortedError(stage);
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** Python round(x, 1) for the durations this sees (non-negative, one decimal). */
function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Latent frames [n, C] of the silence latent starting at frame `start`, tiled past its end. */
function silenceFrames(sil: Float32Array, silFrames: number, C: number, start: number, n: number): Float32Array {
  const out = new Float32Array(n * C);
  for (let f = 0; f < n; f++) out.set(sil.subarray(((start + f) % silFrames) * C, ((start + f) % silFrames + 1) * C), f * C);
  return out;
}

interface EncodedAudio {
  pcm: Pcm;
  /** [frames, C] sampled from the posterior. */
  latents: Float32Array;
  frames: number;
}

/** VAE tiled encode of [2, N] audio, sampling the posterior with seeded noise (spec 11.7). */
async function encodeAudio(engine: AceStep, pcm: Pcm, seed: number): Promise<EncodedAudio> {
  const z = sampleAudioLatents(engine, pcm, seed);
  try {
    return { pcm, latents: await z.toFloat32(), frames: z.shape[1] };
  } finally {
    z.dispose();
  }
}

/** Stereo PCM with `before`/`after` seconds of silence added (repaint outpainting). */
function padPcm(pcm: Pcm, before: number, after: number): Pcm {
  const b = Math.round(before * pcm.sampleRate), a = Math.round(after * pcm.sampleRate);
  if (b === 0 && a === 0) return pcm;
  return {
    sampleRate: pcm.sampleRate,
    channels: pcm.channels.map((c) => {
      const o = new Float32Array(b + c.length + a);
      o.set(c, b);
      return o;
    }),
  };
}

/** 30 s of reference audio: tiled when shorter, else the first 10 s of each third (spec 6.1). */
function referenceWindow(pcm: Pcm): Pcm {
  const want = REFERENCE_SECONDS * pcm.sampleRate;
  const n = pcm.channels[0].length;
  return {
    sampleRate: pcm.sampleRate,
    channels: pcm.channels.map((c) => {
      const o = new Float32Array(want);
      if (n < want) {
        for (let i = 0; i < want; i++) o[i] = c[i % n];
      } else {
        // Upstream draws the three segment offsets at random; the segment starts here are fixed
        // (start of each third) so a generation is reproducible from its seed.
        const seg = want / 3, third = Math.floor(n / 3);
        for (let k = 0; k < 3; k++) o.set(c.subarray(k * third, k * third + seg), k * seg);
      }
      return o;
    }),
  };
}

interface ItemPlan {
  task: TaskType;
  instruction: string;
  caption: string;
  lyrics: string;
  language: string;
  metas: { bpm: number | string | null; timesignature: string | null; keyscale: string | null; duration: number | null };
  audioCodes: string;
  seed: number;
}

function userMetas(p: GenerationParams): UserMetas {
  const m: UserMetas = {};
  if (p.bpm !== null) m.bpm = String(p.bpm);
  if (p.keyscale) m.keyscale = p.keyscale;
  if (p.timesignature) m.timesignature = p.timesignature;
  if (p.duration > 0) m.duration = String(Math.trunc(p.duration));
  if (p.vocalLanguage !== 'unknown') m.language = p.vocalLanguage;
  return m;
}

/**
 * Runs one generation. Throws ParamError for invalid parameters (before any work); every later
 * failure (bad audio file, numeric failure, abort) comes back as success=false.
 */
/**
 * VAE decode budget on the CPU: half the free memory (2-16 GiB). Every extra window re-decodes
 * 2x64 frames of overlap, so a whole 30 s song (750 frames, ~4.4 GiB of activations) should fit
 * in one window wherever the memory allows.
 */
function cpuDecodeBudget(): number {
  const GiB = 1024 ** 3;
  return Math.min(16 * GiB, Math.max(2 * GiB, freemem() / 2));
}

export async function generateMusic(
  engine: AceStep,
  params: Partial<GenerationParams> | Record<string, unknown> = {},
  config: Partial<GenerationConfig> | Record<string, unknown> = {},
  opts: RunOptions = {},
): Promise<GenerationResult> {
  const p = resolveParams(params);
  const c = resolveConfig(config);
  engine.checkAlive();
  const seeds = planSeeds(p, c, () => randomInt(0, 2 ** 32 - 1));
  const timeCosts: Record<string, number> = {};
  const extra: GenerationResult['extraOutputs'] = { lmMetadata: null, timeCosts, seeds, latentFrames: 0, effectiveTask: p.taskType };
  const t0 = performance.now();
  try {
    const audios = await run(engine, p, c, seeds, extra, opts);
    timeCosts.pipeline_total_time = seconds(t0);
    return { success: true, error: null, errorCode: null, statusMessage: `generated ${audios.length} audio(s)`, audios, extraOutputs: extra };
  } catch (e) {
    timeCosts.pipeline_total_time = seconds(t0);
    const err = e as Error & { code?: string };
    return { success: false, error: err.message ?? String(e), errorCode: typeof err.code === 'string' ? err.code : null, statusMessage: `generation failed: ${err.message}`, audios: [], extraOutputs: extra };
  }
}

async function run(
  engine: AceStep,
  p: GenerationParams,
  c: GenerationConfig,
  seeds: number[],
  extra: GenerationResult['extraOutputs'],
  opts: RunOptions,
): Promise<GeneratedAudio[]> {
  const { signal, onProgress } = opts;
  const B = c.batchSize;
  const C = engine.ditConfig.audioAcousticHiddenDim;
  const sr = engine.sampleRate, hop = engine.hop, fps = engine.frameRate;
  const dev = engine.device;
  const tc = extra.timeCosts;
  const silHost = await engine.silenceLatent.toFloat32();
  const silFrames = engine.silenceLatent.shape[1];

  // --- source audio (spec 15.3) and repaint padding (15.4)
  let source: EncodedAudio | null = null;
  let repaintRegion: { startS: number; endS: number } | null = null;
  const usesSource = p.taskType !== 'text2music' && !(p.taskType === 'cover' && p.audioCodes && !p.srcAudio);
  const tEnc = performance.now();
  if (usesSource) {
    checkAbort(signal, 'source encoding');
    onProgress?.({ stage: 'encode', what: 'source' });
    let pcm = await loadAudio(p.srcAudio!, { sampleRate: sr });
    if (p.taskType === 'repaint' || p.taskType === 'lego') {
      const srcSeconds = pcm.channels[0].length / sr;
      const hasRange = p.taskType === 'repaint' || p.repaintingStart !== 0 || p.repaintingEnd >= 0;
      if (hasRange) {
        const end = p.repaintingEnd < 0 ? srcSeconds : p.repaintingEnd;
        const left = p.repaintingStart < 0 ? -p.repaintingStart : 0;
        const right = p.taskType === 'repaint' && end > srcSeconds ? end - srcSeconds : 0;
        if (p.taskType === 'repaint') pcm = padPcm(pcm, left, right);
        repaintRegion = { startS: p.repaintingStart + left, endS: Math.min(end + left, pcm.channels[0].length / sr) };
      }
    }
    source = await encodeAudio(engine, pcm, seeds[0]);
  }
  let reference: EncodedAudio | null = null;
  if (p.referenceAudio) {
    checkAbort(signal, 'reference encoding');
    onProgress?.({ stage: 'encode', what: 'reference' });
    reference = await encodeAudio(engine, referenceWindow(await loadAudio(p.referenceAudio, { sampleRate: sr })), seeds[0]);
  }
  tc.vae_encode_time = seconds(tEnc);

  // --- LM plan (text2music with thinking; spec 12.6, 15.2)
  const lyrics = p.instrumental || p.lyrics.trim() === '' ? '[Instrumental]' : p.lyrics;
  const items: ItemPlan[] = seeds.map((seed) => ({
    task: p.taskType,
    instruction: p.instruction,
    caption: p.caption,
    lyrics,
    language: p.vocalLanguage,
    metas: { bpm: p.bpm, timesignature: p.timesignature || null, keyscale: p.keyscale || null, duration: p.duration > 0 ? p.duration : null },
    audioCodes: p.audioCodes,
    seed,
  }));
  const runLm = p.taskType === 'text2music' && p.thinking && !p.audioCodes && engine.hasLm;
  if (runLm) {
    const lm = engine.getLm();
    const tLm = performance.now();
    checkAbort(signal, 'LM planning');
    // Phase 1 runs once for the batch; Phase 2 runs per item with its own seed, or several items
    // per CFG batch with allowLmBatch (spec 12.6).
    let phase1End = tLm;
    let sawPhase2 = false;
    const plan = await planWithLm(lm, {
      caption: p.caption,
      lyrics,
      userMetadata: userMetas(p),
      targetDuration: p.duration > 0 ? p.duration : null,
      temperature: p.lmTemperature,
      cfgScale: p.lmCfgScale,
      negativePrompt: p.lmNegativePrompt,
      topK: p.lmTopK,
      topP: p.lmTopP,
      repetitionPenalty: p.lmRepetitionPenalty,
      seeds: items.map((it) => it.seed),
      batchChunkSize: c.allowLmBatch ? c.lmBatchChunkSize : 1,
      useConstrainedDecoding: p.useConstrainedDecoding,
      useCotMetas: p.useCotMetas,
      useCotCaption: p.useCotCaption,
      useCotLanguage: p.useCotLanguage,
      maxModelLen: engine.lmMaxModelLen,
      signal,
      onToken: (phase, _t, step) => {
        // Phase 1 ends with its last token (the planner reads every token on the host).
        if (phase === 1) phase1End = performance.now();
        else sawPhase2 = true;
        onProgress?.({ stage: 'lm', item: 0, phase, step });
      },
    });
    const m = plan.metadata as LmMetadata;
    const metas: (LmMetadata | UserMetas)[] = items.map(() => plan.metadata);
    for (let i = 0; i < B; i++) {
      const it = items[i];
      it.audioCodes = plan.items[i].audioCodes;
      const bpm = Number(m.bpm);
      if (p.bpm === null && Number.isFinite(bpm)) it.metas.bpm = bpm;
      if (!p.keyscale && m.keyscale) it.metas.keyscale = String(m.keyscale);
      if (!p.timesignature && m.timesignature) it.metas.timesignature = String(m.timesignature);
      const dur = Number(m.duration);
      if (p.duration <= 0 && Number.isFinite(dur) && dur > 0) it.metas.duration = dur;
      if (p.useCotCaption && m.caption) it.caption = String(m.caption);
      if (p.vocalLanguage === 'unknown' && p.useCotLanguage && m.language) it.language = String(m.language);
    }
    const phase1 = plan.phase1 && sawPhase2 ? (phase1End - tLm) / 1000 : 0;
    extra.lmMetadata = metas;
    tc.lm_phase1_time = phase1;
    tc.lm_total_time = seconds(tLm);
    tc.lm_phase2_time = tc.lm_total_time - phase1;
  }

  // --- task assembly (spec 14, 15)
  for (const it of items) {
    // text2music with LM codes runs as cover with the cover instruction (spec 14.5).
    if (it.task === 'text2music' && it.audioCodes) it.task = 'cover';
    const tracks = p.taskType === 'complete' ? p.completeTrackClasses : p.trackName ? [p.trackName] : [];
    if (!it.instruction || it.task !== p.taskType) it.instruction = ditInstruction(it.task, tracks);
  }
  extra.effectiveTask = items[0].task;
  const window = engine.ditConfig.poolWindowSize;
  const itemFrames = items.map((it) => {
    if (it.audioCodes) return window * (it.audioCodes.match(/<\|audio_code_\d+\|>/g)?.length ?? 0);
    if (source) return source.frames;
    const d = it.metas.duration ?? FALLBACK_DURATION;
    return Math.floor(Math.trunc(round1(Math.max(0.1, d)) * sr) / hop);
  });
  const T = Math.max(MIN_LATENT_FRAMES, ...itemFrames);
  extra.latentFrames = T;
  for (const it of items) if (it.metas.duration === null) it.metas.duration = source ? source.frames / fps : (itemFrames[0] || T) / fps;

  const src = new Float32Array(B * T * C);
  const clean = new Float32Array(B * T * C);
  const isCovers = items.map((it) => (it.task === 'cover' ? 1 : 0));
  let hints: Tensor | null = null;
  const hintRows: Tensor[] = [];
  // Codes shorter than T are padded with the first silence frames (upstream appends those).
  const silenceT = items.some((it) => it.audioCodes) ? Tensor.fromArray(silenceFrames(silHost, silFrames, C, 0, T), [1, T, C], { device: dev }) : null;
  for (let b = 0; b < B; b++) {
    const it = items[b];
    let lat: Float32Array;
    let len: number;
    if (it.audioCodes) {
      const h = engine.audioTokenizer.hintsFromCodeString(it.audioCodes, { targetFrames: T, silenceLatent: silenceT! });
      h.quantized.dispose();
      hintRows.push(h.hints);
      lat = await h.hints.toFloat32();
      len = T;
    } else if (source) {
      lat = source.latents;
      len = source.frames;
    } else {
      lat = silenceFrames(silHost, silFrames, C, 0, T);
      len = T;
    }
    clean.set(lat.subarray(0, Math.min(len, T) * C), b * T * C);
    // Shorter items are right-padded with silence-latent frames (spec 14.2).
    if (len < T) clean.set(silenceFrames(silHost, silFrames, C, len, T - len), (b * T + len) * C);
  }
  silenceT?.dispose();
  if (hintRows.length === B) hints = B === 1 ? hintRows[0] : concat(hintRows, 0);
  src.set(clean);
  const chunkRow = new Uint8Array(T).fill(1);
  let region: [number, number] | null = null;
  if (repaintRegion) {
    const s = Math.floor((repaintRegion.startS * sr) / hop);
    const e = Math.min(T, Math.max(Math.floor((repaintRegion.endS * sr) / hop), s + 1));
    region = [s, e];
    chunkRow.set(repaintChunkMask(T, s, e, p.chunkMaskMode));
    if (p.taskType === 'repaint') {
      const fullSil = silenceFrames(silHost, silFrames, C, 0, T);
      src.set(silenceRegion(clean, fullSil, T, [B, T, C], s, e));
    }
  }
  const chunk = new Float32Array(B * T * C);
  for (let f = 0; f < B * T; f++) chunk.fill(chunkRow[f % T], f * C, (f + 1) * C);

  // --- text conditioning (spec 4, 5, 14.7)
  checkAbort(signal, 'text encoding');
  const tCond = performance.now();
  const ttok = engine.textTokenizer;
  const coverCaption = items.map((it) => captionIds(ttok, ditCaptionPrompt(it.instruction, it.caption, formatMetas(it.metas))));
  const lyricIdList = items.map((it) => lyricIds(ttok, ditLyricsPrompt(it.language, it.lyrics)));
  // Spec 14.7: built whenever audio_cover_strength < 1, whatever the task.
  const needNonCover = p.audioCoverStrength < 1;
  const nonCoverCaption = needNonCover
    ? items.map((it, b) => nonCoverCaptionIds(ttok, ditCaptionPrompt(DEFAULT_DIT_INSTRUCTION, it.caption, formatMetas(it.metas)), coverCaption[b].length))
    : null;
  const encodeBatch = (ids: number[][], embedOnly: boolean): { states: Tensor; mask: number[] } => {
    const L = Math.max(...ids.map((x) => x.length));
    const mask: number[] = [];
    const states = tidy(() => {
      const rows = ids.map((row) => {
        const t = Tensor.fromArray(Int32Array.from(row), [1, row.length], { device: dev });
        const h = embedOnly ? engine.textEncoder.embed(t) : engine.textEncoder.forward(t);
        mask.push(...row.map(() => 1), ...new Array<number>(L - row.length).fill(0));
        return row.length < L ? pad(h, 1, 0, L - row.length) : h;
      });
      return rows.length === 1 ? rows[0] : concat(rows, 0);
    });
    return { states, mask };
  };
  const text = encodeBatch(coverCaption, false);
  const lyr = encodeBatch(lyricIdList, true);
  const refLatents = reference
    ? Tensor.fromArray(reference.latents, [1, reference.frames, C], { device: dev })
    : Tensor.fromArray(silenceFrames(silHost, silFrames, C, 0, Math.round(REFERENCE_SECONDS * fps)), [1, Math.round(REFERENCE_SECONDS * fps), C], { device: dev });
  const referAcoustic = tidy(() => (B === 1 ? refLatents.contiguous() : concat(new Array<Tensor>(B).fill(refLatents), 0)));
  refLatents.dispose();
  const referOrder = Array.from({ length: B }, (_, b) => b);
  const srcT = Tensor.fromArray(src, [B, T, C], { device: dev });
  const chunkT = Tensor.fromArray(chunk, [B, T, C], { device: dev });
  const silenceDev = engine.silenceLatent.device === dev ? engine.silenceLatent : engine.silenceLatent.toDevice(dev);
  const owned: { dispose(): void }[] = [text.states, lyr.states, referAcoustic, srcT, chunkT, ...hintRows];
  if (hints && hints !== hintRows[0]) owned.push(hints);
  if (silenceDev !== engine.silenceLatent) owned.push(silenceDev);
  const vel = ditVelocity(engine.dit);
  const conds: DiTStepCondition[] = [];
  try {
    const common = {
      lyricHiddenStates: lyr.states,
      lyricAttentionMask: lyr.mask,
      referAcoustic,
      referOrder,
      silenceLatent: silenceDev,
      chunkMasks: chunkT,
    };
    const main = await prepareDiTCondition(
      { encoder: engine.conditionEncoder, tokenizer: engine.audioTokenizer },
      { ...common, textHiddenStates: text.states, textAttentionMask: text.mask, srcLatents: srcT, isCovers, precomputedHints: hints ?? undefined },
    );
    conds.push(main);
    let nonCover: DiTStepCondition | undefined;
    if (nonCoverCaption) {
      const nc = encodeBatch(nonCoverCaption, false);
      owned.push(nc.states);
      const silSrc = Tensor.fromArray(new Float32Array(B * T * C).map((_, i) => silHost[((Math.floor(i / C) % T) % silFrames) * C + (i % C)]), [B, T, C], { device: dev });
      owned.push(silSrc);
      nonCover = await prepareDiTCondition(
        { encoder: engine.conditionEncoder, tokenizer: engine.audioTokenizer },
        { ...common, textHiddenStates: nc.states, textAttentionMask: nc.mask, srcLatents: silSrc, isCovers: new Array(B).fill(0) },
      );
      conds.push(nonCover);
    }
    const guided = engine.variant !== 'turbo' && p.guidanceScale > 1 && engine.nullConditionEmb !== null;
    const wrap = (d: DiTStepCondition) => {
      if (!guided) return d;
      const w = withNullCondition(d, engine.nullConditionEmb!);
      conds.push(w);
      return w;
    };
    const conditions = { main: wrap(main), nonCover: nonCover && wrap(nonCover) };
    // The encoders run on the native queue: wait for them so their time is not booked to diffusion
    // (sampling needs their output first anyway, so this costs nothing).
    await flush();
    tc.dit_encoder_time = seconds(tCond);

    // --- DiT sampling (spec 13)
    checkAbort(signal, 'diffusion');
    const tDit = performance.now();
    const shape: [number, number, number] = [B, T, C];
    let noise = await initialNoise(shape, seeds);
    if (p.retakeVariance > 0) {
      const retakeSeed = p.retakeSeed >= 0 ? p.retakeSeed : randomInt(0, 2 ** 32 - 1);
      noise = retakeNoise(noise, await initialNoise(shape, retakeSeed), p.retakeVariance);
    }
    const so: SamplerOptions = {
      variant: engine.variant,
      steps: engine.variant === 'turbo' ? Math.min(p.inferenceSteps, TURBO_MAX_STEPS) : p.inferenceSteps,
      shift: p.shift,
      timesteps: p.timesteps ?? undefined,
      method: p.inferMethod,
      heun: p.samplerMode === 'heun',
      dcw: p.dcwEnabled ? { mode: p.dcwMode, scaler: p.dcwScaler, highScaler: p.dcwHighScaler } : null,
      audioCoverStrength: p.audioCoverStrength,
      signal,
      device: dev,
      onProgress: onProgress && ((done, total) => onProgress({ stage: 'dit', step: done, total })),
    };
    if (guided) {
      so.guidanceScale = p.guidanceScale;
      so.guidance = p.useAdg ? 'adg' : 'apg';
      so.cfgIntervalStart = p.cfgIntervalStart;
      so.cfgIntervalEnd = p.cfgIntervalEnd;
    }
    if (p.coverNoiseStrength > 0) {
      so.coverNoiseStrength = p.coverNoiseStrength;
      so.srcLatents = clean;
    }
    if (p.inferMethod === 'sde') so.sdeNoise = sdeNoiseFromSeed(shape, seeds[0]);
    const rc = resolveRepaintConfig(p.repaintMode, p.repaintStrength);
    if (p.taskType === 'repaint' && region) {
      const mask = new Uint8Array(B * T);
      for (let b = 0; b < B; b++) mask.fill(1, b * T + region[0], b * T + region[1]);
      so.repaint = { mask, cleanSrc: clean, injectionRatio: rc.injectionRatio, crossfadeFrames: rc.crossfadeFrames };
    }
    const r = await sample(vel.velocity, conditions, noise, shape, so);
    tc.dit_diffusion_time = seconds(tDit);

    // --- decode (spec 17.1)
    const lat = r.latents;
    let allZero = true;
    for (let i = 0; i < lat.length; i++) {
      if (!Number.isFinite(lat[i])) throw new GenerationNumericError('the DiT produced NaN or Inf latents');
      if (lat[i] !== 0) allZero = false;
    }
    if (allZero) throw new GenerationNumericError('the DiT produced all-zero latents');
    if (p.latentRescale !== 1 || p.latentShift !== 0) for (let i = 0; i < lat.length; i++) lat[i] = Math.fround(lat[i] * p.latentRescale + p.latentShift);
    checkAbort(signal, 'VAE decode');
    const tVae = performance.now();
    const z = tidy(() => Tensor.fromArray(lat, shape, { device: dev }).transpose(1, 2).contiguous());
    let wav: Float32Array;
    try {
      const out = engine.vae.decodeTiled(z, {
        memoryBudgetBytes: dev === 'cpu' ? cpuDecodeBudget() : undefined,
        onProgress: (done, total) => {
          onProgress?.({ stage: 'vae', tile: done, total });
        },
      });
      wav = Float32Array.from(await out.toFloat32());
      out.dispose();
    } finally {
      z.dispose();
    }
    tc.vae_decode_time = seconds(tVae);
    checkAbort(signal, 'saving');

    // --- post-processing and saving (spec 17.2, 17.3)
    const tSave = performance.now();
    const N = T * hop;
    if (opts.saveDir) mkdirSync(opts.saveDir, { recursive: true });
    const audios: GeneratedAudio[] = [];
    for (let b = 0; b < B; b++) {
      let item = wav.subarray(b * 2 * N, (b + 1) * 2 * N);
      if (p.taskType === 'repaint' && repaintRegion && source && p.repaintMode !== 'aggressive') {
        const sn = source.pcm.channels[0].length;
        const s2 = new Float32Array(2 * sn);
        s2.set(source.pcm.channels[0], 0);
        s2.set(source.pcm.channels[1], sn);
        item = repaintWaveformSplice(item, N, s2, sn, 2, sr, repaintRegion.startS, repaintRegion.endS, rc.wavCrossfadeSeconds);
      }
      let channels: Float32Array[] = [Float32Array.from(item.subarray(0, N)), Float32Array.from(item.subarray(N, 2 * N))];
      channels = limitPeak(channels);
      if (p.enableNormalization) channels = normalizePeak(channels, p.normalizationDb);
      channels = applyFades(channels, sr, p.fadeInDuration, p.fadeOutDuration);
      const rec = paramsRecord(p, c, { seed: items[b].seed, audioCodes: items[b].audioCodes }, engine.loraState());
      const key = keyFromParams(rec, FLOAT_PARAM_KEYS);
      let path: string | null = null;
      if (opts.saveDir) {
        path = join(opts.saveDir, `${key}.${extensionOf(c.audioFormat)}`);
        await saveAudio(path, { sampleRate: sr, channels }, { format: c.audioFormat, mp3Bitrate: c.mp3Bitrate, mp3SampleRate: c.mp3SampleRate });
      }
      onProgress?.({ stage: 'save', item: b + 1, total: B });
      audios.push({ path, key, sampleRate: sr, channels, params: rec });
    }
    tc.save_time = seconds(tSave);
    return audios;
  } finally {
    vel.dispose();
    for (const d of conds) d.dispose();
    for (const o of owned) o.dispose();
  }
}

/** The DiT output cannot be decoded (NaN/Inf or all zeros, spec 17.1). */
export class GenerationNumericError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_NUMERIC');
  }
}
