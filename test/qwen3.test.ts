// Qwen3 model properties on the tiny fixture checkpoints (the upstream numbers themselves are checked
// by the lm_greedy / text_encoder golden cases): KV-cache decode equals the uncached forward,
// left-padded batches with a key mask equal single runs, vocab-range logits equal the slice of the
// full logits, a BF16 checkpoint equals its exact f32 upcast, and bad input raises typed errors.
// Tolerance 2e-5 abs on logits of magnitude <= ~12: the paths differ only in f32 summation order
// (the generator measured 8.3e-6 for cache vs no cache upstream).
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, flush, KernelError, ShapeError } from '../src/runtime/index.js';
import { CheckpointError } from '../src/io/errors.js';
import { Checkpoint } from '../src/io/checkpoint.js';
import { Qwen3Model, parseQwen3Config } from '../src/models/qwen3.js';
import { setPrecision, Weights } from '../src/models/layers.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { diff } from './support/compare.js';

const ckpts = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');
const lmDir = join(ckpts, 'acestep-5Hz-lm-tiny');
const lm = Qwen3Model.load(lmDir);
const V = lm.config.vocabSize;
const TOL = 2e-5;

function ids(rows: number[][]): Tensor {
  return Tensor.fromArray(Int32Array.from(rows.flat()), [rows.length, rows[0].length]);
}
function rand(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % V;
  });
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  const d = diff(a, b);
  expect(d.cosine).toBeGreaterThan(0.99999);
  return d.maxAbs;
}

describe('qwen3: config and loading', () => {
  it('reads sizes from config.json, with and without the model. prefix', () => {
    expect(lm.config).toMatchObject({
      vocabSize: 300,
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      tieWordEmbeddings: true,
    });
    // Tied: the head is a view of the embedding table (same buffer and offset), not a copy.
    expect(lm.lmHead?.weight.byteOffset).toBe(lm.embedTokens.byteOffset);
    expect(lm.lmHead?.weight.dataSync()).toEqual(lm.embedTokens.dataSync());
    const enc = Qwen3Model.load(join(ckpts, 'Qwen3-Embedding-tiny'), { lmHead: false });
    expect(enc.config.hiddenSize).toBe(48);
    expect(enc.lmHead).toBeNull();
    expect(() => enc.logits(ids([[1, 2]]))).toThrow(ShapeError);
    enc.dispose();
  });

  it('rejects bad configs and missing tensors with CheckpointError naming the key or tensor', () => {
    expect(() => parseQwen3Config({ vocab_size: 10 }, 'x/config.json')).toThrow(/hidden_size/);
    expect(() =>
      parseQwen3Config(
        { vocab_size: 10, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 3 },
        'c',
      ),
    ).toThrow(/multiple/);
    expect(() =>
      parseQwen3Config({ vocab_size: 10, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 3 }, 'c'),
    ).toThrow(/head_dim.*derived/);
    expect(() =>
      parseQwen3Config(
        {
          vocab_size: 10,
          hidden_size: 8,
          intermediate_size: 8,
          num_hidden_layers: 1,
          num_attention_heads: 2,
          rope_scaling: { rope_type: 'yarn' },
        },
        'c',
      ),
    ).toThrow(/rope_scaling/);
    const ck = Checkpoint.open(lmDir, { stripPrefix: 'model.' });
    const cfg = { ...parseQwen3Config(ck.config, 'c'), numLayers: 3 };
    expect(() => new Qwen3Model(new Weights(ck, '', lmDir), cfg)).toThrow(CheckpointError);
    expect(() => new Qwen3Model(new Weights(ck, '', lmDir), cfg)).toThrow(/layers\.2\.input_layernorm\.weight/);
    const wide = { ...parseQwen3Config(ck.config, 'c'), hiddenSize: 65 };
    expect(() => new Qwen3Model(new Weights(ck, '', lmDir), wide)).toThrow(/embed_tokens\.weight.*expected shape \[300,65\]/);
    ck.dispose();
    const dir = mkdtempSync(join(tmpdir(), 'q3-'));
    copyFileSync(join(lmDir, 'model.safetensors'), join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'config.json'), '{"vocab_size": 300}');
    expect(() => Qwen3Model.load(dir)).toThrow(CheckpointError);
  });
});

