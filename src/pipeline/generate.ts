// generateMusic: the whole library pipeline (UPSTREAM.md: 5 Hz LM, Noise and seeds, Task assembly,
// Task types, Post-processing and saving) as a sequence of stages with typed hand-offs: resolve the
// parameters -> encode the source/reference audio -> LM plan -> assemble the task -> encode the
// text (DiT conditions) -> sample -> decode -> post-process and save. Parameters are validated
// first (a ParamError is thrown before any model runs); everything after that is reported in the
// result instead: success=false with the error message, like upstream's GenerationResult.
import { randomInt } from 'node:crypto';
import { ensureOutputDir } from '../io/output-dir.js';
import type { AceStep } from './engine.js';
import { ParamError, resolveConfig, resolveParams, planSeeds, type GenerationConfig, type GenerationParams } from './params.js';
import type { UserMetas } from './lm/planner.js';
import type { LmMetadata } from './lm/output.js';
import type { TaskType } from './conditioning/prompts.js';
import { initialItems } from './task-assembly.js';
import { seconds, type RunContext, type RunOptions } from './stages/context.js';
import { snapshotAdapters } from './stages/adapters.js';
import type { AdapterSnapshot } from '../models/lora.js';
import { encodeInputAudio } from './stages/input-audio.js';
import { needsLmPlan, planItemsWithLm, withCotFields } from './stages/lm-plan.js';
import { TURBO_MAX_STEPS } from './diffusion/schedules.js';
import { assembleTask, planTask } from './stages/task.js';
import { encodeConditions } from './stages/conditions.js';
import { sampleLatents } from './stages/sampling.js';
import { decodeLatents } from './stages/decode.js';
import { postProcessAndSave } from './stages/save.js';

export { MIN_LATENT_FRAMES, FALLBACK_DURATION } from './task-assembly.js';
export { REFERENCE_SECONDS } from './stages/input-audio.js';
export { GenerationNumericError, type ProgressEvent, type RunOptions } from './stages/context.js';
export { AbortedError as PipelineAbortedError } from './errors.js';

export interface GeneratedAudio {
  /** The saved file; null when no saveDir was given, '' when saving failed (statusMessage says why; the audio is still here). */
  path: string | null;
  /** sha256-derived id of the item's parameters (upstream generate_uuid_from_params). */
  key: string;
  sampleRate: number;
  /** Post-processed audio, one Float32Array per channel. */
  channels: Float32Array[];
  /** The item's parameters (snake_case, as saved upstream) with seed and audio_codes. */
  params: Record<string, unknown>;
}

export interface GenerationResult {
  success: boolean;
  error: string | null;
  /** Error code of a typed error (e.g. ERR_ABORTED), null on success. */
  errorCode: string | null;
  statusMessage: string;
  audios: GeneratedAudio[];
  extraOutputs: {
    /** The LM's metadata (upstream's lm_metadata: one dict, shared by the batch), null when the LM did not run. */
    lmMetadata: LmMetadata | UserMetas | null;
    /**
     * Seconds per stage under upstream's names: lm_phase1_time, lm_phase2_time, lm_total_time,
     * dit_encoder_time_cost, dit_diffusion_time_cost, dit_diffusion_per_step_time_cost,
     * dit_vae_decode_time_cost, dit_total_time_cost, pipeline_total_time; also vae_encode_time
     * and save_time, which upstream does not report.
     */
    timeCosts: Record<string, number>;
    seeds: number[];
    /** Latent frames T of the batch (audio length = T * hop samples). */
    latentFrames: number;
    /** The task after upstream's relabelling (text2music with LM codes runs as cover). */
    effectiveTask: TaskType;
  };
}

/**
 * Runs one generation. Throws ParamError for invalid parameters and OutputDirError for a saveDir
 * that cannot be created or written (before any work); every later
 * failure (bad audio file, numeric failure, abort) comes back as success=false.
 */
