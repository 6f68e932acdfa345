// Audio encoders for the output formats of spec section 17.3: FLAC 16-bit (default; libFLAC
// compiled to asm.js by libflacjs, STREAMINFO completed with frame sizes, total samples and MD5),
// WAV 16-bit PCM and 32-bit float (wav.ts), MP3 CBR at 128/192/256/320 kbps and 44.1 or 48 kHz
// (lamejs, with a LAME/Info tag so decoders trim the codec delay and padding: exact length).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Mp3Encoder } from '@breezystack/lamejs';
import { AudioError } from '../errors.js';
import { pcmLength, toInt16, type Pcm } from './pcm.js';
import { resampleChannel } from './resample.js';
import { writeWav } from './wav.js';
import { lameInfoFrame, LAME_ENCODER_DELAY } from './mp3-info.js';

export type AudioFormat = 'flac' | 'wav' | 'wav32' | 'mp3';
export const AUDIO_FORMATS: readonly AudioFormat[] = ['flac', 'wav', 'wav32', 'mp3'];
export const MP3_BITRATES = [128, 192, 256, 320] as const;
export const MP3_SAMPLE_RATES = [44100, 48000] as const;

export interface EncodeOptions {
  format?: AudioFormat;
  /** kbps, or upstream's '128k' form (default 128). */
  mp3Bitrate?: number | string;
  /** Default 48000; audio at another rate is resampled first. */
  mp3SampleRate?: number;
  /** FLAC compression level 0..8 (default 5, libFLAC's default). */
  flacCompression?: number;
}

/** The file extension of a format ('wav32' is still a .wav file). */
export function extensionOf(format: AudioFormat): string {
  return format === 'wav32' ? 'wav' : format;
}

function checkPcm(pcm: Pcm, where: string): void {
  const n = pcmLength(pcm);
  if (pcm.channels.length < 1 || pcm.channels.length > 8) throw new AudioError(`cannot encode ${pcm.channels.length} channels`, where);
  if (pcm.channels.some((c) => c.length !== n)) throw new AudioError('channels have different lengths', where);
  if (!Number.isInteger(pcm.sampleRate) || pcm.sampleRate < 1 || pcm.sampleRate > 655350)
    throw new AudioError(`bad sample rate ${pcm.sampleRate}`, where);
  for (const c of pcm.channels) {
    for (let i = 0; i < n; i++)
      if (!Number.isFinite(c[i])) throw new AudioError(`sample ${i} is ${c[i]} (NaN/Inf audio cannot be encoded)`, where);
  }
}

// ---------------------------------------------------------------- FLAC

interface LibFlac {
  isReady(): boolean;
  on(event: 'ready', cb: () => void): void;
  create_libflac_encoder(rate: number, channels: number, bps: number, level: number, total: number, verify: boolean): number;
  init_encoder_stream(id: number, write: (data: Uint8Array, bytes: number) => void, meta: (m: FlacMeta) => void): number;
  FLAC__stream_encoder_process_interleaved(id: number, data: Int32Array, frames: number): boolean | number;
  FLAC__stream_encoder_finish(id: number): boolean | number;
  FLAC__stream_encoder_delete(id: number): void;
  FLAC__stream_encoder_get_state(id: number): number;
}
interface FlacMeta {
  min_framesize: number;
  max_framesize: number;
  total_samples: number;
  md5sum: string;
}

let flacLib: Promise<LibFlac> | null = null;

function libFlac(): Promise<LibFlac> {
  if (!flacLib) {
    flacLib = new Promise((resolve) => {
      const require = createRequire(import.meta.url);
      const Flac = require('libflacjs')('asmjs') as LibFlac;
      if (Flac.isReady()) resolve(Flac);
      else Flac.on('ready', () => resolve(Flac));
    });
  }
  return flacLib;
}

/** Writes the encoder's final statistics into the STREAMINFO block that starts at byte 8. */
function completeStreamInfo(file: Uint8Array, m: FlacMeta): void {
  const si = 8; // "fLaC" + 4-byte metadata block header
  const put24 = (at: number, v: number) => {
    file[at] = (v >>> 16) & 255;
    file[at + 1] = (v >>> 8) & 255;
    file[at + 2] = v & 255;
  };
  put24(si + 4, m.min_framesize);
  put24(si + 7, m.max_framesize);
  // 36-bit total sample count: the low nibble of byte 13, then bytes 14..17.
  const hi = Math.floor(m.total_samples / 2 ** 32);
  file[si + 13] = (file[si + 13] & 0xf0) | (hi & 0x0f);
  const lo = m.total_samples >>> 0;
  file[si + 14] = lo >>> 24;
  file[si + 15] = (lo >>> 16) & 255;
  file[si + 16] = (lo >>> 8) & 255;
  file[si + 17] = lo & 255;
  for (let i = 0; i < 16; i++) file[si + 18 + i] = parseInt(m.md5sum.slice(2 * i, 2 * i + 2), 16);
}

