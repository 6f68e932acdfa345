// The constrained-decoding FSM of the 5 Hz LM (UPSTREAM.md: LM constrained decoding): it
// walks the CoT metadata block field by field (fixed field names, numeric/keyscale/language
// prefix trees built from the tokenizer's own tokenization, free captions, user-provided values
// injected token by token) and, in the codes phase, allows only audio codes until exactly
// target_codes codes have been generated, then only EOS.
//
// Usage per step: `process(logits)` masks a host copy of the step's logits in place (-Infinity =
// forbidden); after sampling, `update(tokenId)`.
import { TokenizerError } from '../../text/errors.js';
import {
  BPM_RANGE,
  DEFAULT_MAX_DURATION,
  DURATION_MIN,
  VALID_KEYSCALES,
  VALID_LANGUAGES,
  VALID_TIME_SIGNATURES,
} from './music-vocabulary.js';
import { pythonSetOrder } from './python-set-order.js';

export interface FsmTokenizer {
  /** Token ids of `text` without special tokens added (added tokens in the text are recognised). */
  encode(text: string): number[];
  /** Text of the given ids (byte-level pieces that are not whole characters decode to U+FFFD). */
  decode(ids: number[]): string;
  readonly vocabSize: number;
  readonly eosTokenId: number;
  /** Id of `<|audio_code_0|>`; codes are consecutive from there. */
  readonly audioCodeBase: number;
}

export type FsmState =
  | 'THINK_TAG'
  | 'NEWLINE_AFTER_THINK'
  | 'BPM_NAME'
  | 'BPM_VALUE'
  | 'CAPTION_NAME'
  | 'CAPTION_VALUE'
  | 'DURATION_NAME'
  | 'DURATION_VALUE'
  | 'GENRES_NAME'
  | 'GENRES_VALUE'
  | 'KEYSCALE_NAME'
  | 'KEYSCALE_VALUE'
  | 'LANGUAGE_NAME'
  | 'LANGUAGE_VALUE'
  | 'TIMESIG_NAME'
  | 'TIMESIG_VALUE'
  | 'THINK_END_TAG'
  | 'CODES_GENERATION'
  | 'COMPLETED';

export type GenerationPhase = 'cot' | 'codes' | 'understand';

type Field = 'bpm' | 'caption' | 'duration' | 'genres' | 'keyscale' | 'language' | 'timesignature';
const FIELD_ORDER: Field[] = ['bpm', 'caption', 'duration', 'genres', 'keyscale', 'language', 'timesignature'];
const FIELD_NAME_STATE: Record<Field, FsmState> = {
  bpm: 'BPM_NAME',
  caption: 'CAPTION_NAME',
  duration: 'DURATION_NAME',
  genres: 'GENRES_NAME',
  keyscale: 'KEYSCALE_NAME',
  language: 'LANGUAGE_NAME',
  timesignature: 'TIMESIG_NAME',
};
const VALUE_FIELD: Partial<Record<FsmState, Field>> = {
  BPM_VALUE: 'bpm',
  CAPTION_VALUE: 'caption',
  DURATION_VALUE: 'duration',
  GENRES_VALUE: 'genres',
  KEYSCALE_VALUE: 'keyscale',
  LANGUAGE_VALUE: 'language',
  TIMESIG_VALUE: 'timesignature',
};
const FIXED_STRINGS: Partial<Record<FsmState, string>> = {
  THINK_TAG: '<think>',
  NEWLINE_AFTER_THINK: '\n',
  BPM_NAME: 'bpm:',
  CAPTION_NAME: 'caption:',
  DURATION_NAME: 'duration:',
  GENRES_NAME: 'genres:',
  KEYSCALE_NAME: 'keyscale:',
  LANGUAGE_NAME: 'language:',
  TIMESIG_NAME: 'timesignature:',
  THINK_END_TAG: '</think>',
};
const VALUE_STATE_OF_NAME: Record<string, FsmState> = {
  duration: 'DURATION_VALUE',
  genres: 'GENRES_VALUE',
  keyscale: 'KEYSCALE_VALUE',
  language: 'LANGUAGE_VALUE',
  timesignature: 'TIMESIG_VALUE',
};

export const MAX_AUDIO_CODE = 63999;
const CAPTION_TOKEN_LIMIT = 512;

