// Fuzz of the audio readers (WAV by hand, FLAC and MP3 through their wasm decoders) and of the
// input preparation behind them (rate check, downmix, resampling): thousands of byte mutations of
// valid files each. Every case decodes, or throws AudioError, within a second; what a decode
// returns is bounded by the file's size (no header can make it allocate more).
import { describe, expect, it, vi } from 'vitest';
import { AudioError } from '../src/io/errors.js';
import { decodeAudio, encodeFlac, encodeMp3, prepareAudio, writeWav, type Pcm } from '../src/io/audio/index.js';
import { byteMutations, fuzz, fuzzRuns, fuzzSeed, logReport, mutateBytes } from './support/fuzz.js';

function tone(rate: number, seconds: number, channels: number): Pcm {
  const n = Math.round(rate * seconds);
  return {
    sampleRate: rate,
    channels: Array.from({ length: channels }, (_, c) =>
      Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * (220 + 110 * c) * i) / rate)),
    ),
  };
}

/** A WAVE_FORMAT_EXTENSIBLE 24-bit file of `channels` channels (the layout writeWav does not make). */
function extensible24(pcm: Pcm): Uint8Array {
  const ch = pcm.channels.length,
    n = pcm.channels[0].length,
    data = n * ch * 3;
  const b = new Uint8Array(68 + data);
  const v = new DataView(b.buffer);
  const put = (at: number, s: string) => [...s].forEach((c, i) => (b[at + i] = c.charCodeAt(0)));
  put(0, 'RIFF');
  v.setUint32(4, b.length - 8, true);
  put(8, 'WAVEfmt ');
  v.setUint32(16, 40, true);
  v.setUint16(20, 0xfffe, true);
  v.setUint16(22, ch, true);
  v.setUint32(24, pcm.sampleRate, true);
  v.setUint32(28, pcm.sampleRate * ch * 3, true);
  v.setUint16(32, ch * 3, true);
  v.setUint16(34, 24, true);
  v.setUint16(36, 22, true);
  v.setUint16(38, 24, true);
  v.setUint32(40, 0x3f, true);
  v.setUint16(44, 1, true); // KSDATAFORMAT_SUBTYPE_PCM's first two bytes
  put(60, 'data');
  v.setUint32(64, data, true);
  let p = 68;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < ch; c++, p += 3) {
      const x = Math.round(pcm.channels[c][i] * 8388607);
      b[p] = x & 255;
      b[p + 1] = (x >> 8) & 255;
      b[p + 2] = (x >> 16) & 255;
    }
  }
  return b;
}

/** Decode, bound the output by the input size, then (WAV) prepare for a 48 kHz model. */
async function exercise(bytes: Uint8Array, prepare = true): Promise<void> {
  const pcm = await decodeAudio(bytes, 'fuzz');
  const out = pcm.channels.reduce((s, c) => s + c.byteLength, 0);
  // MP3's densest frames expand about 32x per channel; 512x plus 4 MB leaves room and still
  // catches a header that sizes the output.
  if (out > 512 * bytes.length + (4 << 20)) throw new Error(`decoded ${out} bytes from a ${bytes.length}-byte file`);
  // The preparation is the same for every format: the WAV cases reach every rate and layout.
  if (prepare) prepareAudio(pcm, 'fuzz', { sampleRate: 48000, allowSilent: true });
}

const isAudioError = (e: unknown) => e instanceof AudioError;

describe('audio readers under mutation', () => {
  it('WAV: 16-bit, float and 24-bit extensible 5.1 seeds', async () => {
    const seeds = [writeWav(tone(8000, 0.05, 2), false), writeWav(tone(44100, 0.01, 1), true), extensible24(tone(22050, 0.01, 6))];
    for (const s of seeds) await exercise(s);
    let total = 0;
    for (const [i, seed] of seeds.entries()) {
      const r = await fuzz(byteMutations(80), (m) => exercise(mutateBytes(seed, m)), isAudioError, {
        runs: fuzzRuns(1000),
        seed: fuzzSeed(1700 + i),
      });
      logReport(`wav seed ${i}`, r);
      total += r.cases;
    }
    expect(total).toBe(3 * fuzzRuns(1000));
  });

  it('FLAC', async () => {
    const seed = await encodeFlac(tone(16000, 0.05, 2));
    await exercise(seed, false);
    const r = await fuzz(byteMutations(64), (m) => exercise(mutateBytes(seed, m), false), isAudioError, {
      runs: fuzzRuns(2000),
      seed: fuzzSeed(1711),
    });
    logReport('flac', r);
    expect(r.cases).toBe(fuzzRuns(2000));
  });

  it('MP3', async () => {
    const seed = encodeMp3(tone(44100, 0.1, 2), { bitrate: 128, sampleRate: 44100 });
    await exercise(seed, false);
    // mpg123 reports each bad frame on the console; the cases check the errors themselves.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const r = await fuzz(byteMutations(64), (m) => exercise(mutateBytes(seed, m), false), isAudioError, {
        runs: fuzzRuns(2000),
        seed: fuzzSeed(1712),
      });
      logReport('mp3', r);
      expect(r.cases).toBe(fuzzRuns(2000));
    } finally {
      quiet.mockRestore();
    }
  });
});
