// The engine's `precision` option: 'auto' resolves by the CPU's avx512_bf16, bad values are a
// ParamError before anything loads, and a bf16 engine really computes in bf16 (its audio differs
// from the fp32 engine's) while staying close to it (cosine >= 0.999 on the tiny checkpoints,
// whose 4-step result the bf16 rounding moves by ~1e-3 relative).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, generateMusic, ParamError } from '../src/index.js';
import { native } from '../src/runtime/native.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-precision-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function song(precision: 'fp32' | 'bf16'): Promise<Float32Array> {
  const engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null, precision });
  try {
    expect(engine.precision).toBe(precision);
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
    const a = await song('fp32');
    const b = await song('bf16');
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
    expect(d / Math.sqrt(na * nb)).toBeGreaterThanOrEqual(0.999);
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