describe('qwen3: forward paths agree', () => {
  it('prefill + single-token decode through the KV cache equals one uncached forward', async () => {
    const seq = rand(15, 1);
    const full = await lm.logits(ids([seq])).toFloat32();
    const cache = lm.createCache(1, 16);
    const got: Float32Array[] = [await lm.logits(ids([seq.slice(0, 10)]), { cache }).toFloat32()];
    for (let i = 10; i < 15; i++) got.push(await lm.logits(ids([[seq[i]]]), { cache }).toFloat32());
    expect(cache.length).toBe(15);
    cache.dispose();
    const cat = new Float32Array(full.length);
    let at = 0;
    for (const g of got) {
      cat.set(g, at);
      at += g.length;
    }
    expect(maxDiff(cat, full)).toBeLessThan(TOL);
  });

  it('a left-padded batch with a key mask equals each row run alone (cond/uncond layout)', async () => {
    const a = rand(9, 2);
    const b = rand(5, 3);
    const pad = 7;
    const rows = [a, [...new Array(4).fill(pad), ...b]];
    const mask = Tensor.fromArray(Uint8Array.from([...new Array(9).fill(1), 0, 0, 0, 0, ...new Array(5).fill(1)]), [2, 9], { dtype: 'u8' });
    const cache = lm.createCache(2, 12);
    const maskAll = Tensor.fromArray(Uint8Array.from([...new Array(12).fill(1), 0, 0, 0, 0, ...new Array(8).fill(1)]), [2, 12], {
      dtype: 'u8',
    });
    const pre = await lm.logits(ids(rows), { cache, keyMask: mask, lastOnly: true }).toFloat32();
    const next = [rand(1, 4)[0], rand(1, 5)[0]];
    const dec = await lm.logits(ids([[next[0]], [next[1]]]), { cache, keyMask: maskAll.narrow(1, 0, 10) }).toFloat32();
    cache.dispose();
    // RoPE scores depend only on relative positions, so the shifted positions of the padded row
    // (upstream: position = slot index) give the same logits as the unpadded run.
    const aloneA = await lm.logits(ids([[...a, next[0]]])).toFloat32();
    const aloneB = await lm.logits(ids([[...b, next[1]]])).toFloat32();
    expect(maxDiff(pre.subarray(0, V), aloneA.subarray(8 * V, 9 * V))).toBeLessThan(TOL);
    expect(maxDiff(pre.subarray(V), aloneB.subarray(4 * V, 5 * V))).toBeLessThan(TOL);
    expect(maxDiff(dec.subarray(0, V), aloneA.subarray(9 * V))).toBeLessThan(TOL);
    expect(maxDiff(dec.subarray(V), aloneB.subarray(5 * V))).toBeLessThan(TOL);
    // Without the mask the pad tokens leak into the padded row: the test can fail.
    const leak = await lm.logits(ids(rows), { lastOnly: true }).toFloat32();
    expect(diff(leak.subarray(V), aloneB.subarray(4 * V, 5 * V)).maxAbs).toBeGreaterThan(1e-3);
  });

  it('vocabRange logits are exactly the slice of the full logits', async () => {
    const seq = rand(6, 9);
    const full = await lm.logits(ids([seq]), { lastOnly: true }).toFloat32();
    const part = await lm.logits(ids([seq]), { lastOnly: true, vocabRange: [100, 250] }).toFloat32();
    expect(part.length).toBe(150);
    expect(maxDiff(part, full.subarray(100, 250))).toBeLessThan(1e-6);
    expect(() => lm.logits(ids([seq]), { vocabRange: [5, 301] })).toThrow(ShapeError);
  });

  it('a BF16 checkpoint computes like its exact f32 upcast (full 217204 vocabulary)', async () => {
    const dir = join(ckpts, 'acestep-5Hz-lm-tiny-fullvocab');
    const bf = Qwen3Model.load(dir);
    expect(bf.embedTokens.dtype).toBe('bf16');
    expect(bf.config.vocabSize).toBe(217204);
    const ck = Checkpoint.open(dir, { stripPrefix: 'model.' });
    const up = new Map(ck.names.map((n) => [n, ck.get(n).to('f32')]));
    const f32 = new Qwen3Model(Weights.fromMap(up), parseQwen3Config(ck.config, dir));
    const seq = [151644, 8948, 198, 151669 + 17, 151669 + 63999, 151645];
    const a = await bf.logits(ids([seq]), { lastOnly: true }).toFloat32();
    const b = await f32.logits(ids([seq]), { lastOnly: true }).toFloat32();
    expect(a.length).toBe(217204);
    expect(maxDiff(a, b)).toBeLessThan(1e-4);
    bf.dispose();
    f32.dispose();
    ck.dispose();
  });
});

