// The bidirectional pre-norm encoder stack ACE-Step uses four times (lyric encoder, timbre encoder,
// attention pooler, detokenizer; UPSTREAM.md: Condition encoder, Audio tokenizer): N Qwen3-style
// layers with RoPE positions 0..T-1, the sliding window on the layers the config marks "sliding",
// an optional key padding mask, and a final RMSNorm. The caller does the per-stack embedding and
// token handling.
//
// Upstream combines window and padding into one additive mask filled with finfo(f32).min, so a
// query whose window holds only padding keys scores every key equally and averages the values of
// all keys (UPSTREAM.md: Transformer blocks). Padded lyric rows do that, and they reach the DiT
// through packing; the attention op returns zeros for such rows, so those rows are patched here.
import { add, attention, mean, mul, rope, ropeTables, sub, tidy, Tensor, type Device } from '../runtime/index.js';
import { ShapeError } from '../runtime/errors.js';
import { isSlidingLayer, type AceStepConfig } from './acestep-config.js';
import { DecoderLayer, RMSNorm, type RopeTables, type Weights } from './layers.js';

/**
 * `[B, T]` 1 where query i sees no key: no nonzero keyMask[j] with |i-j| <= window (any j when
 * window is undefined). Null when every row sees a key.
 */
export function rowsWithoutKeys(keyMask: ArrayLike<number>, batch: number, t: number, window?: number): Float32Array | null {
  const out = new Float32Array(batch * t);
  let any = false;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < t; i++) {
      const lo = window === undefined ? 0 : Math.max(0, i - window);
      const hi = window === undefined ? t - 1 : Math.min(t - 1, i + window);
      let seen = false;
      for (let j = lo; j <= hi && !seen; j++) seen = keyMask[b * t + j] !== 0;
      if (!seen) {
        out[b * t + i] = 1;
        any = true;
      }
    }
  }
  return any ? out : null;
}

/** DecoderLayer.forward with the rows flagged in `rows [B, T]` replaced by the mean of all values. */
function layerWithUniformRows(
  layer: DecoderLayer,
  x: Tensor,
  rt: RopeTables,
  window: number | undefined,
  keyMask: Tensor,
  rows: Tensor,
): Tensor {
  return tidy(() => {
    const a = layer.attn;
    const [b, t] = x.shape;
    const n = layer.inputNorm.forward(x);
    let q = a.q.forward(n).reshape([b, t, a.numHeads, a.headDim]);
    if (a.qNorm) q = a.qNorm.forward(q);
    const { k, v } = a.projectKV(n, rt);
    let o = attention(rope(q, rt.cos, rt.sin), k, v, { window, keyMask, precision: a.precision });
    const g = a.numHeads / a.numKvHeads;
    const meanV = mean(v, 1, true)
      .reshape([b, 1, a.numKvHeads, 1, a.headDim])
      .expand([b, 1, a.numKvHeads, g, a.headDim])
      .reshape([b, 1, a.numHeads, a.headDim]);
    o = add(o, mul(rows.reshape([b, t, 1, 1]), sub(meanV, o)));
    const h = add(x, a.o.forward(o.reshape([b, t, a.numHeads * a.headDim])));
    return add(h, layer.mlp.forward(layer.postNorm.forward(h)));
  });
}

/**
 * Query rows computed by the last layer when only row 0 is read: a block of 16 keeps the GEMMs and
 * the attention on the same blocked kernels as the full sequence (single rows take the GEMV and
 * decode paths, which sum in another order), so row 0 is bit-identical to the full layer's.
 */
const FIRST_ROW_BLOCK = 16;

/**
 * DecoderLayer.forward for the first `rows` query rows: keys and values come from every row, the
 * query, output projection and MLP run on those rows. `[B, T, H]` -> `[B, rows, H]` (no key mask:
 * the callers that take one row mask no keys).
 */
