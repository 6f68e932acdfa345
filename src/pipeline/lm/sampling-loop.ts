// 5 Hz LM sampling loop (UPSTREAM.md: LM sampling): prefill, then one cached forward per token. Per
// step, in the nano-vLLM backend's order: repetition penalty (cond rows, completion tokens only) ->
// CFG combine
// `uncond + s(cond - uncond)` -> logits processors (the constrained-decoding FSM plugs in here) ->
// temperature -> top-k -> top-p -> exponential-race sampling (Philox, keyed by seed; reproducible).
// Temperature 0 is greedy argmax. Several prompts of different lengths run as one left-padded batch
// with a key mask; with CFG the batch is [cond..., uncond...] and each sampled token is appended to
// both rows of its pair.
import {
  argmax,
  cfgCombine,
  concat,
  repetitionPenalty,
  sampleRace,
  scale,
  tidy,
  topK,
  topP,
  Tensor,
  ShapeError,
} from '../../runtime/index.js';
import type { KVCache, Qwen3Model } from '../../models/qwen3.js';
import { throwIfAborted } from '../errors.js';

/** What a logits processor sees at each step. */
export interface StepInfo {
  step: number;
  /** Tokens generated so far per sequence (stop tokens included, padding after a stop excluded). */
  generated: readonly number[][];
  /** Which sequences are still running. */
  active: readonly boolean[];
  /**
   * Logit column -> token id. Identity unless `vocabRanges` restricts the head; then the columns are
   * the ranges in order.
   */
  idOf(column: number): number;
  /** Token id -> logit column, or -1 when the id is not among the computed columns. */
  columnOf(id: number): number;
}

/**
 * A pluggable logits processor (e.g. the metadata FSM; UPSTREAM.md: LM constrained decoding).
 * `process` gets the combined logits `[B, V']` f32 and returns the logits to sample from (it may
 * return its input); `update` is told the sampled token of each sequence, as upstream's
 * `update_state`.
 */
export interface LogitsProcessor {
  process(logits: Tensor, info: StepInfo): Tensor | Promise<Tensor>;
  update?(tokens: readonly number[], info: StepInfo): void;
  /**
   * The one token `process` would leave allowed at step `info.step` whatever the logits, or null.
   * When every processor of a single sequence (no CFG) names the same token, generation feeds it
   * without that step's head, `process` or sampling, batched with the tokens around it into one
   * forward (then `update` as for a sampled token).
   */
  forced?(info: StepInfo): number | null;
}

/** Keys and values of `ids` at slots [0, ids.length) of row 0 of `cache` (one sequence). */
export interface PromptCache {
  cache: KVCache;
  ids: number[];
}

export interface GenerateOptions {
  /** Prompt ids per sequence (the cond prompts when CFG is on). */
  prompts: number[][];
  /**
   * Keys and values already computed for a prompt prefix (e.g. Phase 1's prompt and CoT, which
   * begin Phase 2's prompt): an unpadded prompt row that starts with part of `ids` takes those
   * slots from it instead of recomputing them. The cache stays the caller's.
   */
  prefix?: PromptCache;
  /**
   * Keep the KV cache of a run of one sequence without CFG and return it as `GenerateResult.cache`
   * (the caller disposes it).
   */
  keepCache?: boolean;
  /** CFG unconditional prompts, one per sequence; used when cfgScale != 1. */
  uncondPrompts?: number[][];
  cfgScale?: number;
  maxNewTokens: number;
  /** 0 = greedy (argmax). Default 0.85 (UPSTREAM.md: Parameters and defaults). */
  temperature?: number;
  /** 0 = off. */
  topK?: number;
  /** >= 1 = off. Default 0.9. */
  topP?: number;
  /** 1 = off (the default). Applied to cond logits over the generated tokens only. */
  repetitionPenalty?: number;
  seed?: number;
  /** A sequence ends when it samples one of these (e.g. <|im_end|> 151645 and pad 151643). */
  stopTokens?: number[];
  /** Id used for left padding and for feeding finished sequences. Default: the first stop token, else 0. */
  padId?: number;
  processors?: LogitsProcessor[];
  /**
   * Compute logits only for these id ranges [lo, hi) (a cheaper LM head, e.g. the audio codes plus
   * EOS in the codes phase). Ids outside are never sampled.
   */
  vocabRanges?: [number, number][];
  /** Called with each step's tokens (one per sequence; -1 for finished sequences). */
  onToken?: (tokens: readonly number[], step: number) => void;
  signal?: AbortSignal;
}

