// End-to-end LM entry points on the tiny checkpoints: understandMusic (from codes and from an
// audio file through VAE encode + FSQ tokenizer), createSample and formatSample. The LM weights
// are random, so the checks are structural: the FSM must keep every metadata field it wrote
// inside its allowed values, the entry points must report success, and bad input must throw a
// ParamError before the LM runs. A 256-token context keeps each call to a few seconds.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/cli/acestep-main.js';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, createSample, formatSample, ParamError, understandMusic, type UnderstandResult } from '../src/index.js';
import { writeWav } from '../src/io/audio/index.js';
import { BPM_RANGE, VALID_KEYSCALES } from '../src/pipeline/lm/music-vocabulary.js';

let dir: string;
let engine: AceStep;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-e2e-lm-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmMaxModelLen: 256, preloadLm: true });
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fields the FSM wrote must be in range; the caption (free text) may be cut by the budget. */
function checkFields(r: UnderstandResult): void {
  expect(r.success, r.error ?? '').toBe(true);
  expect(r.bpm).not.toBeNull();
  expect(r.bpm!).toBeGreaterThanOrEqual(BPM_RANGE[0]);
  expect(r.bpm!).toBeLessThanOrEqual(BPM_RANGE[1]);
  if (r.keyscale) expect(VALID_KEYSCALES).toContain(r.keyscale);
  if (r.duration !== null) expect(Number.isInteger(r.duration)).toBe(true);
}

describe('LM entry points end to end (tiny checkpoints)', () => {
  it('understandMusic from audio codes', async () => {
    const codes = Array.from({ length: 20 }, (_, i) => `<|audio_code_${(i * 7919) % 64000}|>`).join('');
    const r = await understandMusic(engine, { audioCodes: codes }, { seed: 1 });
    checkFields(r);
    expect(r.audioCodes).toBe(codes);
  });

  it('understandMusic from an audio file derives 5 Hz codes first', async () => {
    const path = join(dir, 'tone.wav');
    const n = 4 * 200;
    const ch = Float32Array.from({ length: n }, (_, i) => 0.4 * Math.sin(i / 3));
    writeFileSync(path, writeWav({ sampleRate: 200, channels: [ch, ch] }, true));
    const r = await understandMusic(engine, { srcAudio: path }, { seed: 2 });
    checkFields(r);
    // 4 s at 25 Hz = 100 frames -> 20 codes at 5 Hz.
    expect(r.audioCodes.match(/<\|audio_code_\d+\|>/g)).toHaveLength(20);
  });

  it('createSample and formatSample', async () => {
    const c = await createSample(engine, { query: 'a happy summer song', instrumental: true }, { seed: 3 });
    checkFields(c);
    expect(c.instrumental).toBe(true);
    const f = await formatSample(engine, { caption: 'rock ballad', lyrics: 'hello world', userMetadata: { bpm: 90 } }, { seed: 4 });
    checkFields(f);
    // A user bpm is forced through the FSM unchanged.
    expect(f.bpm).toBe(90);
  });

  it('bad input throws ParamError before the LM runs', async () => {
    await expect(understandMusic(engine, { audioCodes: 42 })).rejects.toThrow(ParamError);
    await expect(understandMusic(engine, { audioCodes: 'no codes here' })).rejects.toThrow(/audio_code/);
    await expect(createSample(engine, { query: 'x' }, { temperature: 5 })).rejects.toThrow(/temperature.*\[0, 2\]/);
    await expect(formatSample(engine, { caption: 'x', lyrics: 'y' }, { topP: 1.5 })).rejects.toThrow(ParamError);
  });

  it('the acestep CLI generates, understands, and rejects bad flags with exit code 2', async () => {
    const out = join(dir, 'cli-out');
    const ck = join(dir, 'ckpt');
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      writes.push(String(s));
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await runCli([
        'generate',
        '--checkpoints',
        ck,
        '--backend',
        'cpu',
        '--caption',
        'lofi beat',
        '--duration',
        '6',
        '--no-thinking',
        // Without thinking the LM's CoT still runs while a use_cot flag is on (upstream); all off here.
        '--use-cot-metas',
        'false',
        '--use-cot-caption',
        'false',
        '--use-cot-language',
        'false',
        '--steps',
        '2',
        '--batch',
        '1',
        '--seeds',
        '7',
        '--use-random-seed',
        'false',
        '--format',
        'wav',
        '--out',
        out,
        '--json',
      ]);
      expect(code, writes.join('')).toBe(0);
      const res = JSON.parse(writes.join(''));
      expect(res.success).toBe(true);
      expect(res.audios[0].params.seed).toBe(7);
      expect(readdirSync(out)).toEqual([`${res.audios[0].key}.wav`]);
      writes.length = 0;
      const codes = '<|audio_code_1|><|audio_code_2|><|audio_code_3|>';
      expect(
        await runCli([
          'understand',
          '--checkpoints',
          ck,
          '--backend',
          'cpu',
          '--lm-max-model-len',
          '256',
          '--audio-codes',
          codes,
          '--seed',
          '1',
          '--json',
        ]),
      ).toBe(0);
      expect(JSON.parse(writes.join('')).success).toBe(true);
      expect(await runCli(['generate', '--checkpoints', ck, '--bpm', '999'])).toBe(2);
      expect(await runCli(['generate', '--checkpoints', ck, '--bogus', '1'])).toBe(2);
      expect(await runCli(['dance', '--checkpoints', ck])).toBe(2);
      expect(await runCli([])).toBe(2);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  });
});
