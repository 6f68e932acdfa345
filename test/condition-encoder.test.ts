// Condition-encoder pieces that the golden cases only cover at two batch layouts: the packing
// order against a literal re-statement of upstream pack_sequences (two stable descending mask
// sorts), the "row sees no key" detection against brute force, config parsing errors, and bad
// inputs. Float parity: golden cases cond_encoder_b1 / cond_encoder_b2_padded / xl_cond_encoder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/io/errors.js';
import { concat, ShapeError, Tensor, tidyAsync } from '../src/runtime/index.js';
import { openAceStepCheckpoint, parseAceStepConfig } from '../src/models/acestep-config.js';
import { rowsWithoutKeys } from '../src/models/acestep-encoder.js';
import { ConditionEncoder, packOrder } from '../src/models/condition-encoder.js';
import { setPrecision } from '../src/models/layers.js';
import { rng } from './support/random.js';

const golden = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');

/** Upstream pack_sequences on one row: concat, stable argsort(mask, descending). */
function packRow(a: number[], ma: number[], b: number[], mb: number[]): { x: number[]; m: number[] } {
  const x = a.concat(b);
  const m = ma.concat(mb);
  const idx = x.map((_, i) => i).sort((i, j) => m[j] - m[i] || i - j);
  const n = m.reduce((s, v) => s + v, 0);
  return { x: idx.map((i) => x[i]), m: x.map((_, i) => (i < n ? 1 : 0)) };
}

describe('packOrder', () => {
  it('matches two upstream pack_sequences calls on random masks', () => {
    const r = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const batch = 1 + Math.floor(r() * 3);
      const lens = [1 + Math.floor(r() * 6), 1 + Math.floor(r() * 3), 1 + Math.floor(r() * 6)];
      const masks = lens.map((len) => Array.from({ length: batch * len }, () => (r() < 0.6 ? 1 : 0)));
      const got = packOrder(
        masks.map((data, k) => ({ data, len: lens[k] })),
        batch,
      );
      const total = lens[0] + lens[1] + lens[2];
      for (let b = 0; b < batch; b++) {
        const ids = lens.map((len, k) => Array.from({ length: len }, (_, i) => lens.slice(0, k).reduce((s, v) => s + v, 0) + i));
        const row = (k: number) => masks[k].slice(b * lens[k], (b + 1) * lens[k]);
        const p1 = packRow(ids[0], row(0), ids[1], row(1));
        const p2 = packRow(p1.x, p1.m, ids[2], row(2));
        expect(Array.from(got.order.subarray(b * total, (b + 1) * total))).toEqual(p2.x);
        expect(Array.from(got.mask.subarray(b * total, (b + 1) * total))).toEqual(p2.m);
      }
    }
  });
});

describe('rowsWithoutKeys', () => {
  it('flags exactly the queries whose window holds no real key', () => {
    const r = rng(3);
    for (let trial = 0; trial < 100; trial++) {
      const b = 2;
      const t = 1 + Math.floor(r() * 12);
      const mask = Array.from({ length: b * t }, () => (r() < 0.3 ? 1 : 0));
      const window = r() < 0.3 ? undefined : Math.floor(r() * 4);
      const got = rowsWithoutKeys(mask, b, t, window);
      const want = new Float32Array(b * t);
      for (let bi = 0; bi < b; bi++)
        for (let i = 0; i < t; i++) {
          let seen = false;
          for (let j = 0; j < t; j++) if (mask[bi * t + j] && (window === undefined || Math.abs(i - j) <= window)) seen = true;
          want[bi * t + i] = seen ? 0 : 1;
        }
      if (want.every((v) => v === 0)) expect(got).toBeNull();
      else expect(Array.from(got!)).toEqual(Array.from(want));
    }
  });
});

