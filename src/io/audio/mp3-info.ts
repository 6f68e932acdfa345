// The Xing "Info" frame with a LAME extension that LAME itself puts in front of a CBR MP3. It
// records the frame count, byte count, encoder delay and end padding, so gapless decoders (ffmpeg,
// mpg123) return exactly the encoded samples. lamejs encodes the audio but writes no such frame.
//
// Layout (MPEG-1 Layer III): 4-byte header, side information (32 bytes stereo, 17 mono), "Info",
// flags, frames, bytes, 100-byte TOC, quality, then the 36-byte LAME tag ending in a CRC-16 of
// the frame's first 190 bytes. Decoders add their own 529-sample delay on top of the encoder delay.
import { AudioError } from '../errors.js';

/** lamejs (a port of LAME 3.98) delays its output by ENCDELAY = 576 samples. */
export const LAME_ENCODER_DELAY = 576;

const BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0];
const RATES = [44100, 48000, 32000, 0];

interface FrameHeader {
  bitrate: number;
  rate: number;
  padding: number;
  mono: boolean;
  size: number;
}

function parseHeader(b: Uint8Array, at: number): FrameHeader | null {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xfa) return null; // MPEG-1 Layer III
  const bitrate = BITRATES[b[at + 2] >> 4];
  const rate = RATES[(b[at + 2] >> 2) & 3];
  if (!bitrate || !rate) return null;
  const padding = (b[at + 2] >> 1) & 1;
  return { bitrate, rate, padding, mono: b[at + 3] >> 6 === 3, size: Math.floor((144000 * bitrate) / rate) + padding };
}

/** Number of MPEG-1 Layer III frames in a stream of back-to-back frames. */
export function countFrames(body: Uint8Array, where = 'mp3 stream'): number {
  let n = 0;
  for (let at = 0; at < body.length;) {
    const h = parseHeader(body, at);
    if (!h) throw new AudioError(`no MPEG-1 Layer III frame header at byte ${at} of ${body.length}`, where);
    at += h.size;
    n++;
  }
  return n;
}

let crcTable: Uint16Array | null = null;

/** CRC-16/ARC (polynomial 0x8005, reflected, initial 0), the LAME tag checksum. */
function crc16(b: Uint8Array, end: number): number {
  if (!crcTable) {
    crcTable = new Uint16Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
      crcTable[i] = c;
    }
  }
  let crc = 0;
  for (let i = 0; i < end; i++) crc = (crc >>> 8) ^ crcTable[(crc ^ b[i]) & 0xff];
  return crc;
}

/**
 * Builds the Info frame for `body` (the encoder's frames) that holds `samples` samples per channel
 * after an encoder delay of `delay` samples.
 */
export function lameInfoFrame(body: Uint8Array, samples: number, delay: number, where = 'mp3 stream'): Uint8Array {
  const first = parseHeader(body, 0);
  if (!first) throw new AudioError('the stream does not start with an MPEG-1 Layer III frame', where);
  const frames = countFrames(body, where);
  const padding = frames * 1152 - samples - delay;
  if (padding < 0 || padding > 0xfff || delay > 0xfff)
    throw new AudioError(`encoder delay ${delay} / end padding ${padding} do not fit the LAME tag (0..4095)`, where);
  const size = first.size - first.padding;
  const f = new Uint8Array(size);
  f.set(body.subarray(0, 4));
  f[2] &= ~0x02; // no padding slot
  const put32 = (at: number, v: number) => {
    f[at] = v >>> 24;
    f[at + 1] = (v >>> 16) & 255;
    f[at + 2] = (v >>> 8) & 255;
    f[at + 3] = v & 255;
  };
  let p = 4 + (first.mono ? 17 : 32); // side information stays zero: main_data_begin 0
  f.set([0x49, 0x6e, 0x66, 0x6f], p); // "Info": the CBR form of the Xing tag
  put32(p + 4, 0x0f); // frames, bytes, TOC and quality present
  put32(p + 8, frames);
  put32(p + 12, size + body.length);
  for (let i = 0; i < 100; i++) f[p + 16 + i] = Math.floor((i * 256) / 100); // CBR: linear TOC
  put32(p + 116, 0);
  p += 120;
  f.set(
    Array.from('LAME3.100', (ch) => ch.charCodeAt(0)),
    p,
  );
  f[p + 9] = 0x01; // tag revision 0, VBR method 1 = CBR
  f[p + 20] = Math.min(255, first.bitrate);
  f[p + 21] = delay >> 4;
  f[p + 22] = ((delay & 0x0f) << 4) | (padding >> 8);
  f[p + 23] = padding & 0xff;
  put32(p + 28, size + body.length);
  // Everything before the CRC field: the first 190 bytes for stereo MPEG-1.
  const crc = crc16(f, p + 34);
  f[p + 34] = crc >> 8;
  f[p + 35] = crc & 0xff;
  return f;
}
