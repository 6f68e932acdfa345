// Fuzz of LoRA / LoKr adapter folders on the tiny DiT (docs/RELIABILITY.md): tree mutations of
// adapter_config.json, of the adapter safetensors headers (tensor names, shapes, dtypes, offsets,
// the lokr_config metadata) and byte damage to the weight files. Every case loads (and is unloaded
// again) or throws AdapterError / CheckpointError within a second; no native memory stays behind.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { CheckpointError } from '../src/io/errors.js';
import { memoryStats } from '../src/runtime/index.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AceStepDiT } from '../src/models/dit.js';
import { Weights } from '../src/models/layers.js';
import { AdapterError, AdapterManager } from '../src/models/lora.js';
import { byteMutations, fuzz, fuzzRuns, fuzzSeed, jsonMutations, logReport, mutateBytes, mutateJson } from './support/fuzz.js';
import { settleMemory } from './support/memory.js';

const ckptDir = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-v15-turbo-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'acestep-lora-fuzz-'));
const dit = (() => {
  const { ckpt, config } = openAceStepCheckpoint(ckptDir);
  const m = new AceStepDiT(new Weights(ckpt, '', ckptDir), config);
  ckpt.dispose();
  return m;
})();
afterAll(() => {
  dit.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => 0.2 * Math.sin(i * k + 0.3));

/** A rank-2 PEFT LoRA on the q/k/v/o projections of layer 0 (self attention). */
function peftTensors(): Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
  const t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  let k = 0.1;
  for (const [p, out] of [
    ['q', 64],
    ['k', 32],
    ['v', 32],
    ['o', 64],
  ] as const) {
    const m = `base_model.model.layers.0.self_attn.${p}_proj`;
    t[`${m}.lora_A.weight`] = { dtype: 'F32', shape: [2, 64], data: wave(128, (k += 0.37)) };
    t[`${m}.lora_B.weight`] = { dtype: 'F32', shape: [out, 2], data: wave(out * 2, (k += 0.53)) };
  }
  return t;
}
const peftConfig = { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], use_rslora: false };
const lokrFile = encodeSafetensors(
  {
    'lycoris_layers_0_self_attn_q_proj.lokr_w1': { dtype: 'F32', shape: [4, 4], data: wave(16, 0.41) },
    'lycoris_layers_0_self_attn_q_proj.lokr_w2': { dtype: 'F32', shape: [16, 16], data: wave(256, 0.23) },
    'lycoris_layers_0_self_attn_q_proj.alpha': { dtype: 'F32', shape: [], data: Float32Array.of(4) },
  },
  { lokr_config: JSON.stringify({ linear_dim: 4, linear_alpha: 4 }) },
);
const peftWeights = encodeSafetensors(peftTensors());

/** Splits a safetensors file into its header object and data. */
function splitSafetensors(b: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const len = Number(Buffer.from(b).readBigUInt64LE(0));
  return { header: JSON.parse(Buffer.from(b.subarray(8, 8 + len)).toString('utf8')), data: b.subarray(8 + len) };
}
function joinSafetensors(header: unknown, data: Uint8Array): Uint8Array {
  const h = Buffer.from(JSON.stringify(header) ?? 'null');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

let caseNo = 0;
/** Writes an adapter and loads it into a fresh manager, then unloads it. */
function exercise(files: Record<string, string | Uint8Array>): void {
  const d = join(tmp, `a${caseNo++ % 64}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  for (const [n, body] of Object.entries(files)) writeFileSync(join(d, n), body);
  const mgr = new AdapterManager(dit);
  try {
    mgr.loadLora(Object.keys(files).includes('lokr_weights.safetensors') ? join(d, 'lokr_weights.safetensors') : d, { name: 'fuzz' });
  } finally {
    mgr.dispose();
  }
}
const typed = (e: unknown) => e instanceof AdapterError || e instanceof CheckpointError;

describe('LoRA folders under mutation', () => {
  it('loads the seeds', () => {
    exercise({ 'adapter_config.json': JSON.stringify(peftConfig), 'adapter_model.safetensors': peftWeights });
    exercise({ 'lokr_weights.safetensors': lokrFile });
  });

  it('adapter_config.json', async () => {
    const r = await fuzz(
      jsonMutations(Object.keys(peftConfig)),
      (m) =>
        exercise({ 'adapter_config.json': JSON.stringify(mutateJson(peftConfig, m)) ?? 'x', 'adapter_model.safetensors': peftWeights }),
      typed,
      {
        runs: fuzzRuns(1000),
        seed: fuzzSeed(1750),
      },
    );
    logReport('adapter_config.json', r);
    expect(r.cases).toBe(fuzzRuns(1000));
  });

  it('PEFT and LoKr safetensors headers', async () => {
    const peft = splitSafetensors(peftWeights);
    const lokr = splitSafetensors(lokrFile);
    const keys = ['dtype', 'shape', 'data_offsets', '__metadata__', 'lokr_config'];
    const r1 = await fuzz(
      jsonMutations(keys),
      (m) =>
        exercise({
          'adapter_config.json': JSON.stringify(peftConfig),
          'adapter_model.safetensors': joinSafetensors(mutateJson(peft.header, m), peft.data),
        }),
      typed,
      {
        runs: fuzzRuns(1000),
        seed: fuzzSeed(1751),
      },
    );
    logReport('PEFT header', r1);
    const r2 = await fuzz(
      jsonMutations(keys),
      (m) => exercise({ 'lokr_weights.safetensors': joinSafetensors(mutateJson(lokr.header, m), lokr.data) }),
      typed,
      { runs: fuzzRuns(1000), seed: fuzzSeed(1752) },
    );
    logReport('LoKr header', r2);
    expect(r1.cases + r2.cases).toBe(2 * fuzzRuns(1000));
  });

  it('weight files damaged byte by byte', async () => {
    const r = await fuzz(
      byteMutations(512),
      (m) => exercise({ 'adapter_config.json': JSON.stringify(peftConfig), 'adapter_model.safetensors': mutateBytes(peftWeights, m) }),
      typed,
      {
        runs: fuzzRuns(1000),
        seed: fuzzSeed(1753),
      },
    );
    logReport('adapter weights bytes', r);
    expect(r.cases).toBe(fuzzRuns(1000));
  });

  it('leaves no native memory behind', async () => {
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    for (let i = 0; i < 20; i++) {
      try {
        exercise({
          'adapter_config.json': JSON.stringify({ ...peftConfig, r: i % 2 ? 2 : 'x' }),
          'adapter_model.safetensors': peftWeights,
        });
      } catch (e) {
        if (!typed(e)) throw e;
      }
    }
    await settleMemory();
    expect(memoryStats().cpu.inUse).toBe(before);
  });
});
