// The real-size random checkpoint writer (scripts/make-random-checkpoints.ts, used by bench/e2e.ts):
// its tensor inventories match the official counts and the golden tiny checkpoints' names (which the
// loaders accept), and its streamed safetensors files read back with the values it promises.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import {
  ditSpecs,
  Filler,
  lin,
  ones,
  qwenSpecs,
  TEXT_ENCODER_DIMS,
  LM_DIMS,
  vaeSpecs,
  writeSpecFile,
  type Spec,
} from '../scripts/make-random-checkpoints.js';

const FIX = join(__dirname, 'fixtures', 'golden', 'checkpoints');

function fixtureNames(dir: string, file = 'model.safetensors'): string[] {
  const b = readFileSync(join(FIX, dir, file));
  const n = Number(b.readBigUInt64LE(0));
  return Object.keys(JSON.parse(b.subarray(8, 8 + n).toString())).filter((k) => k !== '__metadata__');
}

/** Names with layer/block indices folded, so a 24-layer and a 4-layer model compare equal. */
const folded = (names: string[]) => new Set(names.map((k) => k.replace(/(layers|block)\.\d+/g, '$1.N')));

describe('make-random-checkpoints', () => {
  it('DiT: 677 tensors (UPSTREAM.md: Checkpoint layout) with the tiny turbo checkpoint names, real 2B shapes', () => {
    const s = ditSpecs();
    expect(s.length).toBe(677);
    expect(folded(s.map((x) => x.name))).toEqual(folded(fixtureNames('acestep-v15-turbo-tiny')));
    const shape = (n: string) => s.find((x) => x.name === n)!.shape;
    expect(shape('decoder.layers.23.mlp.gate_proj.weight')).toEqual([6144, 2048]);
    expect(shape('decoder.layers.0.self_attn.k_proj.weight')).toEqual([1024, 2048]);
    expect(shape('decoder.time_embed.time_proj.weight')).toEqual([12288, 2048]);
    expect(shape('encoder.lyric_encoder.embed_tokens.weight')).toEqual([2048, 1024]);
    expect(shape('decoder.proj_in.1.weight')).toEqual([2048, 192, 2]);
  });

  it('text encoder: 310 tensors (UPSTREAM.md: Text encoder and caption prompt); LMs: Qwen3 names under model.', () => {
    expect(qwenSpecs('', TEXT_ENCODER_DIMS).length).toBe(310);
    expect(folded(qwenSpecs('', TEXT_ENCODER_DIMS).map((x) => x.name))).toEqual(folded(fixtureNames('Qwen3-Embedding-tiny')));
    const lm = qwenSpecs('model.', LM_DIMS['1.7B']);
    expect(folded(lm.map((x) => x.name))).toEqual(folded(fixtureNames('acestep-5Hz-lm-tiny-fullvocab')));
    expect(lm[0].shape).toEqual([217204, 2048]);
  });

  it('VAE: 365 weight_norm tensors (UPSTREAM.md: VAE) named like the tiny VAE fixture', () => {
    const s = vaeSpecs();
    expect(s.length).toBe(365);
    expect(folded(s.map((x) => x.name))).toEqual(folded(fixtureNames('vae-tiny', 'diffusion_pytorch_model.safetensors')));
  });

  it('streamed files read back: exact constants, uniform draws in range with variance 1/fan_in', async () => {
    const specs: Spec[] = [lin('w', 512, 256), ones('g', 300), { name: 'v', shape: [3, 5, 7], init: { kind: 'uniform', scale: 1 } }];
    const path = join(mkdtempSync(join(tmpdir(), 'rand-ckpt-')), 'x.safetensors');
    writeSpecFile(path, specs, (s) => (s.name === 'v' ? 'F32' : 'BF16'), new Filler());
    const f = SafetensorsFile.open(path);
    try {
      expect(f.info('w').dtype).toBe('bf16');
      expect(f.info('v').dtype).toBe('f32');
      const read = async (n: string) => {
        const t = f.get(n);
        try {
          return Float32Array.from(await t.toFloat32());
        } finally {
          t.dispose();
        }
      };
      expect([...(await read('g'))].every((x) => x === 1)).toBe(true);
      const w = await read('w');
      const a = Math.sqrt(3 / 256);
      // bf16 rounding moves a value by at most 2^-8 relative, hence the 1.004 slack on the bound.
      expect(w.every((x) => Math.abs(x) <= a * 1.004)).toBe(true);
      const varW = w.reduce((s, x) => s + x * x, 0) / w.length;
      // 131072 draws: the variance estimate's relative standard error is ~0.25%; 3% cannot be luck.
      expect(Math.abs(varW * 256 - 1)).toBeLessThan(0.03);
      const v = await read('v');
      expect(v.length).toBe(105);
      expect(v.every((x) => Math.abs(x) <= 1) && new Set(v).size > 100).toBe(true);
    } finally {
      f.close();
    }
  });
});