export interface FsmConfig {
  phase: GenerationPhase;
  /** Phase-1 behaviour: force EOS where `</think>` would start. */
  stopAtReasoning: boolean;
  skipCaption: boolean;
  skipLanguage: boolean;
  skipGenres: boolean;
  /** Seconds; fixes the duration digits and, in the codes phase, the number of codes (int(5*d)). */
  targetDuration: number | null;
  /** Field values given by the user (strings as written into the CoT). */
  userMetadata: Partial<Record<Field, string>>;
  maxDuration: number;
}

export const DEFAULT_FSM_CONFIG: FsmConfig = {
  phase: 'cot',
  stopAtReasoning: false,
  skipCaption: false,
  skipLanguage: false,
  skipGenres: true,
  targetDuration: null,
  userMetadata: {},
  maxDuration: DEFAULT_MAX_DURATION,
};

type PrefixTree = Map<string, Set<number>>;
const key = (ids: number[]) => ids.join(',');
const len = (s: string) => [...s].length;

/** The tokenizer-derived tables of the FSM; build once per tokenizer and max duration. */
export class FsmTables {
  readonly newline: number;
  readonly backtick: number;
  readonly digit: number[];
  readonly codeIds: [number, number]; // half-open range of valid code ids
  readonly bpmTree: PrefixTree;
  readonly durationTree: PrefixTree;
  readonly timesigTree: PrefixTree;
  readonly keyscaleTree: PrefixTree;
  readonly languageTree: PrefixTree;
  /** The languages' first tokens in the order upstream's argmax scans them (its Python set's order). */
  readonly languageFirstTokens: number[];
  private readonly decoded = new Map<number, string>();

  constructor(
    readonly tok: FsmTokenizer,
    readonly maxDuration = DEFAULT_MAX_DURATION,
  ) {
    const last = (s: string) => {
      const ids = tok.encode(s);
      return ids[ids.length - 1];
    };
    this.newline = last('\n');
    this.backtick = last('`');
    this.digit = Array.from({ length: 10 }, (_, d) => last(String(d)));
    this.codeIds = [tok.audioCodeBase, Math.min(tok.vocabSize, tok.audioCodeBase + MAX_AUDIO_CODE + 1)];
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
    this.bpmTree = this.valueTree(range(BPM_RANGE[0], BPM_RANGE[1]), 'bpm');
    this.durationTree = this.valueTree(range(DURATION_MIN, maxDuration), 'duration');
    this.timesigTree = this.valueTree(VALID_TIME_SIGNATURES.map(String), 'timesignature');
    this.keyscaleTree = this.valueTree(VALID_KEYSCALES, 'keyscale', (first) =>
      'ABCDEFG'.includes(first.trimStart().charAt(0).toUpperCase()),
    );
    this.languageTree = this.valueTree(VALID_LANGUAGES, 'language');
    this.languageFirstTokens = pythonSetOrder(this.languageTree.get('') ?? []);
  }

  decode(id: number): string {
    let s = this.decoded.get(id);
    if (s === undefined) {
      s = this.tok.decode([id]);
      this.decoded.set(id, s);
    }
    return s;
  }

  isCode(id: number): boolean {
    return id >= this.codeIds[0] && id < this.codeIds[1];
  }

  // Token-id prefix tree of the values as the tokenizer splits "{field}: {value}" after the
  // tokens of "{field}:" (the space is usually fused into the value's first token).
  private valueTree(values: string[], field: string, acceptFirst?: (firstText: string) => boolean): PrefixTree {
    const tree: PrefixTree = new Map();
    const ctx = this.tok.encode(`${field}:`);
    for (const v of values) {
      const ids = this.tok.encode(`${field}: ${v}`);
      if (ids.length < ctx.length || ctx.some((t, i) => ids[i] !== t)) continue;
      const valueIds = ids.slice(ctx.length);
      if (valueIds.length === 0) continue;
      if (acceptFirst && !acceptFirst(this.decode(valueIds[0]))) continue;
      for (let i = 0; i <= valueIds.length; i++) {
        const k = key(valueIds.slice(0, i));
        let set = tree.get(k);
        if (!set) tree.set(k, (set = new Set()));
        set.add(i < valueIds.length ? valueIds[i] : this.newline);
      }
    }
    return tree;
  }
}

/** The FSM itself: one per generation (its state is shared by the rows of a CFG batch). */
export class MetadataFsm {
  state: FsmState = 'THINK_TAG';
  codesCount = 0;
  readonly config: FsmConfig;
  private positionInState = 0;
  private accumulatedValue = '';
  private accumulatedIds: number[] = [];
  private captionAfterNewline = false;
  private captionTokenCount = 0;
  private captionEnding = false;
  private pendingFieldName = '';
  private userQueue: number[] = [];
  private currentUserField: Field | null = null;
  private nextState = new Map<FsmState, FsmState>();

