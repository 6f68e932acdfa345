// Stage: the LM plan of text2music with thinking (UPSTREAM.md: 5 Hz LM, Task types). Phase 1 writes the CoT
// metadata once for the batch; Phase 2 writes each item's audio codes with its own seed (or several
// items per CFG batch with allowLmBatch). The plan fills in what the user left open: BPM, key,
// time signature, duration, and (when asked) caption and language.
import type { GenerationParams } from '../params.js';
import { planWithLm, type LmPlan, type UserMetas } from '../lm/planner.js';
import type { LmMetadata } from '../lm/output.js';
import { effectiveLyrics, type ItemPlan } from '../task-assembly.js';
import { checkAbort, seconds, type RunContext } from './context.js';

/** The user's metadata as the LM reads it (only what was given). */
function userMetas(p: GenerationParams): UserMetas {
  const m: UserMetas = {};
  if (p.bpm !== null) m.bpm = String(p.bpm);
  if (p.keyscale) m.keyscale = p.keyscale;
  if (p.timesignature) m.timesignature = p.timesignature;
  if (p.duration > 0) m.duration = String(Math.trunc(p.duration));
  if (p.vocalLanguage !== 'unknown') m.language = p.vocalLanguage;
  return m;
}

/** Whether this generation runs the LM. */
export function needsLmPlan(ctx: RunContext): boolean {
  const { p, engine } = ctx;
  return p.taskType === 'text2music' && p.thinking && !p.audioCodes && engine.hasLm;
}

/** Copies the plan's codes and the metadata the user left open into the items. */
function applyPlan(items: ItemPlan[], plan: LmPlan, p: GenerationParams): void {
  const m = plan.metadata as LmMetadata;
  items.forEach((it, i) => {
    it.audioCodes = plan.items[i].audioCodes;
    const bpm = Number(m.bpm);
    if (p.bpm === null && Number.isFinite(bpm)) it.metas.bpm = bpm;
    if (!p.keyscale && m.keyscale) it.metas.keyscale = String(m.keyscale);
    if (!p.timesignature && m.timesignature) it.metas.timesignature = String(m.timesignature);
    const dur = Number(m.duration);
    if (p.duration <= 0 && Number.isFinite(dur) && dur > 0) it.metas.duration = dur;
    if (p.useCotCaption && m.caption) it.caption = String(m.caption);
    if (p.vocalLanguage === 'unknown' && p.useCotLanguage && m.language) it.language = String(m.language);
  });
}

/** Runs the LM plan over `items` (updated in place); returns the metadata of each item. */
export async function planItemsWithLm(ctx: RunContext, items: ItemPlan[]): Promise<(LmMetadata | UserMetas)[]> {
  const { engine, p, c } = ctx;
  const { signal, onProgress } = ctx.opts;
  const tc = ctx.timeCosts;
  const lm = engine.getLm();
  const tLm = performance.now();
  checkAbort(signal, 'LM planning');
  let phase1End = tLm;
  let sawPhase2 = false;
  const plan = await planWithLm(lm, {
    caption: p.caption,
    lyrics: effectiveLyrics(p),
    userMetadata: userMetas(p),
    targetDuration: p.duration > 0 ? p.duration : null,
    temperature: p.lmTemperature,
    cfgScale: p.lmCfgScale,
    negativePrompt: p.lmNegativePrompt,
    topK: p.lmTopK,
    topP: p.lmTopP,
    repetitionPenalty: p.lmRepetitionPenalty,
    seeds: items.map((it) => it.seed),
    batchChunkSize: c.allowLmBatch ? c.lmBatchChunkSize : 1,
    useConstrainedDecoding: p.useConstrainedDecoding,
    useCotMetas: p.useCotMetas,
    useCotCaption: p.useCotCaption,
    useCotLanguage: p.useCotLanguage,
    maxModelLen: engine.lmMaxModelLen,
    signal,
    onToken: (phase, _t, step) => {
      // Phase 1 ends with its last token (the planner reads every token on the host).
      if (phase === 1) phase1End = performance.now();
      else sawPhase2 = true;
      onProgress?.({ stage: 'lm', item: 0, phase, step });
    },
  });
  applyPlan(items, plan, p);
  const phase1 = plan.phase1 && sawPhase2 ? (phase1End - tLm) / 1000 : 0;
  tc.lm_phase1_time = phase1;
  tc.lm_total_time = seconds(tLm);
  tc.lm_phase2_time = tc.lm_total_time - phase1;
  return items.map(() => plan.metadata);
}