function layerLeadingRows(layer: DecoderLayer, x: Tensor, rt: RopeTables, window: number | undefined, rows: number): Tensor {
  return tidy(() => {
    const a = layer.attn;
    const b = x.shape[0];
    const n = layer.inputNorm.forward(x);
    const { k, v } = a.projectKV(n, rt);
    let q = a.q.forward(n.narrow(1, 0, rows)).reshape([b, rows, a.numHeads, a.headDim]);
    if (a.qNorm) q = a.qNorm.forward(q);
    q = rope(q, rt.cos.narrow(0, 0, rows), rt.sin.narrow(0, 0, rows));
    const o = attention(q, k, v, { window, qOffset: 0, precision: a.precision });
    const h = add(x.narrow(1, 0, rows), a.o.forward(o.reshape([b, rows, a.numHeads * a.headDim])));
    return add(h, layer.mlp.forward(layer.postNorm.forward(h)));
  });
}

export class EncoderStack {
  readonly layers: DecoderLayer[];
  readonly norm: RMSNorm;

  /** `w` is the stack's prefix (e.g. `encoder.lyric_encoder`); widths are the encoder widths. */
  constructor(
    w: Weights,
    readonly cfg: AceStepConfig,
    numLayers: number,
    readonly device?: Device,
  ) {
    const hidden = cfg.encoderHiddenSize;
    this.layers = [];
    for (let i = 0; i < numLayers; i++) {
      this.layers.push(
        new DecoderLayer(w.sub(`layers.${i}`), {
          numHeads: cfg.encoderNumAttentionHeads,
          numKvHeads: cfg.encoderNumKeyValueHeads,
          headDim: cfg.headDim,
          eps: cfg.rmsNormEps,
          hidden,
          intermediate: cfg.encoderIntermediateSize,
          device,
        }),
      );
    }
    this.norm = new RMSNorm(w.sub('norm'), cfg.rmsNormEps, { dim: hidden, device });
  }

  /**
   * `h [B, T, H]` -> normed `[B, T, H]`. `keyMask` (host values `[B*T]`, nonzero = real token)
   * masks keys only: padded positions still get outputs.
   */
  forward(h: Tensor, keyMask?: ArrayLike<number>): Tensor {
    const [b, t] = h.shape;
    if (keyMask && keyMask.length !== b * t) throw new ShapeError(`EncoderStack: key mask has ${keyMask.length} values for [${b}, ${t}]`);
    return tidy(() => {
      const positions = Array.from({ length: t }, (_, i) => i);
      const rt = ropeTables(positions, this.cfg.headDim, this.cfg.ropeTheta, h.device);
      const maskT = keyMask ? Tensor.fromArray(Float32Array.from(keyMask), [b, t], { device: h.device }) : undefined;
      let x = h;
      this.layers.forEach((layer, i) => {
        const window = isSlidingLayer(this.cfg, i) ? this.cfg.slidingWindow! : undefined;
        const empty = keyMask ? rowsWithoutKeys(keyMask, b, t, window) : null;
        x = empty
          ? layerWithUniformRows(layer, x, rt, window, maskT!, Tensor.fromArray(empty, [b, t], { device: h.device }))
          : layer.forward(x, { rope: rt, window, keyMask: maskT });
      });
      return this.norm.forward(x);
    });
  }

  /**
   * Row 0 of `forward(h)` without a key mask, `[B, T, H]` -> `[B, H]`, bit-identical: the last layer
   * runs its query, output projection and MLP on the first FIRST_ROW_BLOCK rows only (the timbre
   * encoder reads nothing else; at T = 750 this skips ~23 % of a 4-layer stack).
   */
  forwardFirstRow(h: Tensor): Tensor {
    const [b, t, hidden] = h.shape;
    return tidy(() => {
      const positions = Array.from({ length: t }, (_, i) => i);
      const rt = ropeTables(positions, this.cfg.headDim, this.cfg.ropeTheta, h.device);
      const last = this.layers.length - 1;
      const rows = Math.min(t, FIRST_ROW_BLOCK);
      let x = h;
      this.layers.forEach((layer, i) => {
        const window = isSlidingLayer(this.cfg, i) ? this.cfg.slidingWindow! : undefined;
        x = i < last ? layer.forward(x, { rope: rt, window }) : layerLeadingRows(layer, x, rt, window, rows);
      });
      return this.norm.forward(x.narrow(1, 0, 1)).reshape([b, hidden]);
    });
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.norm.dispose();
  }
}
