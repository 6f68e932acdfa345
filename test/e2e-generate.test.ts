// End-to-end generateMusic on tiny random checkpoints in the official layout (written by
// scripts/make-tiny-checkpoints.ts into a temp dir): every task type through the public API,
// exact output lengths (T = max(128, 25*d) latent frames, T*hop samples; the tiny VAE runs at
// 200 Hz with hop 8, i.e. 25 latent frames per second like the real 48 kHz / 1920 one), seed
// determinism, LM planning (codes -> cover relabel, FSM metadata parseable with random weights),
// progress events, abort, saving in each format, and parameter validation before any work.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, flush, generateMusic, memoryStats, ParamError, type ProgressEvent } from '../src/index.js';
import { REFERENCE_SECONDS } from '../src/pipeline/generate.js';
import { Tensor } from '../src/runtime/index.js';
import { silenceBatch } from '../src/pipeline/task-assembly.js';
import { decodeAudio, writeWav } from '../src/io/audio/index.js';
import { VALID_KEYSCALES, VALID_TIME_SIGNATURES, BPM_RANGE } from '../src/pipeline/lm/music-vocabulary.js';
import { settleMemory } from './support/memory.js';

let dir: string;
let engine: AceStep;
let srcWav: string;
const SR = 200;

/** A 6 s stereo test tone at the tiny VAE's rate. */
function writeSource(path: string, seconds: number): void {
  const n = seconds * SR;
  const l = new Float32Array(n),
    r = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    l[i] = 0.5 * Math.sin((2 * Math.PI * 7 * i) / SR);
    r[i] = 0.3 * Math.sin((2 * Math.PI * 11 * i) / SR + 0.5);
  }
  writeFileSync(path, writeWav({ sampleRate: SR, channels: [l, r] }, true));
}

