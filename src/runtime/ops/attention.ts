// Scaled dot-product attention ([B, T, H, D] layout) with GQA, causal/KV-cache offsets, a
// bidirectional sliding window and a key padding mask. Softmax is fp32; see kernels/cpu/attention.h.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { precisionCode, type MatmulPrecision } from './matmul.js';

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
  /**
   * 'fp32' (default): exact f32 products. 'bf16': the scaled queries, K, V and the probabilities
   * enter QK^T and P·V rounded to bf16, with f32 accumulation and an f32 softmax (vdpbf16ps on CPUs
   * with avx512_bf16; kernels/cpu/attention.h states the bounds).
   */
  precision?: MatmulPrecision;
}

/**
 * q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D] -> [B, Tq, Hq, D] f32; K and V are read as f32, or as bf16
 * when both are bf16 (a bf16 KV cache). Query head h uses kv head
 * floor(h / (Hq / Hkv)); a query that sees no key outputs zeros. K/V may be strided views into a
 * larger cache as long as the head dim has unit stride. Shapes, dtypes and devices are checked by
 * the native glue (native/ops_attention.cc).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const D = q.shape[3];
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  // The native call encodes "no window" as -1, so a negative window has no meaning here.
  const window = opts.window ?? -1;
  const precision = precisionCode(opts, 'attention');
  if (opts.window !== undefined && (!Number.isInteger(window) || window < 0)) {
    throw new ShapeError(`attention: window must be a non-negative integer, got ${opts.window}`);
  }
  // The kernels read rows with unit stride in D: f32 q, and f32 K/V or both bf16 (a bf16 KV cache,
  // read as it is). Anything else is converted once here.
  const kvDtype = k.dtype === 'bf16' && v.dtype === 'bf16' ? 'bf16' : 'f32';
  const prep = (t: Tensor, dtype: 'f32' | 'bf16') => (t.dtype !== dtype ? t.to(dtype) : t.strides[3] !== 1 && D > 1 ? t.contiguous() : t);
  const qq = prep(q, 'f32'),
    kk = prep(k, kvDtype),
    vv = prep(v, kvDtype);
  const out = Tensor.empty(q.shape, 'f32', q.device);
  const mask = opts.keyMask;
  try {
    native.attention(
      qq.desc(),
      kk.desc(),
      vv.desc(),
      mask ? mask.desc() : null,
      out.desc(),
      scale,
      opts.causal ?? false,
      opts.qOffset ?? 0,
      window,
      precision,
    );
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
