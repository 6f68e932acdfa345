// The LM-only helper tasks (UPSTREAM.md: 5 Hz LM, LM entry points): understand (audio codes -> metadata and
// lyrics), create-sample (a free query -> caption, lyrics, metadata) and format-sample (rewrite a
// caption and lyrics). Each is one constrained generation in the FSM's `understand` phase: the CoT
// block (genres included), then free text with audio codes masked; no CFG.
import { generate, type StepInfo } from './sampling-loop.js';
import { MetadataFsm } from './fsm.js';
import { DEFAULT_MAX_DURATION } from './music-vocabulary.js';
import { fsmDebugger, tablesFor, type LmBundle } from './planner.js';
import { extractLyrics, parseLmOutput, type LmMetadata } from './output.js';
import {
  DEFAULT_NEGATIVE_PROMPT,
  lmFormatPrompt,
  lmInspirePrompt,
  lmUnderstandPrompt,
  type ChatRenderer,
} from '../conditioning/prompts.js';
import { ShapeError, Tensor } from '../../runtime/index.js';
import { TokenizerError } from '../../text/index.js';
import { ParamError } from '../params.js';

export interface LmTaskOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  useConstrainedDecoding?: boolean;
  /** Receives the FSM's decisions (upstream constrained_decoding_debug). */
  onFsmDebug?: (message: string) => void;
  maxDuration?: number;
  maxModelLen?: number;
  signal?: AbortSignal;
  onToken?: (tokens: readonly number[], step: number) => void;
}

export interface LmTaskResult {
  metadata: LmMetadata & { instrumental?: boolean };
  /** The raw generated text (for inspection). */
  text: string;
}

type UserFields = Partial<Record<'bpm' | 'duration' | 'keyscale' | 'timesignature' | 'language', string>>;

async function runUnderstandPhase(
  lm: LmBundle,
  prompt: string,
  user: UserFields,
  skipLanguage: boolean,
  defaultTemperature: number,
  o: LmTaskOptions,
): Promise<string> {
  const tok = lm.tokenizer;
  const eos = tok.eosTokenId;
  const pad = tok.padTokenId;
  if (eos === null || pad === null) throw new TokenizerError('the LM tokenizer needs eos_token and pad_token', tok.source);
  const maxDuration = o.maxDuration ?? DEFAULT_MAX_DURATION;
  const tables = tablesFor(lm, maxDuration);
  // Encoded no further than the context allows (a megabyte query costs milliseconds), then refused when it fills it.
  const room = (o.maxModelLen ?? 4096) - 64 - 1;
  const promptIds = tok.encode(prompt, { addSpecialTokens: false, maxLength: room + 1 });
  if (promptIds.length > room)
    throw new ParamError(
      'prompt',
      `the input takes more than ${room} tokens: it does not fit the LM's context of ${o.maxModelLen ?? 4096} (64 kept for the answer)`,
    );
  const fsm =
    o.useConstrainedDecoding === false
      ? null
      : new MetadataFsm(tables, {
          phase: 'understand',
          stopAtReasoning: false,
          skipCaption: false,
          skipLanguage,
          skipGenres: false,
          targetDuration: null,
          userMetadata: user,
          maxDuration,
        });
  const seq = [...promptIds];
  const vocab = lm.model.config.vocabSize;
  const debug = fsm && o.onFsmDebug ? fsmDebugger(tok, o.onFsmDebug, 1) : null;
  const r = await generate(lm.model, {
    prompts: [promptIds],
    maxNewTokens: Math.min((o.maxModelLen ?? 4096) - 64 - promptIds.length, maxDuration * 5 + 10 + 500),
    temperature: o.temperature ?? defaultTemperature,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    repetitionPenalty: o.repetitionPenalty ?? 1,
    seed: o.seed ?? 0,
    stopTokens: [eos, pad],
    padId: pad,
    signal: o.signal,
    onToken: o.onToken,
    processors: fsm
      ? [
          {
            async process(logits: Tensor, _info: StepInfo): Promise<Tensor> {
              const host = await logits.toFloat32();
              if (host.length !== vocab)
                throw new ShapeError(`understand-phase logits hold ${host.length} values, not one row of the ${vocab}-token vocabulary`);
              const before = fsm.state;
              fsm.process(host, seq);
              debug?.masked(_info.step, before, host);
              return Tensor.fromArray(host, logits.shape, { device: logits.device });
            },
            update(tokens: readonly number[]) {
              if (tokens[0] >= 0) {
                seq.push(tokens[0]);
                const before = fsm.state;
                fsm.update(tokens[0]);
                debug?.chosen(tokens[0], before, fsm.state);
              }
            },
          },
        ]
      : [],
  });
  return tok.decode(r.tokens[0]);
}

