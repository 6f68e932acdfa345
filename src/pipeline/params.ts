// The public generation parameters (UPSTREAM.md: Parameters and defaults, Flow-matching sampler, Task types, Post-processing and saving): upstream GenerationParams (what to
// generate) and GenerationConfig (batch, seeds, output format) with upstream defaults, camelCase in
// TypeScript and snake_case accepted from JSON, with upstream's value forms (any key spelling,
// "4/4", bpm 0 / duration null = unset, ...; strings are kept verbatim, as upstream carries them into
// the prompts). resolveParams/resolveConfig fill the defaults and validate every field before any
// model runs, throwing a ParamError that names the parameter and the accepted forms. The reference
// table is docs/PARAMETERS.md (a test keeps it in step with this file).
import { AcestepError } from '../runtime/errors.js';
import { AUDIO_FORMATS, MP3_BITRATES, MP3_SAMPLE_RATES, type AudioFormat } from '../io/audio/index.js';
import {
  VALID_TIME_SIGNATURES,
  VALID_LANGUAGES,
  BPM_RANGE,
  DEFAULT_MAX_DURATION,
  TIME_SIGNATURE_FORMS,
  isUnsetMeta,
  parseKeyscale,
  parseTimeSignature,
} from './lm/music-vocabulary.js';
import { DEFAULT_NEGATIVE_PROMPT, TASK_TYPES, TRACK_NAMES, type TaskType } from './conditioning/prompts.js';
import type { DcwMode } from './diffusion/dcw.js';
import type { RepaintMode } from './diffusion/repaint.js';