// Upstream runs the LM's CoT whenever a use_cot_* flag is on, thinking or not: off here, so these
// cases run the DiT alone unless they turn the LM on.
const noLm = { thinking: false, useCotMetas: false, useCotCaption: false, useCotLanguage: false };
const base = { caption: 'calm piano with soft strings', lyrics: '[verse]\nla la la', ...noLm, inferenceSteps: 4 };
const fixed = (seeds: number[]) => ({ batchSize: seeds.length, useRandomSeed: false, seeds, audioFormat: 'wav32' as const });

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-e2e-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmMaxModelLen: 1024 });
  srcWav = join(dir, 'src.wav');
  writeSource(srcWav, 6);
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('generateMusic end to end (tiny checkpoints)', () => {
  it('loads the official layout with the LM deferred', () => {
    expect(engine.variant).toBe('turbo');
    expect(engine.frameRate).toBe(25);
    expect(engine.hasLm).toBe(true);
    expect(engine.lmLoaded).toBe(false);
  });

  it('text2music: exact length, saved files, same seed -> identical, other seed -> different', async () => {
    const out = join(dir, 'out1');
    const r = await generateMusic(engine, { ...base, duration: 6 }, fixed([11, 12]), { saveDir: out });
    expect(r.error).toBeNull();
    expect(r.success).toBe(true);
    expect(r.extraOutputs.latentFrames).toBe(150);
    expect(r.audios).toHaveLength(2);
    for (const a of r.audios) {
      expect(a.channels.map((c) => c.length)).toEqual([1200, 1200]);
      expect(a.sampleRate).toBe(SR);
      const back = await decodeAudio(readFileSync(a.path!), a.path!);
      expect(back.channels[0].length).toBe(1200);
      expect(a.path!.endsWith(`${a.key}.wav`)).toBe(true);
      // Peak normalisation to -1 dB (the default): the peak is 10^(-1/20).
      const peak = Math.max(...a.channels.map((c) => c.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
      expect(peak).toBeCloseTo(10 ** (-1 / 20), 5);
    }
    expect(r.audios.map((a) => a.params.seed)).toEqual([11, 12]);
    expect(readdirSync(out).sort()).toEqual(r.audios.map((a) => `${a.key}.wav`).sort());
    // Different seeds give different audio; the same seed reproduces item 0 bit for bit.
    expect(maxDiff(r.audios[0].channels[0], r.audios[1].channels[0])).toBeGreaterThan(1e-3);
    const again = await generateMusic(engine, { ...base, duration: 6 }, fixed([11]));
    expect(again.success).toBe(true);
    expect(maxDiff(again.audios[0].channels[0], r.audios[0].channels[0])).toBe(0);
    expect(again.audios[0].key).toBe(r.audios[0].key);
  });

  it('SDE sampling and custom timesteps run and are reproducible from the seed', async () => {
    const p = { ...base, duration: 6, inferMethod: 'sde' as const, timesteps: [1, 0.75, 0.5, 0.25] };
    const a = await generateMusic(engine, p, fixed([17]));
    const b = await generateMusic(engine, p, fixed([17]));
    const ode = await generateMusic(engine, { ...p, inferMethod: 'ode' }, fixed([17]));
    for (const r of [a, b, ode]) expect(r.success, r.error ?? '').toBe(true);
    expect(maxDiff(a.audios[0].channels[0], b.audios[0].channels[0])).toBe(0);
    expect(maxDiff(a.audios[0].channels[0], ode.audios[0].channels[0])).toBeGreaterThan(1e-4);
  });

  it('short durations get the 128-frame minimum; a single seed with batch 2 randomises item 1', async () => {
    const r = await generateMusic(engine, { ...base, duration: 2, seed: 5 }, { batchSize: 2, useRandomSeed: false, audioFormat: 'wav' });
    expect(r.success, r.error ?? '').toBe(true);
    expect(r.extraOutputs.latentFrames).toBe(128);
    expect(r.audios[0].channels[0].length).toBe(128 * 8);
    expect(r.extraOutputs.seeds[0]).toBe(5);
    expect(r.extraOutputs.seeds[1]).not.toBe(5);
  });

  it('thinking with all metas: the LM writes int(5*d) codes and the task runs as cover', async () => {
    const events: ProgressEvent[] = [];
    const r = await generateMusic(
      engine,
      { ...base, thinking: true, duration: 6, bpm: 120, keyscale: 'C major', timesignature: '4' },
      fixed([3]),
      { onProgress: (e) => events.push(e) },
    );
    expect(r.success, r.error ?? '').toBe(true);
    expect(engine.lmLoaded).toBe(true);
    const codes = String(r.audios[0].params.audio_codes).match(/<\|audio_code_\d+\|>/g) ?? [];
    expect(codes).toHaveLength(30);
    expect(r.extraOutputs.effectiveTask).toBe('cover');
    expect(r.extraOutputs.latentFrames).toBe(150);
    // The LM plan is seeded: the same seed writes the same codes.
    const again = await generateMusic(
      engine,
      { ...base, thinking: true, duration: 6, bpm: 120, keyscale: 'C major', timesignature: '4' },
      fixed([3]),
    );
    expect(again.audios[0].params.audio_codes).toBe(r.audios[0].params.audio_codes);
    expect(events.some((e) => e.stage === 'lm' && e.phase === 2)).toBe(true);
    expect(events.some((e) => e.stage === 'lm' && e.phase === 1)).toBe(false);
    const dit = events.filter((e) => e.stage === 'dit');
    expect(dit.map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4]);
    expect(events.some((e) => e.stage === 'vae')).toBe(true);
  });

  it('thinking without metas: Phase 1 metadata from the FSM parses into valid values', async () => {
    // The caption is free text (random weights ramble until the token budget); with it off, Phase 1
    // writes only FSM-constrained fields, which keeps this test short.
    const r = await generateMusic(engine, { ...base, thinking: true, duration: 6, useCotMetas: true }, fixed([8]));
    expect(r.success, r.error ?? '').toBe(true);
    const m = r.extraOutputs.lmMetadata as Record<string, unknown>;
    const bpm = Number(m.bpm);
    expect(bpm).toBeGreaterThanOrEqual(BPM_RANGE[0]);
    expect(bpm).toBeLessThanOrEqual(BPM_RANGE[1]);
    expect(VALID_KEYSCALES).toContain(m.keyscale);
    expect(VALID_TIME_SIGNATURES.map(String)).toContain(String(m.timesignature));
    expect(Number.isInteger(Number(m.duration))).toBe(true);
    expect(r.audios[0].params.bpm).toBeNull();
    expect(r.extraOutputs.timeCosts.lm_phase1_time).toBeGreaterThan(0);
  });

  it('given audio codes: text2music runs as cover and T = 5 frames per code (128 minimum)', async () => {
    const codes = (n: number) => Array.from({ length: n }, (_, i) => `<|audio_code_${(i * 104729) % 64000}|>`).join('');
    const long = await generateMusic(engine, { ...base, audioCodes: codes(30) }, fixed([6]));
    expect(long.success, long.error ?? '').toBe(true);
    expect(long.extraOutputs.effectiveTask).toBe('cover');
    expect(long.extraOutputs.latentFrames).toBe(150);
    const short = await generateMusic(engine, { ...base, taskType: 'cover', audioCodes: codes(10) }, fixed([6]));
    expect(short.success, short.error ?? '').toBe(true);
    expect(short.extraOutputs.latentFrames).toBe(128);
    expect(short.audios[0].channels[0].length).toBe(128 * 8);
  });

  it('batch 2 with thinking: Phase 1 is shared, Phase 2 runs per item with its own seed', async () => {
    const r = await generateMusic(engine, { ...base, thinking: true, duration: 6, useCotMetas: true }, fixed([31, 32]));
    expect(r.success, r.error ?? '').toBe(true);
    // One metadata dict for the batch (upstream's lm_metadata), filled into both items' records.
    const m = r.extraOutputs.lmMetadata as Record<string, unknown>;
    expect(Array.isArray(m)).toBe(false);
    for (const a of r.audios) expect(a.params.cot_bpm).toBe(Number(m.bpm));
    const [c0, c1] = r.audios.map((a) => String(a.params.audio_codes));
    expect(c0.match(/<\|audio_code_\d+\|>/g)).toHaveLength(30);
    expect(c1.match(/<\|audio_code_\d+\|>/g)).toHaveLength(30);
    expect(c1).not.toBe(c0);
  });

  it('allowLmBatch: the items of Phase 2 run as one CFG batch, reproducibly', async () => {
    const params = { ...base, thinking: true, duration: 6, bpm: 100, keyscale: 'C major', timesignature: '4' };
    const config = { ...fixed([41, 42]), allowLmBatch: true, lmBatchChunkSize: 2 };
    const r = await generateMusic(engine, params, config);
    expect(r.success, r.error ?? '').toBe(true);
    const [c0, c1] = r.audios.map((a) => String(a.params.audio_codes));
    expect(c0.match(/<\|audio_code_\d+\|>/g)).toHaveLength(30);
    expect(c1.match(/<\|audio_code_\d+\|>/g)).toHaveLength(30);
    expect(c1).not.toBe(c0);
    const again = await generateMusic(engine, params, config);
    expect(again.audios.map((a) => a.params.audio_codes)).toEqual([c0, c1]);
  });

  it.each(['cover', 'cover-nofsq', 'extract', 'complete'] as const)('%s: output length equals the source', async (task) => {
    const r = await generateMusic(
      engine,
      {
        ...base,
        taskType: task,
        srcAudio: srcWav,
        trackName: task === 'extract' ? 'vocals' : '',
        completeTrackClasses: task === 'complete' ? ['drums', 'bass'] : [],
      },
      fixed([21]),
    );
    expect(r.success, r.error ?? '').toBe(true);
    expect(r.extraOutputs.latentFrames).toBe(150);
    expect(r.audios[0].channels[1].length).toBe(1200);
  });

  it('lego with a range and cover with audio_cover_strength < 1 and cover noise', async () => {
    const lego = await generateMusic(
      engine,
      { ...base, taskType: 'lego', srcAudio: srcWav, trackName: 'guitar', repaintingStart: 1, repaintingEnd: 4, chunkMaskMode: 'explicit' },
      fixed([2]),
    );
    expect(lego.success, lego.error ?? '').toBe(true);
    expect(lego.audios[0].channels[0].length).toBe(1200);
    const cov = await generateMusic(
      engine,
      { ...base, taskType: 'cover', srcAudio: srcWav, audioCoverStrength: 0.5, coverNoiseStrength: 0.3 },
      fixed([2]),
    );
    expect(cov.success, cov.error ?? '').toBe(true);
    expect(cov.audios[0].channels[0].length).toBe(1200);
    // The non-cover condition set is built for any task once audio_cover_strength < 1 (UPSTREAM.md:
    // Cover strength and noise).
    const t2m = await generateMusic(engine, { ...base, duration: 6, audioCoverStrength: 0.5 }, fixed([2]));
    expect(t2m.success, t2m.error ?? '').toBe(true);
  });

  it('repaint keeps the source outside the region (waveform splice) and outpaints past the end', async () => {
    const r = await generateMusic(
      engine,
      { ...base, taskType: 'repaint', srcAudio: srcWav, repaintingStart: 2, repaintingEnd: 4, enableNormalization: false },
      fixed([4]),
    );
    expect(r.success, r.error ?? '').toBe(true);
    const out = r.audios[0].channels[0];
    expect(out.length).toBe(1200);
    // Before start - crossfade (0.025 s = 5 samples) the splice returns the source, up to the one
    // gain of the handler's peak limit (peak > 1 -> divide by it): out/src is one constant <= 1.
    const src = (i: number) => 0.5 * Math.sin((2 * Math.PI * 7 * i) / SR);
    const gain = out[10] / src(10);
    expect(gain).toBeGreaterThan(0);
    // wav32 stores the source in f32, so an unscaled splice can read 1 + 1e-8.
    expect(gain).toBeLessThanOrEqual(1 + 1e-6);
    for (const i of [3, 100, 201, 350, 390]) expect(out[i]).toBeCloseTo(gain * src(i), 5);
    // Inside the region the output is generated, not the source.
    let diff = 0;
    for (let i = 420; i < 780; i++) diff = Math.max(diff, Math.abs(out[i] - gain * src(i)));
    expect(diff).toBeGreaterThan(1e-3);
    const outpaint = await generateMusic(
      engine,
      { ...base, taskType: 'repaint', srcAudio: srcWav, repaintingStart: 4, repaintingEnd: 8 },
      fixed([4]),
    );
    expect(outpaint.success, outpaint.error ?? '').toBe(true);
    expect(outpaint.extraOutputs.latentFrames).toBe(200);
    expect(outpaint.audios[0].channels[0].length).toBe(1600);
  });

  it('base model: CFG (APG and ADG, Heun) runs through the pipeline and guidance changes the result', async () => {
    const baseEngine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', ditModel: 'acestep-v15-base', lmModel: null });
    try {
      expect(baseEngine.variant).toBe('base');
      const steps = {
        ...base,
        duration: 6,
        inferenceSteps: 6,
        shift: 3,
        taskType: 'extract' as const,
        srcAudio: srcWav,
        trackName: 'drums',
      };
      const plain = await generateMusic(baseEngine, { ...steps, guidanceScale: 1 }, fixed([9]));
      const apg = await generateMusic(baseEngine, { ...steps, guidanceScale: 5, cfgIntervalEnd: 0.95 }, fixed([9]));
      const adg = await generateMusic(baseEngine, { ...steps, guidanceScale: 5, useAdg: true, samplerMode: 'heun' }, fixed([9]));
      for (const r of [plain, apg, adg]) {
        expect(r.success, r.error ?? '').toBe(true);
        expect(r.audios[0].channels[0].length).toBe(1200);
      }
      expect(maxDiff(plain.audios[0].channels[0], apg.audios[0].channels[0])).toBeGreaterThan(1e-4);
      expect(maxDiff(apg.audios[0].channels[0], adg.audios[0].channels[0])).toBeGreaterThan(1e-4);
    } finally {
      baseEngine.dispose();
    }
  });

  it('reference audio changes the result; fades ramp the ends to zero', async () => {
    const plain = await generateMusic(engine, { ...base, duration: 6 }, fixed([13]));
    const ref = await generateMusic(
      engine,
      { ...base, duration: 6, referenceAudio: srcWav, fadeInDuration: 0.5, fadeOutDuration: 1 },
      fixed([13]),
    );
    expect(ref.success, ref.error ?? '').toBe(true);
    const a = plain.audios[0].channels[0],
      b = ref.audios[0].channels[0];
    // Compare the middle, away from the fades.
    expect(maxDiff(a.subarray(300, 900), b.subarray(300, 900))).toBeGreaterThan(1e-4);
    expect(Math.abs(b[0])).toBe(0);
    expect(Math.abs(b[b.length - 1])).toBe(0);
    // Fade-in over round(0.5 * 200) = 100 samples: sample k is scaled by k / 99 (linspace, both ends).
    const fadeRef = await generateMusic(engine, { ...base, duration: 6, referenceAudio: srcWav, fadeOutDuration: 1 }, fixed([13]));
    const c = fadeRef.audios[0].channels[0];
    for (const k of [10, 50, 98]) expect(b[k]).toBeCloseTo((c[k] * k) / 99, 6);
  });

  it('saves flac and mp3 with the format extension', async () => {
    const out = join(dir, 'fmt');
    for (const fmt of ['flac', 'mp3'] as const) {
      const r = await generateMusic(engine, { ...base, duration: 6 }, { ...fixed([1]), audioFormat: fmt }, { saveDir: out });
      expect(r.success, r.error ?? '').toBe(true);
      expect(r.audios[0].path!.endsWith(`.${fmt}`)).toBe(true);
      const back = await decodeAudio(readFileSync(r.audios[0].path!), r.audios[0].path!);
      // mp3 is resampled to 48 kHz (mp3 has no 200 Hz mode): 6 s either way.
      expect(back.channels[0].length / back.sampleRate).toBeCloseTo(6, 2);
    }
  });

  it('abort between DiT steps returns success=false with ERR_ABORTED', async () => {
    const ac = new AbortController();
    const r = await generateMusic(engine, { ...base, duration: 6 }, fixed([1]), {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.stage === 'dit' && e.step === 1) ac.abort();
      },
    });
    expect(r.success).toBe(false);
    expect(r.errorCode).toBe('ERR_ABORTED');
    expect(r.audios).toEqual([]);
  });

  it('generations free every native tensor they allocate (success, failure and abort)', async () => {
    const codes = Array.from({ length: 30 }, (_, i) => `<|audio_code_${i * 11}|>`).join('');
    let during = 0;
    const ac = new AbortController();
    const runs = [
      () =>
        generateMusic(engine, { ...base, duration: 6 }, fixed([1, 2]), {
          onProgress: () => (during = Math.max(during, memoryStats().cpu.inUse)),
        }),
      () =>
        generateMusic(
          engine,
          { ...base, taskType: 'cover', srcAudio: srcWav, audioCoverStrength: 0.5, referenceAudio: srcWav },
          fixed([1]),
        ),
      () => generateMusic(engine, { ...base, taskType: 'repaint', srcAudio: srcWav, repaintingStart: 1, repaintingEnd: 3 }, fixed([1])),
      () => generateMusic(engine, { ...base, audioCodes: codes }, fixed([1, 2])),
      () => generateMusic(engine, { ...base, taskType: 'cover', srcAudio: join(dir, 'missing.wav') }, fixed([1])),
      () =>
        generateMusic(engine, { ...base, duration: 6 }, fixed([1]), {
          signal: ac.signal,
          onProgress: (e) => e.stage === 'dit' && ac.abort(),
        }),
    ];
    // The engine keeps the silence reference's timbre embedding from its first use on (engine
    // state, not a generation's): take it before the first measurement.
    await engine.silenceTimbre(Math.round(REFERENCE_SECONDS * engine.frameRate));
    for (const run of runs) {
      await settleMemory();
      const before = memoryStats().cpu.inUse;
      const r = await run();
      await flush();
      expect(memoryStats().cpu.inUse, r.error ?? r.statusMessage).toBe(before);
      // The check can fail: a run holds far more than the idle engine while it works.
      if (run === runs[0]) expect(during).toBeGreaterThan(before);
    }
    expect(ac.signal.aborted).toBe(true);
  });

  it('the silence reference timbre is encoded once per engine, bit-identical to encoding it per call', async () => {
    const frames = Math.round(REFERENCE_SECONDS * engine.frameRate);
    const C = engine.silenceLatent.shape[2];
    const sil = { data: await engine.silenceLatent.toFloat32(), frames: engine.silenceLatent.shape[1], C };
    // What the condition stage encoded before the cache: the silence frames of every batch item.
    const refs = Tensor.fromArray(silenceBatch(sil, 2, frames), [2, frames, C]);
    const perCall = engine.conditionEncoder.encodeTimbre(refs);
    const cached = await engine.silenceTimbre(frames);
    await settleMemory();
    const held = memoryStats().cpu.inUse;
    expect(await engine.silenceTimbre(frames)).toBe(cached);
    expect(memoryStats().cpu.inUse).toBe(held);
    const want = await perCall.toFloat32();
    const got = await cached.toFloat32();
    // Exact: the same kernels on the same rows (the batch rows of a GEMM do not interact).
    expect(Array.from(got)).toEqual(Array.from(want.subarray(0, got.length)));
    expect(Array.from(want.subarray(got.length))).toEqual(Array.from(got));
    refs.dispose();
    perCall.dispose();
  });

  it('a missing source file is reported, not thrown', async () => {
    const r = await generateMusic(engine, { ...base, taskType: 'cover', srcAudio: join(dir, 'nope.wav') }, fixed([1]));
    expect(r.success).toBe(false);
    expect(r.errorCode).toBe('ERR_AUDIO');
    expect(r.error).toContain('nope.wav');
  });

  it('invalid parameters throw ParamError naming the parameter and range before any work', async () => {
    const bad: [Record<string, unknown>, Record<string, unknown>, string, RegExp][] = [
      [{ bpm: 500 }, {}, 'bpm', /\[30, 300\]/],
      [{ duration: 1000 }, {}, 'duration', /600/],
      [{ inference_steps: 0 }, {}, 'inferenceSteps', /\[1, 200\]/],
      [{ task_type: 'remix' }, {}, 'taskType', /text2music/],
      [{ task_type: 'cover' }, {}, 'srcAudio', /source audio/],
      [{ keyscale: 'H major' }, {}, 'keyscale', /C Major/],
      [{ timesignature: '5' }, {}, 'timesignature', /2, 3, 4, 6/],
      [{ repainting_start: 5, repainting_end: 3 }, {}, 'repaintingEnd', /repaintingStart/],
      [{ track_name: 'kazoo' }, {}, 'trackName', /vocals/],
      [{ caption: 'x' }, { batch_size: 9 }, 'batchSize', /\[1, 8\]/],
      [{ caption: 'x' }, { audio_format: 'ogg' }, 'audioFormat', /flac/],
      [{ caption: 'x' }, { seeds: 'a,b' }, 'seeds', /2\^32/],
      [{ captions: 'x' }, {}, 'captions', /unknown/],
    ];
    for (const [p, c, name, range] of bad) {
      const err = await generateMusic(engine, p, c).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(p)).toBeInstanceOf(ParamError);
      expect((err as ParamError).param).toBe(name);
      expect((err as ParamError).message).toMatch(range);
    }
  });
});