function renderer(lm: LmBundle): ChatRenderer {
  return (m, r) => lm.tokenizer.applyChatTemplate(m, { addGenerationPrompt: r.addGenerationPrompt });
}

/** Audio codes (`<|audio_code_N|>...`) -> metadata and lyrics; no codes = "NO USER INPUT" (upstream: the LM writes an example). */
export async function understandCodes(lm: LmBundle, audioCodes: string, o: LmTaskOptions = {}): Promise<LmTaskResult> {
  const codes = audioCodes.trim() === '' ? DEFAULT_NEGATIVE_PROMPT : audioCodes;
  if (codes !== DEFAULT_NEGATIVE_PROMPT && !/<\|audio_code_\d+\|>/.test(codes))
    throw new ParamError('audioCodes', 'holds no <|audio_code_N|> tokens');
  const text = await runUnderstandPhase(lm, lmUnderstandPrompt(renderer(lm), codes), {}, false, 0.85, o);
  const { metadata } = parseLmOutput(text);
  const lyrics = extractLyrics(text);
  if (lyrics) metadata.lyrics = lyrics;
  return { metadata, text };
}

/** A free-form query -> caption, lyrics and metadata (upstream's "simple mode"). */
export async function createSampleFromQuery(
  lm: LmBundle,
  query: string,
  instrumental: boolean,
  vocalLanguage: string | null,
  o: LmTaskOptions = {},
): Promise<LmTaskResult> {
  const lang = vocalLanguage?.trim();
  const user: UserFields = lang && lang.toLowerCase() !== 'unknown' ? { language: lang } : {};
  const text = await runUnderstandPhase(lm, lmInspirePrompt(renderer(lm), query, instrumental), user, false, 0.85, o);
  const metadata: LmTaskResult['metadata'] = parseLmOutput(text).metadata;
  const lyrics = extractLyrics(text);
  if (lyrics) metadata.lyrics = lyrics;
  else if (instrumental) metadata.lyrics = '[Instrumental]';
  metadata.instrumental = instrumental;
  return { metadata, text };
}

/** Rewrites a caption and lyrics into a detailed caption, metadata and formatted lyrics. */
export async function formatSampleText(
  lm: LmBundle,
  caption: string,
  lyrics: string,
  userMetadata: { bpm?: number | string; duration?: number | string; keyscale?: string; timesignature?: string; language?: string } | null,
  o: LmTaskOptions = {},
): Promise<LmTaskResult> {
  const c = caption.trim() === '' ? 'NO USER INPUT' : caption;
  const l = lyrics.trim() === '' ? '[Instrumental]' : lyrics;
  const user: UserFields = {};
  const positiveInt = (v: unknown) => {
    const n = Number.parseInt(String(v), 10);
    return Number.isFinite(n) && n > 0 ? String(n) : undefined;
  };
  if (userMetadata?.bpm !== undefined && userMetadata.bpm !== null) user.bpm = positiveInt(userMetadata.bpm);
  if (userMetadata?.duration !== undefined && userMetadata.duration !== null) user.duration = positiveInt(userMetadata.duration);
  if (userMetadata?.keyscale) user.keyscale = userMetadata.keyscale;
  if (userMetadata?.timesignature) user.timesignature = userMetadata.timesignature;
  if (userMetadata?.language) user.language = userMetadata.language;
  for (const k of Object.keys(user) as (keyof UserFields)[]) if (user[k] === undefined) delete user[k];
  const text = await runUnderstandPhase(lm, lmFormatPrompt(renderer(lm), c, l), user, user.language !== undefined, 0.85, o);
  const metadata: LmTaskResult['metadata'] = parseLmOutput(text).metadata;
  metadata.lyrics = extractLyrics(text) || l;
  return { metadata, text };
}