export async function generateMusic(
  engine: AceStep,
  params: Partial<GenerationParams> | Record<string, unknown> = {},
  config: Partial<GenerationConfig> | Record<string, unknown> = {},
  opts: RunOptions = {},
): Promise<GenerationResult> {
  let p = resolveParams(params);
  const c = resolveConfig(config);
  engine.checkAlive();
  // The output folder is made and checked now, not after minutes of compute.
  if (opts.saveDir) ensureOutputDir(opts.saveDir);
  const warnings: string[] = [];
  p = fitToEngine(engine, p, warnings);
  const seeds = planSeeds(p, c, () => randomInt(0, 2 ** 32 - 1));
  const timeCosts: Record<string, number> = {};
  const extra: GenerationResult['extraOutputs'] = { lmMetadata: null, timeCosts, seeds, latentFrames: 0, effectiveTask: p.taskType };
  const t0 = performance.now();
  // Taken before the first await: what runs is the adapter state of this call's start.
  const adapters = snapshotAdapters(engine, p);
  try {
    const audios = await runStages(engine, p, c, seeds, adapters, extra, opts, warnings);
    timeCosts.pipeline_total_time = seconds(t0);
    const statusMessage = [`generated ${audios.length} audio(s)`, ...warnings].join('\n');
    return { success: true, error: null, errorCode: null, statusMessage, audios, extraOutputs: extra };
  } catch (e) {
    // A parameter that only the input audio can judge (the repaint region) is still a ParamError.
    if (e instanceof ParamError) throw e;
    timeCosts.pipeline_total_time = seconds(t0);
    const err = e as Error & { code?: string };
    return {
      success: false,
      error: err.message ?? String(e),
      errorCode: typeof err.code === 'string' ? err.code : null,
      statusMessage: `generation failed: ${err.message}`,
      audios: [],
      extraOutputs: extra,
    };
  } finally {
    adapters.release();
  }
}

/**
 * Checks what depends on the DiT variant and fits the steps to it: base/SFT custom timesteps need
 * a step (two values); turbo runs at most TURBO_MAX_STEPS steps, so more are run as that many, the
 * record says so and a warning joins the status message.
 */
function fitToEngine(engine: AceStep, p: GenerationParams, warnings: string[]): GenerationParams {
  if (engine.variant !== 'turbo' && p.timesteps !== null && p.timesteps.length < 2) {
    throw new ParamError(
      'timesteps',
      `the ${engine.variant} model needs at least two values (one step, e.g. [1, 0]), got ${JSON.stringify(p.timesteps)}`,
    );
  }
  if (engine.variant === 'turbo' && p.timesteps === null && p.inferenceSteps > TURBO_MAX_STEPS) {
    warnings.push(
      `warning: the turbo model runs at most ${TURBO_MAX_STEPS} steps; ran ${TURBO_MAX_STEPS} of the ${p.inferenceSteps} asked`,
    );
    return { ...p, inferenceSteps: TURBO_MAX_STEPS };
  }
  return p;
}

/** The stages after parameter resolution; `extra` collects what the result reports. */
async function runStages(
  engine: AceStep,
  p: GenerationParams,
  c: GenerationConfig,
  seeds: number[],
  adapters: AdapterSnapshot,
  extra: GenerationResult['extraOutputs'],
  opts: RunOptions,
  warnings: string[],
): Promise<GeneratedAudio[]> {
  const silence = {
    data: await engine.silenceLatent.toFloat32(),
    frames: engine.silenceLatent.shape[1],
    C: engine.ditConfig.audioAcousticHiddenDim,
  };
  const ctx: RunContext = { engine, p, c, seeds, opts, timeCosts: extra.timeCosts, silence, adapters, warnings };
  const input = await encodeInputAudio(ctx);
  const items = initialItems(p, seeds);
  if (needsLmPlan(ctx)) {
    extra.lmMetadata = await planItemsWithLm(ctx, items);
    ctx.p = withCotFields(p, extra.lmMetadata, items[0]);
  }
  const layout = planTask(ctx, items, input);
  extra.effectiveTask = layout.effectiveTask;
  extra.latentFrames = layout.T;
  const task = await assembleTask(ctx, items, layout, input);
  try {
    const conds = await encodeConditions(ctx, task, input.reference);
    try {
      const latents = await sampleLatents(ctx, task, conds);
      const wav = await decodeLatents(ctx, latents, task.shape);
      const tc = extra.timeCosts;
      tc.dit_total_time_cost = (tc.dit_encoder_time_cost ?? 0) + (tc.dit_diffusion_time_cost ?? 0) + (tc.dit_vae_decode_time_cost ?? 0);
      return await postProcessAndSave(ctx, wav, task.shape[1] * engine.hop, task.items, input);
    } finally {
      conds.dispose();
    }
  } finally {
    task.dispose();
  }
}
