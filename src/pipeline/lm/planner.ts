// The two-phase LM plan of text2music (UPSTREAM.md: 5 Hz LM, CoT YAML, LM constrained decoding, LM
// sampling, test/fixtures/golden/README.md): Phase 1 writes the CoT metadata under the FSM (CFG
// off, stops where `</think>` would start); Phase 2 writes exactly int(5*duration) audio codes with
// LM CFG over a left-padded [cond; uncond] batch. Phase 1 is skipped when the user gave bpm, key,
// time signature and duration, or when CoT metas are off.
import type { Qwen3Model } from '../../models/qwen3.js';
import { add, keep, ShapeError, Tensor } from '../../runtime/index.js';
import { TokenizerError, type TextTokenizer } from '../../text/index.js';
import { ParamError } from '../params.js';
import { formatCot } from './cot-yaml.js';
import { generate, type LogitsProcessor, type PromptCache, type StepInfo } from './sampling-loop.js';
import { FsmTables, fsmTokenizer, MetadataFsm, MAX_AUDIO_CODE, type FsmConfig } from './fsm.js';
import { DEFAULT_MAX_DURATION } from './music-vocabulary.js';
import { parseLmOutput, type LmMetadata } from './output.js';
import { DEFAULT_NEGATIVE_PROMPT, lmCodesPrompt, lmCodesUncondPrompt, lmCotPrompt, type ChatRenderer } from '../conditioning/prompts.js';

export interface UserMetas {
  bpm?: string;
  duration?: string;
  keyscale?: string;
  timesignature?: string;
  language?: string;
  caption?: string;
}

export interface LmPlanOptions {
  caption: string;
  lyrics: string;
  /** Metadata the user fixed (strings as they go into the CoT). */
  userMetadata?: UserMetas | null;
  /** Seconds of audio to plan codes for; default: the user's or the CoT's duration. */
  targetDuration?: number | null;
  temperature: number;
  cfgScale: number;
  negativePrompt?: string;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  /**
   * One Phase-2 plan per seed (default: [seed]). Phase 1 runs once, with the first seed, and is
   * shared (UPSTREAM.md: 5 Hz LM).
   */
  seeds?: number[];
  /** Phase-2 items generated together in one CFG batch (allow_lm_batch); 1 = one at a time. */
  batchChunkSize?: number;
  useConstrainedDecoding?: boolean;
  useCotMetas?: boolean;
  useCotCaption?: boolean;
  useCotLanguage?: boolean;
  maxDuration?: number;
  /** Context window of the LM (max_model_len); token budgets are capped at this - 64. */
  maxModelLen?: number;
  signal?: AbortSignal;
  /** Receives the FSM's decisions (state, allowed tokens, chosen token) when set. */
  onFsmDebug?: (message: string) => void;
  onToken?: (phase: 1 | 2, tokens: readonly number[], step: number) => void;
  /** Sees the final (masked) logits of every step, in id space; for parity traces. */
  trace?: (phase: 1 | 2, step: number, logits: Float32Array) => void;
}

export interface LmPhaseTrace {
  promptIds: number[];
  chosen: number[];
  text: string;
}

export interface LmCodesResult {
  /** Concatenated `<|audio_code_N|>` tokens. */
  audioCodes: string;
  codes: number[];
  chosen: number[];
  text: string;
}

export interface LmPlan {
  metadata: LmMetadata | UserMetas;
  /** Concatenated `<|audio_code_N|>` tokens of the first item. */
  audioCodes: string;
  codes: number[];
  /** Phase-2 results per seed. */
  items: LmCodesResult[];
  cotText: string;
  phase1: LmPhaseTrace | null;
  phase2: LmPhaseTrace & { condIds: number[]; uncondIds: number[]; batchIds: number[][]; batchMask: number[][] };
}

export interface LmBundle {
  model: Qwen3Model;
  tokenizer: TextTokenizer;
  /** Built on first use per max duration (tokenizing every allowed value once). */
  tables?: Map<number, FsmTables>;
}

/** The bundle's FSM tables for `maxDuration`, built once. */
export function tablesFor(lm: LmBundle, maxDuration: number): FsmTables {
  lm.tables ??= new Map();
  let t = lm.tables.get(maxDuration);
  if (!t) {
    t = new FsmTables(fsmTokenizer(lm.tokenizer), maxDuration);
    lm.tables.set(maxDuration, t);
  }
  return t;
}

/**
 * The FSM as a logits processor. In general it masks a host copy of the combined logits in id
 * space; once the codes phase runs over exactly the code columns plus EOS, the FSM only decides
 * whether EOS is blocked or forced, which is one cached additive mask applied on the device.
 */
class FsmProcessor implements LogitsProcessor {
  private readonly seq: number[];
  private codeMasks: { blockEos: Tensor; onlyEos: Tensor } | null = null;