  constructor(
    readonly tables: FsmTables,
    config: Partial<FsmConfig> = {},
  ) {
    this.config = { ...DEFAULT_FSM_CONFIG, ...config, userMetadata: { ...(config.userMetadata ?? {}) } };
    if (this.config.maxDuration !== tables.maxDuration) {
      throw new RangeError(`FSM tables were built for max duration ${tables.maxDuration}, config asks ${this.config.maxDuration}`);
    }
    this.buildTransitions();
  }

  get targetCodes(): number | null {
    const d = this.config.targetDuration;
    return d !== null && d > 0 ? Math.trunc(d * 5) : null;
  }

  private skipped(f: Field): boolean {
    return (
      (f === 'genres' && this.config.skipGenres) ||
      (f === 'caption' && this.config.skipCaption) ||
      (f === 'language' && this.config.skipLanguage)
    );
  }

  private nextFieldState(f: Field): FsmState {
    for (let i = FIELD_ORDER.indexOf(f) + 1; i < FIELD_ORDER.length; i++) {
      if (!this.skipped(FIELD_ORDER[i])) return FIELD_NAME_STATE[FIELD_ORDER[i]];
    }
    return 'THINK_END_TAG';
  }

  private buildTransitions(): void {
    const n = this.nextState;
    n.set('THINK_TAG', 'NEWLINE_AFTER_THINK');
    n.set('NEWLINE_AFTER_THINK', 'BPM_NAME');
    n.set('THINK_END_TAG', 'CODES_GENERATION');
    n.set('CODES_GENERATION', 'COMPLETED');
    n.set('BPM_NAME', 'BPM_VALUE');
    n.set('BPM_VALUE', this.nextFieldState('bpm'));
    if (!this.config.skipCaption) {
      n.set('CAPTION_NAME', 'CAPTION_VALUE');
      n.set('CAPTION_VALUE', this.nextFieldState('caption'));
    }
    n.set('DURATION_NAME', 'DURATION_VALUE');
    n.set('DURATION_VALUE', this.nextFieldState('duration'));
    if (!this.config.skipGenres) {
      n.set('GENRES_NAME', 'GENRES_VALUE');
      n.set('GENRES_VALUE', this.nextFieldState('genres'));
    }
    n.set('KEYSCALE_NAME', 'KEYSCALE_VALUE');
    n.set('KEYSCALE_VALUE', this.nextFieldState('keyscale'));
    if (!this.config.skipLanguage) {
      n.set('LANGUAGE_NAME', 'LANGUAGE_VALUE');
      n.set('LANGUAGE_VALUE', this.nextFieldState('language'));
    }
    n.set('TIMESIG_NAME', 'TIMESIG_VALUE');
    n.set('TIMESIG_VALUE', 'THINK_END_TAG');
  }

  private enter(state: FsmState): void {
    this.state = state;
    this.positionInState = 0;
    this.accumulatedValue = '';
    this.accumulatedIds = [];
    this.captionAfterNewline = false;
    this.captionTokenCount = 0;
    this.captionEnding = false;
    this.pendingFieldName = '';
  }

  private advance(): void {
    let next = this.nextState.get(this.state);
    if (next === undefined) return;
    if (this.state === 'THINK_END_TAG' && this.config.phase === 'understand') next = 'COMPLETED';
    this.enter(next);
  }

  /**
   * Masks `logits` (one row, length vocabSize) in place for the next token. `inputIds` is the
   * sequence so far (prompt + generated), consulted only for the codes phase's `</think>` check.
   */
  process(logits: Float32Array, inputIds: ArrayLike<number>): void {
    const t = this.tables;
    if (this.state === 'COMPLETED') {
      if (this.config.phase === 'understand') maskRange(logits, t.codeIds[0], t.codeIds[1]);
      return;
    }
    if (this.config.phase === 'codes' && this.state === 'THINK_TAG' && containsSequence(inputIds, t.tok.encode('</think>'))) {
      this.state = 'CODES_GENERATION';
      this.codesCount = 0;
    }
    if (this.state === 'CODES_GENERATION') {
      const eos = t.tok.eosTokenId;
      const eosValue = logits[eos];
      maskOutside(logits, t.codeIds[0], t.codeIds[1], eos);
      const target = this.targetCodes;
      if (target !== null) {
        if (this.codesCount < target) logits[eos] = -Infinity;
        else {
          logits.fill(-Infinity);
          logits[eos] = eosValue;
        }
      }
      return;
    }
    this.processSingle(logits);
  }

