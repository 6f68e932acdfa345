// Bad input at the library's boundaries (docs/RELIABILITY.md): the thread count and backend names,
// output folders, audio headers and channel layouts, output lengths, tokenizer files and overlong
// text. Each case failed (crash, hang, raw error or wrong result) before its check existed.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AceStep, BackendUnavailableError, getNumThreads, ParamError, setBackend, setNumThreads, ShapeError } from '../src/index.js';
import { resolveBackend } from '../src/runtime/index.js';
import { ensureOutputDir } from '../src/io/output-dir.js';
import { AudioError, OutputDirError } from '../src/io/errors.js';
import { decodeAudio, prepareAudio, writeWav } from '../src/io/audio/index.js';
import { latentLength, MAX_OUTPUT_SECONDS, type ItemPlan } from '../src/pipeline/task-assembly.js';
import { capSource } from '../src/pipeline/stages/input-audio.js';
import { TextTokenizer, TokenizerError } from '../src/text/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'acestep-robust-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A WAV with a chosen header: `rate`, `channels` and `frames` frames of 16-bit PCM. */
function wavBytes(rate: number, channels: number, frames: number, fill = (_c: number, _i: number) => 0.25): Uint8Array {
  const data = frames * channels * 2;
  const b = new Uint8Array(44 + data);
  const v = new DataView(b.buffer);
  const put = (at: number, s: string) => [...s].forEach((ch, i) => (b[at + i] = ch.charCodeAt(0)));
  put(0, 'RIFF');
  v.setUint32(4, 36 + data, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate >>> 0, true);
  v.setUint32(28, (rate * channels * 2) >>> 0, true);
  v.setUint16(32, channels * 2, true);
  v.setUint16(34, 16, true);
  put(36, 'data');
  v.setUint32(40, data, true);
  for (let i = 0; i < frames; i++)
    for (let c = 0; c < channels; c++) v.setInt16(44 + (i * channels + c) * 2, Math.round(fill(c, i) * 32767), true);
  return b;
}

describe('thread count (defect 2)', () => {
  it('clamps 100000 and 1e9 threads with a warning instead of aborting the process', () => {
    const before = getNumThreads();
    const cap = Math.max(16, 4 * cpus().length);
    const warnings: string[] = [];
    const onWarn = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarn);
    try {
      for (const n of [100000, 1e9]) {
        setNumThreads(n);
        expect(getNumThreads()).toBeGreaterThanOrEqual(1);
        expect(getNumThreads()).toBeLessThanOrEqual(cap);
      }
    } finally {
      setNumThreads(before);
    }
    return new Promise<void>((done) =>
      setImmediate(() => {
        process.off('warning', onWarn);
        expect(warnings.some((m) => m.includes('setNumThreads(100000): clamped'))).toBe(true);
        done();
      }),
    );
  });

  it('refuses a non-integer or negative count with a ShapeError', () => {
    for (const n of [NaN, -1, 2.5, Infinity]) expect(() => setNumThreads(n)).toThrow(ShapeError);
  });
});

describe('backend names (defect 12)', () => {
  it("refuses 'foo' and 'gpu' instead of running on the CPU", () => {
    for (const b of ['foo', 'gpu', '']) {
      expect(() => resolveBackend(b as 'cpu')).toThrow(BackendUnavailableError);
      expect(() => setBackend(b as 'cpu')).toThrow(/unknown backend/);
    }
    expect(setBackend('cpu')).toBe('cpu');
  });

  it('AceStep.load refuses an unknown device with a ParamError naming it', async () => {
    await expect(AceStep.load({ checkpoints: tmp, device: 'gpu' as 'cpu' })).rejects.toThrow(ParamError);
    await expect(AceStep.load({ checkpoints: tmp, device: 'foo' as 'cpu' })).rejects.toThrow(/device: must be one of cpu, cuda, auto/);
  });
});