/** A parameter outside its allowed values; `param` is the camelCase name. */
export class ParamError extends AcestepError {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`, 'ERR_PARAM');
  }
}

export const MAX_BATCH_SIZE = 8;
/** Upper bound of base/SFT steps accepted here (the UI offers up to 200). */
export const MAX_INFERENCE_STEPS = 200;

export interface GenerationParams {
  taskType: TaskType;
  /** DiT instruction; empty = the task's default (UPSTREAM.md: Task types). */
  instruction: string;
  /** Timbre reference audio file. */
  referenceAudio: string | null;
  /** Source audio file of cover / repaint / lego / extract / complete. */
  srcAudio: string | null;
  /** Given LM codes (`<|audio_code_N|>`...); skips the LM's Phase 2. */
  audioCodes: string;
  caption: string;
  lyrics: string;
  instrumental: boolean;
  vocalLanguage: string;
  /** Beats per minute; null or 0 = unset. */
  bpm: number | null;
  /** Any key spelling ("C major", "Am", "F# minor", "Bb"); '' = unset. Carried verbatim. */
  keyscale: string;
  /** "2", "3", "4", "6" or "2/4", "3/4", "4/4", "6/8"; '' = unset. Carried verbatim. */
  timesignature: string;
  /** Seconds; <= 0 (or null on input) = unset (the LM's, the source's length, or 120 s). */
  duration: number;
  inferenceSteps: number;
  seed: number;
  guidanceScale: number;
  useAdg: boolean;
  cfgIntervalStart: number;
  cfgIntervalEnd: number;
  shift: number;
  inferMethod: 'ode' | 'sde';
  samplerMode: 'euler' | 'heun';
  timesteps: number[] | null;
  repaintingStart: number;
  /** < 0 = the end of the source. */
  repaintingEnd: number;
  repaintMode: RepaintMode;
  repaintStrength: number;
  chunkMaskMode: 'auto' | 'explicit';
  audioCoverStrength: number;
  coverNoiseStrength: number;
  retakeVariance: number;
  retakeSeed: number;
  thinking: boolean;
  lmTemperature: number;
  lmCfgScale: number;
  lmTopK: number;
  lmTopP: number;
  lmNegativePrompt: string;
  lmRepetitionPenalty: number;
  useCotMetas: boolean;
  useCotCaption: boolean;
  useCotLanguage: boolean;
  /** Reserved upstream (no effect there or here). */
  useCotLyrics: boolean;
  useConstrainedDecoding: boolean;
  dcwEnabled: boolean;
  dcwMode: DcwMode;
  dcwScaler: number;
  dcwHighScaler: number;
  latentShift: number;
  latentRescale: number;
  enableNormalization: boolean;
  normalizationDb: number;
  fadeInDuration: number;
  fadeOutDuration: number;
  /** Track of lego / extract (UPSTREAM.md: Task types). */
  trackName: string;
  /** Tracks of complete. */
  completeTrackClasses: string[];
  /** LoRA of this call: an adapter loaded in engine.adapters, by name; null = the engine's active one. */
  loraId: string | null;
  /** Adapter scale in [0, 1] for this call only; null = the adapter's own scale (1 unless set). */
  loraScale: number | null;
  // Upstream's dataclass records what the LM filled in under these names; accepted on input (a
  // params dict read back from a result) and ignored, then set from the LM in the result record.
  cotBpm: number | null;
  cotKeyscale: string;
  cotTimesignature: string;
  cotDuration: number | null;
  cotVocalLanguage: string;
  cotCaption: string;
  cotLyrics: string;
}

export interface GenerationConfig {
  batchSize: number;
  allowLmBatch: boolean;
  useRandomSeed: boolean;
  /** Per-item seeds: a list, one number, or upstream's comma-separated string ("-1" = random). */
  seeds: number[] | number | string | null;
  lmBatchChunkSize: number;
  audioFormat: AudioFormat;
  mp3Bitrate: string;
  mp3SampleRate: number;
  /** Reports every decision of the constrained decoder through RunOptions.onDebug (default: console.debug). */
  constrainedDecodingDebug: boolean;
}

export const DEFAULT_PARAMS: Readonly<GenerationParams> = Object.freeze({
  taskType: 'text2music',
  instruction: '',
  referenceAudio: null,
  srcAudio: null,
  audioCodes: '',
  caption: '',
  lyrics: '',
  instrumental: false,
  vocalLanguage: 'unknown',
  bpm: null,
  keyscale: '',
  timesignature: '',
  duration: -1,
  inferenceSteps: 8,
  seed: -1,
  guidanceScale: 7,
  useAdg: false,
  cfgIntervalStart: 0,
  cfgIntervalEnd: 1,
  shift: 1,
  inferMethod: 'ode',
  samplerMode: 'euler',
  timesteps: null,
  repaintingStart: 0,
  repaintingEnd: -1,
  repaintMode: 'balanced',
  repaintStrength: 0.5,
  chunkMaskMode: 'auto',
  audioCoverStrength: 1,
  coverNoiseStrength: 0,
  retakeVariance: 0,
  retakeSeed: -1,
  thinking: true,
  lmTemperature: 0.85,
  lmCfgScale: 2,
  lmTopK: 0,
  lmTopP: 0.9,
  lmNegativePrompt: DEFAULT_NEGATIVE_PROMPT,
  lmRepetitionPenalty: 1,
  useCotMetas: true,
  useCotCaption: true,
  useCotLanguage: true,
  useCotLyrics: false,
  useConstrainedDecoding: true,
  dcwEnabled: true,
  dcwMode: 'double',
  dcwScaler: 0.05,
  dcwHighScaler: 0.02,
  latentShift: 0,
  latentRescale: 1,
  enableNormalization: true,
  normalizationDb: -1,
  fadeInDuration: 0,
  fadeOutDuration: 0,
  trackName: '',
  completeTrackClasses: [],
  loraId: null,
  loraScale: null,
  cotBpm: null,
  cotKeyscale: '',
  cotTimesignature: '',
  cotDuration: null,
  cotVocalLanguage: 'unknown',
  cotCaption: '',
  cotLyrics: '',
}) as GenerationParams;

export const DEFAULT_CONFIG: Readonly<GenerationConfig> = Object.freeze({
  batchSize: 2,
  allowLmBatch: false,
  useRandomSeed: true,
  seeds: null,
  lmBatchChunkSize: 8,
  audioFormat: 'flac',
  mp3Bitrate: '128k',
  mp3SampleRate: 48000,
  constrainedDecodingDebug: false,
});

/**
 * The machine-readable shape of every parameter: its kind and range or allowed values. The
 * validation below reads its numeric ranges and choices from here, and the CLI prints them in
 * --help, so the two cannot drift. `forms` describes values checked by hand (keys, languages, ...).
 */
export interface ParamSpec {
  kind: 'number' | 'integer' | 'boolean' | 'string' | 'choice' | 'list';
  min?: number;
  max?: number;
  /** The minimum itself is excluded. */
  minOpen?: boolean;
  /** null is accepted (= unset). */
  nullable?: boolean;
  choices?: readonly (string | number)[];
  forms?: string;
}

const SEED_RANGE = { min: -1, max: 2 ** 32 - 1 };
const TRACK_FORMS = `track names (${TRACK_NAMES.join(', ')})`;

export const PARAM_SPECS: Readonly<Record<keyof GenerationParams, ParamSpec>> = {
  taskType: { kind: 'choice', choices: TASK_TYPES },
  instruction: { kind: 'string' },
  referenceAudio: { kind: 'string', nullable: true, forms: 'an audio file' },
  srcAudio: { kind: 'string', nullable: true, forms: 'an audio file' },
  audioCodes: { kind: 'string', forms: '<|audio_code_N|>... tokens' },
  caption: { kind: 'string' },
  lyrics: { kind: 'string' },
  instrumental: { kind: 'boolean' },
  vocalLanguage: {
    kind: 'string',
    forms: `a language code in any case (${VALID_LANGUAGES.slice(0, 6).join(', ')}, ...); unknown or empty = unknown`,
  },
  bpm: { kind: 'integer', min: BPM_RANGE[0], max: BPM_RANGE[1], nullable: true, forms: 'null or 0 = chosen by the LM' },
  keyscale: { kind: 'string', forms: 'a key in any usual spelling ("C Major", "Am", "F# minor", "Bb"); empty = chosen by the LM' },
  timesignature: {
    kind: 'string',
    forms: `${TIME_SIGNATURE_FORMS.join(', ')} or beats per bar (${VALID_TIME_SIGNATURES.join(', ')}); empty = chosen by the LM`,
  },
  duration: { kind: 'number', max: DEFAULT_MAX_DURATION, forms: 'seconds; <= 0 = chosen by the LM or the source' },
  inferenceSteps: { kind: 'integer', min: 1, max: MAX_INFERENCE_STEPS },
  seed: { kind: 'integer', ...SEED_RANGE, forms: '-1 = random' },
  guidanceScale: { kind: 'number', min: 1, max: 30 },
  useAdg: { kind: 'boolean' },
  cfgIntervalStart: { kind: 'number', min: 0, max: 1 },
  cfgIntervalEnd: { kind: 'number', min: 0, max: 1 },
  shift: { kind: 'number', min: 1, max: 5 },
  inferMethod: { kind: 'choice', choices: ['ode', 'sde'] },
  samplerMode: { kind: 'choice', choices: ['euler', 'heun'] },
  timesteps: { kind: 'list', min: 0, max: 1, nullable: true, forms: 'numbers in [0, 1]' },
  repaintingStart: { kind: 'number', min: -DEFAULT_MAX_DURATION, max: DEFAULT_MAX_DURATION },
  repaintingEnd: { kind: 'number', min: -DEFAULT_MAX_DURATION, max: DEFAULT_MAX_DURATION, forms: '< 0 = the end of the source' },
  repaintMode: { kind: 'choice', choices: ['aggressive', 'conservative', 'balanced'] },
  repaintStrength: { kind: 'number', min: 0, max: 1 },
  chunkMaskMode: { kind: 'choice', choices: ['auto', 'explicit'] },
  audioCoverStrength: { kind: 'number', min: 0, max: 1 },
  coverNoiseStrength: { kind: 'number', min: 0, max: 1 },
  retakeVariance: { kind: 'number', min: 0, max: 1 },
  retakeSeed: { kind: 'integer', ...SEED_RANGE, forms: '-1 = random' },
  thinking: { kind: 'boolean' },
  lmTemperature: { kind: 'number', min: 0, max: 2 },
  lmCfgScale: { kind: 'number', min: 1, max: 10 },
  lmTopK: { kind: 'integer', min: 0, max: 1000, nullable: true, forms: '0 or null = off' },
  lmTopP: { kind: 'number', min: 0, max: 1, nullable: true, forms: '0, 1 or null = off' },
  lmNegativePrompt: { kind: 'string' },
  lmRepetitionPenalty: { kind: 'number', min: 0, max: 10, minOpen: true },
  useCotMetas: { kind: 'boolean' },
  useCotCaption: { kind: 'boolean' },
  useCotLanguage: { kind: 'boolean' },
  useCotLyrics: { kind: 'boolean', forms: 'reserved by upstream; no effect' },
  useConstrainedDecoding: { kind: 'boolean' },
  dcwEnabled: { kind: 'boolean' },
  dcwMode: { kind: 'choice', choices: ['low', 'high', 'double'] },
  dcwScaler: { kind: 'number', min: 0, max: 1 },
  dcwHighScaler: { kind: 'number', min: 0, max: 1 },
  latentShift: { kind: 'number', min: -10, max: 10 },
  latentRescale: { kind: 'number', min: 0, max: 10, minOpen: true },
  enableNormalization: { kind: 'boolean' },
  normalizationDb: { kind: 'number', min: -60, max: 0 },
  fadeInDuration: { kind: 'number', min: 0, max: DEFAULT_MAX_DURATION },
  fadeOutDuration: { kind: 'number', min: 0, max: DEFAULT_MAX_DURATION },
  trackName: { kind: 'choice', choices: ['', ...TRACK_NAMES], forms: 'a track name, any case' },
  completeTrackClasses: { kind: 'list', choices: TRACK_NAMES, forms: TRACK_FORMS },
  loraId: { kind: 'string', nullable: true, forms: 'the name of an adapter loaded in engine.adapters; null = the active one' },
  loraScale: { kind: 'number', min: 0, max: 1, nullable: true, forms: "null = the adapter's own scale" },
  // What the LM filled in, as upstream's dataclass records it: accepted on input and ignored.
  cotBpm: { kind: 'number', min: -1, max: Number.MAX_SAFE_INTEGER, nullable: true },
  cotKeyscale: { kind: 'string' },
  cotTimesignature: { kind: 'string' },
  cotDuration: { kind: 'number', min: -1, max: Number.MAX_SAFE_INTEGER, nullable: true },
  cotVocalLanguage: { kind: 'string' },
  cotCaption: { kind: 'string' },
  cotLyrics: { kind: 'string' },
};

export const CONFIG_SPECS: Readonly<Record<keyof GenerationConfig, ParamSpec>> = {
  batchSize: { kind: 'integer', min: 1, max: MAX_BATCH_SIZE },
  allowLmBatch: { kind: 'boolean' },
  useRandomSeed: { kind: 'boolean' },
  seeds: { kind: 'list', ...SEED_RANGE, nullable: true, forms: 'comma-separated integers, -1 = random' },
  lmBatchChunkSize: { kind: 'integer', min: 1, max: MAX_BATCH_SIZE },
  audioFormat: { kind: 'choice', choices: AUDIO_FORMATS },
  mp3Bitrate: { kind: 'choice', choices: MP3_BITRATES.map((b) => `${b}k`) },
  mp3SampleRate: { kind: 'choice', choices: MP3_SAMPLE_RATES },
  constrainedDecodingDebug: { kind: 'boolean', forms: 'log each decision of the constrained decoder' },
};

/** Upstream's snake_case names that do not follow from camelCase mechanically. */
const ALIASES: Record<string, string> = {
  lm_repetition_penalty: 'lmRepetitionPenalty',
  repetition_penalty: 'lmRepetitionPenalty',
  infer_steps: 'inferenceSteps',
  track_classes: 'completeTrackClasses',
};

function camel(key: string): string {
  return ALIASES[key] ?? key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Maps snake_case (or camelCase) keys onto the known camelCase names; unknown keys are an error. */
function normalizeKeys<T extends object>(input: Record<string, unknown>, known: T, what: string): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input ?? {})) {
    if (v === undefined) continue;
    const name = camel(k);
    if (!(name in known)) throw new ParamError(k, `unknown ${what} parameter`);
    out[name] = v;
  }
  return out as Partial<T>;
}

const SPECS: Readonly<Record<string, ParamSpec>> = { ...PARAM_SPECS, ...CONFIG_SPECS };

function num(p: Record<string, unknown>, name: string): void {
  const { kind, min = -Infinity, max = Infinity, minOpen } = SPECS[name];
  const v = p[name];
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (minOpen ? v > min : v >= min) &&
    v <= max &&
    (kind !== 'integer' || Number.isInteger(v));
  if (!ok) {
    const range = `${minOpen ? '(' : '['}${min}, ${max}]`;
    throw new ParamError(name, `must be ${kind === 'integer' ? 'an integer' : 'a number'} in ${range}, got ${JSON.stringify(v)}`);
  }
}

function oneOf(p: Record<string, unknown>, name: string): void {
  const allowed = SPECS[name].choices!;
  if (!allowed.includes(p[name] as string | number))
    throw new ParamError(name, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(p[name])}`);
}

