// Checks of the LM-only entry points' arguments (understandMusic, createSample, formatSample) made
// before any model runs: every option typed and known, user metadata in the ranges the LM's
// vocabulary allows. Each failure is a ParamError naming the option.
import { ParamError } from '../params.js';
import {
  BPM_RANGE,
  DEFAULT_MAX_DURATION,
  DURATION_MIN,
  isUnsetMeta,
  parseKeyscale,
  parseTimeSignature,
  TIME_SIGNATURE_FORMS,
  VALID_LANGUAGES,
} from './music-vocabulary.js';

type Kind = 'number' | 'number or null' | 'boolean' | 'function' | 'signal';

/** The options the LM tasks read, by type; anything else (e.g. cfgScale: the tasks run without CFG) is refused. */
const LM_CALL_OPTIONS: Record<string, Kind> = {
  temperature: 'number',
  topK: 'number or null',
  topP: 'number or null',
  repetitionPenalty: 'number',
  seed: 'number',
  useConstrainedDecoding: 'boolean',
  constrainedDecodingDebug: 'boolean',
  onDebug: 'function',
  signal: 'signal',
  onToken: 'function',
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Refuses unknown options and options of the wrong type (a string "0.5" for topP included). */
export function checkLmCallOptions(o: unknown): void {
  if (o === undefined) return;
  if (!isPlainObject(o)) throw new ParamError('options', `must be an object, got ${o === null ? 'null' : typeof o}`);
  for (const [k, v] of Object.entries(o)) {
    const kind = LM_CALL_OPTIONS[k];
    if (!kind) throw new ParamError(k, `is not an option of the LM tasks (they take ${Object.keys(LM_CALL_OPTIONS).join(', ')})`);
    if (v === undefined || (v === null && kind === 'number or null')) continue;
    const ok =
      kind === 'number' || kind === 'number or null'
        ? typeof v === 'number' && Number.isFinite(v)
        : kind === 'signal'
          ? v instanceof AbortSignal
          : typeof v === kind;
    if (!ok)
      throw new ParamError(
        k,
        `must be ${kind === 'number' ? 'a finite number' : kind === 'number or null' ? 'a finite number or null' : kind === 'signal' ? 'an AbortSignal' : `a ${kind}`}, got ${JSON.stringify(v) ?? typeof v}`,
      );
  }
}

const USER_METADATA_KEYS = ['bpm', 'duration', 'keyscale', 'timesignature', 'language'];

/** A number, or a string holding one (form input); null when absent. */
function numeric(field: string, v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const x = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : NaN;
  if (!Number.isFinite(x)) throw new ParamError(field, `must be a number, got ${JSON.stringify(v)}`);
  return x;
}

/** formatSample's fixed metadata: each field within what the LM can write, unknown fields refused. */
export function checkUserMetadata(m: unknown): void {
  if (m === undefined || m === null) return;
  if (!isPlainObject(m)) throw new ParamError('userMetadata', `must be an object, got ${typeof m}`);
  for (const k of Object.keys(m)) {
    if (!USER_METADATA_KEYS.includes(k))
      throw new ParamError(`userMetadata.${k}`, `is not a metadata field (${USER_METADATA_KEYS.join(', ')})`);
  }
  const bpm = numeric('userMetadata.bpm', m.bpm);
  if (bpm !== null && !(Number.isInteger(bpm) && bpm >= BPM_RANGE[0] && bpm <= BPM_RANGE[1]))
    throw new ParamError('userMetadata.bpm', `must be an integer in [${BPM_RANGE[0]}, ${BPM_RANGE[1]}], got ${JSON.stringify(m.bpm)}`);
  const d = numeric('userMetadata.duration', m.duration);
  if (d !== null && !(d >= DURATION_MIN && d <= DEFAULT_MAX_DURATION))
    throw new ParamError(
      'userMetadata.duration',
      `must be in [${DURATION_MIN}, ${DEFAULT_MAX_DURATION}] seconds, got ${JSON.stringify(m.duration)}`,
    );
  // Keys and time signatures in every form generateMusic accepts; languages in any case.
  const text = (k: string, valid: (v: string) => boolean, what: string) => {
    const v = typeof m[k] === 'number' ? String(m[k]) : m[k];
    if (v === undefined || v === null || v === '') return;
    if (typeof v !== 'string' || !(isUnsetMeta(v) || valid(v)))
      throw new ParamError(`userMetadata.${k}`, `must be ${what}, got ${JSON.stringify(v)}`);
  };
  text('keyscale', (v) => parseKeyscale(v) !== null, 'a key like "C major", "Am" or "F# minor"');
  text('timesignature', (v) => parseTimeSignature(v) !== null, `one of ${TIME_SIGNATURE_FORMS.join(', ')}`);
  text('language', (v) => VALID_LANGUAGES.includes(v.trim().toLowerCase()), 'a language code (en, zh, ja, ...) or unknown');
}
