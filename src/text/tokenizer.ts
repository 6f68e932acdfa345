// Hugging Face tokenizers for the text encoder and the 5 Hz LM (UPSTREAM.md: Text encoder and
// caption prompt, Lyrics, 5 Hz LM): tokenizer.json + tokenizer_config.json run by
// @huggingface/tokenizers, chat templates rendered by @huggingface/jinja. A folder may instead hold
// a derive.json that builds its tokenizer from another tokenizer.json (the golden fixtures store
// the Qwen3-Embedding and LM tokenizers that way); the rules are applied generally, so a real
// checkpoint folder with its own tokenizer.json loads as is.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { TokenizerError } from './errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

interface TokenizerJson {
  added_tokens: AddedTokenJson[];
  post_processor: unknown;
  model: { vocab: Record<string, number> };
  [key: string]: unknown;
}

export interface EncodeOptions {
  /** Run the post-processor (e.g. Qwen3-Embedding's appended `<|endoftext|>`). Default true. */
  addSpecialTokens?: boolean;
  /**
   * Truncate to this many ids in all, like transformers' `truncation=True, max_length=n`: the text
   * ids are cut so that the post-processor's tokens still fit.
   */
  maxLength?: number;
}

export interface BatchEncoding {
  ids: number[][];
  /** 1 = real token, 0 = padding. */
  attentionMask: number[][];
}

function readJson<T>(path: string, what: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TokenizerError(`cannot read ${what}: ${(e as Error).message}`, path);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${what} is not valid JSON: ${(e as Error).message}`, path);
  }
  if (!isObject(value))
    throw new TokenizerError(
      `${what} must hold a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      path,
    );
  return value as T;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The parts of a tokenizer.json this file reads, checked before use (a `{}` is not a tokenizer). */