function bool(p: Record<string, unknown>, name: string): void {
  if (typeof p[name] !== 'boolean') throw new ParamError(name, `must be true or false, got ${JSON.stringify(p[name])}`);
}

function str(p: Record<string, unknown>, name: string, nullable = false): void {
  const v = p[name];
  if (!(typeof v === 'string' || (nullable && v === null)))
    throw new ParamError(name, `must be a string${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`);
}

/**
 * Custom timesteps: numbers in [0, 1], strictly decreasing; trailing zeros (the end of the
 * schedule) may repeat, and at least one value is above 0.
 */
function checkTimesteps(ts: unknown): void {
  const forms =
    'must be null or a list of numbers in [0, 1] that decreases strictly from the first value towards 0 (e.g. [0.97, 0.76, 0.5, 0.28, 0])';
  if (!Array.isArray(ts) || !ts.every((t) => typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= 1)) {
    throw new ParamError('timesteps', `${forms}, got ${JSON.stringify(ts)}`);
  }
  const head = [...ts];
  while (head.length > 1 && head[head.length - 1] === 0 && head[head.length - 2] === 0) head.pop();
  if (head.length === 0 || head[0] === 0) throw new ParamError('timesteps', `${forms}, got ${JSON.stringify(ts)} (no value above 0)`);
  for (let i = 1; i < head.length; i++) {
    if (!(head[i] < head[i - 1]))
      throw new ParamError('timesteps', `${forms}, got ${JSON.stringify(ts)} (value ${i} = ${head[i]} after ${head[i - 1]})`);
  }
}