  /**
   * The token `process` will allow alone at the next step whatever the logits are (the fixed text
   * of the CoT template, a value with one possible continuation, the user's metadata being copied
   * in), or null when the choice depends on the logits or `process` has a state change to make
   * first. Changes nothing: generation may feed the token without a `process` call, then `update`.
   */
  forcedNext(): number | null {
    const t = this.tables;
    if (this.state === 'COMPLETED' || this.state === 'CODES_GENERATION' || this.config.phase === 'codes') return null;
    if (this.userQueue.length > 0) return this.userQueue[0];
    const only = (ids: readonly number[] | undefined): number | null => (ids && ids.length === 1 ? ids[0] : null);
    const fixed = FIXED_STRINGS[this.state];
    if (fixed !== undefined) {
      const allowed = this.fixedStringTokens(fixed);
      if (allowed.length === 0) return null;
      if (this.state === 'THINK_END_TAG' && this.config.stopAtReasoning && len(fixed) - this.positionInState <= 10) return t.tok.eosTokenId;
      return only(allowed);
    }
    const fresh = this.accumulatedIds.length === 0;
    const field = VALUE_FIELD[this.state];
    if (field && fresh) {
      const value = this.config.userMetadata[field];
      if (value !== undefined && value !== null) return null; // process queues the user's value
    }
    const tree = (tr: PrefixTree): number | null => {
      const set = tr.get(key(this.accumulatedIds));
      if (!set || set.size === 0 || set.has(t.newline)) return t.newline;
      return set.size === 1 ? [...set][0] : null;
    };
    switch (this.state) {
      case 'BPM_VALUE':
        return only(this.treeTokens(t.bpmTree));
      case 'DURATION_VALUE': {
        const target = this.config.targetDuration;
        if (target === null) return only(this.treeTokens(t.durationTree));
        const digits = String(Math.trunc(target));
        const pos = len(this.accumulatedValue);
        return pos < digits.length ? t.digit[Number(digits[pos])] : t.newline;
      }
      case 'KEYSCALE_VALUE':
        return tree(t.keyscaleTree);
      case 'LANGUAGE_VALUE':
        if (fresh) return t.languageFirstTokens.length === 0 ? t.newline : only(t.languageFirstTokens);
        return tree(t.languageTree);
      case 'TIMESIG_VALUE': {
        const set = t.timesigTree.get(key(this.accumulatedIds));
        if (set?.has(t.newline)) return t.newline;
        return only(set ? [...set] : undefined);
      }
      default:
        return null;
    }
  }

  private processSingle(logits: Float32Array): void {
    const t = this.tables;
    if (this.userQueue.length > 0) return whitelist(logits, [this.userQueue[0]]);
    const fixed = FIXED_STRINGS[this.state];
    if (fixed !== undefined) {
      const allowed = this.fixedStringTokens(fixed);
      if (allowed.length > 0) {
        if (this.state === 'THINK_END_TAG' && this.config.stopAtReasoning && len(fixed) - this.positionInState <= 10) {
          return whitelist(logits, [t.tok.eosTokenId]);
        }
        return whitelist(logits, allowed);
      }
      if (this.state === 'THINK_END_TAG' && this.config.stopAtReasoning) return whitelist(logits, [t.tok.eosTokenId]);
      this.advance();
      if (FIXED_STRINGS[this.state] !== undefined) return;
      logits.fill(0);
      return this.processSingle(logits);
    }
    switch (this.state) {
      case 'BPM_VALUE':
        if (this.startUserField('bpm', logits, this.accumulatedIds.length === 0)) return;
        return whitelist(logits, this.treeTokens(t.bpmTree));
      case 'CAPTION_VALUE':
        return this.captionStep(logits);
      case 'DURATION_VALUE': {
        if (this.startUserField('duration', logits, this.accumulatedIds.length === 0)) return;
        const target = this.config.targetDuration;
        if (target !== null) {
          const digits = String(Math.trunc(target));
          const pos = len(this.accumulatedValue);
          if (pos < digits.length) return whitelist(logits, [t.digit[Number(digits[pos])]]);
          return whitelist(logits, [t.newline]);
        }
        return whitelist(logits, this.treeTokens(t.durationTree));
      }
      case 'GENRES_VALUE': {
        // No genres vocabulary ships with the checkpoints, so this is upstream's fallback: free
        // text that ends (transitioning at once, before the newline is appended) when the newline
        // is the most likely token and the field has content.
        if (this.startUserField('genres', logits, this.accumulatedValue === '')) return;
        const hasContent = this.accumulatedValue.trim() !== '';
        if (hasContent && newlineWins(logits, t.newline)) {
          whitelist(logits, [t.newline]);
          this.advance();
          return;
        }
        if (!hasContent) logits[t.newline] = -Infinity;
        return;
      }
      case 'KEYSCALE_VALUE':
        if (this.startUserField('keyscale', logits, this.accumulatedIds.length === 0)) return;
        return this.treeStep(logits, t.keyscaleTree);
      case 'LANGUAGE_VALUE': {
        if (this.startUserField('language', logits, this.accumulatedIds.length === 0)) return;
        if (this.accumulatedIds.length === 0) {
          const first = t.languageFirstTokens;
          if (first.length === 0) return whitelist(logits, [t.newline]);
          // The first token is the argmax over the languages' first tokens, not sampled; a tie
          // goes to the first in upstream's order (torch.argmax over list(set)).
          let best = -1;
          for (const id of first) if (best < 0 || logits[id] > logits[best]) best = id;
          return whitelist(logits, [best]);
        }
        return this.treeStep(logits, t.languageTree);
      }
      case 'TIMESIG_VALUE':
        if (this.startUserField('timesignature', logits, this.accumulatedIds.length === 0)) return;
        {
          const k = key(this.accumulatedIds);
          const set = t.timesigTree.get(k);
          if (set?.has(t.newline)) return whitelist(logits, [t.newline]);
          return whitelist(logits, set ? [...set] : []);
        }
      default:
        return;
    }
  }