  constructor(
    private readonly fsm: MetadataFsm | null,
    promptIds: number[],
    private readonly vocab: number,
    private readonly onLogits?: (step: number, logits: Float32Array) => void,
    private readonly codesOnlyColumns?: { eosColumn: number },
    private readonly debug?: FsmDebugger,
  ) {
    this.seq = [...promptIds];
  }

  async process(logits: Tensor, info: StepInfo): Promise<Tensor> {
    // Several rows share one FSM only in the codes phase, where every row is in the same state.
    const rows = logits.shape[0];
    if (rows !== 1 && !this.codesOnlyColumns)
      throw new ShapeError(`the metadata FSM drives one sequence at a time, got logits of shape [${logits.shape.join(',')}]`);
    const fsm = this.fsm;
    if (fsm && this.codesOnlyColumns && !this.onLogits && fsm.state === 'CODES_GENERATION') {
      const masks = this.masks(logits);
      const target = fsm.targetCodes;
      if (target === null) return logits;
      return add(logits, fsm.codesCount < target ? masks.blockEos : masks.onlyEos);
    }
    const cols = logits.shape[1];
    const host = await logits.toFloat32();
    const out = new Float32Array(rows * cols);
    const full = new Float32Array(this.vocab);
    for (let r = 0; r < rows; r++) {
      full.fill(-Infinity);
      for (let c = 0; c < cols; c++) {
        const v = host[r * cols + c];
        full[info.idOf(c)] = Number.isNaN(v) ? -Infinity : v;
      }
      const before = fsm?.state;
      fsm?.process(full, this.seq);
      if (r === 0) {
        this.onLogits?.(info.step, full);
        if (this.debug && fsm) this.debug.masked(info.step, before!, full);
      }
      for (let c = 0; c < cols; c++) out[r * cols + c] = full[info.idOf(c)];
    }
    return Tensor.fromArray(out, [rows, cols], { device: logits.device });
  }

  /** The FSM's forced token, unless every step's logits are wanted (a trace or the debugger). */
  forced(): number | null {
    if (!this.fsm || this.onLogits || this.debug) return null;
    return this.fsm.forcedNext();
  }

  private masks(logits: Tensor): { blockEos: Tensor; onlyEos: Tensor } {
    if (!this.codeMasks) {
      const cols = logits.shape[1];
      const eos = this.codesOnlyColumns!.eosColumn;
      const block = new Float32Array(cols);
      block[eos] = -Infinity;
      const only = new Float32Array(cols).fill(-Infinity);
      only[eos] = 0;
      this.codeMasks = {
        blockEos: keep(Tensor.fromArray(block, [1, cols], { device: logits.device })),
        onlyEos: keep(Tensor.fromArray(only, [1, cols], { device: logits.device })),
      };
    }
    return this.codeMasks;
  }

  update(tokens: readonly number[]): void {
    const t = tokens[0];
    if (t < 0) return;
    this.seq.push(t);
    const before = this.fsm?.state;
    this.fsm?.update(t);
    if (this.debug && this.fsm) this.debug.chosen(t, before!, this.fsm.state);
  }

  dispose(): void {
    this.codeMasks?.blockEos.dispose();
    this.codeMasks?.onlyEos.dispose();
    this.codeMasks = null;
  }
}

/** Reports the constrained decoder's decisions (config.constrainedDecodingDebug). */
export interface FsmDebugger {
  /** After masking: the state it masked in and how many tokens stayed allowed. */
  masked(step: number, state: string, logits: Float32Array): void;
  /** After a token: the token and the state transition. */
  chosen(id: number, from: string, to: string): void;
}

export function fsmDebugger(tok: TextTokenizer, log: (message: string) => void, phase: 1 | 2): FsmDebugger {
  return {
    masked(step, state, logits) {
      let allowed = 0,
        best = -1;
      for (let i = 0; i < logits.length; i++) {
        if (logits[i] === -Infinity) continue;
        allowed++;
        if (best < 0 || logits[i] > logits[best]) best = i;
      }
      log(
        `[fsm phase ${phase}] step ${step} state ${state}: ${allowed} token(s) allowed, top ${best} ${JSON.stringify(best >= 0 ? tok.decode([best]) : '')}`,
      );
    },
    chosen(id, from, to) {
      log(`[fsm phase ${phase}] chose ${id} ${JSON.stringify(tok.decode([id]))}${from === to ? ` in ${to}` : `: ${from} -> ${to}`}`);
    },
  };
}

/** Whether the user fixed bpm, key, time signature and duration (then Phase 1 is skipped). */
export function hasAllMetas(m: UserMetas | null | undefined): boolean {
  return !!m && [m.bpm, m.keyscale, m.timesignature, m.duration].every((v) => v !== undefined && v !== null && String(v).trim() !== '');
}

