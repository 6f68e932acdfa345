// The public LM-only entry points (UPSTREAM.md: LM entry points): understandMusic (audio codes, or
// an audio file turned into codes by VAE encode + audio tokenizer, -> caption, lyrics and
// metadata), createSample (a free query -> a full sample) and formatSample (rewrite caption and
// lyrics). Like generateMusic, bad arguments throw a ParamError before any model runs; later
// failures come back as success=false with the error.
import { randomInt } from 'node:crypto';
import { loadAudio } from '../io/audio/index.js';
import { formatAudioCodes } from '../models/audio-tokenizer.js';
import type { AceStep } from './engine.js';
import { sampleAudioLatents } from './conditioning/audio-latents.js';
import { ParamError } from './params.js';
import { createSampleFromQuery, formatSampleText, understandCodes, type LmTaskOptions, type LmTaskResult } from './lm/tasks.js';
import { VALID_LANGUAGES } from './lm/music-vocabulary.js';
import { checkLmCallOptions, checkUserMetadata } from './lm/call-checks.js';

/**
 * The LM tasks' sampling options (upstream's keyword arguments, camelCase or snake_case): the
 * temperature defaults to 0.85, the seed to a random one (-1 = random; the result reports it),
 * topK 0 / null and topP 0, 1 / null switch those filters off. The context length comes from the
 * engine, the duration cap is the FSM default.
 */
export type LmCallOptions = Omit<LmTaskOptions, 'maxDuration' | 'maxModelLen' | 'onFsmDebug' | 'topK' | 'topP'> & {
  topK?: number | null;
  topP?: number | null;
  /** Reports every FSM decision through onDebug (default console.debug). */
  constrainedDecodingDebug?: boolean;
  onDebug?: (message: string) => void;
};

const OPTION_NAMES = [
  'temperature',
  'topK',
  'topP',
  'repetitionPenalty',
  'seed',
  'useConstrainedDecoding',
  'constrainedDecodingDebug',
  'onDebug',
  'signal',
  'onToken',
];

/**
 * Splits one argument object (upstream's keyword arguments, snake_case or camelCase) into the
 * task's inputs and its sampling options; options given separately win. Unknown names are errors.
 */
function splitArgs<I extends object>(
  args: Record<string, unknown>,
  inputNames: readonly string[],
  o: LmCallOptions,
): { input: I; options: LmCallOptions } {
  checkLmCallOptions(o);
  const input: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args ?? {})) {
    if (v === undefined) continue;
    const name = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (inputNames.includes(name)) input[name] = v;
    else if (OPTION_NAMES.includes(name)) options[name] = v;
    else throw new ParamError(k, `unknown argument (expected one of ${[...inputNames, ...OPTION_NAMES].join(', ')})`);
  }
  return { input: input as I, options: { ...options, ...o } as LmCallOptions };
}

export interface UnderstandResult {
  success: boolean;
  error: string | null;
  /** Error code of a typed error (ERR_PARAM: a prompt the LM context cannot hold), null on success. */
  errorCode: string | null;
  statusMessage: string;
  caption: string;
  lyrics: string;
  /** The sampling seed that was used (a random one unless given). */
  seed: number;
  bpm: number | null;
  duration: number | null;
  keyscale: string;
  language: string;
  timesignature: string;
  /** Genres from the CoT, when the LM wrote them. */
  genres: string;
  /** The codes the LM read (given, or derived from the audio file). */
  audioCodes: string;
}

export interface CreateSampleResult extends UnderstandResult {
  instrumental: boolean;
}

export type FormatSampleResult = UnderstandResult;