  // Allowed ids of a numeric tree at the current prefix; `\n` is in the set iff the value is complete.
  private treeTokens(tree: PrefixTree): number[] {
    const set = tree.get(key(this.accumulatedIds));
    return set ? [...set] : [];
  }

  private treeStep(logits: Float32Array, tree: PrefixTree): void {
    const set = tree.get(key(this.accumulatedIds));
    if (set?.has(this.tables.newline)) return whitelist(logits, [this.tables.newline]);
    if (set && set.size > 0) return whitelist(logits, [...set]);
    return whitelist(logits, [this.tables.newline]);
  }

  private startUserField(field: Field, logits: Float32Array, fresh: boolean): boolean {
    const value = this.config.userMetadata[field];
    if (value === undefined || value === null || this.userQueue.length > 0 || !fresh) return false;
    const ids = this.tables.tok.encode(` ${value}\n`);
    if (ids.length === 0) return false;
    this.userQueue = ids;
    this.currentUserField = field;
    whitelist(logits, [ids[0]]);
    return true;
  }

  private captionStep(logits: Float32Array): void {
    const t = this.tables;
    if (this.startUserField('caption', logits, this.accumulatedValue === '')) return;
    if (this.captionAfterNewline) {
      const top = this.decodedTop(logits);
      this.captionAfterNewline = false;
      if (top.length > 0 && top[0] !== ' ' && top[0] !== '\t') {
        this.captionEnding = true;
        this.pendingFieldName = '';
        return;
      }
    }
    if (this.captionEnding) return;
    logits[t.backtick] = -Infinity;
    maskRange(logits, t.codeIds[0], t.codeIds[1]);
    if (this.captionTokenCount >= CAPTION_TOKEN_LIMIT) whitelist(logits, [t.newline]);
  }

  private decodedTop(logits: Float32Array): string {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return this.tables.decode(best);
  }

