// Audio input: decodes WAV (wav.ts: PCM 8-32 bit, float 32/64, extensible, RF64), FLAC
// (@wasm-audio-decoders/flac, with flac-frames.ts when its frame parser comes up short) and MP3 (mpg123-decoder, gapless) chosen by the file's magic bytes,
// then prepares it for the models: stereo (mono duplicated, more channels downmixed), resampled to
// 48 kHz with the band-limited resampler, clamped to [-1, 1]. Everything that cannot be used is an
// AudioError naming the file and the cause.
import { readFileSync } from 'node:fs';
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { MPEGDecoder } from 'mpg123-decoder';
import { AudioError } from '../errors.js';
import { toStereo } from './downmix.js';
import { splitFlacFrames } from './flac-frames.js';
import { MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from './limits.js';
import type { Pcm } from './pcm.js';
import { resampleChannel } from './resample.js';
import { readWav } from './wav.js';

export type InputFormat = 'wav' | 'flac' | 'mp3';

/** Identifies the container from the first bytes; null when it is none of the supported ones. */
export function sniffFormat(b: Uint8Array): InputFormat | null {
  const tag = (at: number) => String.fromCharCode(...b.subarray(at, at + 4));
  if (b.length >= 12 && ['RIFF', 'RIFX', 'RF64'].includes(tag(0)) && tag(8) === 'WAVE') return 'wav';
  if (b.length >= 4 && tag(0) === 'fLaC') return 'flac';
  if (b.length >= 3 && tag(0).startsWith('ID3')) return 'mp3';
  // An MPEG audio frame sync (11 set bits) with layer bits other than the reserved 00.
  if (b.length >= 2 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0 && (b[1] & 0x06) !== 0) return 'mp3';
  return null;
}

async function decodeFlac(bytes: Uint8Array, file: string): Promise<Pcm> {
  const d = new FLACDecoder();
  try {
    await d.ready;
    const r = await d.decodeFile(bytes);
    if (r.errors.length) throw new AudioError(`corrupt FLAC: ${r.errors.length} frame error(s), first: ${r.errors[0].message}`, file);
    // STREAMINFO's 36-bit total (0 = unknown) exposes a file cut at a frame boundary.
    if (bytes.length >= 26 && bytes[4] % 128 === 0) {
      const total = (bytes[21] & 0x0f) * 2 ** 32 + ((bytes[22] << 24) >>> 0) + (bytes[23] << 16) + (bytes[24] << 8) + bytes[25];
      if (total > 0 && r.samplesDecoded < total) {
        // The decoder's frame parser can miss a frame whose payload mimics a frame header; split
        // the frames by their CRC-16 instead before calling the file short.
        const again = await d.decodeFrames(splitFlacFrames(bytes));
        if (again.errors.length || again.samplesDecoded < total)
          throw new AudioError(`truncated or corrupt FLAC: ${r.samplesDecoded} of ${total} samples decoded`, file);
        return { sampleRate: again.sampleRate, channels: again.channelData.map((c) => c.subarray(0, total)) };
      }
    }
    return { sampleRate: r.sampleRate, channels: r.channelData.map((c) => c.subarray(0, r.samplesDecoded)) };
  } catch (e) {
    if (e instanceof AudioError) throw e;
    throw new AudioError(`cannot decode FLAC: ${(e as Error).message}`, file);
  } finally {
    d.free();
  }
}

async function decodeMp3(bytes: Uint8Array, file: string): Promise<Pcm> {
  const d = new MPEGDecoder({ enableGapless: true });
  try {
    await d.ready;
    const r = d.decode(bytes);
    if (r.errors.length && r.samplesDecoded === 0) throw new AudioError(`corrupt MP3: ${r.errors[0].message}`, file);
    return { sampleRate: r.sampleRate, channels: r.channelData.map((c) => c.subarray(0, r.samplesDecoded)) };
  } catch (e) {
    if (e instanceof AudioError) throw e;
    throw new AudioError(`cannot decode MP3: ${(e as Error).message}`, file);
  } finally {
    d.free();
  }
}

/** Decodes an in-memory file; `file` names it in errors. */
export async function decodeAudio(bytes: Uint8Array, file = '<buffer>'): Promise<Pcm> {
  if (bytes.length === 0) throw new AudioError('file is empty', file);
  const format = sniffFormat(bytes);
  if (!format) throw new AudioError('not a WAV, FLAC or MP3 file (unrecognised header)', file);
  const pcm = format === 'wav' ? readWav(bytes, file) : format === 'flac' ? await decodeFlac(bytes, file) : await decodeMp3(bytes, file);
  const n = pcm.channels.length ? pcm.channels[0].length : 0;
  if (pcm.channels.length === 0 || n === 0)
    throw new AudioError(`${format.toUpperCase()} holds no audio samples (truncated or corrupt)`, file);
  if (!Number.isInteger(pcm.sampleRate) || pcm.sampleRate < 1 || pcm.sampleRate > MAX_SAMPLE_RATE)
    throw new AudioError(`bad sample rate ${pcm.sampleRate} Hz (at most ${MAX_SAMPLE_RATE} Hz supported)`, file);
  if (pcm.channels.length > MAX_CHANNELS) throw new AudioError(`${pcm.channels.length} channels (1-${MAX_CHANNELS} supported)`, file);
  for (const c of pcm.channels)
    for (let i = 0; i < n; i++) if (!Number.isFinite(c[i])) throw new AudioError(`sample ${i} is ${c[i]}`, file);
  return pcm;
}

export interface LoadOptions {
  /** Target rate (default 48000). */
  sampleRate?: number;
  /** Accept all-silent audio (peak below 1e-6); by default it is an error. */
  allowSilent?: boolean;
}

/** Reads, decodes and prepares an audio file: stereo, `sampleRate`, clamped to [-1, 1]. */
export async function loadAudio(path: string, opts: LoadOptions = {}): Promise<Pcm> {
  const rate = opts.sampleRate ?? 48000;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new AudioError(`cannot read: ${(e as Error).message}`, path);
  }
  try {
    return prepareAudio(await decodeAudio(bytes, path), path, { ...opts, sampleRate: rate });
  } catch (e) {
    // A file too long to hold decoded and resampled fails to allocate: say so, typed.
    if (e instanceof RangeError) throw new AudioError(`too large to decode in memory (${bytes.length} bytes): ${e.message}`, path);
    throw e;
  }
}

