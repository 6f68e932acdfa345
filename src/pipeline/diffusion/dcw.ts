// DCW, the wavelet latent correction applied after each sampler step (UPSTREAM.md: DCW). Only the
// single-level Haar transform along time is supported; for Haar the DWT → scale → IDWT chain
// reduces to a closed form on frame pairs (2n, 2n+1), with an odd last frame paired with zero.
import { SamplerConfigError } from './sampler-errors.js';

const f32 = Math.fround;

export type DcwMode = 'low' | 'high' | 'double';

export interface DcwOptions {
  /** Which band(s) to correct (upstream default 'double'). */
  mode?: DcwMode;
  /** Low-band weight per unit t (default 0.05; the applied weight is t·scaler). */
  scaler?: number;
  /** High-band weight per unit (1 − t) (default 0.02). */
  highScaler?: number;
}

/**
 * In place: d = xNext − denoised; per frame pair m = (d0+d1)/2, h = (d0−d1)/2;
 * xNext[2n] += sL·m + sH·h and xNext[2n+1] += sL·m − sH·h, sL = t·scaler, sH = (1−t)·highScaler
 * (a band that the mode leaves out gets weight 0).
 */
export function applyDcw(
  xNext: Float32Array,
  denoised: Float32Array,
  shape: readonly [number, number, number],
  t: number,
  opts: DcwOptions = {},
): void {
  const mode = opts.mode ?? 'double';
  if (mode !== 'low' && mode !== 'high' && mode !== 'double') {
    throw new SamplerConfigError('dcw.mode', `must be 'low', 'high' or 'double', got '${String(mode)}'`);
  }
  const [B, T, C] = shape;
  const sL = mode === 'high' ? 0 : t * (opts.scaler ?? 0.05);
  const sH = mode === 'low' ? 0 : (1 - t) * (opts.highScaler ?? 0.02);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < T; n += 2) {
      const i0 = (b * T + n) * C;
      const pair = n + 1 < T;
      const i1 = i0 + C;
      for (let c = 0; c < C; c++) {
        const d0 = xNext[i0 + c] - denoised[i0 + c];
        const d1 = pair ? xNext[i1 + c] - denoised[i1 + c] : 0;
        const m = (d0 + d1) / 2,
          h = (d0 - d1) / 2;
        xNext[i0 + c] = f32(xNext[i0 + c] + sL * m + sH * h);
        if (pair) xNext[i1 + c] = f32(xNext[i1 + c] + sL * m - sH * h);
      }
    }
  }
}