export interface StepEvent {
  step: number;
  /** The sampled token per sequence; -1 for a sequence that had already finished. */
  tokens: number[];
}

export interface GenerateResult {
  /** Generated ids per sequence, the stop token included when one ended it. */
  tokens: number[][];
  finishReason: ('stop' | 'length')[];
  promptTokens: number;
  steps: number;
  /** With `keepCache`: the cache and the ids whose keys and values it holds. */
  cache?: PromptCache;
}

function checkIds(rows: number[][], vocab: number, what: string): void {
  rows.forEach((r, i) => {
    if (r.length === 0) throw new ShapeError(`${what} ${i} is empty`);
    for (const id of r) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new ShapeError(`${what} ${i}: token id ${id} is outside the vocabulary [0, ${vocab})`);
    }
  });
}

function validate(model: Qwen3Model, o: GenerateOptions): void {
  const V = model.config.vocabSize;
  if (o.prompts.length === 0) throw new ShapeError('generate: no prompts');
  checkIds(o.prompts, V, 'prompt');
  const cfg = o.cfgScale ?? 1;
  if (!Number.isFinite(cfg)) throw new ShapeError(`generate: cfgScale must be finite, got ${cfg}`);
  if (cfg !== 1) {
    if (!o.uncondPrompts || o.uncondPrompts.length !== o.prompts.length) {
      throw new ShapeError(`generate: cfgScale ${cfg} needs one unconditional prompt per prompt (${o.prompts.length})`);
    }
    checkIds(o.uncondPrompts, V, 'unconditional prompt');
  }
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1)
    throw new ShapeError(`generate: maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  const t = o.temperature ?? 0.85;
  if (!(t >= 0) || !Number.isFinite(t)) throw new ShapeError(`generate: temperature must be >= 0, got ${t}`);
  const p = o.topP ?? 0.9;
  if (!(p > 0)) throw new ShapeError(`generate: topP must be > 0, got ${p}`);
  const k = o.topK ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new ShapeError(`generate: topK must be a non-negative integer, got ${k}`);
  const rp = o.repetitionPenalty ?? 1;
  if (!(rp > 0) || !Number.isFinite(rp)) throw new ShapeError(`generate: repetitionPenalty must be > 0, got ${rp}`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new ShapeError(`generate: seed must be an integer in [0, 2^32), got ${seed}`);
  for (const s of o.stopTokens ?? [])
    if (!Number.isInteger(s) || s < 0 || s >= V) throw new ShapeError(`generate: stop token ${s} is outside the vocabulary`);
  if (o.padId !== undefined && !(Number.isInteger(o.padId) && o.padId >= 0 && o.padId < V))
    throw new ShapeError(`generate: padId ${o.padId} is outside the vocabulary`);
  let prev = -1;
  for (const [lo, hi] of o.vocabRanges ?? []) {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo > prev && hi > lo && hi <= V)) {
      throw new ShapeError(`generate: vocabRanges must be ascending, non-overlapping ranges inside [0, ${V}); got [${lo}, ${hi})`);
    }
    prev = hi - 1;
  }
  const total = Math.max(...o.prompts.map((r) => r.length), ...(cfg !== 1 ? o.uncondPrompts!.map((r) => r.length) : [0])) + o.maxNewTokens;
  if (total > model.config.maxPositionEmbeddings) {
    throw new ShapeError(
      `generate: prompt + maxNewTokens = ${total} exceeds max_position_embeddings ${model.config.maxPositionEmbeddings}`,
    );
  }
}

/** Column <-> id maps for a set of ranges (identity without ranges). */
function columnMaps(ranges: [number, number][] | undefined): { idOf: (c: number) => number; columnOf: (id: number) => number } {
  if (!ranges || ranges.length === 0) return { idOf: (c) => c, columnOf: (id) => id };
  const starts: number[] = [];
  let acc = 0;
  for (const [lo, hi] of ranges) {
    starts.push(acc);
    acc += hi - lo;
  }
  return {
    idOf(c) {
      for (let i = ranges.length - 1; i >= 0; i--) if (c >= starts[i]) return ranges[i][0] + (c - starts[i]);
      return -1;
    },
    columnOf(id) {
      for (let i = 0; i < ranges.length; i++) if (id >= ranges[i][0] && id < ranges[i][1]) return starts[i] + id - ranges[i][0];
      return -1;
    },
  };
}

/** Length of the common start of two id lists. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * First slot the prefill must compute when `prefix` serves the unpadded prompt rows (the rest of
 * each row's start is padding, which is masked): every row recomputes from the same slot, and a
 * row keeps at least its last token to compute, whose hidden state gives the first logits.
 */
function firstComputedSlot(prefix: PromptCache | undefined, rows: number[][], B: number, L: number): number {
  if (!prefix) return 0;
  let slot = L - 1;
  rows.forEach((r, i) => {
    const pad = L - r.length;
    slot = Math.min(slot, i < B && pad === 0 ? Math.min(commonPrefix(r, prefix.ids), prefix.cache.length) : pad);
  });
  return Math.max(0, slot);
}

/**
 * Most ids one forward takes for a sequence whose next tokens are forced: the linear layers stream
 * their weights once for up to four rows (the int8 and bf16 GEMVs, kernels/cpu/quant.h), so four
 * forced tokens cost about one decode step.
 */
const FORCED_CHUNK = 4;

/**
 * Streams one event per step; the generator's return value is the final result. The model's KV
 * cache is allocated here for prompt + maxNewTokens and freed when the stream ends.
 */
export async function* generateStream(model: Qwen3Model, o: GenerateOptions): AsyncGenerator<StepEvent, GenerateResult> {
  validate(model, o);
  const cfg = o.cfgScale ?? 1;
  const useCfg = cfg !== 1;
  const B = o.prompts.length;
  const rows = useCfg ? [...o.prompts, ...o.uncondPrompts!] : o.prompts;
  const R = rows.length;
  const L = Math.max(...rows.map((r) => r.length));
  const maxLen = L + o.maxNewTokens;
  const temperature = o.temperature ?? 0.85;
  const topk = o.topK ?? 0;
  const topp = o.topP ?? 0.9;
  const penalty = o.repetitionPenalty ?? 1;
  const seed = o.seed ?? 0;
  const stops = new Set(o.stopTokens ?? []);
  const padId = o.padId ?? o.stopTokens?.[0] ?? 0;
  const maps = columnMaps(o.vocabRanges);
  const device = model.device;

  // Left padding: row r's prompt occupies the last len(r) of the first L slots.
  const padded = rows.some((r) => r.length !== L);
  const prefillIds = new Int32Array(R * L).fill(padId);
  const maskHost = new Uint8Array(R * maxLen).fill(1);
  rows.forEach((r, i) => {
    prefillIds.set(r, i * L + (L - r.length));
    maskHost.fill(0, i * maxLen, i * maxLen + (L - r.length));
  });

  const generated: number[][] = Array.from({ length: B }, () => []);
  const active: boolean[] = new Array(B).fill(true);
  const finish: ('stop' | 'length')[] = new Array(B).fill('length');
  const info: StepInfo = { step: 0, generated, active, idOf: maps.idOf, columnOf: maps.columnOf };

  // The sampled (or forced) token of each running sequence for step `step`: recorded, handed to
  // the processors and to onToken; stop tokens end their sequence.
  const accept = (ids: readonly number[]): number[] => {
    const tokens = ids.map((id, i) => (active[i] ? id : -1));
    tokens.forEach((id, i) => {
      if (id < 0) return;
      generated[i].push(id);
      if (stops.has(id)) {
        active[i] = false;
        finish[i] = 'stop';
      }
    });
    for (const p of o.processors ?? []) p.update?.(tokens, info);
    o.onToken?.(tokens, step);
    return tokens;
  };
  // The token every processor forces at step `step`, for one sequence without CFG; null otherwise.
  const forcedToken = (): number | null => {
    const procs = o.processors ?? [];
    if (R !== 1 || !active[0] || procs.length === 0) return null;
    let id: number | null = null;
    for (const p of procs) {
      const f = p.forced?.(info) ?? null;
      if (f === null || (id !== null && f !== id)) return null;
      id = f;
    }
    return id !== null && maps.columnOf(id) >= 0 ? id : null;
  };
  // Forced tokens from step `step` on join the next forward (`feed`, one row) up to `limit` ids.
  const takeForced = (feed: number[][], limit: number): StepEvent[] => {
    const events: StepEvent[] = [];
    while (feed[0].length < limit && step < o.maxNewTokens) {
      info.step = step;
      const f = forcedToken();
      if (f === null) break;
      events.push({ step, tokens: accept([f]) });
      step++;
      if (!active[0]) break;
      feed[0].push(f);
    }
    return events;
  };

  let cache: KVCache | null = null;
  let keyMask: Tensor | null = null;
  let ids: Tensor | null = null;
  let step = 0;
  let kept: PromptCache | undefined;
  try {
    cache = model.createCache(R, maxLen);
    const reused = firstComputedSlot(o.prefix, rows, B, L);
    if (reused > 0) cache.copyPrefix(o.prefix!.cache, reused);
    keyMask = padded ? Tensor.fromArray(maskHost, [R, maxLen], { dtype: 'u8', device }) : null;
    // Ids of the next forward per row: first the prompt slots not taken from `prefix`; tokens the
    // processors force right after it join that prefill.
    let feed = rows.map((_, r) => Array.from(prefillIds.subarray(r * L + reused, (r + 1) * L)));
    for (const e of takeForced(feed, Infinity)) yield e;
    while (step < o.maxNewTokens && active.some(Boolean)) {
      throwIfAborted(o.signal, () => `LM generation aborted after ${step} step(s)`);
      info.step = step;
      ids?.dispose();
      ids = Tensor.fromArray(Int32Array.from(feed.flat()), [R, feed[0].length], { dtype: 'i32', device });
      const c = cache;
      const curIds = ids;
      const forward = () => {
        const mask = keyMask ? keyMask.narrow(1, 0, c.length + curIds.shape[1]) : undefined;
        return model.forward(curIds, { cache: c, keyMask: mask });
      };
      const forced = forcedToken();
      let tokens: number[];
      if (forced !== null) {
        // A forced token after a full chunk: the forward fills the cache; no head, no sampling.
        tidy(() => void forward());
        tokens = accept([forced]);
      } else {
        let x = tidy(() => {
          const h = forward();
          const last = h.narrow(1, h.shape[1] - 1, 1);
          const ranges = o.vocabRanges ?? [];
          let logits =
            ranges.length > 0
              ? concat(
                  ranges.map((r) => model.project(last, r)),
                  -1,
                )
              : model.project(last);
          logits = logits.reshape([R, logits.shape[2]]);
          let cond = useCfg ? logits.narrow(0, 0, B) : logits;
          if (penalty !== 1 && step > 0) {
            const prev = new Int32Array(B * step).fill(-1);
            generated.forEach((g, i) => {
              for (let j = 0; j < g.length; j++) prev[i * step + j] = maps.columnOf(g[j]);
            });
            cond = repetitionPenalty(cond, Tensor.fromArray(prev, [B, step], { dtype: 'i32', device }), penalty);
          }
          return useCfg ? cfgCombine(cond, logits.narrow(0, B, B), cfg) : cond;
        });
        // Processors may read the logits back (the FSM does), so they run between two queued halves
        // of the step and may await: the JS thread stays free while the forward runs.
        for (const p of o.processors ?? []) {
          const next = await p.process(x, info);
          if (next !== x) x.dispose();
          x = next;
        }
        const combined = x;
        const sampled = tidy(() => {
          let y = combined;
          if (temperature === 0) return argmax(y, -1);
          y = scale(y, 1 / temperature);
          if (topk > 0) y = topK(y, topk);
          if (topp < 1) y = topP(y, topp);
          return sampleRace(y, seed, step);
        });
        combined.dispose();
        const cols = (await sampled.data()) as Int32Array;
        sampled.dispose();
        tokens = accept(Array.from({ length: B }, (_, i) => maps.idOf(cols[i])));
      }
      yield { step, tokens };
      step++;
      if (!active.some(Boolean)) break;
      feed = rows.map((_, r) => [tokens[r % B] < 0 ? padId : tokens[r % B]]);
      for (const e of takeForced(feed, FORCED_CHUNK)) yield e;
    }
    if (o.keepCache && R === 1 && !padded) {
      // The last sampled token was never fed: the cache holds the prompt and the tokens before it.
      kept = { cache, ids: [...rows[0], ...generated[0]].slice(0, cache.length) };
      cache = null;
    }
  } finally {
    cache?.dispose();
    keyMask?.dispose();
    ids?.dispose();
  }
  return { tokens: generated, finishReason: finish, promptTokens: L, steps: step, cache: kept };
}

/** Runs generation to the end (tokens also go to `onToken` as they come). */
export async function generate(model: Qwen3Model, o: GenerateOptions): Promise<GenerateResult> {
  const it = generateStream(model, o);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