describe('qwen3: fused projections (q/k/v and gate/up as one Linear in the LM)', () => {
  // The LM fuses, the headless model (the text-encoder path) does not: every output element is the
  // same sum in the same order either way, so hidden states and logits must be bit-identical, for
  // a prompt (GEMM) and decode steps (GEMV), at both precisions.
  it('gives bit-identical hidden states and logits to the unfused layers', async () => {
    const plain = Qwen3Model.load(lmDir, { lmHead: false });
    expect(lm.layers[0].attn.qkv?.outFeatures).toBe(lm.config.numHeads * lm.config.headDim + 2 * lm.config.numKvHeads * lm.config.headDim);
    expect(lm.layers[0].mlp.gateUp?.outFeatures).toBe(2 * lm.config.intermediateSize);
    expect(plain.layers[0].attn.qkv).toBeNull();
    try {
      for (const precision of ['fp32', 'bf16'] as const) {
        setPrecision(lm, precision);
        setPrecision(plain, precision);
        const seq = rand(11, 21);
        const cFused = lm.createCache(1, 14);
        const cPlain = plain.createCache(1, 14);
        const steps = [seq.slice(0, 9), [seq[9]], [seq[10]]];
        for (const step of steps) {
          const a = lm.forward(ids([step]), { cache: cFused });
          const b = plain.forward(ids([step]), { cache: cPlain });
          expect(Buffer.from((await a.toFloat32()).buffer).equals(Buffer.from((await b.toFloat32()).buffer)), precision).toBe(true);
          const la = await lm.project(a).toFloat32();
          const lb = await lm.project(b).toFloat32();
          expect(Buffer.from(la.buffer).equals(Buffer.from(lb.buffer))).toBe(true);
        }
        cFused.dispose();
        cPlain.dispose();
      }
    } finally {
      setPrecision(lm, 'fp32');
      plain.dispose();
    }
  });
});

describe('qwen3: int8 weights (quantization band on the tiny LM)', () => {
  // Every projection and the head as int8 rows (per-row scale = max|w| / 127, so each weight moves by
  // at most scale / 2, <= 0.4 % of its row's largest weight) against the fp32 model, for a 24-token
  // prompt (the widened-block GEMM path) and decode steps through the KV cache (the int8 GEMV).
  // Measured on these weights (2 layers, H = 64, 300 ids): cosine 0.9992-0.9998 per position, max
  // |diff| <= 0.043 of the largest logit; the band is about twice that deviation: cosine >= 0.998
  // and max |diff| <= 0.08 · max |logit|. It must also be a real change (max |diff| > 1e-3).
  const band = (got: Float32Array, want: Float32Array, what: string) => {
    const d = diff(got, want);
    expect(d.cosine, what).toBeGreaterThanOrEqual(0.998);
    expect(d.maxAbs / d.maxRef, what).toBeLessThanOrEqual(0.08);
    return d.maxAbs;
  };

  it('keeps prompt and decode logits within the band of the fp32 logits', async () => {
    const q8 = Qwen3Model.load(lmDir, { quantization: 'int8' });
    try {
      expect(q8.layers[0].attn.qkv?.weight.dtype).toBe('i8');
      expect(q8.lmHead?.weight.dtype).toBe('i8');
      expect(q8.embedTokens.dtype).toBe(lm.embedTokens.dtype);
      const seq = rand(24, 31);
      const want = await lm.logits(ids([seq])).toFloat32();
      const got = await q8.logits(ids([seq])).toFloat32();
      let worst = 0;
      for (let t = 0; t < 24; t++)
        worst = Math.max(worst, band(got.subarray(t * V, (t + 1) * V), want.subarray(t * V, (t + 1) * V), `prompt position ${t}`));
      expect(worst).toBeGreaterThan(1e-3);
      const cache = q8.createCache(1, 24);
      await q8.logits(ids([seq.slice(0, 20)]), { cache, lastOnly: true }).toFloat32();
      for (let t = 20; t < 24; t++) {
        const step = await q8.logits(ids([[seq[t]]]), { cache }).toFloat32();
        band(step, want.subarray(t * V, (t + 1) * V), `decode position ${t}`);
      }
      cache.dispose();
    } finally {
      q8.dispose();
    }
  });

  it('keeps bf16-precision decode steps (int16 activation rows through the int8 GEMV) within the same band', async () => {
    // At bf16 precision a decode step's activations go to the GEMV as int16 rows (kernels/cpu/quant.h)
    // and the prompt's as bf16; the KV cache is bf16. Measured here: cosine 0.9995-0.9998, max |diff|
    // 0.018-0.037 of the largest logit, inside the band above.
    const q8 = Qwen3Model.load(lmDir, { quantization: 'int8' });
    setPrecision(q8, 'bf16');
    const cache = q8.createCache(1, 24);
    try {
      const seq = rand(24, 37);
      const want = await lm.logits(ids([seq])).toFloat32();
      await q8.logits(ids([seq.slice(0, 16)]), { cache, lastOnly: true }).toFloat32();
      for (let t = 16; t < 24; t++) {
        const step = await q8.logits(ids([[seq[t]]]), { cache }).toFloat32();
        band(step, want.subarray(t * V, (t + 1) * V), `bf16 decode position ${t}`);
      }
    } finally {
      cache.dispose();
      q8.dispose();
    }
  });

  it('stores each weight within scale / 2 of the checkpoint value (o_proj, down_proj, the tied head)', async () => {
    const q8 = Qwen3Model.load(lmDir, { quantization: 'int8' });
    const ck = Checkpoint.open(lmDir, { stripPrefix: 'model.' });
    try {
      for (const [linear, name] of [
        [q8.layers[1].attn.o, 'layers.1.self_attn.o_proj.weight'],
        [q8.layers[0].mlp.down, 'layers.0.mlp.down_proj.weight'],
        [q8.lmHead!, 'embed_tokens.weight'],
      ] as const) {
        const w = (await ck.get(name).toFloat32()) as Float32Array;
        const q = linear.weight.dataSync() as Int8Array;
        const s = linear.scale!.dataSync() as Float32Array;
        const K = linear.inFeatures;
        for (let i = 0; i < w.length; i++) {
          const n = Math.floor(i / K);
          // Half a grid step, plus the f32 rounding of w · (127 / max) (see test/ops-quant.test.ts).
          expect(Math.abs(q[i] * s[n] - w[i]), `${name}[${n}, ${i % K}]`).toBeLessThanOrEqual(s[n] * (0.5 + 3e-5));
        }
      }
    } finally {
      q8.dispose();
      ck.dispose();
    }
  });
});