/** Fills defaults and validates; accepts snake_case or camelCase keys. */
export function resolveParams(input: Partial<GenerationParams> | Record<string, unknown> = {}): GenerationParams {
  const p = { ...DEFAULT_PARAMS, ...normalizeKeys(input as Record<string, unknown>, DEFAULT_PARAMS, 'generation') } as GenerationParams;
  const r = p as unknown as Record<string, unknown>;
  // Value forms upstream accepts: form strings for numbers, null for "unset", a number of beats for
  // the time signature. Strings stay verbatim: upstream carries them into the prompts as given.
  if (typeof r.bpm === 'string') r.bpm = r.bpm.trim() === '' ? null : Number(r.bpm);
  if (typeof r.timesignature === 'number') r.timesignature = String(r.timesignature);
  if (typeof r.seed === 'string') r.seed = r.seed.trim() === '' ? -1 : Number(r.seed);
  if (typeof r.duration === 'string') r.duration = r.duration.trim() === '' ? null : Number(r.duration);
  if (r.duration === null) r.duration = DEFAULT_PARAMS.duration;
  for (const k of ['keyscale', 'timesignature', 'caption', 'lyrics', 'instruction', 'audioCodes'] as const) if (r[k] === null) r[k] = '';
  if (r.vocalLanguage === null) r.vocalLanguage = DEFAULT_PARAMS.vocalLanguage;
  if (r.lmTopK === null) r.lmTopK = 0;
  if (r.lmTopP === null) r.lmTopP = 1;

  oneOf(r, 'taskType');
  for (const k of [
    'instruction',
    'audioCodes',
    'caption',
    'lyrics',
    'vocalLanguage',
    'keyscale',
    'timesignature',
    'lmNegativePrompt',
    'trackName',
    'cotKeyscale',
    'cotTimesignature',
    'cotVocalLanguage',
    'cotCaption',
    'cotLyrics',
  ])
    str(r, k);
  str(r, 'referenceAudio', true);
  str(r, 'srcAudio', true);
  for (const k of [
    'instrumental',
    'useAdg',
    'thinking',
    'useCotMetas',
    'useCotCaption',
    'useCotLanguage',
    'useCotLyrics',
    'useConstrainedDecoding',
    'dcwEnabled',
    'enableNormalization',
  ])
    bool(r, k);
  for (const k of ['cotBpm', 'cotDuration']) if (r[k] !== null) num(r, k);
  if (p.bpm !== null && p.bpm !== 0) {
    if (!(typeof p.bpm === 'number' && Number.isInteger(p.bpm) && p.bpm >= BPM_RANGE[0] && p.bpm <= BPM_RANGE[1])) {
      throw new ParamError(
        'bpm',
        `must be an integer in [${BPM_RANGE[0]}, ${BPM_RANGE[1]}], or null / 0 (chosen by the LM), got ${JSON.stringify(p.bpm)}`,
      );
    }
  }
  if (!isUnsetMeta(p.keyscale) && parseKeyscale(p.keyscale) === null) {
    throw new ParamError(
      'keyscale',
      `must be a key: a note A-G, optionally # or b, then major/minor, maj/min, M/m or nothing for major ("C Major", "Am", "F# minor", "Bb", "C#m"), or '' (chosen by the LM), got ${JSON.stringify(p.keyscale)}`,
    );
  }
  if (!isUnsetMeta(p.timesignature) && parseTimeSignature(p.timesignature) === null) {
    throw new ParamError(
      'timesignature',
      `must be one of ${TIME_SIGNATURE_FORMS.map((t) => JSON.stringify(t)).join(', ')} (or the number ${VALID_TIME_SIGNATURES.join(', ')}), or '' (chosen by the LM), got ${JSON.stringify(p.timesignature)}`,
    );
  }
  const lang = p.vocalLanguage.trim().toLowerCase();
  if (lang !== '' && !VALID_LANGUAGES.includes(lang)) {
    throw new ParamError(
      'vocalLanguage',
      `must be 'unknown', '' or a language code in any case (${VALID_LANGUAGES.slice(0, 8).join(', ')}, ...), got ${JSON.stringify(p.vocalLanguage)}`,
    );
  }
  if (!(typeof p.duration === 'number' && (p.duration <= 0 ? Number.isFinite(p.duration) : p.duration <= DEFAULT_MAX_DURATION))) {
    throw new ParamError(
      'duration',
      `must be null or <= 0 (unset) or a number of seconds in (0, ${DEFAULT_MAX_DURATION}], got ${JSON.stringify(p.duration)}`,
    );
  }
  num(r, 'inferenceSteps');
  num(r, 'seed');
  num(r, 'retakeSeed');
  num(r, 'guidanceScale');
  num(r, 'cfgIntervalStart');
  num(r, 'cfgIntervalEnd');
  if (p.cfgIntervalStart > p.cfgIntervalEnd)
    throw new ParamError('cfgIntervalStart', `must be <= cfgIntervalEnd (${p.cfgIntervalEnd}), got ${p.cfgIntervalStart}`);
  num(r, 'shift');
  oneOf(r, 'inferMethod');
  oneOf(r, 'samplerMode');
  if (p.samplerMode === 'heun' && p.inferMethod === 'sde') throw new ParamError('samplerMode', "heun runs with inferMethod 'ode' only");
  if (p.timesteps !== null) checkTimesteps(p.timesteps);
  num(r, 'repaintingStart');
  num(r, 'repaintingEnd');
  if (p.repaintingEnd >= 0 && p.repaintingEnd <= p.repaintingStart) {
    throw new ParamError(
      'repaintingEnd',
      `must be > repaintingStart (${p.repaintingStart}) or < 0 (end of the source), got ${p.repaintingEnd}`,
    );
  }
  oneOf(r, 'repaintMode');
  num(r, 'repaintStrength');
  oneOf(r, 'chunkMaskMode');
  num(r, 'audioCoverStrength');
  num(r, 'coverNoiseStrength');
  num(r, 'retakeVariance');
  num(r, 'lmTemperature');
  num(r, 'lmCfgScale');
  num(r, 'lmTopK');
  num(r, 'lmTopP');
  num(r, 'lmRepetitionPenalty');
  oneOf(r, 'dcwMode');
  num(r, 'dcwScaler');
  num(r, 'dcwHighScaler');
  num(r, 'latentShift');
  num(r, 'latentRescale');
  num(r, 'normalizationDb');
  num(r, 'fadeInDuration');
  num(r, 'fadeOutDuration');
  if (p.trackName !== '' && !(TRACK_NAMES as readonly string[]).includes(p.trackName.toLowerCase())) {
    throw new ParamError('trackName', `must be one of ${TRACK_NAMES.join(', ')}, got ${JSON.stringify(p.trackName)}`);
  }
  if (
    !Array.isArray(p.completeTrackClasses) ||
    !p.completeTrackClasses.every((t) => typeof t === 'string' && (TRACK_NAMES as readonly string[]).includes(t.toLowerCase()))
  ) {
    throw new ParamError(
      'completeTrackClasses',
      `must be a list of track names (${TRACK_NAMES.join(', ')}), got ${JSON.stringify(p.completeTrackClasses)}`,
    );
  }
  const needsSource = p.taskType !== 'text2music';
  if (needsSource && !p.srcAudio && !(p.taskType === 'cover' && p.audioCodes)) {
    throw new ParamError('srcAudio', `task '${p.taskType}' needs a source audio file`);
  }
  checkLoraParams(p);
  return p;
}

