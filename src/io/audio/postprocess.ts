// Output post-processing of generated audio, in the upstream order (spec section 17): the handler
// limits each decoded item to peak 1; the library then peak-normalises to a dB target and applies
// linear fades. Also the deterministic output file key derived from the generation parameters.
import { createHash } from 'node:crypto';

function peakOf(channels: Float32Array[]): number {
  let peak = 0;
  for (const c of channels) {
    for (let i = 0; i < c.length; i++) {
      const a = Math.abs(c[i]);
      if (a > peak || Number.isNaN(a)) peak = a;
    }
  }
  return peak;
}

function scaleInPlace(channels: Float32Array[], gain: number): void {
  for (const c of channels) for (let i = 0; i < c.length; i++) c[i] *= gain;
}

/**
 * Handler stage: if an item's peak exceeds 1, divide the item (all its channels) by the peak.
 * Works in place on one item and returns it.
 */
export function limitPeak(channels: Float32Array[]): Float32Array[] {
  const peak = peakOf(channels);
  if (peak > 1) {
    // Divide rather than multiply by 1/peak: same rounding as the upstream `x / peak`.
    for (const c of channels) for (let i = 0; i < c.length; i++) c[i] /= peak;
  }
  return channels;
}

/**
 * Peak normalisation to `db` dBFS (default -1) over all channels of one item, in place:
 * gain = 10^(db/20) / peak. Audio whose peak is below 1e-6 is returned unchanged.
 */
export function normalizePeak(channels: Float32Array[], db = -1): Float32Array[] {
  const peak = peakOf(channels);
  if (!(peak >= 1e-6)) return channels;
  scaleInPlace(channels, 10 ** (db / 20) / peak);
  return channels;
}

/** linspace(a, b, n) with both end points, in float32 like torch.linspace. */
function linspace(a: number, b: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) out[0] = a;
  const step = (b - a) / (n - 1);
  // torch fills the first half from `a` and the second half back from `b`, keeping both ends exact.
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i);
  return out;
}

/**
 * Linear fades in place: the first round(fadeIn * rate) samples are multiplied by
 * linspace(0, 1, n), the last round(fadeOut * rate) by linspace(1, 0, n). A fade longer than
 * the audio is cut to the audio's length.
 */
export function applyFades(channels: Float32Array[], sampleRate: number, fadeInSeconds = 0, fadeOutSeconds = 0): Float32Array[] {
  const len = channels.length ? channels[0].length : 0;
  const nIn = Math.min(len, Math.round(fadeInSeconds * sampleRate));
  const nOut = Math.min(len, Math.round(fadeOutSeconds * sampleRate));
  if (nIn > 0) {
    const ramp = linspace(0, 1, nIn);
    for (const c of channels) for (let i = 0; i < nIn; i++) c[i] *= ramp[i];
  }
  if (nOut > 0) {
    const ramp = linspace(1, 0, nOut);
    for (const c of channels) for (let i = 0; i < nOut; i++) c[len - nOut + i] *= ramp[i];
  }
  return channels;
}

/** Python's repr of a float, as json.dumps writes it (1.0, 1e-05, 1e+16, inf is not JSON). */
function pyFloat(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`cannot write ${v} as JSON`);
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return Object.is(v, -0) ? '-0.0' : `${v}.0`;
  const abs = Math.abs(v);
  if (abs >= 1e-4 && abs < 1e16) return String(v);
  // Python switches to exponent form outside [1e-4, 1e16) and pads the exponent to two digits.
  const [mant, exp] = v.toExponential().split('e');
  const e = Number(exp);
  return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * json.dumps(value, sort_keys=True, ensure_ascii=False) with Python's separators. JS has one
 * number type, so numbers that are Python floats must be wrapped in PyFloat (or named in
 * `floatKeys`, applied at any depth); other numbers are written as integers.
 */
export function pythonJsonDumps(value: unknown, floatKeys: ReadonlySet<string> = new Set()): string {
  const enc = (v: unknown, key: string | null): string => {
    if (v === null || v === undefined) return 'null';
    if (v instanceof PyFloat) return pyFloat(v.value);
    if (typeof v === 'number') {
      if (key !== null && floatKeys.has(key)) return pyFloat(v);
      if (!Number.isInteger(v)) return pyFloat(v);
      return String(v);
    }
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'string') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map((x) => enc(x, key)).join(', ')}]`;
    if (typeof v === 'object') {
      // sort_keys compares code points; JS sort compares UTF-16 units: the same order outside
      // the astral planes, which parameter names never use.
      const keys = Object.keys(v as object).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}: ${enc((v as Record<string, unknown>)[k], k)}`).join(', ')}}`;
    }
    throw new TypeError(`cannot write a ${typeof v} as JSON`);
  };
  return enc(value, null);
}

/** The output file key: sha256 of the parameters' JSON, first 32 hex digits as 8-4-4-4-12. */
export function keyFromParams(params: Record<string, unknown>, floatKeys?: ReadonlySet<string>): string {
  const h = createHash('sha256').update(pythonJsonDumps(params, floatKeys), 'utf8').digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
