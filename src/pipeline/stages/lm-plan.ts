// Stage: the LM plan (UPSTREAM.md: 5 Hz LM, Task types), with upstream's rules for which phases run. The LM is used
// when `thinking` or any `use_cot_*` flag is on, the task is text2music, lego or complete, and the
// engine has an LM. Phase 1 (CoT metadata, once for the batch) runs when `use_cot_metas` is on and
// the user left bpm, key, time signature or duration open; Phase 2 (audio codes, per item with its
// own seed, or several items per CFG batch with allowLmBatch) runs only with `thinking`, for
// text2music without user audio codes. The plan fills in what the user left open.
import type { GenerationParams } from '../params.js';
import { planMetadata, planWithLm, hasAllMetas, type LmPlanOptions, type UserMetas } from '../lm/planner.js';
import { isUnsetMeta } from '../lm/music-vocabulary.js';
import type { LmMetadata } from '../lm/output.js';
import type { TaskType } from '../conditioning/prompts.js';
import { effectiveLyrics, type ItemPlan } from '../task-assembly.js';
import { checkAbort, seconds, type RunContext } from './context.js';

/** Tasks the LM plans for (upstream skips cover, cover-nofsq, repaint and extract). */
const LM_TASKS: readonly TaskType[] = ['text2music', 'lego', 'complete'];

/**
 * The user's metadata as upstream's generate_music hands it to the LM: bpm and duration as
 * integers when positive, key and time signature stripped unless blank or "N/A". The vocal
 * language is not passed (upstream leaves it to the CoT).
 */
export function userMetas(p: GenerationParams): UserMetas {
  const m: UserMetas = {};
  if (p.bpm !== null && p.bpm > 0) m.bpm = String(Math.trunc(p.bpm));
  if (!isUnsetMeta(p.keyscale)) m.keyscale = p.keyscale.trim();
  if (!isUnsetMeta(p.timesignature)) m.timesignature = p.timesignature.trim();
  if (p.duration > 0) m.duration = String(Math.trunc(p.duration));
  return m;
}

/** Which LM phases a generation runs. */
export interface LmPhases {
  /** Phase 1: the CoT writes the metadata the user left open. */
  cot: boolean;
  /** Phase 2: the LM writes each item's audio codes. */
  codes: boolean;
}

/** The LM phases of this generation (none without an LM, for skipped tasks, or with every flag off). */
export function lmPhases(p: GenerationParams, hasLm: boolean): LmPhases {
  const useLm = hasLm && LM_TASKS.includes(p.taskType) && (p.thinking || p.useCotMetas || p.useCotCaption || p.useCotLanguage);
  if (!useLm) return { cot: false, codes: false };
  // Codes only for text2music: lego/complete keep their source audio here (docs/PIPELINE.md).
  const codes = p.thinking && p.taskType === 'text2music' && p.audioCodes.trim() === '';
  return { cot: p.useCotMetas && !hasAllMetas(userMetas(p)), codes };
}

/** Whether this generation runs the LM at all. */
export function needsLmPlan(ctx: RunContext): boolean {
  const ph = lmPhases(ctx.p, ctx.engine.hasLm);
  return ph.cot || ph.codes;
}

/** Copies the plan's codes and the metadata the user left open into the items (upstream _update_metadata_from_lm). */
function applyPlan(items: ItemPlan[], metadata: LmMetadata | UserMetas, codes: string[] | null, p: GenerationParams): void {
  const m = metadata as LmMetadata;
  items.forEach((it, i) => {
    if (codes) it.audioCodes = codes[i];
    const bpm = Number.parseInt(String(m.bpm ?? ''), 10);
    if ((p.bpm === null || p.bpm === 0) && Number.isFinite(bpm)) it.metas.bpm = bpm;
    if (p.keyscale === '' && m.keyscale && m.keyscale !== 'N/A') it.metas.keyscale = String(m.keyscale);
    if (p.timesignature === '' && m.timesignature && m.timesignature !== 'N/A') it.metas.timesignature = String(m.timesignature);
    // Lego's length is its source's (upstream drops the duration for it before the DiT).
    const dur = Number(m.duration);
    if (p.taskType !== 'lego' && p.duration <= 0 && m.duration !== '' && Number.isFinite(dur) && dur > 0) it.metas.duration = dur;
    if (p.useCotCaption && m.caption) it.caption = String(m.caption);
    // Upstream reads the CoT language under a key its parser never writes ("vocal_language"), so
    // the DiT keeps the user's vocal language; kept for identical prompts (docs/UPSTREAM.md: 5 Hz LM).
  });
}

