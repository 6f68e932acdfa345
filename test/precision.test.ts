// The bf16 compute path (bf16 GEMM operands, f32 accumulation) against the upstream fp32 outputs
// of the golden cases. bf16 keeps 8 mantissa bits (relative rounding 2^-9 per operand), so a
// product of K terms carries ~2^-9 relative noise that does not cancel between layers; the bounds
// are the ones the compute path is specified to hold: one DiT forward cosine >= 0.999, an 8-step
// turbo result (x0) >= 0.995, the encoders' outputs >= 0.999, the tiny VAE's decoded audio and
// encoder outputs >= 0.9999 (measured 0.99997-0.99999; ~25 convs deep, each ~2^-9 relative noise).
// The DiT, condition-encoder and text-encoder cases run their attention at bf16 too (QK^T and P·V
// on bf16 operands, softmax in f32); the last block checks that it does and what it adds.
// The fp32 path stays under the golden tolerances (test/golden.test.ts).
// W8A8 (the engine's `quantization: 'w8a8_dynamic'`: int8 weights per row, activations per row
// at each call) holds the same DiT / x0 / encoder bounds; it measured 0.99992-0.99995 (DiT
// forward), 0.99999 (x0) and 0.99988 (encoder) on these random weights. Trained weights and
// activations have outlier channels that widen a row's range (and so its step), so the bounds
// asserted are the bf16 ones, not the measured values.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, tidyAsync } from '../src/runtime/index.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AceStepDiT } from '../src/models/dit.js';
import { setPrecision } from '../src/models/layers.js';
import { runGoldenCase, type OutputResult } from '../tools/golden/runner.js';
import { diff } from './support/compare.js';

const root = join(import.meta.dirname, 'fixtures', 'golden', 'cases');

async function cosines(name: string, quantization: 'none' | 'w8a8_dynamic' = 'none'): Promise<Map<string, OutputResult>> {
  const r = await runGoldenCase(join(root, name), { backend: 'cpu', precision: 'bf16', quantization });
  expect(r.error).toBeUndefined();
  return new Map(r.outputs.map((o) => [o.name, o]));
}

const CASES: [string, string, number][] = [
  ['dit_decoder_forward', 'velocity', 0.999],
  ['dit_decoder_forward', 'velocity_r_alt', 0.999],
  ['dit_decoder_forward_bf16_weights', 'velocity', 0.999],
  ['xl_dit_decoder_forward', 'velocity', 0.999],
  ['turbo_ode', 'x0', 0.995],
  ['xl_turbo_ode', 'x0', 0.995],
  ['cond_encoder_b1', 'encoder_hidden_states', 0.999],
  ['cond_encoder_b2_padded', 'encoder_hidden_states', 0.999],
  ['text_encoder', 'last_hidden_state', 0.999],
  ['vae', 'decoded_audio', 0.9999],
  ['vae', 'encoder_raw', 0.9999],
  ['vae_tiled', 'decoded_full', 0.9999],
  ['vae_tiled', 'decoded_tiled', 0.9999],
];

/** One test per case: every listed output's cosine against upstream's fp32 within its band, and below `ran` (the reduced precision really ran). */
function bands(cases: [string, string, number][], quantization: 'none' | 'w8a8_dynamic', ran: number): void {
  const byCase = new Map<string, [string, number][]>();
  for (const [c, out, min] of cases) byCase.set(c, [...(byCase.get(c) ?? []), [out, min]]);
  for (const [c, outs] of byCase) {
    it(`${c}: ${outs.map(([o, m]) => `${o} cosine >= ${m}`).join(', ')}`, async () => {
      const got = await cosines(c, quantization);
      for (const [out, min] of outs) {
        const o = got.get(out);
        expect(o?.cosine, `${c}.${out}`).toBeGreaterThanOrEqual(min);
        expect(o!.cosine!).toBeLessThan(ran);
      }
    });
  }
}

describe('bf16 compute precision (golden tiny checkpoints)', () => bands(CASES, 'none', 0.9999999));

const W8A8_CASES = CASES.filter(([c]) => /dit_decoder_forward|turbo_ode|cond_encoder/.test(c));

describe('W8A8 quantization (golden tiny checkpoints)', () => bands(W8A8_CASES, 'w8a8_dynamic', 0.999999));

describe('bf16 attention in the DiT (tiny turbo checkpoint, 48 tokens)', () => {
  // One forward at fp32, at bf16, and at bf16 with the attention blocks set back to fp32: the
  // bf16 attention must really run (the output moves) and stay inside the forward's band; its own
  // share, the difference to the bf16-GEMM-only forward, is bounded by the same 0.999.
  it('setPrecision reaches every self / cross attention block; forward cosine >= 0.999 vs fp32', async () => {
    const { ckpt, config, weights } = openAceStepCheckpoint(
      join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-v15-turbo-tiny'),
    );
    const dit = new AceStepDiT(weights, config);
    ckpt.dispose();
    const wave = (shape: number[], k: number) =>
      Tensor.fromArray(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * k + 0.3) * 0.8),
        shape,
      );
    const run = () =>
      tidyAsync(async () => {
        const t = 96;
        const cond = dit.prepareCondition(wave([1, 40, 64], 0.05));
        return dit
          .forward({ hidden: wave([1, t, 64], 0.13), context: wave([1, t, 128], 0.07), timestep: [0.7], condition: cond })
          .toFloat32();
      });
    const fp32 = await run();
    setPrecision(dit, 'bf16');
    for (const l of dit.layers) expect([l.selfAttn.precision, l.crossAttn.precision]).toEqual(['bf16', 'bf16']);
    const bf16 = await run();
    for (const l of dit.layers) l.selfAttn.precision = l.crossAttn.precision = 'fp32';
    const gemmOnly = await run();
    dit.dispose();
    expect(diff(bf16, fp32).cosine).toBeGreaterThanOrEqual(0.999);
    const attnShare = diff(bf16, gemmOnly);
    expect(attnShare.maxAbs).toBeGreaterThan(0);
    expect(attnShare.cosine).toBeGreaterThanOrEqual(0.999);
  });
});
