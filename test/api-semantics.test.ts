// Upstream semantics through generateMusic and the LM helpers on the tiny checkpoints: Phase 1
// without thinking (duration from the LM's CoT), the turbo step cap recorded and warned, timesteps
// and repaint regions refused before any model runs, a failed save that keeps the audio, upstream's
// time-cost keys and lm_metadata dict, constrained_decoding_debug, and the helpers' defaults
// (temperature 0.85, a random reported seed, -1 = random). The LM context is kept short (512) so the
// random tiny LM's free-text fields end quickly.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, createSample, generateMusic, ParamError, understandMusic, type ProgressEvent } from '../src/index.js';
import { writeWav } from '../src/io/audio/index.js';

const SR = 200;
let dir: string;
let engine: AceStep;
let srcWav: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-api-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmMaxModelLen: 512 });
  const n = 6 * SR;
  const l = new Float32Array(n).map((_, i) => 0.5 * Math.sin((2 * Math.PI * 7 * i) / SR));
  srcWav = join(dir, 'src.wav');
  writeFileSync(srcWav, writeWav({ sampleRate: SR, channels: [l, l] }, true));
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const noLm = { thinking: false, use_cot_metas: false, use_cot_caption: false, use_cot_language: false };
const fixed = (seeds: number[]) => ({ batch_size: seeds.length, use_random_seed: false, seeds, audio_format: 'wav' });