function codesOf(text: string): number[] {
  return [...text.matchAll(/<\|audio_code_(\d+)\|>/g)].map((m) => Number(m[1]));
}

interface LmContext {
  tok: TextTokenizer;
  eos: number;
  pad: number;
  render: ChatRenderer;
  encode: (s: string) => number[];
  maxDuration: number;
  budgetCap: number;
  constrained: boolean;
  tables: FsmTables;
  vocab: number;
  sampling: {
    temperature: number;
    topK: number;
    topP: number;
    repetitionPenalty: number;
    seed: number;
    stopTokens: number[];
    padId: number;
    signal?: AbortSignal;
  };
}

function lmContext(lm: LmBundle, o: LmPlanOptions): LmContext {
  const tok = lm.tokenizer;
  const eos = tok.eosTokenId;
  const pad = tok.padTokenId;
  if (eos === null || pad === null) throw new TokenizerError('the LM tokenizer needs eos_token and pad_token', tok.source);
  const maxDuration = o.maxDuration ?? DEFAULT_MAX_DURATION;
  return {
    tok,
    eos,
    pad,
    render: (m, r) => tok.applyChatTemplate(m, { addGenerationPrompt: r.addGenerationPrompt }),
    encode: (s: string) => tok.encode(s, { addSpecialTokens: false }),
    maxDuration,
    budgetCap: (o.maxModelLen ?? 4096) - 64,
    constrained: o.useConstrainedDecoding ?? true,
    tables: tablesFor(lm, maxDuration),
    vocab: lm.model.config.vocabSize,
    sampling: {
      temperature: o.temperature,
      topK: o.topK ?? 0,
      topP: o.topP ?? 1,
      repetitionPenalty: o.repetitionPenalty ?? 1,
      seed: o.seed ?? o.seeds?.[0] ?? 0,
      stopTokens: [eos, pad],
      padId: pad,
      signal: o.signal,
    },
  };
}

/**
 * Phase 1 alone: the CoT metadata (the user's metadata as is when they fixed every field or CoT
 * metas are off). Upstream's "dit" infer type, used when no codes are to be written.
 */
export async function planMetadata(
  lm: LmBundle,
  o: LmPlanOptions,
): Promise<{ metadata: LmMetadata | UserMetas; phase1: LmPhaseTrace | null }> {
  return cotPhase(lm, o, lmContext(lm, o), false);
}

/** Phase 1; with `keepCache`, also its KV cache (prompt and CoT), which Phase 2's prompt begins with. */
async function cotPhase(
  lm: LmBundle,
  o: LmPlanOptions,
  x: LmContext,
  keepCache: boolean,
): Promise<{ metadata: LmMetadata | UserMetas; phase1: LmPhaseTrace | null; cache?: PromptCache }> {
  const user = o.userMetadata ?? null;
  if (hasAllMetas(user) || o.useCotMetas === false) return { metadata: { ...(user ?? {}) }, phase1: null };
  const promptIds = x.tok.encode(lmCotPrompt(x.render, o.caption, o.lyrics), { addSpecialTokens: false, maxLength: x.budgetCap });
  if (promptIds.length >= x.budgetCap) {
    throw new ParamError(
      'caption',
      `caption and lyrics take ${x.budgetCap} or more tokens: they do not fit the LM's context of ${o.maxModelLen ?? 4096} (64 kept for the answer)`,
    );
  }
  const config: Partial<FsmConfig> = {
    phase: 'cot',
    stopAtReasoning: true,
    skipCaption: o.useCotCaption === false,
    skipLanguage: o.useCotLanguage === false,
    skipGenres: true,
    // The duration field is sampled (or injected from the user's metadata); the target only
    // fixes the number of codes in Phase 2.
    targetDuration: null,
    userMetadata: Object.fromEntries(Object.entries(user ?? {}).filter(([, v]) => v !== undefined && v !== null)),
    maxDuration: x.maxDuration,
  };
  const fsm = x.constrained ? new MetadataFsm(x.tables, config) : null;
  const proc = new FsmProcessor(
    fsm,
    promptIds,
    x.vocab,
    o.trace && ((s, l) => o.trace!(1, s, l)),
    undefined,
    o.onFsmDebug && fsmDebugger(x.tok, o.onFsmDebug, 1),
  );
  const r = await generate(lm.model, {
    ...x.sampling,
    prompts: [promptIds],
    cfgScale: 1,
    maxNewTokens: Math.min(x.budgetCap, x.maxDuration * 5 + 10 + 500),
    processors: [proc],
    keepCache,
    onToken: o.onToken && ((t, s) => o.onToken!(1, t, s)),
  });
  const chosen = r.tokens[0];
  const text = x.tok.decode(chosen);
  return { metadata: parseLmOutput(text).metadata, phase1: { promptIds, chosen, text }, cache: r.cache };
}