/** Per-call LoRA choice; whether the name is loaded is checked against the engine when the run starts. */
function checkLoraParams(p: GenerationParams): void {
  if (!(p.loraId === null || (typeof p.loraId === 'string' && p.loraId !== ''))) {
    throw new ParamError('loraId', `must be null or the name of an adapter loaded in engine.adapters, got ${JSON.stringify(p.loraId)}`);
  }
  const s = p.loraScale;
  if (!(s === null || (typeof s === 'number' && s >= 0 && s <= 1)))
    throw new ParamError('loraScale', `must be null or a number in [0, 1], got ${typeof s === 'number' ? s : JSON.stringify(s)}`);
}

export function resolveConfig(input: Partial<GenerationConfig> | Record<string, unknown> = {}): GenerationConfig {
  const c = { ...DEFAULT_CONFIG, ...normalizeKeys(input as Record<string, unknown>, DEFAULT_CONFIG, 'config') } as GenerationConfig;
  const r = c as unknown as Record<string, unknown>;
  num(r, 'batchSize');
  bool(r, 'allowLmBatch');
  bool(r, 'useRandomSeed');
  num(r, 'lmBatchChunkSize');
  oneOf(r, 'audioFormat');
  const kbps = Number(String(c.mp3Bitrate).replace(/k$/i, ''));
  if (!(MP3_BITRATES as readonly number[]).includes(kbps))
    throw new ParamError(
      'mp3Bitrate',
      `must be one of ${MP3_BITRATES.map((b) => `${b}k`).join(', ')}, got ${JSON.stringify(c.mp3Bitrate)}`,
    );
  oneOf(r, 'mp3SampleRate');
  bool(r, 'constrainedDecodingDebug');
  parseSeedList(c.seeds);
  return c;
}

