// Scaled dot-product attention ([B, T, H, D] layout) with GQA, causal/KV-cache offsets, a
// bidirectional sliding window and a key padding mask. Softmax is fp32; see kernels/cpu/attention.h.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

export interface AttentionOptions {
  /** Score scale; default 1/sqrt(D). */
  scale?: number;
  /** Key j is visible to query i iff j <= i + qOffset. */
  causal?: boolean;
  /** Absolute position of query 0 (KV-cache decode). */
  qOffset?: number;
  /** Bidirectional sliding window: key j visible iff |i + qOffset - j| <= window. */
  window?: number;
  /** [B, Tk] u8|i32|i64|f32, nonzero = attend. */
  keyMask?: Tensor;
}

const fmt = (t: Tensor) => `[${t.shape.join(',')}]`;

/**
 * q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D] -> [B, Tq, Hq, D] f32. Query head h uses kv head
 * floor(h / (Hq / Hkv)); a query that sees no key outputs zeros. K/V may be strided views into a
 * larger cache as long as the head dim has unit stride.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.ndim !== 4) throw new ShapeError(`attention: ${name} must be [B, T, H, D], got ${fmt(t)}`);
  }
  const [B, Tq, Hq, D] = q.shape;
  const [, Tk, Hkv] = k.shape;
  if (k.shape[0] !== B || k.shape[3] !== D) throw new ShapeError(`attention: k ${fmt(k)} does not match q ${fmt(q)}`);
  if (v.shape.some((n, i) => n !== k.shape[i])) throw new ShapeError(`attention: v ${fmt(v)} does not match k ${fmt(k)}`);
  if (D === 0) throw new ShapeError('attention: head dim is 0');
  if (Hkv === 0 || Hq % Hkv !== 0) throw new ShapeError(`attention: ${Hq} query heads are not a multiple of ${Hkv} kv heads`);
  if (q.device !== k.device || q.device !== v.device) throw new ShapeError('attention: q, k, v on different devices');
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`attention: scale must be finite, got ${scale}`);
  const qOffset = opts.qOffset ?? 0;
  if (!Number.isInteger(qOffset)) throw new ShapeError(`attention: qOffset must be an integer, got ${qOffset}`);
  const window = opts.window ?? -1;
  if (opts.window !== undefined && (!Number.isInteger(window) || window < 0)) {
    throw new ShapeError(`attention: window must be a non-negative integer, got ${opts.window}`);
  }
  const mask = opts.keyMask;
  if (mask) {
    if (mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== Tk) {
      throw new ShapeError(`attention: keyMask must be [${B}, ${Tk}], got ${fmt(mask)}`);
    }
    if (mask.dtype === 'f16' || mask.dtype === 'bf16') throw new ShapeError(`attention: keyMask dtype ${mask.dtype} (use u8, i32, i64 or f32)`);
    if (mask.device !== q.device) throw new ShapeError('attention: keyMask on a different device');
  }
  // The kernel reads f32 rows with unit stride in D; anything else is converted once here.
  const prep = (t: Tensor) => (t.dtype !== 'f32' ? t.to('f32') : t.strides[3] !== 1 && D > 1 ? t.contiguous() : t);
  const qq = prep(q), kk = prep(k), vv = prep(v);
  const out = Tensor.empty([B, Tq, Hq, D], 'f32', q.device);
  try {
    native.attention(qq.desc(), kk.desc(), vv.desc(), mask ? mask.desc() : null, out.desc(), scale, opts.causal ?? false, qOffset, window);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (qq !== q) qq.dispose();
    if (kk !== k) kk.dispose();
    if (vv !== v) vv.dispose();
  }
  return out;
}