describe('AceStep config', () => {
  const base = {
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
  };

  it('derives 2B encoder widths from the decoder and the default layer types', () => {
    const c = parseAceStepConfig(base);
    expect(c.isXL).toBe(false);
    expect(c.encoderHiddenSize).toBe(64);
    expect(c.layerTypes).toEqual(['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
    expect(c.fsqLevels).toEqual([8, 8, 8, 5, 5, 5]);
  });

  it('names the key on bad or incomplete configs', () => {
    expect(() => parseAceStepConfig({ ...base, hidden_size: 'x' })).toThrow(/'hidden_size' must be a positive integer, got "x"/);
    expect(() => parseAceStepConfig({ ...base, num_key_value_heads: 3 })).toThrow(CheckpointError);
    expect(() => parseAceStepConfig({ ...base, layer_types: ['sliding_attention', 'bogus'] })).toThrow(/layer_types\[1\]/);
    // XL reads the four encoder_* keys unconditionally.
    expect(() => parseAceStepConfig({ ...base, encoder_hidden_size: 64 })).toThrow(/lacks 'encoder_num_attention_heads'/);
  });

  it('reads the XL tiny config', () => {
    const { ckpt, config } = openAceStepCheckpoint(join(golden, 'acestep-v15-xl-turbo-tiny'));
    ckpt.dispose();
    expect(config.isXL).toBe(true);
    expect([config.hiddenSize, config.encoderHiddenSize, config.encoderNumAttentionHeads, config.encoderNumKeyValueHeads]).toEqual([
      80, 64, 4, 2,
    ]);
  });
});

describe('ConditionEncoder input checks', () => {
  it('rejects mismatched shapes and reference orders with ShapeError', async () => {
    await tidyAsync(async () => {
      const { ckpt, config, weights } = openAceStepCheckpoint(join(golden, 'acestep-v15-turbo-tiny'));
      const enc = new ConditionEncoder(weights, config);
      ckpt.dispose();
      const inputs = {
        textHiddenStates: Tensor.zeros([1, 3, 48]),
        textAttentionMask: [1, 1, 1],
        lyricHiddenStates: Tensor.zeros([1, 4, 48]),
        lyricAttentionMask: [1, 1, 1, 0],
        referAcoustic: Tensor.zeros([1, 5, 64]),
        referOrder: [0],
      };
      await expect(enc.forward({ ...inputs, textHiddenStates: Tensor.zeros([1, 3, 40]) })).rejects.toThrow(ShapeError);
      await expect(enc.forward({ ...inputs, referOrder: [1] })).rejects.toThrow(/batch item 1, outside \[0, 1\)/);
      await expect(enc.forward({ ...inputs, lyricAttentionMask: [1] })).rejects.toThrow(/lyric mask has 1 values/);
      const out = await enc.forward(inputs);
      expect(out.encoderHiddenStates.shape).toEqual([1, 8, 64]);
      expect(out.validCounts).toEqual([7]);
      expect(Array.from(out.encoderAttentionMask.dataSync())).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
      enc.dispose();
    });
  });
});

describe('timbre encoder, last layer on the leading rows only', () => {
  // encodeTimbre runs the last layer's query, output projection and MLP on the first rows only;
  // row 0 must equal the full stack's bit for bit (same blocked GEMM and attention kernels), at
  // fp32 and bf16, for 2B (frame 0) and XL (prepended token), above and below one row block (16).
  for (const name of ['acestep-v15-turbo-tiny', 'acestep-v15-xl-turbo-tiny'])
    for (const precision of ['fp32', 'bf16'] as const)
      it(`${name} ${precision}: row 0 equals the full stack's exactly`, async () => {
        const { ckpt, config, weights } = openAceStepCheckpoint(join(golden, name));
        const enc = new ConditionEncoder(weights, config);
        ckpt.dispose();
        setPrecision(enc, precision);
        const r = rng(11);
        for (const t of [40, 5]) {
          await tidyAsync(async () => {
            const refs = Tensor.fromArray(
              Float32Array.from({ length: 2 * t * 64 }, () => r() * 2 - 1),
              [2, t, 64],
            );
            let h = enc.timbreEmbed.forward(refs);
            if (enc.timbreSpecialToken) h = concat([enc.timbreSpecialToken.expand([2, 1, config.encoderHiddenSize]), h], 1);
            const full = await enc.timbreEncoder.forward(h).select(1, 0).toFloat32();
            const first = await enc.encodeTimbre(refs).toFloat32();
            expect(first.length).toBe(2 * config.encoderHiddenSize);
            expect(Array.from(first)).toEqual(Array.from(full));
          });
        }
        enc.dispose();
      });
});

describe('ConditionEncoder with precomputed lyric encoding and timbre', () => {
  it('gives exactly the output of the full forward, and checks their shapes', async () => {
    await tidyAsync(async () => {
      const { ckpt, config, weights } = openAceStepCheckpoint(join(golden, 'acestep-v15-turbo-tiny'));
      const enc = new ConditionEncoder(weights, config);
      ckpt.dispose();
      const r = rng(5);
      const rand = (shape: number[]) =>
        Tensor.fromArray(
          Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => r() - 0.5),
          shape,
        );
      const inputs = {
        textHiddenStates: rand([2, 3, 48]),
        textAttentionMask: [1, 1, 1, 1, 1, 0],
        lyricHiddenStates: rand([2, 4, 48]),
        lyricAttentionMask: [1, 1, 1, 0, 1, 1, 1, 1],
        referAcoustic: rand([2, 20, 64]),
        referOrder: [0, 1],
      };
      const full = await enc.forward(inputs);
      const lyricEncoded = enc.encodeLyrics(inputs.lyricHiddenStates, inputs.lyricAttentionMask);
      const referTimbre = enc.encodeTimbre(inputs.referAcoustic);
      const given = await enc.forward({ ...inputs, lyricEncoded, referTimbre });
      expect(Array.from(await given.encoderHiddenStates.toFloat32())).toEqual(Array.from(await full.encoderHiddenStates.toFloat32()));
      expect(given.validCounts).toEqual(full.validCounts);
      await expect(enc.forward({ ...inputs, lyricEncoded: lyricEncoded.narrow(1, 0, 3) })).rejects.toThrow(/lyric encoding must be/);
      await expect(enc.forward({ ...inputs, referTimbre: referTimbre.narrow(0, 0, 1) })).rejects.toThrow(/refer timbre must be/);
      enc.dispose();
    });
  });
});
