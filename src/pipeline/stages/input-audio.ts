// Stage: encode the source audio (repaint/lego/cover/extract/complete, UPSTREAM.md: Task types) and the
// reference audio (UPSTREAM.md: Reference audio) to VAE latents. Repaint pads the source with silence where the
// region reaches outside it (outpainting, UPSTREAM.md: Repaint) and both tasks get their region in seconds; a
// region that misses the source is a ParamError, found before the VAE runs.
// Sources longer than MAX_OUTPUT_SECONDS are cut to it (the output follows the source's length).
import { loadAudio, type Pcm } from '../../io/audio/index.js';
import type { AceStep } from '../engine.js';
import { ParamError, type GenerationParams } from '../params.js';
import { sampleAudioLatents } from '../conditioning/audio-latents.js';
import { MAX_OUTPUT_SECONDS, type RepaintRegion } from '../task-assembly.js';
import { checkAbort, seconds, type RunContext } from './context.js';

/** Reference audio is tiled/cut to this many seconds before encoding (UPSTREAM.md: Reference audio). */
export const REFERENCE_SECONDS = 30;

export interface EncodedAudio {
  pcm: Pcm;
  /** [frames, C] sampled from the posterior. */
  latents: Float32Array;
  frames: number;
}

export interface InputAudio {
  source: EncodedAudio | null;
  /** The repaint/lego region in seconds of the (padded) source, null without one. */
  repaintRegion: RepaintRegion | null;
  reference: EncodedAudio | null;
}

/** VAE tiled encode of [2, N] audio, sampling the posterior with seeded noise (UPSTREAM.md: VAE). */
async function encodeAudio(engine: AceStep, pcm: Pcm, seed: number): Promise<EncodedAudio> {
  using z = sampleAudioLatents(engine, pcm, seed);
  return { pcm, latents: await z.toFloat32(), frames: z.shape[1] };
}

/** Stereo PCM with `before`/`after` seconds of silence added (repaint outpainting). */
function padPcm(pcm: Pcm, before: number, after: number): Pcm {
  const b = Math.round(before * pcm.sampleRate),
    a = Math.round(after * pcm.sampleRate);
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

/** 30 s of reference audio: tiled when shorter, else the first 10 s of each third (UPSTREAM.md: Reference audio). */
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
        const seg = want / 3,
          third = Math.floor(n / 3);
        for (let k = 0; k < 3; k++) o.set(c.subarray(k * third, k * third + seg), k * seg);
      }
      return o;
    }),
  };
}

/** Whether the task reads source audio (cover from codes alone does not). */
function usesSource(p: GenerationParams): boolean {
  return p.taskType !== 'text2music' && !(p.taskType === 'cover' && p.audioCodes && !p.srcAudio);
}

/** The first MAX_OUTPUT_SECONDS of a source: the output follows the source's length. */
export function capSource(pcm: Pcm): Pcm {
  const max = Math.floor(MAX_OUTPUT_SECONDS * pcm.sampleRate);
  return pcm.channels[0].length <= max ? pcm : { sampleRate: pcm.sampleRate, channels: pcm.channels.map((c) => c.subarray(0, max)) };
}

/**
 * The source padded for outpainting, and the repaint/lego region in seconds of it. A region whose
 * padding would take the output past MAX_OUTPUT_SECONDS is a ParamError.
 */
export function repaintInput(p: GenerationParams, pcm: Pcm, sr: number): { pcm: Pcm; region: RepaintRegion | null } {
  if (p.taskType !== 'repaint' && p.taskType !== 'lego') return { pcm, region: null };
  const srcSeconds = pcm.channels[0].length / sr;
  const hasRange = p.taskType === 'repaint' || p.repaintingStart !== 0 || p.repaintingEnd >= 0;
  if (!hasRange) return { pcm, region: null };
  // Repaint may reach past either end (outpainting) but must touch the source; lego's region lies inside it.
  if (p.taskType === 'lego' ? p.repaintingStart >= srcSeconds : p.repaintingStart > srcSeconds) {
    throw new ParamError(
      'repaintingStart',
      `must be ${p.taskType === 'lego' ? 'before' : 'at or before'} the end of the source (${srcSeconds.toFixed(2)} s, ${p.srcAudio}), got ${p.repaintingStart}`,
    );
  }
  const end = p.repaintingEnd < 0 ? srcSeconds : p.repaintingEnd;
  const left = p.repaintingStart < 0 ? -p.repaintingStart : 0;
  const right = p.taskType === 'repaint' && end > srcSeconds ? end - srcSeconds : 0;
  const total = srcSeconds + (p.taskType === 'repaint' ? left + right : 0);
  if (total > MAX_OUTPUT_SECONDS + 1e-9) {
    throw new ParamError(
      left > 0 ? 'repaintingStart' : 'repaintingEnd',
      `the repaint range ${p.repaintingStart}..${p.repaintingEnd} s around a ${srcSeconds.toFixed(2)} s source makes ${total.toFixed(2)} s of output, over the ${MAX_OUTPUT_SECONDS} s limit`,
    );
  }
  const padded = p.taskType === 'repaint' ? padPcm(pcm, left, right) : pcm;
  return { pcm: padded, region: { startS: p.repaintingStart + left, endS: Math.min(end + left, padded.channels[0].length / sr) } };
}

export async function encodeInputAudio(ctx: RunContext): Promise<InputAudio> {
  const { engine, p, seeds } = ctx;
  const { signal, onProgress } = ctx.opts;
  const sr = engine.sampleRate;
  const t0 = performance.now();
  let source: EncodedAudio | null = null;
  let repaintRegion: RepaintRegion | null = null;
  if (usesSource(p)) {
    checkAbort(signal, 'source encoding');
    const input = repaintInput(p, capSource(await loadAudio(p.srcAudio!, { sampleRate: sr })), sr);
    onProgress?.({ stage: 'encode', what: 'source' });
    repaintRegion = input.region;
    source = await encodeAudio(engine, input.pcm, seeds[0]);
  }
  let reference: EncodedAudio | null = null;
  if (p.referenceAudio) {
    checkAbort(signal, 'reference encoding');
    onProgress?.({ stage: 'encode', what: 'reference' });
    reference = await encodeAudio(engine, referenceWindow(await loadAudio(p.referenceAudio, { sampleRate: sr })), seeds[0]);
  }
  ctx.timeCosts.vae_encode_time = seconds(t0);
  return { source, repaintRegion, reference };
}