/** The explicit seeds of a config (-1 / null entries = random); throws on malformed input. */
export function parseSeedList(seeds: GenerationConfig['seeds']): number[] | null {
  if (seeds === null || seeds === undefined) return null;
  const list =
    typeof seeds === 'string'
      ? seeds
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map(Number)
      : Array.isArray(seeds)
        ? seeds
        : [seeds];
  list.forEach((s) => {
    if (!(typeof s === 'number' && Number.isInteger(s) && s >= -1 && s <= 2 ** 32 - 1)) {
      throw new ParamError('seeds', `each seed must be an integer in [0, 2^32) or -1 (random), got ${JSON.stringify(seeds)}`);
    }
  });
  return list.length ? list : null;
}

/**
 * Per-item seeds (UPSTREAM.md: Noise and seeds, upstream prepare_seeds): all random with
 * useRandomSeed; otherwise the explicit list (config.seeds, else params.seed), where a single seed
 * with batch > 1 seeds item 0 only and items 1.. get random seeds, missing entries and -1 are
 * random.
 */
export function planSeeds(params: GenerationParams, config: GenerationConfig, random: () => number): number[] {
  const B = config.batchSize;
  if (config.useRandomSeed) return Array.from({ length: B }, random);
  const list = parseSeedList(config.seeds) ?? [params.seed];
  const explicit = list.length === 1 ? [list[0]] : list.slice(0, B);
  return Array.from({ length: B }, (_, i) => (i < explicit.length && explicit[i] >= 0 ? explicit[i] : random()));
}
