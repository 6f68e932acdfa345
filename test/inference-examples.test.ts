// The ten "Complete Examples" of upstream docs/en/INFERENCE.md run through the public API on the
// tiny checkpoints, each GenerationParams / GenerationConfig written literally as there (snake_case
// objects, upstream value forms such as keyscale "C Major"), each asserting what the example reads:
// paths, keys, seeds, the LM's metadata, the helpers' fields. Example 9 runs on the base DiT,
// Example 7 on an mp3 source. The tiny VAE runs at 200 Hz with hop 8 (25 latent frames per second),
// so a duration of d seconds is exactly 200*d samples when the LM writes 5*d codes for it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, createSample, formatSample, generateMusic, saveAudio, understandMusic, type ProgressEvent } from '../src/index.js';
import { BPM_RANGE, VALID_LANGUAGES, parseKeyscale, parseTimeSignature } from '../src/pipeline/lm/music-vocabulary.js';

const SR = 200;
let dir: string;
let engine: AceStep;
let mp3: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-examples-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  // A short LM context bounds what the random tiny LM writes when a free-text field or the codes run on.
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmMaxModelLen: 768 });
  // "original_pop_song.mp3": 6 s of two tones (mp3 is written at 48 kHz and read back at 200 Hz).
  const n = 6 * SR;
  const l = new Float32Array(n),
    r = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    l[i] = 0.5 * Math.sin((2 * Math.PI * 7 * i) / SR);
    r[i] = 0.3 * Math.sin((2 * Math.PI * 11 * i) / SR);
  }
  mp3 = join(dir, 'original_pop_song.mp3');
  await saveAudio(mp3, { sampleRate: SR, channels: [l, r] }, { format: 'mp3' });
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const codeCount = (codes: unknown) => (String(codes).match(/<\|audio_code_\d+\|>/g) ?? []).length;

