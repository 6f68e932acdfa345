// Golden kind lm_fsm: the constrained-decoding FSM driven by a scripted LM. Per scenario the
// fixture's desired ids become logits (zeros, +1 at the desired id); the FSM masks them, the
// harness takes the argmax (lowest id on ties), and the chosen ids, the allowed id ranges per step,
// the generated text and the parsed metadata must all match exactly.
import { TextTokenizer } from '../../../src/text/index.js';
import { FsmTables, fsmTokenizer, MetadataFsm, type FsmConfig } from '../../../src/pipeline/lm/fsm.js';
import { parseLmOutput } from '../../../src/pipeline/lm/output.js';
import { GoldenCaseError, type Actual, type CaseKind, type GoldenCase } from '../case.js';

interface ScenarioConfig {
  target_duration: number | null;
  user_metadata: Record<string, string> | null;
  stop_at_reasoning: boolean;
  skip_genres: boolean;
  skip_caption: boolean;
  skip_language: boolean;
  generation_phase: 'cot' | 'codes' | 'understand';
  max_duration: number;
}

interface Scenario {
  config: ScenarioConfig;
  generated_text: string;
  parsed_metadata: Record<string, unknown>;
  parsed_audio_codes: string;
}

async function ids(c: GoldenCase, name: string): Promise<number[]> {
  const t = c.expected(name);
  try {
    return Array.from(await t.data(), Number);
  } finally {
    t.dispose();
  }
}

function allowedRanges(logits: Float32Array): number[][] {
  const ranges: number[][] = [];
  let start = -1;
  for (let i = 0; i <= logits.length; i++) {
    const ok = i < logits.length && logits[i] !== -Infinity;
    if (ok && start < 0) start = i;
    if (!ok && start >= 0) {
      ranges.push([start, i]);
      start = -1;
    }
  }
  return ranges;
}

const kind: CaseKind = {
  cases: ['lm_fsm'],
  notChecked: (c) =>
    Object.fromEntries(
      Object.keys(c.params<{ scenarios: Record<string, Scenario> }>().scenarios).flatMap((s) => [
        [`${s}__prompt_ids`, 'FSM input (the prompt the scripted LM continues)'],
        [`${s}__desired`, 'FSM input (the scripted LM tokens)'],
      ]),
    ),
  async run(c) {
    const tok = TextTokenizer.load(c.checkpoint);
    const ftok = fsmTokenizer(tok);
    const scenarios = c.params<{ scenarios: Record<string, Scenario> }>().scenarios;
    const tables = new Map<number, FsmTables>();
    const out: Actual[] = [];
    const problems: string[] = [];
    for (const [name, s] of Object.entries(scenarios)) {
      const cfg = s.config;
      const maxDuration = cfg.max_duration;
      if (!tables.has(maxDuration)) tables.set(maxDuration, new FsmTables(ftok, maxDuration));
      const config: FsmConfig = {
        phase: cfg.generation_phase,
        stopAtReasoning: cfg.stop_at_reasoning,
        skipCaption: cfg.skip_caption,
        skipLanguage: cfg.skip_language,
        skipGenres: cfg.skip_genres,
        targetDuration: cfg.target_duration,
        userMetadata: cfg.user_metadata ?? {},
        maxDuration,
      };
      const fsm = new MetadataFsm(tables.get(maxDuration)!, config);
      const prompt = await ids(c, `${name}__prompt_ids`);
      const desired = await ids(c, `${name}__desired`);
      const seq = [...prompt];
      const chosen: number[] = [];
      const nAllowed: number[] = [];
      const ranges: number[][] = [];
      const offsets: number[] = [0];
      const logits = new Float32Array(ftok.vocabSize);
      for (const want of desired) {
        logits.fill(0);
        logits[want] += 1;
        fsm.process(logits, seq);
        const r = allowedRanges(logits);
        let best = -1;
        for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity && (best < 0 || logits[i] > logits[best])) best = i;
        if (best < 0) throw new GoldenCaseError(c.dir, `${name}: the FSM allowed no token at step ${chosen.length}`);
        chosen.push(best);
        nAllowed.push(r.reduce((a, [x, y]) => a + y - x, 0));
        ranges.push(...r);
        offsets.push(ranges.length);
        seq.push(best);
        fsm.update(best);
      }
      const text = tok.decode(chosen);
      if (text !== s.generated_text)
        problems.push(`${name}: generated text ${JSON.stringify(text)} != ${JSON.stringify(s.generated_text)}`);
      const parsed = parseLmOutput(text);
      if (
        JSON.stringify(parsed.metadata, Object.keys(parsed.metadata).sort()) !==
        JSON.stringify(s.parsed_metadata, Object.keys(s.parsed_metadata).sort())
      ) {
        problems.push(`${name}: parsed metadata ${JSON.stringify(parsed.metadata)} != ${JSON.stringify(s.parsed_metadata)}`);
      }
      if (parsed.audioCodes !== s.parsed_audio_codes) problems.push(`${name}: parsed audio codes differ`);
      out.push(
        { name: `${name}__chosen`, value: chosen, tol: 'exact' },
        { name: `${name}__n_allowed`, value: nAllowed, tol: 'exact' },
        { name: `${name}__allowed_ranges`, value: ranges.flat(), tol: 'exact' },
        { name: `${name}__range_offsets`, value: offsets, tol: 'exact' },
      );
    }
    if (problems.length) throw new GoldenCaseError(c.dir, problems.join('; '));
    return out;
  },
};

export default kind;