function checkOptions(engine: AceStep, o: LmCallOptions): LmTaskOptions & { seed: number } {
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= 2))
    throw new ParamError('temperature', `must be in [0, 2], got ${o.temperature}`);
  if (o.topK !== undefined && o.topK !== null && !(Number.isInteger(o.topK) && o.topK >= 0))
    throw new ParamError('topK', `must be an integer >= 0 (0 = off), got ${o.topK}`);
  if (o.topP !== undefined && o.topP !== null && !(o.topP >= 0 && o.topP <= 1))
    throw new ParamError('topP', `must be in [0, 1] (0 or 1 = off), got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0))
    throw new ParamError('repetitionPenalty', `must be > 0, got ${o.repetitionPenalty}`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= -1 && o.seed < 2 ** 32))
    throw new ParamError('seed', `must be an integer in [0, 2^32) or -1 (random), got ${o.seed}`);
  const { constrainedDecodingDebug, onDebug, topK, topP, ...rest } = o;
  return {
    ...rest,
    temperature: o.temperature ?? 0.85,
    topK: topK ?? 0,
    topP: topP !== undefined && topP !== null && topP > 0 && topP < 1 ? topP : 1,
    seed: o.seed === undefined || o.seed < 0 ? randomInt(0, 2 ** 32 - 1) : o.seed,
    onFsmDebug: constrainedDecodingDebug ? (onDebug ?? ((m: string) => console.debug(m))) : undefined,
    maxModelLen: engine.lmMaxModelLen,
  };
}

function fromMetadata(r: LmTaskResult | null, audioCodes: string, err: unknown, seed: number): UnderstandResult {
  if (!r) {
    const msg = (err as Error)?.message ?? String(err);
    const code = (err as { code?: unknown })?.code;
    return {
      success: false,
      error: msg,
      errorCode: typeof code === 'string' ? code : null,
      statusMessage: `failed: ${msg}`,
      caption: '',
      lyrics: '',
      seed,
      bpm: null,
      duration: null,
      keyscale: '',
      language: '',
      timesignature: '',
      genres: '',
      audioCodes,
    };
  }
  const m = r.metadata;
  const n = (v: unknown) => {
    const x = Number(v);
    return v === undefined || v === null || v === '' || !Number.isFinite(x) ? null : x;
  };
  return {
    success: true,
    error: null,
    errorCode: null,
    statusMessage: 'ok',
    caption: String(m.caption ?? ''),
    lyrics: String(m.lyrics ?? ''),
    seed,
    bpm: n(m.bpm),
    duration: n(m.duration),
    keyscale: String(m.keyscale ?? ''),
    language: String(m.language ?? ''),
    timesignature: String(m.timesignature ?? ''),
    genres: String(m.genres ?? ''),
    audioCodes,
  };
}

/** Audio file -> `<|audio_code_N|>` string: VAE encode (a posterior sample, seed 0), then the FSQ tokenizer. */
export async function audioToCodes(engine: AceStep, path: string): Promise<string> {
  engine.checkAlive();
  const pcm = await loadAudio(path, { sampleRate: engine.sampleRate });
  const z = sampleAudioLatents(engine, pcm, 0);
  const sil = engine.silenceLatent.device === engine.device ? engine.silenceLatent : engine.silenceLatent.toDevice(engine.device);
  try {
    const tok = await engine.audioTokenizer.tokenize(z, sil);
    for (const t of [tok.pooled, tok.projectedIn, tok.quantized]) t.dispose();
    return formatAudioCodes(Array.from(tok.indices));
  } finally {
    z.dispose();
    if (sil !== engine.silenceLatent) sil.dispose();
  }
}

/**
 * Audio codes (or an audio file) -> caption, lyrics and metadata. Upstream's
 * understand_music(audio_codes, temperature, top_k, top_p, repetition_penalty, ...): the
 * arguments may come in one object; empty codes let the LM write an example.
 */
export async function understandMusic(
  engine: AceStep,
  args: string | { audioCodes?: string; srcAudio?: string } | Record<string, unknown>,
  o: LmCallOptions = {},
): Promise<UnderstandResult> {
  // understand_music(llm_handler, audio_codes, ...): the codes may also come as a plain string.
  const named = typeof args === 'string' ? { audioCodes: args } : args;
  const { input, options } = splitArgs<{ audioCodes?: string; srcAudio?: string }>(
    named as Record<string, unknown>,
    ['audioCodes', 'srcAudio'],
    o,
  );
  checkLmCallOptions(options);
  const opts = checkOptions(engine, options);
  if (input.audioCodes !== undefined && typeof input.audioCodes !== 'string')
    throw new ParamError('audioCodes', 'must be a string of <|audio_code_N|> tokens');
  if (input.audioCodes && input.audioCodes.trim() !== '' && !/<\|audio_code_\d+\|>/.test(input.audioCodes))
    throw new ParamError('audioCodes', 'holds no <|audio_code_N|> tokens');
  engine.checkAlive();
  let codes = input.audioCodes ?? '';
  try {
    if (!codes.trim() && input.srcAudio) codes = await audioToCodes(engine, input.srcAudio);
    return fromMetadata(await understandCodes(engine.getLm(), codes, opts), codes, null, opts.seed);
  } catch (e) {
    return fromMetadata(null, codes, e, opts.seed);
  }
}

/** A free-form description -> caption, lyrics and metadata (upstream create_sample, "simple mode"). */
export async function createSample(
  engine: AceStep,
  args: { query: string; instrumental?: boolean; vocalLanguage?: string | null } | Record<string, unknown>,
  o: LmCallOptions = {},
): Promise<CreateSampleResult> {
  const { input, options } = splitArgs<{ query: string; instrumental?: boolean; vocalLanguage?: string | null }>(
    args as Record<string, unknown>,
    ['query', 'instrumental', 'vocalLanguage'],
    o,
  );
  checkLmCallOptions(options);
  const opts = checkOptions(engine, options);
  if (typeof input.query !== 'string') throw new ParamError('query', 'must be a string');
  const lang = input.vocalLanguage ?? null;
  if (lang && lang.trim().toLowerCase() !== 'unknown' && !VALID_LANGUAGES.includes(lang.trim().toLowerCase()))
    throw new ParamError('vocalLanguage', `must be 'unknown' or a language code, got ${JSON.stringify(lang)}`);
  engine.checkAlive();
  const instrumental = input.instrumental ?? false;
  try {
    const r = await createSampleFromQuery(engine.getLm(), input.query, instrumental, lang, opts);
    return { ...fromMetadata(r, '', null, opts.seed), instrumental };
  } catch (e) {
    return { ...fromMetadata(null, '', e, opts.seed), instrumental };
  }
}

type UserMetadataInput = {
  bpm?: number | string;
  duration?: number | string;
  keyscale?: string;
  timesignature?: string;
  language?: string;
} | null;

/** Caption + lyrics (+ optional fixed metadata) -> an expanded caption, metadata and formatted lyrics (upstream format_sample). */
export async function formatSample(
  engine: AceStep,
  args: { caption: string; lyrics: string; userMetadata?: UserMetadataInput } | Record<string, unknown>,
  o: LmCallOptions = {},
): Promise<FormatSampleResult> {
  const { input, options } = splitArgs<{ caption: string; lyrics: string; userMetadata?: UserMetadataInput }>(
    args as Record<string, unknown>,
    ['caption', 'lyrics', 'userMetadata'],
    o,
  );
  checkLmCallOptions(options);
  checkUserMetadata(input.userMetadata);
  const opts = checkOptions(engine, options);
  if (typeof input.caption !== 'string') throw new ParamError('caption', 'must be a string');
  if (typeof input.lyrics !== 'string') throw new ParamError('lyrics', 'must be a string');
  engine.checkAlive();
  try {
    return fromMetadata(
      await formatSampleText(engine.getLm(), input.caption, input.lyrics, input.userMetadata ?? null, opts),
      '',
      null,
      opts.seed,
    );
  } catch (e) {
    return fromMetadata(null, '', e, opts.seed);
  }
}