/** What every successful example shares: saved files named by their keys, lengths that follow the codes. */
function expectSaved(result: Awaited<ReturnType<typeof generateMusic>>, count: number, ext: string): void {
  expect(result.success, result.error ?? '').toBe(true);
  expect(result.audios).toHaveLength(count);
  for (const audio of result.audios) {
    expect(audio.path).toBe(join(dir, 'output', `${audio.key}.${ext}`));
    expect(existsSync(audio.path!)).toBe(true);
    expect(audio.key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(audio.channels[0].length).toBe(result.extraOutputs.latentFrames * 8);
  }
}

const saveDir = () => ({ saveDir: join(dir, 'output') });

describe('upstream INFERENCE.md Complete Examples', () => {
  it('Example 1: simple text-to-music (keyscale "C Major", 60 s, two variations)', async () => {
    const params = {
      task_type: 'text2music',
      caption: 'calm ambient music with soft piano and strings',
      duration: 60,
      bpm: 80,
      keyscale: 'C Major',
    };
    const config = { batch_size: 2, audio_format: 'flac' };
    const result = await generateMusic(engine, params, config, saveDir());
    expectSaved(result, 2, 'flac');
    for (const audio of result.audios) {
      // thinking (default): the LM writes 5 codes per second of the 60 s asked.
      expect(codeCount(audio.params.audio_codes)).toBe(300);
      expect(audio.channels[0].length).toBe(60 * SR);
      expect(audio.params.keyscale).toBe('C Major');
      expect(audio.params.bpm).toBe(80);
    }
    // Phase 1 ran (the time signature was open) with the user's bpm injected into the CoT. (The
    // random tiny LM rambles in the caption field, so the later fields may not be reached.)
    expect((result.extraOutputs.lmMetadata as Record<string, unknown>).bpm).toBe(80);
    expect(result.extraOutputs.timeCosts.lm_phase1_time).toBeGreaterThan(0);
  });

  it('Example 2: song with lyrics (vocal_language "en", bpm 72, 45 s)', async () => {
    const params = {
      task_type: 'text2music',
      caption: 'pop ballad with emotional vocals',
      lyrics:
        "Verse 1:\nWalking down the street today\nThinking of the words you used to say\nEverything feels different now\nBut I'll find my way somehow\n\nChorus:\nI'm moving on, I'm staying strong\nThis is where I belong\n",
      vocal_language: 'en',
      bpm: 72,
      duration: 45,
    };
    const result = await generateMusic(engine, params, { batch_size: 1 }, saveDir());
    expectSaved(result, 1, 'flac');
    expect(result.audios[0].channels[0].length).toBe(45 * SR);
    expect(result.audios[0].params).toMatchObject({ vocal_language: 'en', bpm: 72, duration: 45 });
  });

  it('Example 3: custom timesteps (9 values ending in 0) run as 8 turbo steps', async () => {
    const params = {
      task_type: 'text2music',
      caption: 'jazz fusion with complex harmonies',
      timesteps: [0.97, 0.76, 0.615, 0.5, 0.395, 0.28, 0.18, 0.085, 0],
      thinking: true,
    };
    const events: ProgressEvent[] = [];
    const result = await generateMusic(engine, params, { batch_size: 1 }, { ...saveDir(), onProgress: (e) => events.push(e) });
    expectSaved(result, 1, 'flac');
    // The final 0 ends the schedule; each of the other eight values is one step.
    expect(events.filter((e) => e.stage === 'dit').map((e) => (e as { total: number }).total)).toEqual(new Array(8).fill(8));
    // No duration given: the LM's plan (its CoT duration when it wrote one) fixes the length through its codes.
    const m = result.extraOutputs.lmMetadata as Record<string, unknown>;
    if (m.duration !== undefined) expect(result.audios[0].params.cot_duration).toBe(Number(m.duration));
    expect(result.extraOutputs.latentFrames).toBe(Math.max(128, 5 * codeCount(result.audios[0].params.audio_codes)));
  });

  it('Example 4: shift 3 with 8 ODE steps on the turbo model', async () => {
    const params = {
      task_type: 'text2music',
      caption: 'upbeat electronic dance music',
      inference_steps: 8,
      shift: 3.0,
      infer_method: 'ode',
    };
    const events: ProgressEvent[] = [];
    const result = await generateMusic(engine, params, { batch_size: 2 }, { ...saveDir(), onProgress: (e) => events.push(e) });
    expectSaved(result, 2, 'flac');
    expect(events.filter((e) => e.stage === 'dit')).toHaveLength(8);
    for (const audio of result.audios) expect(audio.params).toMatchObject({ shift: 3, inference_steps: 8, infer_method: 'ode' });
    expect(result.statusMessage).not.toMatch(/warning/);
  });

  it('Example 5: simple mode, create_sample then generate_music with its fields', async () => {
    const sample = await createSample(engine, { query: 'energetic K-pop dance track with catchy hooks', vocal_language: 'ko' });
    expect(sample.success, sample.error ?? '').toBe(true);
    // The requested language is injected into the LM's metadata when the LM reaches that field.
    if (sample.language) expect(sample.language).toBe('ko');
    expect(Number.isInteger(sample.seed)).toBe(true);
    const params = {
      caption: sample.caption,
      lyrics: sample.lyrics,
      bpm: sample.bpm,
      duration: sample.duration,
      keyscale: sample.keyscale,
      vocal_language: sample.language,
      thinking: true,
    };
    const result = await generateMusic(engine, params, { batch_size: 2 }, saveDir());
    expectSaved(result, 2, 'flac');
    // The sample's fields go through verbatim (a language the random LM left empty is '' = unknown).
    for (const audio of result.audios)
      expect(audio.params).toMatchObject({ vocal_language: sample.language, keyscale: sample.keyscale, caption: sample.caption });
  });

  it('Example 6: format_sample, then generate with use_cot_metas off', async () => {
    const formatted = await formatSample(engine, { caption: 'rock ballad', lyrics: '[Verse]\nIn the darkness I find my way...' });
    expect(formatted.success, formatted.error ?? '').toBe(true);
    if (formatted.bpm !== null) expect(formatted.bpm).toBeGreaterThanOrEqual(BPM_RANGE[0]);
    const params = {
      caption: formatted.caption,
      lyrics: formatted.lyrics,
      bpm: formatted.bpm,
      duration: formatted.duration,
      keyscale: formatted.keyscale,
      thinking: true,
      use_cot_metas: false,
    };
    const events: ProgressEvent[] = [];
    const result = await generateMusic(engine, params, { batch_size: 2 }, { ...saveDir(), onProgress: (e) => events.push(e) });
    expectSaved(result, 2, 'flac');
    // use_cot_metas=False: no Phase 1; Phase 2 still writes the codes (thinking).
    expect(events.some((e) => e.stage === 'lm' && e.phase === 1)).toBe(false);
    for (const audio of result.audios) expect(codeCount(audio.params.audio_codes)).toBeGreaterThan(0);
  });

  it('Example 7: style cover of an mp3 with thinking on: upstream skips the LM for cover, so lm_metadata is empty', async () => {
    const params = {
      task_type: 'cover',
      src_audio: mp3,
      caption: 'orchestral symphonic arrangement',
      audio_cover_strength: 0.7,
      thinking: true,
      use_cot_metas: true,
    };
    const result = await generateMusic(engine, params, { batch_size: 1 }, saveDir());
    expectSaved(result, 1, 'flac');
    // `if result.extra_outputs.get("lm_metadata")` is false upstream too: the cover keeps its source.
    expect(result.extraOutputs.lmMetadata).toBeNull();
    expect(result.extraOutputs.latentFrames).toBe(150);
    expect(result.audios[0].channels[0].length).toBe(6 * SR);
  });

  it('Example 8: batch of 4 with 3 seeds (the 4th random), LM chunks of 2', async () => {
    const params = { task_type: 'text2music', caption: 'epic cinematic trailer music' };
    const config = { batch_size: 4, seeds: [42, 123, 456], use_random_seed: false, lm_batch_chunk_size: 2 };
    const result = await generateMusic(engine, params, config, saveDir());
    expectSaved(result, 4, 'flac');
    const seeds = result.audios.map((a) => a.params.seed as number);
    expect(seeds.slice(0, 3)).toEqual([42, 123, 456]);
    expect(Number.isInteger(seeds[3]) && seeds[3] >= 0).toBe(true);
    expect(new Set(result.audios.map((a) => a.key)).size).toBe(4);
  });

  it('Example 9: high quality on the base model (64 steps, CFG 8 with ADG, shift 3, seed 42, wav)', async () => {
    const base = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', ditModel: 'acestep-v15-base', lmMaxModelLen: 384 });
    try {
      const params = {
        task_type: 'text2music',
        caption: 'intricate jazz fusion with complex harmonies',
        inference_steps: 64,
        guidance_scale: 8.0,
        use_adg: true,
        cfg_interval_start: 0.0,
        cfg_interval_end: 1.0,
        shift: 3.0,
        seed: 42,
      };
      const config = { batch_size: 1, use_random_seed: false, audio_format: 'wav' };
      const events: ProgressEvent[] = [];
      const result = await generateMusic(base, params, config, { ...saveDir(), onProgress: (e) => events.push(e) });
      expectSaved(result, 1, 'wav');
      expect(result.audios[0].params.seed).toBe(42);
      expect(events.filter((e) => e.stage === 'dit')).toHaveLength(64);
      expect(result.audios[0].params).toMatchObject({ inference_steps: 64, guidance_scale: 8, use_adg: true, shift: 3 });
    } finally {
      base.dispose();
    }
  });

  it('Example 10: understand_music from codes at temperature 0.85', async () => {
    const result = await understandMusic(engine, { audio_codes: '<|audio_code_10695|><|audio_code_54246|>...', temperature: 0.85 });
    expect(result.success, result.error ?? '').toBe(true);
    expect(typeof result.caption).toBe('string');
    expect(typeof result.lyrics).toBe('string');
    if (result.bpm !== null) {
      expect(result.bpm).toBeGreaterThanOrEqual(BPM_RANGE[0]);
      expect(result.bpm).toBeLessThanOrEqual(BPM_RANGE[1]);
    }
    if (result.keyscale) expect(parseKeyscale(result.keyscale)).not.toBeNull();
    if (result.timesignature) expect(parseTimeSignature(result.timesignature)).not.toBeNull();
    if (result.duration !== null) expect(result.duration).toBeGreaterThan(0);
    if (result.language) expect(VALID_LANGUAGES).toContain(result.language);
  });
});
