// WAV reading and writing by hand: the RIFF layout is small, and the wavefile package needs
// seconds per minute of audio for 32-bit float output and for bit-depth conversion on input.
// Reads RIFF and RF64, PCM 8/16/24/32-bit and IEEE float 32/64 (plain or WAVE_FORMAT_EXTENSIBLE);
// writes 16-bit PCM (round(x * 32767), clipped) or 32-bit float.
import { AudioError } from '../errors.js';
import { MAX_CHANNELS, MAX_SAMPLE_RATE } from './limits.js';
import { toInt16, type Pcm } from './pcm.js';

const PCM = 1;
const FLOAT = 3;
const EXTENSIBLE = 0xfffe;

export function readWav(b: Uint8Array, file: string): Pcm {
  try {
    return parseWav(b, file);
  } catch (e) {
    if (e instanceof AudioError) throw e;
    // A chunk size that points outside the file surfaces as a DataView RangeError.
    throw new AudioError(`corrupt WAV: ${(e as Error).message}`, file);
  }
}

function parseWav(b: Uint8Array, file: string): Pcm {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
  if (b.length < 12) throw new AudioError(`WAV is truncated (${b.length} bytes)`, file);
  const riff = tag(0);
  if (riff === 'RIFX') throw new AudioError('big-endian RIFX WAV is not supported', file);
  if ((riff !== 'RIFF' && riff !== 'RF64') || tag(8) !== 'WAVE') throw new AudioError('not a RIFF/WAVE file', file);
  let fmt: { format: number; channels: number; rate: number; bits: number; align: number } | null = null;
  let data: { at: number; size: number } | null = null;
  let ds64DataSize: number | null = null;
  for (let at = 12; at + 8 <= b.length;) {
    const id = tag(at);
    let size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'ds64' && size >= 16) {
      ds64DataSize = Number(v.getBigUint64(body + 8, true));
    } else if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new AudioError(`WAV fmt chunk is too short (${size} bytes)`, file);
      let format = v.getUint16(body, true);
      if (format === EXTENSIBLE) {
        if (size < 40 || body + 26 > b.length) throw new AudioError('WAVE_FORMAT_EXTENSIBLE fmt chunk is too short', file);
        format = v.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      fmt = {
        format,
        channels: v.getUint16(body + 2, true),
        rate: v.getUint32(body + 4, true),
        bits: v.getUint16(body + 14, true),
        align: v.getUint16(body + 12, true),
      };
    } else if (id === 'data') {
      if (riff === 'RF64' && size === 0xffffffff && ds64DataSize !== null) size = ds64DataSize;
      // Streaming writers leave the size unset or too large: use what the file holds.
      data ??= { at: body, size: Math.min(size, b.length - body) };
    }
    at = body + size + (size & 1);
  }
  if (!fmt) throw new AudioError('WAV has no fmt chunk', file);
  if (!data) throw new AudioError('WAV has no data chunk', file);
  const { format, channels, rate, bits } = fmt;
  if (channels < 1 || channels > MAX_CHANNELS)
    throw new AudioError(`WAV declares ${channels} channels (1-${MAX_CHANNELS} supported)`, file);
  if (rate < 1 || rate > MAX_SAMPLE_RATE)
    throw new AudioError(`WAV declares a sample rate of ${rate} Hz (at most ${MAX_SAMPLE_RATE} Hz supported)`, file);
  const okPcm = format === PCM && [8, 16, 24, 32].includes(bits);
  const okFloat = format === FLOAT && (bits === 32 || bits === 64);
  if (!okPcm && !okFloat) throw new AudioError(`unsupported WAV encoding: format ${format}, ${bits} bits`, file);
  const bytesPer = bits / 8;
  const frame = bytesPer * channels;
  const n = Math.floor(data.size / frame);
  const out = Array.from({ length: channels }, () => new Float32Array(n));
  let p = data.at;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++, p += bytesPer) {
      let x: number;
      if (okFloat) x = bits === 32 ? v.getFloat32(p, true) : v.getFloat64(p, true);
      else if (bits === 16) x = v.getInt16(p, true) / 32768;
      else if (bits === 24) x = (((b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) << 8) >> 8) / 8388608;
      else if (bits === 32) x = v.getInt32(p, true) / 2147483648;
      else x = (b[p] - 128) / 128;
      out[c][i] = x;
    }
  }
  return { sampleRate: rate, channels: out };
}

export function writeWav(pcm: Pcm, float32: boolean): Uint8Array {
  const ch = pcm.channels.length;
  const n = ch ? pcm.channels[0].length : 0;
  const bytesPer = float32 ? 4 : 2;
  const dataSize = n * ch * bytesPer;
  // Float files carry a fact chunk (sample frames), as the WAVE spec asks for non-PCM data.
  const header = float32 ? 58 : 44;
  const b = new Uint8Array(header + dataSize + (dataSize & 1));
  const v = new DataView(b.buffer);
  const put = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) b[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  v.setUint32(4, b.length - 8, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  v.setUint32(16, float32 ? 18 : 16, true);
  v.setUint16(20, float32 ? FLOAT : PCM, true);
  v.setUint16(22, ch, true);
  v.setUint32(24, pcm.sampleRate, true);
  v.setUint32(28, pcm.sampleRate * ch * bytesPer, true);
  v.setUint16(32, ch * bytesPer, true);
  v.setUint16(34, bytesPer * 8, true);
  let at = 36;
  if (float32) {
    v.setUint16(36, 0, true); // cbSize
    put(38, 'fact');
    v.setUint32(42, 4, true);
    v.setUint32(46, n, true);
    at = 50;
  }
  put(at, 'data');
  v.setUint32(at + 4, dataSize, true);
  let p = at + 8;
  if (float32) {
    for (let i = 0; i < n; i++) for (let c = 0; c < ch; c++, p += 4) v.setFloat32(p, pcm.channels[c][i], true);
  } else {
    const ints = pcm.channels.map((c) => toInt16(c));
    for (let i = 0; i < n; i++) for (let c = 0; c < ch; c++, p += 2) v.setInt16(p, ints[c][i], true);
  }
  return b;
}
