// The sampler against the upstream sampler fixtures, independent of the DiT: a replay decoder
// hands back the stored raw decoder outputs (step_v_raw) and checks that every decoder input
// (step_x, step_t) is what upstream fed its decoder at that call. So schedules, Euler/SDE/Heun
// updates, APG/ADG/CFG, DCW, the cover switch, cover_noise_strength and repaint are each checked
// against the real trajectories; x0 closes the loop.
// Tolerance: 2e-5 scaled max abs and cosine 0.999999. With the decoder outputs given exactly, the
// only differences are float32 rounding orders (reductions in APG/ADG norms, fused vs separate
// ops), which stay around 1e-6 over at most 16 updates; the fixture tolerance (1e-4) would also
// hide real formula slips such as a wrong DCW weight (≈1e-3 effects), so this is tighter.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { Tensor } from '../src/runtime/tensor.js';
import { sample, type DecoderCallInfo, type SamplerOptions, type SamplerTraceEvent } from '../src/pipeline/diffusion/sampler.js';
import { repaintRegionFrames, repaintWaveformSplice, resolveRepaintConfig, silenceRegion } from '../src/pipeline/diffusion/repaint.js';
import { diff } from './support/compare.js';

const root = join(import.meta.dirname, 'fixtures', 'golden', 'cases');
const TOL = { maxAbs: 2e-5, cosine: 0.999999 };

class Fixture {
  readonly inputs: SafetensorsFile;
  readonly outputs: SafetensorsFile;
  readonly params: Record<string, any>;
  constructor(readonly name: string) {
    this.inputs = SafetensorsFile.open(join(root, name, 'inputs.safetensors'));
    this.outputs = SafetensorsFile.open(join(root, name, 'outputs.safetensors'));
    this.params = JSON.parse(readFileSync(join(root, name, 'manifest.json'), 'utf8')).params;
  }
  private read(f: SafetensorsFile, k: string): { data: Float32Array; shape: number[] } {
    const t = f.get(k);
    const data = Float32Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
    const shape = [...t.shape];
    t.dispose();
    return { data, shape };
  }
  in(k: string) {
    return this.read(this.inputs, k);
  }
  out(k: string) {
    return this.read(this.outputs, k);
  }
  close() {
    this.inputs.close();
    this.outputs.close();
  }
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  const d = diff(actual, expected);
  const scaled = d.maxAbs / Math.max(1, d.maxRef);
  expect(scaled, `${label}: max abs scaled ${scaled.toExponential(2)}, cosine ${d.cosine}`).toBeLessThanOrEqual(TOL.maxAbs);
  expect(d.cosine, label).toBeGreaterThanOrEqual(TOL.cosine);
}

interface Run {
  x0: Float32Array;
  calls: { t: number; cond: string; info: DecoderCallInfo }[];
  events: SamplerTraceEvent[];
}

/** Runs the sampler with the replay decoder for fixture `fx` and checks every decoder input. */
async function replay(fx: Fixture, opts: Omit<SamplerOptions, 'trace'>, conds = { main: 'cond0', nonCover: 'cond1' }): Promise<Run> {
  const stepX = fx.out('step_x'),
    stepT = fx.out('step_t'),
    stepV = fx.out('step_v_raw');
  const noise = fx.in('initial_noise');
  const [B, T, C] = noise.shape;
  const calls = stepX.shape[0];
  const per = stepX.data.length / calls;
  const rows = stepX.shape[1];
  const run: Run = { x0: new Float32Array(), calls: [], events: [] };
  let k = 0;
  const velocity = (x: Tensor, t: number, cond: string, info: DecoderCallInfo) => {
    expect(k, 'more decoder calls than the fixture recorded').toBeLessThan(calls);
    expect(x.shape).toEqual([rows, T, C]);
    expectNear(x.toFloat32Sync(), stepX.data.subarray(k * per, (k + 1) * per), `${fx.name} decoder input ${k}`);
    expect(Math.fround(t), `${fx.name} t of call ${k}`).toBe(stepT.data[k * rows]);
    run.calls.push({ t, cond, info });
    const v = Tensor.fromArray(stepV.data.slice(k * per, (k + 1) * per), [rows, T, C]);
    k++;
    return v;
  };
  const r = await sample(velocity, conds, noise.data, [B, T, C], { ...opts, trace: (e) => run.events.push(e) });
  expect(k, `${fx.name}: decoder calls`).toBe(calls);
  run.x0 = r.latents;
  expectNear(r.latents, fx.out('x0').data, `${fx.name} x0`);
  return run;
}