  private fixedStringTokens(fixed: string): number[] {
    const remaining = [...fixed].slice(this.positionInState);
    if (remaining.length === 0) return [];
    for (let end = remaining.length; end > 0; end--) {
      const ids = this.tables.tok.encode(remaining.slice(0, end).join(''));
      if (ids.length === 1) return ids;
    }
    // No prefix is a single token: every first token that agrees with the remaining text.
    const best = new Map<number, number>();
    for (let end = 1; end < Math.min(remaining.length + 1, 20); end++) {
      const prefix = remaining.slice(0, end).join('');
      const ids = this.tables.tok.encode(prefix);
      if (ids.length === 0) continue;
      const p = prefix.trimStart().toLowerCase();
      const d = this.tables.decode(ids[0]).trimStart().toLowerCase();
      if (d.startsWith(p) || p.startsWith(d)) best.set(ids[0], Math.max(best.get(ids[0]) ?? 0, end));
    }
    return [...best.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
  }

  /** Advances the FSM past the token that was appended. */
  update(id: number): void {
    const t = this.tables;
    if (this.state === 'COMPLETED') return;
    if (this.state === 'CODES_GENERATION') {
      this.codesCount++;
      return;
    }
    if (this.userQueue.length > 0) {
      this.userQueue.shift();
      if (this.userQueue.length === 0) {
        const field = this.currentUserField!;
        this.currentUserField = null;
        const next = this.nextFieldState(field);
        this.state = next;
        this.positionInState = 0;
        this.accumulatedValue = '';
        this.accumulatedIds = [];
      }
      return;
    }
    const text = t.decode(id);
    const fixed = FIXED_STRINGS[this.state];
    if (fixed !== undefined) {
      this.positionInState += len(text);
      if (this.positionInState >= len(fixed)) {
        if (this.state === 'THINK_END_TAG' && this.config.stopAtReasoning) this.enter('COMPLETED');
        else this.advance();
      }
      return;
    }
    switch (this.state) {
      case 'BPM_VALUE':
      case 'DURATION_VALUE':
      case 'TIMESIG_VALUE':
        if (id === t.newline) this.advance();
        else {
          this.accumulatedIds.push(id);
          const d = text.trim();
          if (d !== '' && /^\d+$/.test(d)) this.accumulatedValue += d;
        }
        return;
      case 'GENRES_VALUE':
        if (id === t.newline) this.advance();
        else this.accumulatedValue += text;
        return;
      case 'CAPTION_VALUE':
        this.captionTokenCount++;
        this.accumulatedValue += text;
        this.captionAfterNewline = text.includes('\n');
        if (this.captionEnding) {
          this.pendingFieldName += text;
          if (text.includes(':')) {
            const name = this.pendingFieldName.trim().replace(/:+$/, '').trim().toLowerCase();
            const valueState = VALUE_STATE_OF_NAME[name];
            if (valueState) {
              this.state = valueState;
              this.positionInState = 0;
              this.accumulatedValue = '';
              this.accumulatedIds = [];
              this.captionEnding = false;
              this.pendingFieldName = '';
            } else {
              this.captionEnding = false;
              this.pendingFieldName = '';
              this.advance();
            }
          }
        }
        return;
      case 'KEYSCALE_VALUE':
      case 'LANGUAGE_VALUE':
        if (id === t.newline) this.advance();
        else {
          this.accumulatedIds.push(id);
          this.accumulatedValue += text;
        }
        return;
      default:
        return;
    }
  }
}

function whitelist(logits: Float32Array, allowed: number[]): void {
  if (allowed.length === 0) {
    logits.fill(-Infinity);
    return;
  }
  const saved = allowed.map((i) => logits[i]);
  logits.fill(-Infinity);
  allowed.forEach((id, k) => (logits[id] = saved[k]));
}

function newlineWins(logits: Float32Array, newline: number): boolean {
  const nl = logits[newline];
  for (let i = 0; i < logits.length; i++) if (i !== newline && logits[i] >= nl) return false;
  return true;
}

function maskRange(logits: Float32Array, a: number, b: number): void {
  logits.fill(-Infinity, a, Math.min(b, logits.length));
}

function maskOutside(logits: Float32Array, a: number, b: number, keep: number): void {
  const kept = logits[keep];
  logits.fill(-Infinity, 0, a);
  logits.fill(-Infinity, Math.min(b, logits.length));
  logits[keep] = kept;
}

function containsSequence(seq: ArrayLike<number>, pattern: number[]): boolean {
  if (pattern.length === 0) return false;
  outer: for (let i = 0; i + pattern.length <= seq.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (seq[i + j] !== pattern[j]) continue outer;
    return true;
  }
  return false;
}

/** The FSM's view of a loaded tokenizer (no special tokens added on encode). */
export function fsmTokenizer(tok: {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: ArrayLike<number>): string;
  tokenToId(token: string): number | null;
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly source: string;
}): FsmTokenizer {
  const eos = tok.eosTokenId;
  const base = tok.tokenToId('<|audio_code_0|>');
  if (eos === null) throw new TokenizerError('the LM tokenizer has no eos_token', tok.source);
  if (base === null) throw new TokenizerError('the LM tokenizer has no <|audio_code_0|> token', tok.source);
  return {
    encode: (text) => tok.encode(text, { addSpecialTokens: false }),
    decode: (ids) => tok.decode(ids),
    vocabSize: tok.vocabSize,
    eosTokenId: eos,
    audioCodeBase: base,
  };
}
