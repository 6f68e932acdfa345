// The public LM-only entry points (spec 17.4): understandMusic (audio codes, or an audio file
// turned into codes by VAE encode + audio tokenizer, -> caption, lyrics and metadata),
// createSample (a free query -> a full sample) and formatSample (rewrite caption and lyrics).
// Like generateMusic, bad arguments throw a ParamError before any model runs; later failures come
// back as success=false with the error.
import { loadAudio } from '../io/audio/index.js';
import { formatAudioCodes } from '../models/audio-tokenizer.js';
import type { AceStep } from './engine.js';
import { sampleAudioLatents } from './conditioning/audio-latents.js';
import { ParamError } from './params.js';
import { createSampleFromQuery, formatSampleText, understandCodes, type LmTaskOptions, type LmTaskResult } from './lm/tasks.js';
import { VALID_LANGUAGES } from './lm/music-vocabulary.js';
import { checkLmCallOptions, checkUserMetadata } from './lm/call-checks.js';

/** The LM tasks' sampling options; the context length comes from the engine, the duration cap is the FSM default. */
export type LmCallOptions = Omit<LmTaskOptions, 'maxDuration' | 'maxModelLen'>;

export interface UnderstandResult {
  success: boolean;
  error: string | null;
  statusMessage: string;
  caption: string;
  lyrics: string;
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

function checkOptions(engine: AceStep, o: LmCallOptions): LmTaskOptions {
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= 2)) throw new ParamError('temperature', `must be in [0, 2], got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new ParamError('topK', `must be an integer >= 0, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new ParamError('topP', `must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) throw new ParamError('repetitionPenalty', `must be > 0, got ${o.repetitionPenalty}`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) throw new ParamError('seed', `must be an integer in [0, 2^32), got ${o.seed}`);
  return { ...o, maxModelLen: engine.lmMaxModelLen };
}

function fromMetadata(r: LmTaskResult | null, audioCodes: string, err: unknown): UnderstandResult {
  if (!r) {
    const msg = (err as Error)?.message ?? String(err);
    return { success: false, error: msg, statusMessage: `failed: ${msg}`, caption: '', lyrics: '', bpm: null, duration: null, keyscale: '', language: '', timesignature: '', genres: '', audioCodes };
  }
  const m = r.metadata;
  const n = (v: unknown) => {
    const x = Number(v);
    return v === undefined || v === null || v === '' || !Number.isFinite(x) ? null : x;
  };
  return {
    success: true,
    error: null,
    statusMessage: 'ok',
    caption: String(m.caption ?? ''),
    lyrics: String(m.lyrics ?? ''),
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

/** Audio codes (or an audio file) -> caption, lyrics and metadata. */
export async function understandMusic(engine: AceStep, input: { audioCodes?: string; srcAudio?: string }, o: LmCallOptions = {}): Promise<UnderstandResult> {
  checkLmCallOptions(o);
  const opts = checkOptions(engine, o);
  if (!input.audioCodes && !input.srcAudio) throw new ParamError('audioCodes', 'give audio codes (<|audio_code_N|>...) or a srcAudio file');
  if (input.audioCodes && !/<\|audio_code_\d+\|>/.test(input.audioCodes)) throw new ParamError('audioCodes', 'holds no <|audio_code_N|> tokens');
  engine.checkAlive();
  let codes = input.audioCodes ?? '';
  try {
    if (!codes) codes = await audioToCodes(engine, input.srcAudio!);
    return fromMetadata(await understandCodes(engine.getLm(), codes, opts), codes, null);
  } catch (e) {
    return fromMetadata(null, codes, e);
  }
}

/** A free-form description -> caption, lyrics and metadata (upstream "simple mode"). */
export async function createSample(
  engine: AceStep,
  input: { query: string; instrumental?: boolean; vocalLanguage?: string | null },
  o: LmCallOptions = {},
): Promise<CreateSampleResult> {
  checkLmCallOptions(o);
  const opts = checkOptions(engine, o);
  if (typeof input.query !== 'string') throw new ParamError('query', 'must be a string');
  const lang = input.vocalLanguage ?? null;
  if (lang && lang !== 'unknown' && !VALID_LANGUAGES.includes(lang)) throw new ParamError('vocalLanguage', `must be 'unknown' or a language code, got ${JSON.stringify(lang)}`);
  engine.checkAlive();
  const instrumental = input.instrumental ?? false;
  try {
    const r = await createSampleFromQuery(engine.getLm(), input.query, instrumental, lang, opts);
    return { ...fromMetadata(r, '', null), instrumental };
  } catch (e) {
    return { ...fromMetadata(null, '', e), instrumental };
  }
}

/** Caption + lyrics (+ optional fixed metadata) -> an expanded caption, metadata and formatted lyrics. */
export async function formatSample(
  engine: AceStep,
  input: { caption: string; lyrics: string; userMetadata?: { bpm?: number | string; duration?: number | string; keyscale?: string; timesignature?: string; language?: string } | null },
  o: LmCallOptions = {},
): Promise<FormatSampleResult> {
  checkLmCallOptions(o);
  checkUserMetadata(input.userMetadata);
  const opts = checkOptions(engine, o);
  if (typeof input.caption !== 'string') throw new ParamError('caption', 'must be a string');
  if (typeof input.lyrics !== 'string') throw new ParamError('lyrics', 'must be a string');
  engine.checkAlive();
  try {
    return fromMetadata(await formatSampleText(engine.getLm(), input.caption, input.lyrics, input.userMetadata ?? null, opts), '', null);
  } catch (e) {
    return fromMetadata(null, '', e);
  }
}