export async function planWithLm(lm: LmBundle, o: LmPlanOptions): Promise<LmPlan> {
  const x = lmContext(lm, o);
  // Phase 1: CoT metadata. Its KV cache serves the start of Phase 2's cond prompt (the same chat
  // prompt, then the CoT), so Phase 2's prefill computes only from where the rows differ.
  const { metadata, phase1, cache: phase1Cache } = await cotPhase(lm, o, x, true);
  try {
    return await codesPhase(lm, o, x, metadata, phase1, phase1Cache);
  } finally {
    phase1Cache?.cache.dispose();
  }
}

async function codesPhase(
  lm: LmBundle,
  o: LmPlanOptions,
  x: LmContext,
  metadata: LmMetadata | UserMetas,
  phase1: LmPhaseTrace | null,
  prefix: PromptCache | undefined,
): Promise<LmPlan> {
  const { tok, eos, pad, render, encode, maxDuration, budgetCap, constrained, tables, vocab, sampling } = x;

  // Phase 2: audio codes with CFG.
  const durationMeta = Number((metadata as { duration?: unknown }).duration);
  const target = o.targetDuration ?? (Number.isFinite(durationMeta) && durationMeta > 0 ? durationMeta : null);
  const cotText = formatCot(metadata as Record<string, string | number | undefined>);
  const condText = lmCodesPrompt(render, o.caption, o.lyrics, cotText);
  const uncondText = lmCodesUncondPrompt(render, o.negativePrompt ?? DEFAULT_NEGATIVE_PROMPT);
  const condIds = encode(condText);
  const uncondIds = encode(uncondText);
  const batch = tok.encodeBatch([condText, uncondText], { addSpecialTokens: false, side: 'left', padId: pad });
  // One FSM per chunk: its rows are all in the codes state.
  const codesFsm = () =>
    constrained
      ? new MetadataFsm(tables, {
          phase: 'codes',
          stopAtReasoning: false,
          skipCaption: true,
          skipLanguage: true,
          skipGenres: true,
          targetDuration: target,
          maxDuration,
        })
      : null;
  const codeBase = tok.tokenToId('<|audio_code_0|>');
  if (codeBase === null) throw new TokenizerError('the LM tokenizer has no <|audio_code_0|> token', tok.source);
  const codeRange: [number, number] = [codeBase, Math.min(vocab, codeBase + MAX_AUDIO_CODE + 1)];
  const vocabRanges: [number, number][] = eos < codeBase ? [[eos, eos + 1], codeRange] : [codeRange, [eos, eos + 1]];
  const eosColumn = eos < codeBase ? 0 : codeRange[1] - codeRange[0];
  const d = target ?? maxDuration;
  const seeds = o.seeds ?? [o.seed ?? 0];
  const chunkSize = Math.max(1, Math.min(o.batchChunkSize ?? 1, seeds.length));
  const items: LmCodesResult[] = [];
  for (let start = 0; start < seeds.length; start += chunkSize) {
    const n = Math.min(chunkSize, seeds.length - start);
    // A chunk shares one FSM (its rows are all in the codes state) and one sampling seed; rows
    // draw different noise through sampleRace's row counter.
    const fsm = codesFsm();
    const trace = start === 0 && o.trace ? (s: number, l: Float32Array) => o.trace!(2, s, l) : undefined;
    const proc = new FsmProcessor(fsm, condIds, vocab, trace, { eosColumn }, o.onFsmDebug && fsmDebugger(tok, o.onFsmDebug, 2));
    const r = await generate(lm.model, {
      ...sampling,
      seed: seeds[start],
      prompts: new Array(n).fill(condIds),
      prefix,
      uncondPrompts: new Array(n).fill(uncondIds),
      cfgScale: o.cfgScale,
      maxNewTokens: Math.min(budgetCap, Math.trunc(Math.max(10, d) * 5) + 10),
      processors: [proc],
      vocabRanges: constrained ? vocabRanges : undefined,
      onToken: o.onToken && ((t, s) => o.onToken!(2, t, s)),
    }).finally(() => proc.dispose());
    for (const chosen of r.tokens) {
      const text = tok.decode(chosen);
      const audioCodes = parseLmOutput(text).audioCodes;
      items.push({ audioCodes, codes: codesOf(audioCodes), chosen, text });
    }
  }
  const first = items[0];
  return {
    metadata,
    audioCodes: first.audioCodes,
    codes: first.codes,
    items,
    cotText,
    phase1,
    phase2: {
      promptIds: batch.ids[0],
      chosen: first.chosen,
      text: first.text,
      condIds,
      uncondIds,
      batchIds: batch.ids,
      batchMask: batch.attentionMask,
    },
  };
}