function withFixture(name: string, fn: (fx: Fixture) => Promise<void>) {
  return async () => {
    const fx = new Fixture(name);
    try {
      await fn(fx);
    } finally {
      fx.close();
    }
  };
}

describe('sampler replays the upstream trajectories', () => {
  it(
    'turbo_ode: 8-step Euler, shift 3, x0 on the last step',
    withFixture('turbo_ode', async (fx) => {
      await replay(fx, { variant: 'turbo', steps: 8, shift: 3 });
    }),
  );

  it(
    'turbo_ode_dcw: DCW (Haar closed form, double, 0.05/0.02)',
    withFixture('turbo_ode_dcw', async (fx) => {
      await replay(fx, { variant: 'turbo', steps: 8, shift: 3, dcw: { mode: 'double', scaler: 0.05, highScaler: 0.02 } });
    }),
  );

  it(
    'turbo_ode_dcw differs from a run without DCW (the check can fail)',
    withFixture('turbo_ode_dcw', async (fx) => {
      await expect(replay(fx, { variant: 'turbo', steps: 8, shift: 3 })).rejects.toThrow(/decoder input 1/);
    }),
  );

  it(
    'turbo_cover_b2: batch 2',
    withFixture('turbo_cover_b2', async (fx) => {
      await replay(fx, { variant: 'turbo' });
    }),
  );

  it(
    'xl_turbo_ode: batch 2, same sampler for XL',
    withFixture('xl_turbo_ode', async (fx) => {
      await replay(fx, { variant: 'turbo', steps: 8, shift: 3 });
    }),
  );

  it(
    'turbo_sde: renoise with the recorded noise',
    withFixture('turbo_sde', async (fx) => {
      await replay(fx, { variant: 'turbo', method: 'sde', sdeNoise: (i) => fx.out(`sde_noise_${i}`).data });
    }),
  );

  it(
    'base_cfg_apg: CFG batch, APG, interval [0, 0.95]',
    withFixture('base_cfg_apg', async (fx) => {
      const r = await replay(fx, { variant: 'base', steps: 8, shift: 3, guidanceScale: 5, cfgIntervalStart: 0, cfgIntervalEnd: 0.95 });
      expect(r.calls.map((c) => c.info.phase)).toEqual(Array(8).fill('predictor'));
    }),
  );

  it(
    'base_cfg_adg: ADG',
    withFixture('base_cfg_adg', async (fx) => {
      await replay(fx, { variant: 'base', steps: 8, shift: 3, guidanceScale: 5, guidance: 'adg' });
    }),
  );

  it(
    'base_heun_cfg: Heun with APG predictor and plain-CFG corrector',
    withFixture('base_heun_cfg', async (fx) => {
      const r = await replay(fx, { variant: 'base', steps: 8, shift: 3, guidanceScale: 5, heun: true });
      expect(r.calls.map((c) => c.info.phase)).toEqual(Array.from({ length: 16 }, (_, i) => (i % 2 ? 'corrector' : 'predictor')));
      expect(r.calls[15].t).toBe(0);
    }),
  );

  it(
    'sft_cfg: default SFT guidance (APG, 7.0, interval [0, 1])',
    withFixture('sft_cfg', async (fx) => {
      await replay(fx, { variant: 'sft', steps: 8, shift: 3, guidanceScale: 7 });
    }),
  );

  it(
    'sft_cover_timesteps: custom timesteps; SFT switches condition after int(5·0.5) = 2 steps',
    withFixture('sft_cover_timesteps', async (fx) => {
      const ts = Array.from(fx.in('timesteps').data);
      const r = await replay(fx, { variant: 'sft', timesteps: ts, guidanceScale: 3, audioCoverStrength: 0.5 });
      expect(r.calls.map((c) => c.cond)).toEqual(['cond0', 'cond0', 'cond1', 'cond1', 'cond1']);
      expect(r.calls.map((c) => c.info.freshCache)).toEqual([true, false, true, false, false]);
    }),
  );

  it(
    'cover_strength: switch to the non-cover condition at step 4',
    withFixture('cover_strength', async (fx) => {
      const r = await replay(fx, { variant: 'turbo', audioCoverStrength: 0.5 });
      expect(r.calls.map((c) => c.cond)).toEqual([...Array(4).fill('cond0'), ...Array(4).fill('cond1')]);
    }),
  );

  it(
    'cover_noise_strength: start at t* = 0.75 from the raw source, 4 steps left',
    withFixture('cover_noise_strength', async (fx) => {
      const r = await replay(fx, { variant: 'turbo', coverNoiseStrength: 0.3, srcLatents: fx.in('src_latents').data });
      expect(r.calls.map((c) => c.t)).toEqual([0.75, Math.fround(9 / 14), 0.5, Math.fround(0.3)]);
    }),
  );

  it(
    'repaint: source, step injection, boundary blend and waveform splice',
    withFixture('repaint', async (fx) => {
      const p = fx.params;
      const cfgR = resolveRepaintConfig(p.repaint_mode, p.repaint_strength);
      expect(cfgR).toEqual({ injectionRatio: 0.5, crossfadeFrames: 12, wavCrossfadeSeconds: 0.025 });
      const [s, e] = repaintRegionFrames(p.repainting_start_s, p.repainting_end_s);
      expect([s, e]).toEqual([12, 24]);
      const clean = fx.in('clean_src_latents');
      const [B, T, C] = clean.shape;
      const mask = new Uint8Array(B * T);
      mask.fill(1, s, e);
      expect(Array.from(mask)).toEqual(Array.from(fx.out('repaint_mask').data));
      const sil = fx.in('silence_latent');
      expectNear(silenceRegion(clean.data, sil.data, sil.shape[1], [B, T, C], s, e), fx.out('src_latents_built').data, 'src_latents_built');

      const r = await replay(fx, {
        variant: 'turbo',
        repaint: { mask, cleanSrc: clean.data, injectionRatio: cfgR.injectionRatio, crossfadeFrames: cfgR.crossfadeFrames },
      });
      const inj = r.events.filter((ev) => ev.type === 'inject');
      expect(inj.map((ev) => ev.tNext)).toEqual(Array.from(fx.out('injection_t_next').data));
      const before = fx.out('injection_x_before').data,
        after = fx.out('injection_x_after').data;
      const per = B * T * C;
      inj.forEach((ev, i) => {
        expectNear(ev.before, before.subarray(i * per, (i + 1) * per), `injection_x_before ${i}`);
        expectNear(ev.after, after.subarray(i * per, (i + 1) * per), `injection_x_after ${i}`);
      });
      const bb = r.events.find((ev) => ev.type === 'beforeBlend');
      expectNear(bb!.x, fx.out('x_before_blend').data, 'x_before_blend');

      const pred = fx.in('splice_pred_wavs'),
        src = fx.in('splice_src_wavs');
      const out = repaintWaveformSplice(
        pred.data,
        pred.shape[2],
        src.data,
        src.shape[2],
        pred.shape[1],
        p.splice_sample_rate,
        p.repainting_start_s,
        p.repainting_end_s,
        cfgR.wavCrossfadeSeconds,
      );
      // Splice: 1e-5 scaled per the fixture README (a single blend, no accumulation).
      const d = diff(out, fx.out('splice_out').data);
      expect(d.maxAbs / Math.max(1, d.maxRef)).toBeLessThanOrEqual(1e-5);
    }),
  );
});
