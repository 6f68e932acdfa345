// Bad input through the public entry points on the tiny checkpoints (docs/RELIABILITY.md): output
// folders refused before any model runs, repaint ranges that would pass the 600 s cap, loose LM
// options and metadata, prompts longer than the LM's context, calls on a disposed engine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import {
  AceStep,
  CheckpointError,
  createSample,
  formatSample,
  generateMusic,
  OutputDirError,
  ParamError,
  understandMusic,
  type ProgressEvent,
} from '../src/index.js';
import { audioToCodes } from '../src/pipeline/lm-api.js';
import { writeWav } from '../src/io/audio/index.js';

let dir: string;
let engine: AceStep;
let srcWav: string;
const SR = 200;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-robust-e2e-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmMaxModelLen: 256, preloadLm: true });
  srcWav = join(dir, 'src.wav');
  const n = 5 * SR;
  const tone = Float32Array.from({ length: n }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 9 * i) / SR));
  writeFileSync(srcWav, writeWav({ sampleRate: SR, channels: [tone, tone] }, true));
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const base = { caption: 'calm piano', lyrics: '', thinking: false, inferenceSteps: 2, duration: 6 };

describe('generateMusic refuses before the models run', () => {
  it('a saveDir that is a file, under a file or under /proc: OutputDirError, no stage started (defects 4, 9)', async () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'x');
    for (const saveDir of [file, join(file, 'sub'), '/proc/acestep-no-such/out']) {
      const events: ProgressEvent[] = [];
      await expect(generateMusic(engine, base, {}, { saveDir, onProgress: (e) => events.push(e) })).rejects.toThrow(OutputDirError);
      expect(events).toEqual([]);
    }
  });

  it('repaint -600..600 on a 5 s source: a ParamError result, not 1200 s of output (defect 6)', async () => {
    const events: ProgressEvent[] = [];
    // The region is judged against the source before any model runs: a thrown ParamError, as for
    // every parameter (the issue-11 rule for what only the input audio can judge).
    const run = generateMusic(
      engine,
      { ...base, taskType: 'repaint', srcAudio: srcWav, repaintingStart: -600, repaintingEnd: 600 },
      {},
      { onProgress: (e) => events.push(e) },
    );
    await expect(run).rejects.toThrow(ParamError);
    await expect(run).rejects.toThrow(/repaintingStart: .*1200\.00 s of output, over the 600 s limit/);
    expect(events.some((e) => e.stage === 'dit')).toBe(false);
  });
});

describe('LM entry points validate their arguments (defect 11)', () => {
  it('refuses string numbers, unknown options and cfgScale with ParamErrors', async () => {
    await expect(createSample(engine, { query: 'x' }, { topP: '0.5' } as never)).rejects.toThrow(
      /topP: must be a finite number or null, got "0.5"/,
    );
    await expect(createSample(engine, { query: 'x' }, { cfgScale: 0 } as never)).rejects.toThrow(
      /cfgScale: is not an option of the LM tasks/,
    );
    await expect(understandMusic(engine, { audioCodes: '<|audio_code_1|>' }, { tempreature: 0.5 } as never)).rejects.toThrow(ParamError);
    await expect(formatSample(engine, { caption: 'x', lyrics: '' }, null as never)).rejects.toThrow(/options: must be an object/);
  });

  it('refuses user metadata outside the LM vocabulary', async () => {
    const f = (userMetadata: Record<string, unknown>) =>
      formatSample(engine, { caption: 'rock', lyrics: 'la', userMetadata: userMetadata as never });
    await expect(f({ bpm: 999 })).rejects.toThrow(/userMetadata.bpm: must be an integer in \[30, 300\], got 999/);
    await expect(f({ bpm: 'fast' })).rejects.toThrow(/userMetadata.bpm: must be a number/);
    await expect(f({ duration: 5000 })).rejects.toThrow(/userMetadata.duration/);
    await expect(f({ keyscale: 'H major' })).rejects.toThrow(/userMetadata.keyscale/);
    await expect(f({ timesignature: '5' })).rejects.toThrow(/userMetadata.timesignature/);
    await expect(f({ language: 'klingon' })).rejects.toThrow(/userMetadata.language/);
    await expect(f({ tempo: 90 })).rejects.toThrow(/userMetadata.tempo: is not a metadata field/);
  });

  it('a query longer than the LM context fails with a message naming it, quickly', async () => {
    const t0 = performance.now();
    const r = await createSample(engine, { query: 'a long song about the sea '.repeat(40000) });
    expect(r.success).toBe(false);
    expect(r.error).toMatch(/prompt: the input takes more than 191 tokens: it does not fit the LM's context of 256/);
    // A hang bound: the whole megabyte would take 10+ s to tokenize.
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('a disposed engine (defect 13)', () => {
  it('audioToCodes says the engine was disposed', async () => {
    const e = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null });
    e.dispose();
    await expect(audioToCodes(e, srcWav)).rejects.toThrow(CheckpointError);
    await expect(audioToCodes(e, srcWav)).rejects.toThrow(/disposed/);
  });
});