describe('thinking and use_cot_* through generateMusic', () => {
  it('thinking off with use_cot_metas on: Phase 1 alone chooses the duration, no codes are written', async () => {
    const events: ProgressEvent[] = [];
    const params = { caption: 'slow blues', thinking: false, use_cot_caption: false, use_cot_language: false, inference_steps: 2 };
    const r = await generateMusic(engine, params, fixed([5]), { onProgress: (e) => events.push(e) });
    expect(r.success, r.error ?? '').toBe(true);
    const m = r.extraOutputs.lmMetadata as Record<string, unknown>;
    const d = Number(m.duration);
    // The FSM writes an integer duration in [10, 600]; the DiT runs 25 frames per second of it.
    expect(Number.isInteger(d) && d >= 10 && d <= 600).toBe(true);
    expect(r.extraOutputs.latentFrames).toBe(25 * d);
    expect(r.audios[0].params).toMatchObject({ audio_codes: '', cot_duration: d, cot_bpm: Number(m.bpm), cot_keyscale: m.keyscale });
    expect(r.extraOutputs.effectiveTask).toBe('text2music');
    expect(events.some((e) => e.stage === 'lm' && e.phase === 1)).toBe(true);
    expect(events.some((e) => e.stage === 'lm' && e.phase === 2)).toBe(false);
    expect(r.extraOutputs.timeCosts.lm_phase1_time).toBeGreaterThan(0);
    expect(r.extraOutputs.timeCosts.lm_phase2_time).toBeCloseTo(0, 1);
  });

  it('lego and complete get the CoT but no codes: their source fixes the length', async () => {
    for (const task of ['lego', 'complete'] as const) {
      const params = {
        task_type: task,
        src_audio: srcWav,
        track_name: 'guitar',
        complete_track_classes: ['drums'],
        use_cot_caption: false,
        use_cot_language: false,
        inference_steps: 1,
      };
      const r = await generateMusic(engine, params, fixed([4]));
      expect(r.success, r.error ?? '').toBe(true);
      expect(r.extraOutputs.lmMetadata, task).not.toBeNull();
      expect(r.audios[0].params.audio_codes).toBe('');
      expect(r.extraOutputs.latentFrames).toBe(150);
      expect(r.audios[0].channels[0].length).toBe(6 * SR);
    }
  });

  it('everything off: no LM, the 120 s fallback; time costs under upstream names', async () => {
    const r = await generateMusic(engine, { caption: 'x', ...noLm, inference_steps: 2 }, fixed([5]));
    expect(r.success, r.error ?? '').toBe(true);
    expect(r.extraOutputs.lmMetadata).toBeNull();
    expect(r.extraOutputs.latentFrames).toBe(3000);
    const tc = r.extraOutputs.timeCosts;
    for (const k of [
      'dit_encoder_time_cost',
      'dit_diffusion_time_cost',
      'dit_diffusion_per_step_time_cost',
      'dit_vae_decode_time_cost',
      'dit_total_time_cost',
      'pipeline_total_time',
    ]) {
      expect(tc[k], k).toBeGreaterThan(0);
    }
    expect(tc.dit_diffusion_per_step_time_cost).toBeCloseTo(tc.dit_diffusion_time_cost / 2, 9);
    expect(tc.dit_total_time_cost).toBeCloseTo(tc.dit_encoder_time_cost + tc.dit_diffusion_time_cost + tc.dit_vae_decode_time_cost, 9);
    expect(tc.lm_total_time).toBeUndefined();
  });

  it('constrained_decoding_debug reports the FSM decisions through onDebug', async () => {
    const lines: string[] = [];
    const params = {
      caption: 'x',
      thinking: false,
      use_cot_caption: false,
      use_cot_language: false,
      duration: 6,
      bpm: 100,
      inference_steps: 1,
    };
    const r = await generateMusic(engine, params, { ...fixed([2]), constrained_decoding_debug: true }, { onDebug: (m) => lines.push(m) });
    expect(r.success, r.error ?? '').toBe(true);
    // The user's bpm and duration are injected; key and time signature are chosen under the FSM.
    expect(lines.some((l) => /^\[fsm phase 1\] step \d+ state KEYSCALE_VALUE: \d+ token\(s\) allowed/.test(l))).toBe(true);
    expect(lines.some((l) => /^\[fsm phase 1\] chose \d+ .*: TIMESIG_VALUE -> /.test(l))).toBe(true);
    const quiet: string[] = [];
    await generateMusic(engine, params, fixed([2]), { onDebug: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });
});

describe('steps, timesteps and regions', () => {
  it('turbo with 20 steps runs 8, records 8 and warns', async () => {
    const events: ProgressEvent[] = [];
    const r = await generateMusic(engine, { caption: 'x', ...noLm, duration: 6, inference_steps: 20 }, fixed([1]), {
      onProgress: (e) => events.push(e),
    });
    expect(r.success, r.error ?? '').toBe(true);
    expect(events.filter((e) => e.stage === 'dit')).toHaveLength(8);
    expect(r.audios[0].params.inference_steps).toBe(8);
    expect(r.statusMessage).toMatch(/ran 8 of the 20 asked/);
  });

  it('unsorted timesteps and a region past the source are ParamErrors before any model runs', async () => {
    let progressed = false;
    const onProgress = () => (progressed = true);
    const unsorted = await generateMusic(engine, { caption: 'x', timesteps: [0.3, 0.8, 0] }, fixed([1]), { onProgress }).catch(
      (e: unknown) => e,
    );
    expect(unsorted).toBeInstanceOf(ParamError);
    expect((unsorted as ParamError).param).toBe('timesteps');
    for (const [task, start] of [
      ['repaint', 7],
      ['lego', 6],
    ] as const) {
      const e = await generateMusic(
        engine,
        { ...noLm, task_type: task, src_audio: srcWav, repainting_start: start, repainting_end: 9 },
        fixed([1]),
        { onProgress },
      ).catch((x: unknown) => x);
      expect(e, task).toBeInstanceOf(ParamError);
      expect((e as ParamError).param).toBe('repaintingStart');
      expect((e as ParamError).message).toMatch(/6\.00 s/);
    }
    expect(progressed).toBe(false);
    // Outpainting that starts at the source's end stays valid (it extends the song).
    const extend = await generateMusic(
      engine,
      { ...noLm, task_type: 'repaint', src_audio: srcWav, repainting_start: 6, repainting_end: 8, inference_steps: 1 },
      fixed([1]),
    );
    expect(extend.success, extend.error ?? '').toBe(true);
    expect(extend.extraOutputs.latentFrames).toBe(200);
  });

  it('base/SFT custom timesteps need a step', async () => {
    const base = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', ditModel: 'acestep-v15-base', lmModel: null });
    try {
      const e = await generateMusic(base, { caption: 'x', timesteps: [0.5] }, fixed([1])).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ParamError);
      expect((e as ParamError).message).toMatch(/at least two values/);
    } finally {
      base.dispose();
    }
  });
});

describe('results', () => {
  it('a file that cannot be written keeps the audio in memory with path "" and says why', async () => {
    const params = { caption: 'x', ...noLm, duration: 6, inference_steps: 1 };
    const mem = await generateMusic(engine, params, fixed([3]));
    const out = join(dir, 'blocked');
    // A folder where the file should go: no up-front check can see this coming.
    mkdirSync(join(out, `${mem.audios[0].key}.wav`), { recursive: true });
    const r = await generateMusic(engine, params, fixed([3]), { saveDir: out });
    expect(r.success).toBe(true);
    expect(r.audios[0].path).toBe('');
    expect(r.audios[0].channels[0]).toEqual(mem.audios[0].channels[0]);
    expect(r.statusMessage).toMatch(/audio 1 was not saved \(.*\); it is kept in memory/);
  });
});

describe('LM helpers', () => {
  const codes = '<|audio_code_10695|><|audio_code_54246|><|audio_code_7|>';

  it('default to temperature 0.85 and a random seed that the result reports; -1 = random', async () => {
    const a = await createSample(engine, { query: 'lofi beat', instrumental: true });
    const b = await createSample(engine, { query: 'lofi beat', instrumental: true, seed: -1 });
    for (const r of [a, b]) expect(r.success, r.error ?? '').toBe(true);
    expect(a.seed).not.toBe(b.seed);
    // The reported seed reproduces the sample; the default temperature is 0.85.
    const again = await createSample(engine, { query: 'lofi beat', instrumental: true }, { seed: a.seed, temperature: 0.85 });
    expect({ ...again, statusMessage: '' }).toEqual({ ...a, statusMessage: '' });
    const u = await understandMusic(engine, { audio_codes: codes, seed: 9 });
    const u85 = await understandMusic(engine, {
      audio_codes: codes,
      seed: 9,
      temperature: 0.85,
      top_k: 0,
      top_p: 1.0,
      repetition_penalty: 1.0,
    });
    expect(u.success, u.error ?? '').toBe(true);
    expect(u85).toEqual(u);
    expect(u.seed).toBe(9);
    // understand_music(llm_handler, audio_codes, ...): the codes as the positional argument.
    expect(await understandMusic(engine, codes, { seed: 9 })).toEqual(u);
  });

  it('accept upstream keyword names, empty codes ("NO USER INPUT") and the debug flag; unknown names are ParamErrors', async () => {
    const lines: string[] = [];
    const r = await understandMusic(engine, {
      audio_codes: '',
      constrained_decoding_debug: true,
      onDebug: (m: string) => lines.push(m),
      seed: 1,
    });
    expect(r.success, r.error ?? '').toBe(true);
    expect(lines.some((l) => l.startsWith('[fsm phase 1]'))).toBe(true);
    const e = await understandMusic(engine, { audio_codes: codes, temprature: 0.5 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ParamError);
    expect((e as ParamError).param).toBe('temprature');
  });
});