function checkTokenizerJson(json: unknown, path: string): asserts json is TokenizerJson {
  if (!isObject(json)) throw new TokenizerError('tokenizer.json must be a JSON object', path);
  if (!isObject(json.model) || !isObject(json.model.vocab)) throw new TokenizerError('tokenizer.json has no model.vocab object', path);
  for (const [t, id] of Object.entries(json.model.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      throw new TokenizerError(`model.vocab['${t}'] is not a non-negative integer id: ${JSON.stringify(id)}`, path);
  }
  if (!Array.isArray(json.added_tokens)) throw new TokenizerError('tokenizer.json has no added_tokens array', path);
  for (const t of json.added_tokens) {
    if (!isObject(t) || !Number.isInteger(t.id) || (t.id as number) < 0 || typeof t.content !== 'string')
      throw new TokenizerError(`invalid added token ${JSON.stringify(t)}`, path);
  }
}

const DERIVE_KEYS = new Set(['base', 'tokenizer_config', 'rule', 'post_processor', 'added_tokens', 'added_audio_code_tokens']);

/**
 * Applies a derive.json to its base tokenizer.json:
 * - `post_processor`: replaces the post-processor;
 * - `added_tokens`: appends explicit added tokens (tokenizer.json format);
 * - `added_audio_code_tokens` `{first_id, count, content: "...{N}...", special}`: appends `count`
 *   added tokens, the N-th with id first_id + N and content with `{N}` replaced.
 * Ids must not collide with the vocabulary or existing added tokens.
 */
function applyDerivation(base: TokenizerJson, rules: Record<string, unknown>, path: string): TokenizerJson {
  for (const k of Object.keys(rules)) {
    if (!DERIVE_KEYS.has(k)) throw new TokenizerError(`unknown derivation key '${k}'`, path);
  }
  checkTokenizerJson(base, path);
  const out: TokenizerJson = { ...base, added_tokens: [...base.added_tokens] };
  if ('post_processor' in rules) out.post_processor = rules.post_processor;
  const extra: AddedTokenJson[] = [];
  if (rules.added_tokens !== undefined) {
    if (!Array.isArray(rules.added_tokens)) throw new TokenizerError('added_tokens must be an array', path);
    extra.push(...(rules.added_tokens as AddedTokenJson[]));
  }
  const fam = rules.added_audio_code_tokens as { first_id?: unknown; count?: unknown; content?: unknown; special?: unknown } | undefined;
  if (fam !== undefined) {
    const { first_id, count, content } = fam;
    if (
      !Number.isInteger(first_id) ||
      !Number.isInteger(count) ||
      (count as number) <= 0 ||
      typeof content !== 'string' ||
      !content.includes('{N}')
    ) {
      throw new TokenizerError('added_audio_code_tokens needs integer first_id, positive count and a content template with {N}', path);
    }
    for (let n = 0; n < (count as number); n++) {
      extra.push({
        id: (first_id as number) + n,
        content: content.replace('{N}', String(n)),
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: fam.special !== false,
      });
    }
  }
  if (extra.length) {
    const usedIds = new Set<number>(Object.values(base.model.vocab));
    for (const t of out.added_tokens) usedIds.add(t.id);
    for (const t of extra) {
      if (!Number.isInteger(t.id) || t.id < 0 || typeof t.content !== 'string')
        throw new TokenizerError(`invalid added token ${JSON.stringify(t)}`, path);
      if (usedIds.has(t.id)) throw new TokenizerError(`added token '${t.content}' reuses id ${t.id}`, path);
      usedIds.add(t.id);
      out.added_tokens.push(t);
    }
  }
  return out;
}

/** Finds and reads tokenizer.json (or derive.json) and tokenizer_config.json of a folder. */
function loadFiles(dir: string): { json: TokenizerJson; config: Record<string, unknown> } {
  const tj = join(dir, 'tokenizer.json');
  const dj = join(dir, 'derive.json');
  const cj = join(dir, 'tokenizer_config.json');
  if (existsSync(tj)) {
    const config = existsSync(cj) ? readJson<Record<string, unknown>>(cj, 'tokenizer_config.json') : {};
    return { json: readJson<TokenizerJson>(tj, 'tokenizer.json'), config };
  }
  if (existsSync(dj)) {
    const rules = readJson<Record<string, unknown>>(dj, 'derive.json');
    if (typeof rules.base !== 'string') throw new TokenizerError("derive.json has no 'base' tokenizer path", dj);
    const basePath = resolve(dirname(dj), rules.base);
    const base = readJson<TokenizerJson>(basePath, 'base tokenizer.json');
    const configPath = existsSync(cj)
      ? cj
      : typeof rules.tokenizer_config === 'string'
        ? resolve(dirname(dj), rules.tokenizer_config)
        : join(dirname(basePath), 'tokenizer_config.json');
    const config = existsSync(configPath) ? readJson<Record<string, unknown>>(configPath, 'tokenizer_config.json') : {};
    return { json: applyDerivation(base, rules, dj), config };
  }
  throw new TokenizerError('no tokenizer.json (or derive.json) in this folder', dir);
}

/** First index where `run` occurs in `xs` as a contiguous run, or -1. */
function findRun(xs: number[], run: number[]): number {
  outer: for (let p = 0; p + run.length <= xs.length; p++) {
    for (let i = 0; i < run.length; i++) if (xs[p + i] !== run[i]) continue outer;
    return p;
  }
  return -1;
}

/** Ids past the truncation length a prefix must give before the rest of the text is dropped. */
const TRUNCATION_MARGIN = 64;

/** A special-token field of tokenizer_config.json: a string or an AddedToken-like object. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

export class TextTokenizer {
  private readonly tok: HfTokenizer;
  private readonly template: Template | null;
  /** Added tokens by id (special tokens included). */
  private readonly added: Map<number, AddedTokenJson>;
  readonly vocabSize: number;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly bosToken: string | null;

  private constructor(
    readonly source: string,
    json: TokenizerJson,
    readonly config: Record<string, unknown>,
  ) {
    checkTokenizerJson(json, source);
    try {
      this.tok = new HfTokenizer(json, config);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json could not be loaded: ${(e as Error).message}`, source);
    }
    this.added = new Map(json.added_tokens.map((t) => [t.id, t]));
    let maxId = -1;
    for (const id of Object.values(json.model.vocab)) maxId = Math.max(maxId, id);
    for (const id of this.added.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.eosToken = tokenString(config.eos_token);
    this.padToken = tokenString(config.pad_token);
    this.bosToken = tokenString(config.bos_token);
    const tpl = config.chat_template;
    try {
      this.template = typeof tpl === 'string' ? new Template(tpl) : null;
    } catch (e) {
      throw new TokenizerError(`chat_template does not parse: ${(e as Error).message}`, source);
    }
  }

  /** Loads a tokenizer folder: tokenizer.json (+ tokenizer_config.json), or a derive.json. */
  static load(dir: string): TextTokenizer {
    const { json, config } = loadFiles(dir);
    return new TextTokenizer(dir, json, config);
  }

  /** Builds a tokenizer from already-parsed files (tests, embedded tokenizers). */
  static fromJson(json: unknown, config: Record<string, unknown> = {}, source = '<memory>'): TextTokenizer {
    return new TextTokenizer(source, json as TokenizerJson, config);
  }

  get eosTokenId(): number | null {
    return this.eosToken === null ? null : this.tokenToId(this.eosToken);
  }
  get padTokenId(): number | null {
    return this.padToken === null ? null : this.tokenToId(this.padToken);
  }

  tokenToId(token: string): number | null {
    return this.tok.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.tok.id_to_token(id) ?? null;
  }

  isSpecial(id: number): boolean {
    return this.added.get(id)?.special === true;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode expects a string, got ${typeof text}`, this.source);
    const special = opts.addSpecialTokens ?? true;
    const max = opts.maxLength;
    if (max !== undefined && (!Number.isInteger(max) || max < 0))
      throw new TokenizerError(`maxLength must be a non-negative integer, got ${max}`, this.source);
    if (max !== undefined) text = this.prefixFor(text, max);
    const full = this.ids(text, special);
    if (max === undefined || full.length <= max) return full;
    if (!special) return full.slice(0, max);
    // The post-processor only wraps the text ids, so comparing with the bare encoding tells how
    // many ids it put in front and behind; the text part is cut and re-wrapped.
    const bare = this.ids(text, false);
    const prefix = findRun(full, bare);
    if (prefix < 0) return full.slice(0, max);
    const suffix = full.length - prefix - bare.length;
    const keep = Math.max(0, max - prefix - suffix);
    return [...full.slice(0, prefix), ...bare.slice(0, keep), ...full.slice(full.length - suffix)].slice(0, max);
  }

  /** The tokenizer library's ids; a malformed tokenizer.json that it only trips over here is a TokenizerError. */
  private ids(text: string, special: boolean): number[] {
    try {
      return this.tok.encode(text, { add_special_tokens: special }).ids;
    } catch (e) {
      throw new TokenizerError(`tokenizer.json cannot encode: ${(e as Error).message}`, this.source);
    }
  }

  /**
   * A prefix of `text` whose first `max` ids are those of the whole text, so that a megabyte
   * caption cut to 256 ids costs milliseconds: prefixes grow 4x from 16 characters per id until
   * they give TRUNCATION_MARGIN ids more than needed, which only the last word (split by the cut)
   * can change. A single word longer than the margin's worth of ids is the one case cut differently.
   */
  private prefixFor(text: string, max: number): string {
    for (let n = Math.max(1024, 16 * max); n < text.length; n *= 4) {
      // Never split a surrogate pair.
      const end = text.charCodeAt(n - 1) >= 0xd800 && text.charCodeAt(n - 1) < 0xdc00 ? n + 1 : n;
      const prefix = text.slice(0, end);
      if (this.ids(prefix, false).length >= max + TRUNCATION_MARGIN) return prefix;
    }
    return text;
  }

  /**
   * Encodes several texts padded to the longest with the pad token (transformers `padding="longest"`);
   * `side` is where the padding goes (the LM CFG batch pads on the left).
   */
  encodeBatch(texts: string[], opts: EncodeOptions & { side?: 'left' | 'right'; padId?: number } = {}): BatchEncoding {
    const padId = opts.padId ?? this.padTokenId;
    if (padId === null)
      throw new TokenizerError('no pad token: tokenizer_config.json has no pad_token and no padId was given', this.source);
    const rows = texts.map((t) => this.encode(t, opts));
    const len = Math.max(0, ...rows.map((r) => r.length));
    const ids: number[][] = [];
    const attentionMask: number[][] = [];
    for (const r of rows) {
      const pad = new Array<number>(len - r.length).fill(padId);
      const zeros = new Array<number>(len - r.length).fill(0);
      const ones = new Array<number>(r.length).fill(1);
      const left = opts.side === 'left';
      ids.push(left ? [...pad, ...r] : [...r, ...pad]);
      attentionMask.push(left ? [...zeros, ...ones] : [...ones, ...zeros]);
    }
    return { ids, attentionMask };
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const arr = Array.from(ids);
    for (const id of arr) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new TokenizerError(`decode: id ${id} is outside the vocabulary [0, ${this.vocabSize})`, this.source);
    }
    if (arr.length === 0) return '';
    try {
      return this.tok.decode(arr, { skip_special_tokens: opts.skipSpecialTokens ?? false });
    } catch (e) {
      throw new TokenizerError(`tokenizer.json cannot decode: ${(e as Error).message}`, this.source);
    }
  }

  /**
   * Renders tokenizer_config.json's chat template as transformers' apply_chat_template(tokenize=False)
   * does: `messages`, `add_generation_prompt`, the special-token strings, and any extra variables.
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> } = {}): string {
    if (!this.template) throw new TokenizerError('tokenizer_config.json has no chat_template', this.source);
    try {
      return this.template.render({
        ...opts.extra,
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? false,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
        pad_token: this.padToken ?? '',
      });
    } catch (e) {
      throw new TokenizerError(`chat template failed: ${(e as Error).message}`, this.source);
    }
  }
}
