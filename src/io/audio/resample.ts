// Band-limited sample-rate conversion by polyphase windowed-sinc filtering (exact rational ratio).
//
// Filter: Kaiser-windowed sinc, designed at the lower of the two rates (fmin). Passband up to
// 0.90 * fmin/2, stopband from fmin/2 (so nothing aliases around the new Nyquist), stopband
// attenuation 96 dB (Kaiser beta 9.62; passband ripple about 1.6e-5). About 125-135 taps per
// output sample. Samples outside the signal are zeros, like torchaudio's resampler; the output
// has ceil(n * out / in) samples. Each polyphase branch is normalised to unit DC gain.
//
// Rates with a large reduced ratio (44100 -> 48000 needs 160 branches, 8189 -> 48000 needs 48000)
// use a table of MAX_PHASES + 1 branches instead, interpolated linearly between the two nearest:
// the table stays small and quick to build whatever the rates, and the interpolation error (about
// 1e-6 of a coefficient's peak at 2048 phases) is far under the filter's 96 dB stopband. At most
// PLAN_CACHE_SIZE tables are kept.

const ATTENUATION_DB = 96;
const PASS_EDGE = 0.9; // fraction of the lower Nyquist frequency kept flat
const MAX_PHASES = 2048;
const PLAN_CACHE_SIZE = 8;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1,
    term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

interface Plan {
  up: number; // L: output rate / gcd
  down: number; // M: input rate / gcd
  taps: number; // coefficients per phase
  first: number; // input offset of tap 0 relative to floor(t)
  /** Branches in the table: L (exact), or MAX_PHASES + 1 rows interpolated between. */
  phases: number;
  interpolated: boolean;
  coefs: Float64Array; // [phases][taps]
}

const plans = new Map<string, Plan>();

function plan(inRate: number, outRate: number): Plan {
  const key = `${inRate}/${outRate}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const g = gcd(inRate, outRate);
  const up = outRate / g;
  const down = inRate / g;
  // Everything in input-sample units: cutoff (cycles per input sample) in the middle of the band.
  const nyq = Math.min(inRate, outRate) / 2;
  const cutoff = (((1 + PASS_EDGE) / 2) * nyq) / inRate;
  const transition = ((1 - PASS_EDGE) * nyq) / inRate;
  const beta = 0.1102 * (ATTENUATION_DB - 8.7);
  const length = (ATTENUATION_DB - 7.95) / (14.36 * transition); // Kaiser's estimate, in input samples
  const half = length / 2;
  const first = -Math.ceil(half);
  const taps = 2 * Math.ceil(half) + 2;
  const interpolated = up > MAX_PHASES;
  const phases = interpolated ? MAX_PHASES + 1 : up;
  const coefs = new Float64Array(phases * taps);
  const i0b = besselI0(beta);
  for (let p = 0; p < phases; p++) {
    const frac = p / (interpolated ? MAX_PHASES : up); // output time minus floor(output time), in input samples
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const t = frac - (first + j); // distance from input sample floor+first+j to the output time
      let h = 0;
      if (Math.abs(t) <= half) {
        const r = t / half;
        const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
        const x = 2 * cutoff * t;
        h = 2 * cutoff * (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x)) * w;
      }
      coefs[p * taps + j] = h;
      sum += h;
    }
    for (let j = 0; j < taps; j++) coefs[p * taps + j] /= sum;
  }
  const pl = { up, down, taps, first, phases, interpolated, coefs };
  if (plans.size >= PLAN_CACHE_SIZE) plans.delete(plans.keys().next().value!);
  plans.set(key, pl);
  return pl;
}

/** Resamples one channel from `inRate` to `outRate` (positive integers). */
export function resampleChannel(x: Float32Array, inRate: number, outRate: number): Float32Array {
  if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
    throw new RangeError(`resample: sample rates must be positive integers, got ${inRate} -> ${outRate}`);
  }
  if (inRate === outRate) return Float32Array.from(x);
  const pl = plan(inRate, outRate);
  const { up, down, taps, first } = pl;
  const n = x.length;
  const outLen = Math.ceil((n * up) / down);
  const y = new Float32Array(outLen);
  const row = pl.interpolated ? new Float64Array(taps) : null;
  for (let m = 0; m < outLen; m++) {
    const num = m * down;
    const base = Math.floor(num / up);
    const phase = num - base * up;
    let coefs = pl.coefs;
    let c0 = phase * taps;
    if (row) {
      // Between table rows k and k + 1: interpolate the branch for this phase.
      const pos = (phase / up) * MAX_PHASES;
      const k = Math.min(MAX_PHASES - 1, Math.floor(pos));
      const w = pos - k;
      for (let j = 0; j < taps; j++) row[j] = (1 - w) * pl.coefs[k * taps + j] + w * pl.coefs[(k + 1) * taps + j];
      coefs = row;
      c0 = 0;
    }
    const start = base + first;
    let acc = 0;
    if (start >= 0 && start + taps <= n) {
      for (let j = 0; j < taps; j++) acc += coefs[c0 + j] * x[start + j];
    } else {
      for (let j = 0; j < taps; j++) {
        const i = start + j;
        if (i >= 0 && i < n) acc += coefs[c0 + j] * x[i];
      }
    }
    y[m] = acc;
  }
  return y;
}