describe('qwen3: upstream two-phase batch (golden lm_two_phase_greedy, BF16 full-vocab LM)', () => {
  // Upstream runs the left-padded [cond; uncond] batch with a 2-D mask and no position ids; its
  // step-0 logits per row are stored. Tolerance: the fixture's 1e-4 scaled / cosine 0.99999.
  const caseDir = join(import.meta.dirname, 'fixtures', 'golden', 'cases', 'lm_two_phase_greedy');
  it('phase-2 step-0 logits of both rows of the padded batch, and phase-1 step-0 logits, match', async () => {
    const out = SafetensorsFile.open(join(caseDir, 'outputs.safetensors'));
    const get = (n: string) => out.get(n);
    const model = Qwen3Model.load(join(ckpts, 'acestep-5Hz-lm-tiny-fullvocab'));
    const batch = get('cot__phase2_batch_input_ids');
    const mask = get('cot__phase2_batch_attention_mask');
    expect(Array.from(mask.dataSync() as BigInt64Array, Number)).toContain(0);
    const logits = await model.logits(batch, { keyMask: mask, lastOnly: true }).toFloat32();
    const V2 = model.config.vocabSize;
    for (const [row, name] of [
      [0, 'cot__phase2_step0_logits_cond'],
      [1, 'cot__phase2_step0_logits_uncond'],
    ] as const) {
      const want = get(name).dataSync() as Float32Array;
      const d = diff(logits.subarray(row * V2, (row + 1) * V2), want);
      expect(d.maxAbs / Math.max(1, d.maxRef), name).toBeLessThan(1e-4);
      expect(d.cosine).toBeGreaterThan(0.99999);
    }
    const p1 = get('cot__phase1_prompt_ids');
    const l1 = await model.logits(p1.reshape([1, -1]), { lastOnly: true }).toFloat32();
    const d1 = diff(l1, get('cot__phase1_step0_logits').dataSync() as Float32Array);
    expect(d1.maxAbs / Math.max(1, d1.maxRef)).toBeLessThan(1e-4);
    model.dispose();
    out.close();
  });
});

describe('qwen3: bad input', () => {
  it('shape errors are synchronous and name the problem', () => {
    expect(() => lm.forward(Tensor.fromArray(Int32Array.of(1, 2, 3), [3]))).toThrow(/ids must be \[B, T\]/);
    const cache = lm.createCache(1, 4);
    expect(() => lm.forward(ids([[1, 2, 3, 4, 5]]), { cache })).toThrow(/exceed the KV cache/);
    expect(() => lm.forward(ids([[1, 2]]), { keyMask: Tensor.zeros([1, 3], 'u8') })).toThrow(/keyMask must be \[1, 2\]/);
    cache.dispose();
    expect(() => lm.createCache(1, 1 << 20)).toThrow(/max_position_embeddings/);
  });

  it('an id outside the vocabulary is a KernelError at the next sync point', async () => {
    lm.logits(ids([[1, 300]])).dispose();
    await expect(flush()).rejects.toThrow(KernelError);
  });
});