export async function encodeFlac(pcm: Pcm, compression = 5, where = 'flac encoder'): Promise<Uint8Array> {
  if (!Number.isInteger(compression) || compression < 0 || compression > 8)
    throw new AudioError(`FLAC compression level ${compression} is not in 0..8`, where);
  const Flac = await libFlac();
  const n = pcmLength(pcm);
  const ch = pcm.channels.length;
  const id = Flac.create_libflac_encoder(pcm.sampleRate, ch, 16, compression, n, false);
  if (!id) throw new AudioError('libFLAC could not create an encoder', where);
  const chunks: Uint8Array[] = [];
  let meta: FlacMeta | undefined;
  try {
    const st = Flac.init_encoder_stream(
      id,
      (data, bytes) => chunks.push(data.slice(0, bytes)),
      (m) => (meta = m),
    );
    if (st !== 0) throw new AudioError(`libFLAC encoder init failed (state ${st})`, where);
    const ints = pcm.channels.map((c) => toInt16(c));
    // Feed in blocks so the interleaved Int32 copy stays small for long songs.
    const block = 65536;
    const buf = new Int32Array(block * ch);
    for (let s = 0; s < n; s += block) {
      const m = Math.min(block, n - s);
      for (let i = 0; i < m; i++) for (let c = 0; c < ch; c++) buf[i * ch + c] = ints[c][s + i];
      if (!Flac.FLAC__stream_encoder_process_interleaved(id, buf, m)) {
        throw new AudioError(`libFLAC encoding failed (state ${Flac.FLAC__stream_encoder_get_state(id)})`, where);
      }
    }
    if (!Flac.FLAC__stream_encoder_finish(id)) throw new AudioError('libFLAC could not finish the stream', where);
  } finally {
    Flac.FLAC__stream_encoder_delete(id);
  }
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const file = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    file.set(c, o);
    o += c.length;
  }
  if (!meta) throw new AudioError('libFLAC reported no stream metadata', where);
  completeStreamInfo(file, meta);
  return file;
}

// ---------------------------------------------------------------- MP3

function parseBitrate(b: number | string | undefined, where: string): number {
  const kbps = b === undefined ? 128 : typeof b === 'string' ? Number(b.replace(/k$/i, '')) : b;
  if (!(MP3_BITRATES as readonly number[]).includes(kbps))
    throw new AudioError(`mp3 bitrate ${b} is not one of ${MP3_BITRATES.join('/')} kbps`, where);
  return kbps;
}

export function encodeMp3(pcm: Pcm, opts: { bitrate?: number | string; sampleRate?: number } = {}, where = 'mp3 encoder'): Uint8Array {
  const kbps = parseBitrate(opts.bitrate, where);
  const rate = opts.sampleRate ?? 48000;
  if (!(MP3_SAMPLE_RATES as readonly number[]).includes(rate)) throw new AudioError(`mp3 sample rate ${rate} is not 44100 or 48000`, where);
  if (pcm.channels.length > 2) throw new AudioError(`mp3 takes 1 or 2 channels, not ${pcm.channels.length}`, where);
  const chans = pcm.channels.map((c) => toInt16(pcm.sampleRate === rate ? c : resampleChannel(c, pcm.sampleRate, rate)));
  const n = chans[0].length;
  const enc = new Mp3Encoder(chans.length, rate, kbps);
  const parts: Uint8Array[] = [];
  const step = 1152 * 16;
  for (let s = 0; s < n; s += step) {
    const l = chans[0].subarray(s, s + step);
    parts.push(chans.length === 2 ? enc.encodeBuffer(l, chans[1].subarray(s, s + step)) : enc.encodeBuffer(l));
  }
  parts.push(enc.flush());
  const body = concat(parts);
  // lamejs writes no Info tag; prepend one that records the delay and padding (see mp3-info.ts).
  const info = lameInfoFrame(body, n, LAME_ENCODER_DELAY, where);
  return concat([info, body]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- entry points

export async function encodeAudio(pcm: Pcm, opts: EncodeOptions = {}, where = 'audio encoder'): Promise<Uint8Array> {
  const format = opts.format ?? 'flac';
  checkPcm(pcm, where);
  switch (format) {
    case 'flac':
      return encodeFlac(pcm, opts.flacCompression ?? 5, where);
    case 'wav':
      return writeWav(pcm, false);
    case 'wav32':
      return writeWav(pcm, true);
    case 'mp3':
      return encodeMp3(pcm, { bitrate: opts.mp3Bitrate, sampleRate: opts.mp3SampleRate }, where);
    default:
      throw new AudioError(`unknown audio format '${format as string}' (use ${AUDIO_FORMATS.join(', ')})`, where);
  }
}

/** Encodes and writes `path` (the caller picks the name; see extensionOf). */
export async function saveAudio(path: string, pcm: Pcm, opts: EncodeOptions = {}): Promise<void> {
  const bytes = await encodeAudio(pcm, opts, path);
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new AudioError(`cannot write: ${(e as Error).message}`, path);
  }
}
