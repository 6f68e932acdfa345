// LoRA through the public API on the tiny official-layout checkpoints: an adapter changes the
// generated audio, scale 0 / deactivation / unload give the base audio back bit-exactly, loading at
// engine creation equals loading later, and the result record reports the adapter state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, generateMusic, type GenerationResult } from '../src/index.js';
import { writeAdapter } from './support/lora-adapter.js';

let dir: string;
let ckpt: string;
let lora: string;
let engine: AceStep;

const params = { caption: 'warm lofi beat', lyrics: '[Instrumental]', thinking: false, inferenceSteps: 3, duration: 6 };
const config = { batchSize: 1, useRandomSeed: false, seeds: [11], audioFormat: 'wav32' as const };
const audio = (r: GenerationResult) => {
  expect(r.success, r.error ?? '').toBe(true);
  return r.audios[0].channels[0];
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-e2e-lora-'));
  ckpt = join(dir, 'ckpt');
  makeTinyCheckpoints(ckpt);
  lora = join(dir, 'my-lora');
  writeAdapter(lora);
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
});