/** Rate check, stereo, resample, clamp and the silence check, for audio decoded elsewhere. */
export function prepareAudio(pcm: Pcm, file: string, opts: LoadOptions = {}): Pcm {
  const rate = opts.sampleRate ?? 48000;
  // Resampling from a tiny rate multiplies the length (1 Hz -> 48000x): below 1 kHz only the
  // target rate itself is accepted (the small test models run at 200 Hz).
  const minRate = Math.min(MIN_SAMPLE_RATE, rate);
  if (pcm.sampleRate < minRate || pcm.sampleRate > MAX_SAMPLE_RATE)
    throw new AudioError(`sample rate ${pcm.sampleRate} Hz is outside ${minRate}-${MAX_SAMPLE_RATE} Hz`, file);
  const channels = toStereo(pcm.channels).map((c) => {
    const r = resampleChannel(c, pcm.sampleRate, rate);
    for (let i = 0; i < r.length; i++) r[i] = r[i] > 1 ? 1 : r[i] < -1 ? -1 : r[i];
    return r;
  });
  if (!opts.allowSilent) {
    let peak = 0;
    for (const c of channels) for (let i = 0; i < c.length; i++) peak = Math.max(peak, Math.abs(c[i]));
    if (peak < 1e-6) throw new AudioError(`audio is silent (peak ${peak.toExponential(2)} < 1e-6)`, file);
  }
  return { sampleRate: rate, channels };
}
