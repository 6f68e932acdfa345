// Declarative reading of a model folder's config.json (as candle's serde `Config` structs): a
// config type is a table of fields, each naming its JSON key, the values it accepts and its default
// (a constant, or derived from the fields read before it). One reader checks every field and names
// the file and key in its CheckpointError; cross-field rules stay with each model's parser.
import { CheckpointError } from './errors.js';

/** A value a field rejects; `message` replaces the generic one (e.g. to name a list element). */
class Invalid {
  constructor(readonly message: string | null = null) {}
}
const INVALID = new Invalid();

/** One config.json field of type T. */
export interface ConfigField<T> {
  /** The config.json key. */
  key: string;
  /** What the field accepts, for error messages ("a positive integer"). */
  expected: string;
  /** The typed value, or Invalid. */
  parse(v: unknown): T | Invalid;
  /**
   * The value when the key is absent or null: a constant, or derived from the fields read before
   * it and the raw JSON (undefined = the key is required in this case). No fallback = required.
   */
  fallback?: T | ((read: Record<string, unknown>, json: Record<string, unknown>) => T | undefined);
}

type Fallback<T> = ConfigField<T>['fallback'];

/** The typed config a field table describes. */
export type ConfigOf<S extends Record<string, ConfigField<unknown>>> = { [K in keyof S]: S[K] extends ConfigField<infer T> ? T : never };

function field<T>(key: string, expected: string, parse: ConfigField<T>['parse'], fallback?: Fallback<T>): ConfigField<T> {
  return { key, expected, parse, fallback };
}

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** An integer >= 1. */
export function posInt(key: string, fallback?: Fallback<number>): ConfigField<number> {
  return field(key, 'a positive integer', (v) => (isInt(v, 1) ? v : INVALID), fallback);
}

/** A number > 0. */
export function posNumber(key: string, fallback?: Fallback<number>): ConfigField<number> {
  return field(key, 'a positive number', (v) => (typeof v === 'number' && v > 0 ? v : INVALID), fallback);
}

/** Any finite number. */
export function finite(key: string, fallback?: Fallback<number>): ConfigField<number> {
  return field(key, 'a number', (v) => (typeof v === 'number' && Number.isFinite(v) ? v : INVALID), fallback);
}

/** A JSON boolean. */
export function flag(key: string, fallback: boolean): ConfigField<boolean> {
  return field(key, 'true or false', (v) => (typeof v === 'boolean' ? v : INVALID), fallback);
}

/** A string, or null when absent or not a string (informational keys such as torch_dtype). */
export function optString(key: string): ConfigField<string | null> {
  return field(key, 'a string', (v) => (typeof v === 'string' ? v : null), null);
}

/** The field, or null when the key is absent or null. */
export function optional<T>(f: ConfigField<T>): ConfigField<T | null> {
  return { ...f, fallback: null, parse: (v) => (v === null ? null : f.parse(v)) };
}

/** A non-empty list of integers >= min. */
export function intList(key: string, min: number, fallback?: Fallback<number[]>): ConfigField<number[]> {
  return field(
    key,
    `a non-empty list of integers >= ${min}`,
    (v) => (Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x, min)) ? (v as number[]) : INVALID),
    fallback,
  );
}

/** A list whose every element is one of `allowed`; the error names the first bad element. */
export function enumList<E extends string>(key: string, allowed: readonly E[], fallback?: Fallback<E[]>): ConfigField<E[]> {
  return field(
    key,
    `a list of ${allowed.map((a) => `'${a}'`).join(' | ')}`,
    (v) => {
      if (!Array.isArray(v)) return INVALID;
      const bad = v.findIndex((x) => !allowed.includes(x as E));
      return bad < 0
        ? (v as E[])
        : new Invalid(`config key '${key}[${bad}]' must be one of ${allowed.join(', ')}, got ${JSON.stringify(v[bad])}`);
    },
    fallback,
  );
}

/**
 * Reads every field of `spec` from `json` in table order; `source` (the config.json path) names
 * the file in errors. A default is checked like a value read from the file.
 */
export function readConfig<S extends Record<string, ConfigField<unknown>>>(
  json: Record<string, unknown>,
  spec: S,
  source: string,
): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(spec)) {
    const raw = json[f.key];
    let v: unknown = raw;
    const absent = raw === undefined || raw === null;
    if (absent) {
      v =
        typeof f.fallback === 'function'
          ? (f.fallback as (r: Record<string, unknown>, j: Record<string, unknown>) => unknown)(out, json)
          : f.fallback;
      if (v === undefined) throw new CheckpointError(`config lacks '${f.key}'`, source);
    }
    const parsed = f.parse(v);
    if (parsed instanceof Invalid) {
      const why =
        parsed.message ??
        `config key '${f.key}' must be ${f.expected}, got ${JSON.stringify(v)}${absent ? ' (derived: the key is absent)' : ''}`;
      throw new CheckpointError(why, source);
    }
    out[name] = parsed;
  }
  return out as ConfigOf<S>;
}
