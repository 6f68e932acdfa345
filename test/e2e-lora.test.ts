// LoRA through the public API on the tiny official-layout checkpoints: an adapter changes the
// generated audio, scale 0 / deactivation / unload give the base audio back bit-exactly, loading at
// engine creation equals loading later, a rescale changes the audio, a run keeps the adapter state
// it started with whatever changes meanwhile, per-call lora_id / lora_scale apply to that call
// only, and the result record names the adapter that ran (upstream's lora_* fields).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, CheckpointError, generateMusic, ParamError, type GenerationResult } from '../src/index.js';
import { flush, memoryStats } from '../src/runtime/index.js';
import { settleMemory } from './support/memory.js';
import { writeAdapter } from './support/lora-adapter.js';

let dir: string;
let ckpt: string;
let lora: string;
let other: string;
let engine: AceStep;

const params = { caption: 'warm lofi beat', lyrics: '[Instrumental]', thinking: false, inferenceSteps: 3, duration: 6 };
const config = { batchSize: 1, useRandomSeed: false, seeds: [11], audioFormat: 'wav32' as const };
const audio = (r: GenerationResult) => {
  expect(r.success, r.error ?? '').toBe(true);
  return r.audios[0].channels[0];
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-e2e-lora-'));
  ckpt = join(dir, 'ckpt');
  makeTinyCheckpoints(ckpt);
  lora = join(dir, 'my-lora');
  writeAdapter(lora);
  other = join(dir, 'other-lora');
  writeAdapter(other, 2.5);
  engine = await AceStep.load({ checkpoints: ckpt, device: 'cpu', lmModel: null });
});