describe('output folders (defects 4, 9)', () => {
  it('fails at once under /proc instead of spinning in mkdir', () => {
    const t0 = performance.now();
    expect(() => ensureOutputDir('/proc/acestep-no-such/out')).toThrow(OutputDirError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('names ENOTDIR, an existing file and a dangling link', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => ensureOutputDir(join(file, 'sub'))).toThrow(/a-file exists and is not a folder/);
    expect(() => ensureOutputDir(file)).toThrow(/exists and is not a folder/);
    const link = join(tmp, 'dangling');
    symlinkSync(join(tmp, 'nowhere'), link);
    expect(() => ensureOutputDir(link)).toThrow(/cannot create .*dangling: EEXIST/);
  });

  it('creates missing parents and accepts an existing folder', () => {
    const deep = join(tmp, 'x', 'y', 'z');
    ensureOutputDir(deep);
    ensureOutputDir(deep);
    mkdirSync(join(tmp, 'plain'));
    ensureOutputDir(join(tmp, 'plain'));
  });
});

describe('audio header bounds (defect 5)', () => {
  it('refuses absurd sample rates before allocating for them', async () => {
    for (const rate of [7919001, 4e9, 4294967291]) {
      const t0 = performance.now();
      await expect(decodeAudio(wavBytes(rate, 2, 1000), 'x.wav')).rejects.toThrow(AudioError);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  it('refuses rates below 1 kHz (unless they are the target rate) when preparing for the models', async () => {
    const pcm = await decodeAudio(wavBytes(1, 2, 1000), 'slow.wav');
    expect(() => prepareAudio(pcm, 'slow.wav', { sampleRate: 48000 })).toThrow(/sample rate 1 Hz is outside 1000-384000 Hz/);
    const tiny = await decodeAudio(wavBytes(200, 2, 1000), 'tiny.wav');
    expect(prepareAudio(tiny, 'tiny.wav', { sampleRate: 200 }).channels[0].length).toBe(1000);
  });

  it('refuses more than 32 channels', async () => {
    await expect(decodeAudio(wavBytes(48000, 33, 10), 'many.wav')).rejects.toThrow(/33 channels \(1-32 supported\)/);
  });
});

describe('multichannel downmix (defect 8)', () => {
  it('5.1 with sound only in the centre: both sides carry it at 1/sqrt(2)', async () => {
    const pcm = await decodeAudio(
      wavBytes(48000, 6, 480, (c, i) => (c === 2 ? 0.5 * Math.sin(i / 10) : 0)),
      'centre.wav',
    );
    const out = prepareAudio(pcm, 'centre.wav', { sampleRate: 48000 });
    // 16-bit input: tolerance one quantisation step times the gain.
    for (let i = 0; i < 480; i++) {
      const want = Math.SQRT1_2 * pcm.channels[2][i];
      expect(Math.abs(out.channels[0][i] - want)).toBeLessThan(1e-6);
      expect(Math.abs(out.channels[1][i] - want)).toBeLessThan(1e-6);
    }
  });

  it('5.1 surrounds go to their side, the LFE is dropped', async () => {
    const pcm = await decodeAudio(
      wavBytes(48000, 6, 4, (c) => [0, 0, 0, 0.9, 0.4, 0][c]),
      'surround.wav',
    );
    const out = prepareAudio(pcm, 'surround.wav', { sampleRate: 48000 });
    expect(out.channels[0][0]).toBeCloseTo(Math.SQRT1_2 * pcm.channels[4][0], 6);
    expect(out.channels[1][0]).toBe(0);
  });
});

describe('600 s output cap (defect 6)', () => {
  const item = (codes: number): ItemPlan => ({
    task: 'cover',
    instruction: '',
    caption: '',
    lyrics: '',
    language: 'en',
    seed: 0,
    metas: { bpm: null, timesignature: null, keyscale: null, duration: null },
    audioCodes: Array.from({ length: codes }, (_, i) => `<|audio_code_${i % 100}|>`).join(''),
  });

  it('codes of an LM that wrote no duration (602 s) are cut to 600 s', () => {
    const len = latentLength([item(602 * 5)], null, 5, 48000, 1920);
    expect(len.T).toBe(MAX_OUTPUT_SECONDS * 25);
  });

  it('a 20-minute source is cut to 600 s and a 6 s one kept', () => {
    const sr = 200;
    const long = { sampleRate: sr, channels: [new Float32Array(1200 * sr), new Float32Array(1200 * sr)] };
    expect(capSource(long).channels.map((c) => c.length)).toEqual([600 * sr, 600 * sr]);
    expect(latentLength([{ ...item(0), audioCodes: '' }], 1200 * 25, 5, sr, 8).T).toBe(600 * 25);
    const short = { sampleRate: sr, channels: [new Float32Array(6 * sr), new Float32Array(6 * sr)] };
    expect(capSource(short)).toBe(short);
  });
});

describe('tokenizer files and long text (defects 13, 14)', () => {
  it('tokenizer.json holding {}, null, [] or a bad vocab is a TokenizerError', () => {
    for (const [name, body] of [
      ['empty', '{}'],
      ['null', 'null'],
      ['array', '[]'],
      ['vocab', '{"model":{"vocab":{"a":"x"}},"added_tokens":[]}'],
      ['added', '{"model":{"vocab":{}},"added_tokens":[null]}'],
    ]) {
      const d = join(tmp, `tok-${name}`);
      mkdirSync(d);
      writeFileSync(join(d, 'tokenizer.json'), body);
      expect(() => TextTokenizer.load(d), name).toThrow(TokenizerError);
    }
    expect(() => TextTokenizer.fromJson({})).toThrow(TokenizerError);
    // The LM and text-encoder folders derive from a base tokenizer.json: a {} base was a TypeError.
    const derived = join(tmp, 'tok-derived');
    mkdirSync(derived);
    writeFileSync(join(derived, 'derive.json'), JSON.stringify({ base: '../tok-empty/tokenizer.json', added_tokens: [] }));
    expect(() => TextTokenizer.load(derived)).toThrow(/tok-derived\/derive.json: tokenizer.json has no model.vocab object/);
  });

  const tok = TextTokenizer.load(join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'qwen3-tokenizer'));

  it('a 1 MB caption cut to 256 ids is encoded without reading the whole text', () => {
    const words = ['piano', 'soft', 'strings', 'jazz,', 'lo-fi', '드럼', 'ギター', '🎸', '\n', 'BPM=120'];
    let big = '';
    for (let i = 0; big.length < 1 << 20; i++) big += words[(i * 7919) % words.length] + ' ';
    const t0 = performance.now();
    const ids = tok.encode(big, { maxLength: 256 });
    // A hang bound, not a timing: the whole text takes 10+ s.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(ids).toHaveLength(256);
    expect(ids).toEqual(tok.encode(big.slice(0, 20000)).slice(0, 255).concat(ids[255]));
  });

  it('the cut prefix gives exactly the ids of the whole text (texts 1-40k characters)', () => {
    const words = ['a', 'bb', '  ', 'Hello', '世界', '\t', 'x'.repeat(30), '!', "'s", '😀'];
    for (let seed = 1; seed <= 6; seed++) {
      let s = '';
      for (let i = 0, x = seed; s.length < 6000 * seed; i++) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        s += words[x % words.length];
      }
      for (const max of [1, 17, 256]) {
        expect(tok.encode(s, { maxLength: max, addSpecialTokens: false })).toEqual(
          tok.encode(s, { addSpecialTokens: false }).slice(0, max),
        );
      }
    }
  });
});
