// Golden kind lm_two_phase_greedy: the whole two-phase LM plan (FSM-constrained CoT, then codes with
// LM CFG over a left-padded batch) with the real vocabulary, greedy. Chosen ids, prompts, batch
// ids/masks and allowed counts must match exactly; step-0 logits and top-2 gaps within the LM
// logits tolerance.
import { Qwen3Model } from '../../../src/models/qwen3.js';
import { Tensor, tidy } from '../../../src/runtime/index.js';
import { TextTokenizer } from '../../../src/text/index.js';
import { planWithLm, type UserMetas } from '../../../src/pipeline/lm/planner.js';
import { GoldenCaseError, type Actual, type CaseKind } from '../case.js';

interface Inputs {
  caption: string;
  lyrics: string;
  user_metadata: UserMetas | null;
  target_duration: number | null;
  temperature: number;
  cfg_scale: number;
  negative_prompt: string;
  top_k: number | null;
  top_p: number | null;
  repetition_penalty: number;
  use_constrained_decoding: boolean;
  use_cot_metas: boolean;
  use_cot_caption: boolean;
  use_cot_language: boolean;
  max_duration: number;
}

interface Scenario {
  inputs: Inputs;
  phase1_skipped: boolean;
  result: { metadata: Record<string, unknown>; audio_codes: string };
}

function stats(logits: Float32Array): { gap: number; n: number } {
  let a = -Infinity,
    b = -Infinity,
    n = 0;
  for (const v of logits) {
    if (v === -Infinity || Number.isNaN(v)) continue;
    n++;
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return { gap: n > 1 ? a - b : -1, n };
}

const kind: CaseKind = {
  cases: ['lm_two_phase_greedy'],
  async run(c, opts) {
    const p = c.params<{ tokenizer: string; scenarios: Record<string, Scenario> }>();
    const tokDir = c.setPath(p.tokenizer.split(' ')[0]);
    const tokenizer = TextTokenizer.load(tokDir);
    const model = Qwen3Model.load(c.checkpoint, { device: opts.backend });
    const lm = { model, tokenizer };
    const out: Actual[] = [];
    const problems: string[] = [];
    try {
      for (const [name, s] of Object.entries(p.scenarios)) {
        const i = s.inputs;
        const gaps: Record<1 | 2, number[]> = { 1: [], 2: [] };
        const counts: Record<1 | 2, number[]> = { 1: [], 2: [] };
        const plan = await planWithLm(lm, {
          caption: i.caption,
          lyrics: i.lyrics,
          userMetadata: i.user_metadata,
          targetDuration: i.target_duration,
          temperature: i.temperature,
          cfgScale: i.cfg_scale,
          negativePrompt: i.negative_prompt,
          topK: i.top_k ?? 0,
          topP: i.top_p ?? 1,
          repetitionPenalty: i.repetition_penalty,
          useConstrainedDecoding: i.use_constrained_decoding,
          useCotMetas: i.use_cot_metas,
          useCotCaption: i.use_cot_caption,
          useCotLanguage: i.use_cot_language,
          maxDuration: i.max_duration,
          trace: (phase, _step, logits) => {
            const st = stats(logits);
            gaps[phase].push(st.gap);
            counts[phase].push(st.n);
          },
        });
        if ((plan.phase1 === null) !== s.phase1_skipped)
          problems.push(`${name}: phase 1 skipped=${plan.phase1 === null}, expected ${s.phase1_skipped}`);
        if (plan.audioCodes !== s.result.audio_codes) problems.push(`${name}: audio codes differ`);
        const meta = JSON.stringify(plan.metadata, Object.keys(plan.metadata).sort());
        const want = JSON.stringify(s.result.metadata, Object.keys(s.result.metadata).sort());
        if (meta !== want) problems.push(`${name}: metadata ${meta} != ${want}`);
        const rawLogits = (ids: number[][], mask?: number[][]) =>
          tidy(() => {
            const t = Tensor.fromArray(Int32Array.from(ids.flat()), [ids.length, ids[0].length], { dtype: 'i32', device: opts.backend });
            const m = mask
              ? Tensor.fromArray(Uint8Array.from(mask.flat()), [mask.length, mask[0].length], { dtype: 'u8', device: opts.backend })
              : undefined;
            return model.logits(t, { lastOnly: true, keyMask: m });
          });
        if (plan.phase1) {
          const l = rawLogits([plan.phase1.promptIds]);
          out.push(
            { name: `${name}__phase1_prompt_ids`, value: plan.phase1.promptIds, tol: 'exact' },
            { name: `${name}__phase1_chosen`, value: plan.phase1.chosen, tol: 'exact' },
            { name: `${name}__phase1_top2_gap`, value: gaps[1] },
            { name: `${name}__phase1_n_allowed`, value: counts[1], tol: 'exact' },
            { name: `${name}__phase1_step0_logits`, value: l.reshape([-1]) },
          );
        }
        const l2 = rawLogits(plan.phase2.batchIds, plan.phase2.batchMask).reshape([2, -1]);
        out.push(
          { name: `${name}__phase2_cond_prompt_ids`, value: plan.phase2.condIds, tol: 'exact' },
          { name: `${name}__phase2_uncond_prompt_ids`, value: plan.phase2.uncondIds, tol: 'exact' },
          { name: `${name}__phase2_batch_input_ids`, value: plan.phase2.batchIds.flat(), tol: 'exact' },
          { name: `${name}__phase2_batch_attention_mask`, value: plan.phase2.batchMask.flat(), tol: 'exact' },
          { name: `${name}__phase2_chosen`, value: plan.phase2.chosen, tol: 'exact' },
          { name: `${name}__phase2_top2_gap`, value: gaps[2] },
          { name: `${name}__phase2_n_allowed`, value: counts[2], tol: 'exact' },
          { name: `${name}__phase2_step0_logits_cond`, value: l2.select(0, 0) },
          { name: `${name}__phase2_step0_logits_uncond`, value: l2.select(0, 1) },
        );
      }
    } finally {
      model.dispose();
    }
    if (problems.length) throw new GoldenCaseError(c.dir, problems.join('; '));
    // Step-0 logits are stored for some scenarios only.
    return out.filter((a) => !a.name.includes('step0_logits') || c.outputs.has(a.name));
  },
};

export default kind;
