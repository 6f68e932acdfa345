// Classifier-free guidance for the base/SFT samplers (UPSTREAM.md: Guidance): plain CFG, APG (momentum,
// norm threshold and projection along the time axis) and ADG (angle-based). They work on host
// Float32Arrays in the [B, T, C] layout: the latents are small next to a DiT forward, and APG/ADG
// need float64 projections and angles, which upstream computes in float64 too.

const f32 = Math.fround;

/** Latent layout [batch, frames, channels]. */
export type LatentShape = readonly [number, number, number];

/** v_u + w·(v_c − v_u). */
export function cfgCombineHost(vc: Float32Array, vu: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(vc.length);
  const w = f32(scale);
  for (let i = 0; i < out.length; i++) out[i] = f32(vu[i] + f32(w * f32(vc[i] - vu[i])));
  return out;
}

/** APG's running average: r ← d + m·r, starting from 0, kept for one generation. */
export class MomentumBuffer {
  private running: Float32Array | null = null;

  constructor(readonly momentum = -0.75) {}

  /** Folds in `diff` and returns the new running average (owned by the buffer). */
  update(diff: Float32Array): Float32Array {
    const prev = this.running;
    const next = new Float32Array(diff.length);
    const m = f32(this.momentum);
    for (let i = 0; i < diff.length; i++) next[i] = prev ? f32(diff[i] + f32(m * prev[i])) : diff[i];
    this.running = next;
    return next;
  }
}

export interface ApgOptions {
  momentum?: MomentumBuffer | null;
  /** The guidance difference is scaled down to at most this L2 norm over time (0: off). */
  normThreshold?: number;
  /** Weight of the component parallel to v_c (upstream default 0). */
  eta?: number;
}

/**
 * APG: d = v_c − v_u (through the momentum buffer), clipped to normThreshold in L2 over the time
 * axis per (item, channel); only the part of d orthogonal to v_c (again along time) is added:
 * v = v_c + (w − 1)·(d_orth + eta·d_par).
 */
export function apgCombine(vc: Float32Array, vu: Float32Array, shape: LatentShape, scale: number, opts: ApgOptions = {}): Float32Array {
  const [B, T, C] = shape;
  const threshold = opts.normThreshold ?? 2.5;
  const eta = opts.eta ?? 0;
  let d: Float32Array = new Float32Array(vc.length);
  for (let i = 0; i < d.length; i++) d[i] = f32(vc[i] - vu[i]);
  if (opts.momentum) d = opts.momentum.update(d);
  const out = new Float32Array(vc.length);
  const w1 = f32(scale - 1);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const base = b * T * C + c;
      let factor = 1;
      if (threshold > 0) {
        let ss = 0;
        for (let t = 0; t < T; t++) ss += d[base + t * C] ** 2;
        factor = Math.min(1, f32(threshold / f32(Math.sqrt(ss))));
      }
      let vv = 0;
      for (let t = 0; t < T; t++) vv += vc[base + t * C] ** 2;
      const inv = 1 / Math.max(Math.sqrt(vv), 1e-12);
      let dot = 0;
      for (let t = 0; t < T; t++) dot += f32(d[base + t * C] * factor) * vc[base + t * C] * inv;
      for (let t = 0; t < T; t++) {
        const i = base + t * C;
        const di = f32(d[i] * factor);
        const par = dot * vc[i] * inv;
        const upd = eta === 0 ? f32(di - par) : f32(f32(di - par) + f32(eta * f32(par)));
        out[i] = f32(vc[i] + f32(w1 * upd));
      }
    }
  }
  return out;
}

export interface AdgOptions {
  /** Largest angle the guided prediction may turn by (upstream default 3.14/6). */
  angleClip?: number;
}

/**
 * ADG: rotates the cond x0-prediction away from the uncond one by w'·θ (clipped), θ being their
 * per-frame angle over channels, w' = max(w − 1, 0) + 1e-3, and converts the result back to a
 * velocity at time t: v = (x − x0_new)/t. t must be > 0.
 */
export function adgCombine(
  x: Float32Array,
  vc: Float32Array,
  vu: Float32Array,
  shape: LatentShape,
  t: number,
  scale: number,
  opts: AdgOptions = {},
): Float32Array {
  const [B, T, C] = shape;
  const clip = opts.angleClip ?? 3.14 / 6;
  const w = Math.max(scale - 1, 0) + 1e-3;
  const sigma = f32(t);
  const out = new Float32Array(vc.length);
  const hc = new Float64Array(C),
    hu = new Float64Array(C),
    diff = new Float64Array(C);
  for (let f = 0; f < B * T; f++) {
    const o = f * C;
    let nc = 0,
      nu = 0,
      dotcu = 0,
      dotdu = 0;
    for (let c = 0; c < C; c++) {
      hc[c] = f32(x[o + c] - f32(sigma * vc[o + c]));
      hu[c] = f32(x[o + c] - f32(sigma * vu[o + c]));
      diff[c] = f32(hc[c] - hu[c]);
      nc += hc[c] * hc[c];
      nu += hu[c] * hu[c];
      dotcu += hc[c] * hu[c];
      dotdu += diff[c] * hu[c];
    }
    const cos = Math.min(Math.max(dotcu / (Math.sqrt(nc) * Math.sqrt(nu)), -1 + 1e-6), 1 - 1e-6);
    const theta = Math.acos(cos);
    const thetaNew = Math.min(Math.max(w * theta, -clip), clip);
    const sinT = Math.sin(theta);
    const perpScale = sinT > 1e-3 ? Math.sin(thetaNew) / sinT : w;
    const k = f32(f32(dotdu) / f32(f32(nu) + 1e-8));
    const cosNew = Math.cos(thetaNew);
    for (let c = 0; c < C; c++) {
      const perp = f32(diff[c] - f32(k * hu[c]));
      const xNew = cosNew * hc[c] + perp * perpScale;
      out[o + c] = f32((x[o + c] - xNew) / sigma);
    }
  }
  return out;
}