afterAll(() => {
  engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('LoRA through generateMusic', () => {
  it('changes the audio, and scale 0, deactivation and unload restore the base exactly', async () => {
    const saveDir = join(dir, 'out');
    const base = await generateMusic(engine, params, config, { saveDir });
    expect(base.audios[0].params.lora_loaded).toBe(false);
    engine.adapters.loadLora(lora, { name: 'mine' });
    const adapted = await generateMusic(engine, params, config, { saveDir });
    expect(maxDiff(audio(adapted), audio(base))).toBeGreaterThan(1e-4);
    expect(adapted.audios[0].params.use_lora).toBe(true);
    expect(adapted.audios[0].params.lora_scale).toBe(1);
    engine.adapters.setAdapterScale('mine', 0);
    expect(maxDiff(audio(await generateMusic(engine, params, config, { saveDir })), audio(base))).toBe(0);
    engine.adapters.setAdapterScale('mine', 1);
    expect(maxDiff(audio(await generateMusic(engine, params, config, { saveDir })), audio(adapted))).toBe(0);
    engine.adapters.setActiveAdapter(null);
    expect(maxDiff(audio(await generateMusic(engine, params, config, { saveDir })), audio(base))).toBe(0);
    engine.adapters.unloadAdapter('mine');
    expect(maxDiff(audio(await generateMusic(engine, params, config, { saveDir })), audio(base))).toBe(0);

    const loadedAtStart = await AceStep.load({ checkpoints: ckpt, device: 'cpu', lmModel: null, loraPath: lora, loraScale: 1 });
    try {
      expect(maxDiff(audio(await generateMusic(loadedAtStart, params, config, { saveDir })), audio(adapted))).toBe(0);
    } finally {
      loadedAtStart.dispose();
    }
  });

  it('a bad adapter path is a typed error naming the file', async () => {
    await expect(AceStep.load({ checkpoints: ckpt, device: 'cpu', lmModel: null, loraPath: join(dir, 'nope') })).rejects.toThrow(/nope/);
  });

  it('setAdapterScale changes the audio: rescaling to s equals loading at s', async () => {
    const atHalf = await AceStep.load({ checkpoints: ckpt, device: 'cpu', lmModel: null, loraPath: lora, loraScale: 0.5 });
    let ref: Float32Array;
    try {
      ref = audio(await generateMusic(atHalf, params, config));
    } finally {
      atHalf.dispose();
    }
    engine.adapters.loadLora(lora, { name: 'rescaled' });
    try {
      const full = audio(await generateMusic(engine, params, config));
      engine.adapters.setAdapterScale('rescaled', 0.5);
      expect(engine.loraState()).toEqual({ loraLoaded: true, useLora: true, loraScale: 0.5, loraName: 'rescaled' });
      const r = await generateMusic(engine, params, config);
      expect(maxDiff(audio(r), ref)).toBe(0);
      expect(maxDiff(full, ref)).toBeGreaterThan(1e-4);
      expect(r.audios[0].params.lora_scale).toBe(0.5);
    } finally {
      engine.adapters.unloadAdapter('rescaled');
    }
  });

  it('a run keeps the adapter set and scale of its start; changes made while it runs apply to the next call', async () => {
    const base = audio(await generateMusic(engine, params, config));
    engine.adapters.loadLora(lora, { name: 'mine' });
    const adapted = audio(await generateMusic(engine, params, config));
    engine.adapters.setAdapterScale('mine', 0.3);
    const at03 = audio(await generateMusic(engine, params, config));
    engine.adapters.setAdapterScale('mine', 1);
    expect(maxDiff(adapted, base)).toBeGreaterThan(1e-4);
    expect(maxDiff(at03, adapted)).toBeGreaterThan(1e-4);

    // Each change lands after the first DiT step of a 3-step run.
    const changedMidRun = async (change: () => void) => {
      let done = false;
      const r = await generateMusic(engine, params, config, {
        onProgress: (e) => {
          if (e.stage === 'dit' && !done) {
            done = true;
            change();
          }
        },
      });
      expect(done).toBe(true);
      return r;
    };
    const rescaled = await changedMidRun(() => engine.adapters.setAdapterScale('mine', 0.3));
    expect(maxDiff(audio(rescaled), adapted)).toBe(0);
    expect(rescaled.audios[0].params).toMatchObject({ use_lora: true, lora_scale: 1, lora_id: 'mine' });
    expect(maxDiff(audio(await generateMusic(engine, params, config)), at03)).toBe(0);
    engine.adapters.setAdapterScale('mine', 1);

    const deactivated = await changedMidRun(() => engine.adapters.setActiveAdapter(null));
    expect(maxDiff(audio(deactivated), adapted)).toBe(0);
    const after = await generateMusic(engine, params, config);
    expect(maxDiff(audio(after), base)).toBe(0);
    expect(after.audios[0].params).toMatchObject({ lora_loaded: true, use_lora: false, lora_id: null, lora_weights_hash: '' });
    engine.adapters.setActiveAdapter('mine');

    // Unloading mid-run: the run finishes with the adapter, whose memory goes when the run ends.
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    const unloaded = await changedMidRun(() => engine.adapters.unloadAdapter('mine'));
    expect(maxDiff(audio(unloaded), adapted)).toBe(0);
    expect(unloaded.audios[0].params).toMatchObject({ use_lora: true, lora_id: 'mine' });
    await flush();
    expect(memoryStats().cpu.inUse).toBeLessThan(before);
    expect(engine.adapters.list()).toEqual([]);
    expect(maxDiff(audio(await generateMusic(engine, params, config)), base)).toBe(0);

    // A concurrent caller switches the adapter off and generates while the first run is in its DiT steps.
    engine.adapters.loadLora(lora, { name: 'mine' });
    let second: Promise<GenerationResult> | undefined;
    const first = await changedMidRun(() => {
      engine.adapters.setActiveAdapter(null);
      second = generateMusic(engine, params, config);
    });
    expect(maxDiff(audio(first), adapted)).toBe(0);
    expect(maxDiff(audio(await second!), base)).toBe(0);
    // Two concurrent calls picking different adapters per call.
    const [withLora, without] = await Promise.all([
      generateMusic(engine, { ...params, lora_id: 'mine' }, config),
      generateMusic(engine, params, config),
    ]);
    expect(maxDiff(audio(withLora), adapted)).toBe(0);
    expect(maxDiff(audio(without), base)).toBe(0);
    engine.adapters.unloadAdapter('mine');
  });

  it('lora_id / lora_scale pick an adapter and scale for one call; the engine state is untouched; the record and key name the adapter', async () => {
    const saveDir = join(dir, 'per-call');
    const base = await generateMusic(engine, params, config, { saveDir });
    engine.adapters.loadLora(lora, { name: 'mine', activate: false });
    engine.adapters.loadLora(other, { name: 'other', activate: false });
    try {
      engine.adapters.setActiveAdapter('mine');
      const mineActive = audio(await generateMusic(engine, params, config));
      engine.adapters.setAdapterScale('mine', 0.4);
      const mineAt04 = audio(await generateMusic(engine, params, config));
      engine.adapters.setActiveAdapter('other');
      const otherActive = audio(await generateMusic(engine, params, config));
      engine.adapters.setActiveAdapter(null);
      engine.adapters.setAdapterScale('mine', 1);

      const mine = await generateMusic(engine, { ...params, lora_id: 'mine' }, config, { saveDir });
      expect(maxDiff(audio(mine), mineActive)).toBe(0);
      const half = await generateMusic(engine, { ...params, loraId: 'mine', loraScale: 0.4 }, config, { saveDir });
      expect(maxDiff(audio(half), mineAt04)).toBe(0);
      const zero = await generateMusic(engine, { ...params, lora_id: 'mine', lora_scale: 0 }, config, { saveDir });
      expect(maxDiff(audio(zero), audio(base))).toBe(0);
      const oth = await generateMusic(engine, { ...params, lora_id: 'other' }, config, { saveDir });
      expect(maxDiff(audio(oth), otherActive)).toBe(0);
      expect(maxDiff(audio(oth), audio(mine))).toBeGreaterThan(1e-4);
      // The engine state is as before every call.
      expect(engine.adapters.active).toBeNull();
      expect(engine.adapters.list().map((a) => [a.name, a.scale])).toEqual([
        ['mine', 1],
        ['other', 1],
      ]);

      expect(base.audios[0].params).toMatchObject({
        lora_loaded: false,
        use_lora: false,
        lora_scale: 1,
        lora_id: null,
        lora_weights_hash: '',
      });
      const mineHash = sha256(join(lora, 'adapter_model.safetensors'));
      expect(mine.audios[0].params).toMatchObject({
        lora_loaded: true,
        use_lora: true,
        lora_scale: 1,
        lora_id: 'mine',
        lora_weights_hash: mineHash,
      });
      expect(half.audios[0].params).toMatchObject({ use_lora: true, lora_scale: 0.4, lora_id: 'mine', lora_weights_hash: mineHash });
      expect(oth.audios[0].params).toMatchObject({
        use_lora: true,
        lora_scale: 1,
        lora_id: 'other',
        lora_weights_hash: sha256(join(other, 'adapter_model.safetensors')),
      });
      expect(mineHash).not.toBe(oth.audios[0].params.lora_weights_hash);
      // One file per adapter and scale: the keys differ, nothing is overwritten.
      const runs = [base, mine, half, zero, oth];
      expect(new Set(runs.map((r) => r.audios[0].key)).size).toBe(runs.length);
      for (const r of runs) expect(existsSync(r.audios[0].path!)).toBe(true);

      // Bad values are ParamErrors before any model runs.
      await expect(generateMusic(engine, { ...params, lora_id: 'nope' }, config)).rejects.toThrow(ParamError);
      await expect(generateMusic(engine, { ...params, lora_id: 'nope' }, config)).rejects.toThrow(
        /loraId: no adapter named 'nope' is loaded in engine\.adapters \(loaded: mine, other\)/,
      );
      for (const bad of [1.5, -0.1, Number.NaN, '0.5']) {
        await expect(generateMusic(engine, { ...params, lora_id: 'mine', lora_scale: bad }, config)).rejects.toThrow(
          /loraScale: must be null or a number in \[0, 1\]/,
        );
      }
      await expect(generateMusic(engine, { ...params, lora_id: 3 }, config)).rejects.toThrow(/loraId: must be null or the name/);
    } finally {
      engine.adapters.unloadAdapter('mine');
      engine.adapters.unloadAdapter('other');
    }
  });

  it('adapters.loadLora on a disposed engine throws the disposed error and allocates nothing', async () => {
    const e = await AceStep.load({ checkpoints: ckpt, device: 'cpu', lmModel: null });
    e.dispose();
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    expect(() => e.adapters.loadLora(lora)).toThrow(CheckpointError);
    expect(() => e.adapters.loadLora(lora)).toThrow(/the AceStep engine was disposed/);
    await flush();
    expect(memoryStats().cpu.inUse).toBe(before);
    expect(e.adapters.list()).toEqual([]);
  });
});