/** The params with upstream's cot_* fields set from what the LM filled in (for the result record). */
export function withCotFields(p: GenerationParams, metadata: LmMetadata | UserMetas, item: ItemPlan): GenerationParams {
  const q = { ...p };
  const m = metadata as LmMetadata;
  if ((p.bpm === null || p.bpm === 0) && typeof item.metas.bpm === 'number' && item.metas.bpm > 0) q.cotBpm = item.metas.bpm;
  if (!p.keyscale) q.cotKeyscale = item.metas.keyscale ?? '';
  if (!p.timesignature) q.cotTimesignature = item.metas.timesignature ?? '';
  if (p.duration <= 0 && item.metas.duration !== null && item.metas.duration > 0) q.cotDuration = item.metas.duration;
  if (!p.caption && m.caption) q.cotCaption = String(m.caption);
  return q;
}

/** Runs the LM plan over `items` (updated in place); returns the plan's metadata (shared by the batch). */
export async function planItemsWithLm(ctx: RunContext, items: ItemPlan[]): Promise<LmMetadata | UserMetas> {
  const { engine, p, c } = ctx;
  const { signal, onProgress } = ctx.opts;
  const tc = ctx.timeCosts;
  const phases = lmPhases(p, engine.hasLm);
  const lm = engine.getLm();
  const tLm = performance.now();
  checkAbort(signal, 'LM planning');
  let phase1End = tLm;
  let sawPhase2 = false;
  const debug = c.constrainedDecodingDebug ? (ctx.opts.onDebug ?? ((msg: string) => console.debug(msg))) : undefined;
  const options: LmPlanOptions = {
    caption: p.caption,
    lyrics: effectiveLyrics(p),
    userMetadata: userMetas(p),
    targetDuration: p.duration > 0 ? p.duration : null,
    temperature: p.lmTemperature,
    cfgScale: p.lmCfgScale,
    negativePrompt: p.lmNegativePrompt,
    // Upstream: top_k 0 and top_p 0 or >= 1 switch the filter off.
    topK: p.lmTopK,
    topP: p.lmTopP > 0 && p.lmTopP < 1 ? p.lmTopP : 1,
    repetitionPenalty: p.lmRepetitionPenalty,
    seeds: items.map((it) => it.seed),
    batchChunkSize: c.allowLmBatch ? c.lmBatchChunkSize : 1,
    useConstrainedDecoding: p.useConstrainedDecoding,
    useCotMetas: p.useCotMetas,
    useCotCaption: p.useCotCaption,
    useCotLanguage: p.useCotLanguage,
    maxModelLen: engine.lmMaxModelLen,
    signal,
    onFsmDebug: debug,
    onToken: (phase, _t, step) => {
      // Phase 1 ends with its last token (the planner reads every token on the host).
      if (phase === 1) phase1End = performance.now();
      else sawPhase2 = true;
      onProgress?.({ stage: 'lm', item: 0, phase, step });
    },
  };
  // Upstream's "llm_dit" (both phases) or "dit" (Phase 1 only) infer type.
  let plan: { metadata: LmMetadata | UserMetas; phase1: unknown };
  if (phases.codes) {
    const full = await planWithLm(lm, options);
    applyPlan(
      items,
      full.metadata,
      full.items.map((it) => it.audioCodes),
      p,
    );
    plan = full;
  } else {
    plan = await planMetadata(lm, options);
    applyPlan(items, plan.metadata, null, p);
  }
  const phase1 = plan.phase1 ? (sawPhase2 ? phase1End - tLm : performance.now() - tLm) / 1000 : 0;
  tc.lm_phase1_time = phase1;
  tc.lm_total_time = seconds(tLm);
  tc.lm_phase2_time = tc.lm_total_time - phase1;
  return plan.metadata;
}
