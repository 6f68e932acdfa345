// The engine's `precision` option: 'auto' resolves by the CPU's avx512_bf16, bad values are a
// ParamError before anything loads, and a bf16 engine really computes in bf16 (its audio differs
// from the fp32 engine's) while staying close to it (cosine >= 0.999 on the tiny checkpoints,
// whose 4-step result the bf16 rounding moves by ~1e-3 relative). The `quantization` option:
// 'w8a8_dynamic' quantizes the DiT and condition encoder (its audio differs from the unquantized
// engine's and stays within the same cosine), upstream's other modes are a ParamError, and an
// adapter cannot be loaded onto the quantized DiT (AdapterError, as upstream).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, AdapterError, generateMusic, ParamError } from '../src/index.js';
import { writeAdapter } from './support/lora-adapter.js';
import { native } from '../src/runtime/native.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-precision-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function song(precision: 'fp32' | 'bf16', quantization: 'none' | 'w8a8_dynamic' = 'none'): Promise<Float32Array> {
  const engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null, precision, quantization });
  try {
    expect(engine.precision).toBe(precision);
    expect(engine.quantization).toBe(quantization);
    const r = await generateMusic(
      engine,
      { caption: 'calm piano', lyrics: '[verse]\nla la', thinking: false, inferenceSteps: 4, duration: 10 },
      { batchSize: 1, useRandomSeed: false, seeds: [7] },
    );
    expect(r.success, r.error ?? '').toBe(true);
    return Float32Array.from(r.audios[0].channels.flatMap((c) => Array.from(c)));
  } finally {
    engine.dispose();
  }
}

describe('AceStep precision option', () => {
  it("resolves 'auto' by avx512_bf16 and rejects unknown values", async () => {
    const auto = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null });
    expect(auto.precision).toBe(native.cpuFeatures().avx512bf16 ? 'bf16' : 'fp32');
    auto.dispose();
    // @ts-expect-error: not a precision
    await expect(AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', precision: 'fp16' })).rejects.toThrow(ParamError);
  });

  it('bf16 changes the result slightly, not substantially', async () => {
    expectClose(await song('fp32'), await song('bf16'), 0.999);
  });
});

function expectClose(a: Float32Array, b: Float32Array, minCosine: number): void {
  let d = 0,
    na = 0,
    nb = 0,
    diff = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  expect(diff).toBeGreaterThan(0);
  expect(d / Math.sqrt(na * nb)).toBeGreaterThanOrEqual(minCosine);
}

describe('AceStep quantization option', () => {
  it('w8a8_dynamic changes the result slightly, not substantially (fp32 and bf16 engines)', async () => {
    expectClose(await song('fp32'), await song('fp32', 'w8a8_dynamic'), 0.999);
    expectClose(await song('bf16'), await song('bf16', 'w8a8_dynamic'), 0.999);
  });

  it("takes 'none' / 'auto' / null as no quantization and rejects upstream modes it does not implement", async () => {
    for (const q of ['none', 'auto', null] as const) {
      const e = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null, quantization: q });
      expect(e.quantization).toBe('none');
      e.dispose();
    }
    // @ts-expect-error: an upstream value this engine does not implement
    const bad = AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', quantization: 'fp8_weight_only' });
    await expect(bad).rejects.toThrow(ParamError);
    // @ts-expect-error: likewise
    await expect(AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', quantization: 'int8_weight_only' })).rejects.toThrow(
      /quantization.*int8_weight_only/,
    );
  });

  it('refuses an adapter on the quantized DiT', async () => {
    const lora = join(dir, 'lora');
    writeAdapter(lora);
    const load = AceStep.load({
      checkpoints: join(dir, 'ckpt'),
      device: 'cpu',
      lmModel: null,
      quantization: 'w8a8_dynamic',
      loraPath: lora,
    });
    await expect(load).rejects.toThrow(AdapterError);
    const e = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null, quantization: 'w8a8_dynamic' });
    try {
      expect(() => e.adapters.loadLora(lora)).toThrow(/quantized DiT/);
    } finally {
      e.dispose();
    }
  });
});

describe('AceStep lmQuantization option', () => {
  it("loads the LM with int8 weights for 'int8' and upstream's 'int8_weight_only', keeps the text encoder as is", async () => {
    for (const choice of ['int8', 'int8_weight_only'] as const) {
      const engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmQuantization: choice });
      try {
        expect(engine.lmQuantization).toBe('int8');
        const lm = engine.getLm().model;
        expect(lm.layers[0].attn.qkv?.weight.dtype).toBe('i8');
        expect(lm.layers[0].mlp.down.weight.dtype).toBe('i8');
        expect(lm.lmHead?.weight.dtype).toBe('i8');
        expect(engine.textEncoder.layers[0].attn.q.weight.dtype).not.toBe('i8');
      } finally {
        engine.dispose();
      }
    }
    const plain = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu' });
    expect(plain.lmQuantization).toBe('none');
    expect(plain.getLm().model.layers[0].attn.qkv?.weight.dtype).not.toBe('i8');
    plain.dispose();
  });

  it('rejects other values with a ParamError naming the option and the allowed values, before anything loads', async () => {
    // @ts-expect-error: not a quantization
    const bad = AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmQuantization: 'int4' });
    await expect(bad).rejects.toThrow(ParamError);
    // @ts-expect-error: not a quantization
    await expect(AceStep.load({ checkpoints: join(dir, 'ckpt'), lmQuantization: 'fp8' })).rejects.toThrow(
      /lmQuantization.*'none', 'int8', 'int8_weight_only'.*'fp8'/,
    );
  });
});
