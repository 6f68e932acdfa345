// Stage: DiT sampling (UPSTREAM.md: Flow-matching sampler). Seeded initial noise (blended with a
// retake noise when asked), the sampler options of the variant (turbo step cap, guidance for
// base/SFT, DCW, SDE noise, cover noise, repaint injection), then the flow-matching sampler over
// the condition sets.
import { randomInt } from 'node:crypto';
import { DisposableStack } from '../../runtime/index.js';
import { ditVelocity } from '../diffusion/dit-sampling.js';
import { sample, type SamplerOptions } from '../diffusion/sampler.js';
import { initialNoise, retakeNoise, sdeNoiseFromSeed } from '../diffusion/noise.js';
import { resolveRepaintConfig } from '../diffusion/repaint.js';
import { TURBO_MAX_STEPS } from '../diffusion/schedules.js';
import type { AssembledTask } from './task.js';
import type { DiTConditions } from './conditions.js';
import { checkAbort, seconds, type RunContext } from './context.js';

/** The sampler options of this generation (everything but the noise and the conditions). */
function samplerOptions(ctx: RunContext, task: AssembledTask, guided: boolean): SamplerOptions {
  const { engine, p } = ctx;
  const { signal, onProgress } = ctx.opts;
  const so: SamplerOptions = {
    variant: engine.variant,
    steps: engine.variant === 'turbo' ? Math.min(p.inferenceSteps, TURBO_MAX_STEPS) : p.inferenceSteps,
    shift: p.shift,
    timesteps: p.timesteps ?? undefined,
    method: p.inferMethod,
    heun: p.samplerMode === 'heun',
    dcw: p.dcwEnabled ? { mode: p.dcwMode, scaler: p.dcwScaler, highScaler: p.dcwHighScaler } : null,
    audioCoverStrength: p.audioCoverStrength,
    signal,
    device: engine.device,
    onProgress: onProgress && ((done, total) => onProgress({ stage: 'dit', step: done, total })),
  };
  if (guided) {
    so.guidanceScale = p.guidanceScale;
    so.guidance = p.useAdg ? 'adg' : 'apg';
    so.cfgIntervalStart = p.cfgIntervalStart;
    so.cfgIntervalEnd = p.cfgIntervalEnd;
  }
  if (p.coverNoiseStrength > 0) {
    so.coverNoiseStrength = p.coverNoiseStrength;
    so.srcLatents = task.clean;
  }
  if (p.inferMethod === 'sde') so.sdeNoise = sdeNoiseFromSeed(task.shape, ctx.seeds[0]);
  const rc = resolveRepaintConfig(p.repaintMode, p.repaintStrength);
  if (task.repaintMask) {
    so.repaint = { mask: task.repaintMask, cleanSrc: task.clean, injectionRatio: rc.injectionRatio, crossfadeFrames: rc.crossfadeFrames };
  }
  return so;
}

/** Samples the batch's latents [B, T, C]. */
export async function sampleLatents(ctx: RunContext, task: AssembledTask, conds: DiTConditions): Promise<Float32Array> {
  const { engine, p, seeds } = ctx;
  checkAbort(ctx.opts.signal, 'diffusion');
  const t0 = performance.now();
  const shape = task.shape;
  let noise = await initialNoise(shape, seeds);
  if (p.retakeVariance > 0) {
    const retakeSeed = p.retakeSeed >= 0 ? p.retakeSeed : randomInt(0, 2 ** 32 - 1);
    noise = retakeNoise(noise, await initialNoise(shape, retakeSeed), p.retakeVariance);
  }
  using stack = new DisposableStack();
  const vel = stack.use(ditVelocity(engine.dit, ctx.adapters));
  const r = await sample(
    vel.velocity,
    { main: conds.main, nonCover: conds.nonCover },
    noise,
    shape,
    samplerOptions(ctx, task, conds.guided),
  );
  // The turbo grid leaves out the final 0; the base/SFT grid ends with it.
  const steps = engine.variant === 'turbo' ? r.schedule.length : r.schedule.length - 1;
  ctx.timeCosts.dit_diffusion_time_cost = seconds(t0);
  ctx.timeCosts.dit_diffusion_per_step_time_cost = ctx.timeCosts.dit_diffusion_time_cost / Math.max(1, steps);
  return r.latents;
}
