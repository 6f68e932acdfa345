// DiT decoder properties the golden cases do not isolate: the timestep sinusoid against a plain
// float64 formula, reuse of the cross-attention K/V across calls (bit-identical), batch
// independence (item 0 of a batch of 2 equals the same item alone), odd-T cropping, and typed
// errors on bad inputs. Float parity with upstream: golden cases dit_decoder_forward,
// dit_decoder_forward_bf16_weights, xl_dit_decoder_forward.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShapeError, Tensor, tidyAsync } from '../src/runtime/index.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AceStepDiT, timestepSinusoid } from '../src/models/dit.js';

const ckptDir = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-v15-turbo-tiny');

function wave(shape: number[], k: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3) * 0.8),
    shape,
  );
}

describe('timestepSinusoid', () => {
  it('is [cos | sin] of t*1000*exp(-ln(1e4) k/half), cos first', () => {
    const t = [0, 0.3, 0.95454544, 1];
    const e = timestepSinusoid(t, 256);
    for (let b = 0; b < t.length; b++) {
      for (let k = 0; k < 128; k++) {
        const arg = t[b] * 1000 * Math.exp((-Math.log(10000) * k) / 128);
        // float32 rounding of the argument (|arg| <= 1000) moves the result by <= 1e-4.
        expect(Math.abs(e[b * 256 + k] - Math.cos(arg))).toBeLessThan(1e-4);
        expect(Math.abs(e[b * 256 + 128 + k] - Math.sin(arg))).toBeLessThan(1e-4);
      }
    }
    // t - r = 0 (r = t at inference) gives exactly [1]*128 + [0]*128.
    expect(Array.from(e.subarray(0, 256))).toEqual([...new Array(128).fill(1), ...new Array(128).fill(0)]);
  });
});

describe('AceStepDiT (tiny checkpoint)', () => {
  it('reuses cross K/V bit-exactly, keeps batch items independent, crops odd T, rejects bad inputs', async () => {
    await tidyAsync(async () => {
      const { ckpt, config, weights } = openAceStepCheckpoint(ckptDir);
      const dit = new AceStepDiT(weights, config);
      ckpt.dispose();
      const t = 7;
      const x = wave([2, t, 64], 0.13);
      const ctx = wave([2, t, 128], 0.07);
      const enc = wave([2, 9, 64], 0.05);
      const cond = dit.prepareCondition(enc);
      const v1 = dit.forward({ hidden: x, context: ctx, timestep: [0.7, 0.3], condition: cond });
      expect(v1.shape).toEqual([2, t, 64]);
      const v2 = dit.forward({ hidden: x, context: ctx, timestep: [0.7, 0.3], condition: cond });
      expect(Array.from(await v2.toFloat32())).toEqual(Array.from(await v1.toFloat32()));

      const cond0 = dit.prepareCondition(enc.narrow(0, 0, 1).contiguous());
      const solo = await dit
        .forward({ hidden: x.narrow(0, 0, 1).contiguous(), context: ctx.narrow(0, 0, 1).contiguous(), timestep: [0.7], condition: cond0 })
        .toFloat32();
      const batched = (await v1.toFloat32()).subarray(0, t * 64);
      let maxErr = 0;
      for (let i = 0; i < solo.length; i++) maxErr = Math.max(maxErr, Math.abs(solo[i] - batched[i]));
      // Same math per item; only GEMM blocking may differ with the row count (f32 rounding).
      expect(maxErr).toBeLessThan(1e-5);

      expect(() => dit.forward({ hidden: x, context: ctx, timestep: [0.7], condition: cond })).toThrow(/1 timesteps for batch 2/);
      expect(() => dit.forward({ hidden: x, context: wave([2, t, 64], 0.1), timestep: [0.7, 0.3], condition: cond })).toThrow(ShapeError);
      expect(() => dit.forward({ hidden: x.narrow(0, 0, 1), context: ctx.narrow(0, 0, 1), timestep: [0.7], condition: cond })).toThrow(
        /condition is for batch 2/,
      );
      expect(() => dit.prepareCondition(wave([2, 9, 48], 0.1))).toThrow(ShapeError);
      cond.dispose();
      cond0.dispose();
      dit.dispose();
    });
  });
});
