// AceStepConditionEncoder (UPSTREAM.md: Condition encoder, test/fixtures/golden/README.md): turns
// the caption hidden states, the lyric embeddings and the reference-audio latents into the packed
// `encoder_hidden_states` the DiT cross-attends to. Text projector, lyric encoder (padding mask as
// key mask), timbre encoder (2B: frame 0 of each reference; XL: a prepended special token's
// output), timbre unpacking per batch item, then packing [lyrics | timbre | text] with valid tokens
// first.
import { ShapeError } from '../runtime/errors.js';
import { concat, DisposableStack, embedding, tap, tapping, tidy, Tensor, type Device } from '../runtime/index.js';
import { f32Param, type AceStepConfig } from './acestep-config.js';
import { EncoderStack } from './acestep-encoder.js';
import { Linear, modelDevice, type Weights } from './layers.js';

export interface ConditionInputs {
  /** Caption states from the text encoder `[B, Lt, text_hidden_dim]`. */
  textHiddenStates: Tensor;
  /** `[B, Lt]` 1 = real token (a tensor of any dtype or host values). */
  textAttentionMask: Tensor | ArrayLike<number>;
  /** Lyric token embeddings `[B, Ll, text_hidden_dim]` (text-encoder embedding table only). */
  lyricHiddenStates: Tensor;
  lyricAttentionMask: Tensor | ArrayLike<number>;
  /**
   * `encodeLyrics(lyricHiddenStates, lyricAttentionMask)` `[B, Ll, H_enc]` when the caller already
   * has it (a cover's two condition sets share one): the lyric encoder is skipped.
   */
  lyricEncoded?: Tensor;
  /** Reference latents of every reference, packed over the batch: `[N, T, timbre_hidden_dim]`. */
  referAcoustic: Tensor;
  /** Batch item of each reference `[N]` (references of one item keep their order). */
  referOrder: Tensor | ArrayLike<number>;
  /**
   * `encodeTimbre(referAcoustic)` `[N, H_enc]` when the caller already has it (the engine keeps the
   * silence reference's; a cover's two condition sets share one): the timbre encoder is skipped.
   */
  referTimbre?: Tensor;
}

export interface ConditionOutputs {
  /** `[B, S, encoder_hidden_size]`, S = Ll + maxRefs + Lt, valid tokens first per row. */
  encoderHiddenStates: Tensor;
  /** `[B, S]` i32 1 = valid (the first `count` positions of each row). */
  encoderAttentionMask: Tensor;
  /** Valid token count per row. */
  validCounts: number[];
}

async function hostValues(x: Tensor | ArrayLike<number>): Promise<Float64Array> {
  if (x instanceof Tensor) {
    const d = await x.toFloat32IfFloat();
    return Float64Array.from(d as ArrayLike<number | bigint>, Number);
  }
  return Float64Array.from(x);
}

/**
 * Per-row gather order of upstream `pack_sequences`: concatenate, then a stable descending sort
 * of the mask (valid tokens keep their order and come first, pads follow in their order).
 * `masks[k]` is `[B, len_k]` row-major; returns the permutation into the concatenation and the
 * packed mask (1 on the first sum(mask) positions).
 */
export function packOrder(
  masks: { data: ArrayLike<number>; len: number }[],
  batch: number,
): { order: Int32Array; mask: Uint8Array; total: number } {
  const total = masks.reduce((s, m) => s + m.len, 0);
  const order = new Int32Array(batch * total);
  const mask = new Uint8Array(batch * total);
  for (let b = 0; b < batch; b++) {
    const valid: number[] = [];
    const pads: number[] = [];
    let at = 0;
    for (const m of masks) {
      for (let i = 0; i < m.len; i++) (m.data[b * m.len + i] !== 0 ? valid : pads).push(at + i);
      at += m.len;
    }
    const row = valid.concat(pads);
    for (let i = 0; i < total; i++) {
      order[b * total + i] = row[i];
      mask[b * total + i] = i < valid.length ? 1 : 0;
    }
  }
  return { order, mask, total };
}

/** Gathers rows: `x [B, L, H]`, `order [B, L']` indices into L -> `[B, L', H]`. */
function gatherRows(x: Tensor, order: Int32Array, outLen: number): Tensor {
  const [b, l, h] = x.shape;
  const flat = x.contiguous().reshape([b * l, h]);
  const ids = new Int32Array(b * outLen);
  for (let i = 0; i < b; i++) for (let j = 0; j < outLen; j++) ids[i * outLen + j] = i * l + order[i * outLen + j];
  return embedding(flat, Tensor.fromArray(ids, [b, outLen], { dtype: 'i32', device: x.device }));
}

export class ConditionEncoder {
  readonly textProjector: Linear;
  readonly lyricEmbed: Linear;
  readonly lyricEncoder: EncoderStack;
  readonly timbreEmbed: Linear;
  readonly timbreEncoder: EncoderStack;
  /** XL only: the CLS token prepended to each reference `[1, 1, H_enc]`. */
  readonly timbreSpecialToken: Tensor | null;

  /** The device the weights live on (modelDevice: the default backend unless given). */
  readonly device: Device;

  /** `w` is the checkpoint root (tensors `encoder.*`). */
  constructor(
    w: Weights,
    readonly cfg: AceStepConfig,
    device?: Device,
  ) {
    this.device = device = modelDevice(device);
    // A failure part-way frees what was built (the stack is emptied once everything loaded).
    using built = new DisposableStack();
    const e = w.sub('encoder');
    const h = cfg.encoderHiddenSize;
    this.textProjector = built.use(
      new Linear(e.sub('text_projector'), { inFeatures: cfg.textHiddenDim, outFeatures: h, bias: false, device }),
    );
    this.lyricEmbed = built.use(new Linear(e.sub('lyric_encoder.embed_tokens'), { inFeatures: cfg.textHiddenDim, outFeatures: h, device }));
    this.lyricEncoder = built.use(new EncoderStack(e.sub('lyric_encoder'), cfg, cfg.numLyricEncoderHiddenLayers, device));
    this.timbreEmbed = built.use(
      new Linear(e.sub('timbre_encoder.embed_tokens'), { inFeatures: cfg.timbreHiddenDim, outFeatures: h, device }),
    );
    this.timbreEncoder = built.use(new EncoderStack(e.sub('timbre_encoder'), cfg, cfg.numTimbreEncoderHiddenLayers, device));
    this.timbreSpecialToken = cfg.isXL ? built.use(f32Param(e, 'timbre_encoder.special_token', [1, 1, h], device)) : null;
    built.move();
  }

  /** Lyric encoder: `[B, Ll, text_hidden_dim]` -> `[B, Ll, H_enc]`; pads are masked as keys only. */
  encodeLyrics(lyric: Tensor, keyMask: ArrayLike<number>): Tensor {
    return tidy(() => this.lyricEncoder.forward(this.lyricEmbed.forward(lyric), keyMask));
  }

  /**
   * Timbre encoder: `[N, T, timbre_hidden_dim]` -> one embedding per reference `[N, H_enc]`, row 0
   * of the final norm (2B: frame 0; XL: the prepended token). Only that row is computed in the last
   * layer; the whole normed sequence is computed for a tap listener (the golden runner) alone.
   */
  encodeTimbre(refs: Tensor): Tensor {
    return tidy(() => {
      let h = this.timbreEmbed.forward(refs);
      if (this.timbreSpecialToken) {
        const cls = this.timbreSpecialToken.expand([refs.shape[0], 1, this.cfg.encoderHiddenSize]);
        h = concat([cls, h], 1);
      }
      if (tapping()) tap('encoder.timbre_encoder.norm', this.timbreEncoder.forward(h));
      return this.timbreEncoder.forwardFirstRow(h);
    });
  }

  async forward(inp: ConditionInputs): Promise<ConditionOutputs> {
    const { textHiddenStates: text, lyricHiddenStates: lyric, referAcoustic: refs } = inp;
    if (text.ndim !== 3 || text.shape[2] !== this.cfg.textHiddenDim) {
      throw new ShapeError(
        `ConditionEncoder: text hidden states must be [B, Lt, ${this.cfg.textHiddenDim}], got [${text.shape.join(',')}]`,
      );
    }
    if (lyric.ndim !== 3 || lyric.shape[2] !== this.cfg.textHiddenDim || lyric.shape[0] !== text.shape[0]) {
      throw new ShapeError(
        `ConditionEncoder: lyric hidden states must be [${text.shape[0]}, Ll, ${this.cfg.textHiddenDim}], got [${lyric.shape.join(',')}]`,
      );
    }
    if (refs.ndim !== 3 || refs.shape[2] !== this.cfg.timbreHiddenDim || refs.shape[0] < 1) {
      throw new ShapeError(
        `ConditionEncoder: reference latents must be [N>=1, T, ${this.cfg.timbreHiddenDim}], got [${refs.shape.join(',')}]`,
      );
    }
    const [batch, lt] = text.shape;
    const ll = lyric.shape[1];
    const textMask = await hostValues(inp.textAttentionMask);
    const lyricMask = await hostValues(inp.lyricAttentionMask);
    const order = await hostValues(inp.referOrder);
    if (textMask.length !== batch * lt)
      throw new ShapeError(`ConditionEncoder: text mask has ${textMask.length} values, expected ${batch}x${lt}`);
    if (lyricMask.length !== batch * ll)
      throw new ShapeError(`ConditionEncoder: lyric mask has ${lyricMask.length} values, expected ${batch}x${ll}`);
    if (order.length !== refs.shape[0])
      throw new ShapeError(`ConditionEncoder: refer order has ${order.length} entries for ${refs.shape[0]} references`);
    const le = inp.lyricEncoded;
    if (le && (le.ndim !== 3 || le.shape[0] !== batch || le.shape[1] !== ll || le.shape[2] !== this.cfg.encoderHiddenSize)) {
      throw new ShapeError(
        `ConditionEncoder: lyric encoding must be [${batch}, ${ll}, ${this.cfg.encoderHiddenSize}], got [${le.shape.join(',')}]`,
      );
    }
    const rt = inp.referTimbre;
    if (rt && (rt.ndim !== 2 || rt.shape[0] !== refs.shape[0] || rt.shape[1] !== this.cfg.encoderHiddenSize)) {
      throw new ShapeError(
        `ConditionEncoder: refer timbre must be [${refs.shape[0]}, ${this.cfg.encoderHiddenSize}], got [${rt.shape.join(',')}]`,
      );
    }
    const groups: number[][] = Array.from({ length: batch }, () => []);
    order.forEach((b, n) => {
      if (!Number.isInteger(b) || b < 0 || b >= batch)
        throw new ShapeError(`ConditionEncoder: reference ${n} belongs to batch item ${b}, outside [0, ${batch})`);
      groups[b].push(n);
    });
    const maxRefs = Math.max(...groups.map((g) => g.length));
    const hEnc = this.cfg.encoderHiddenSize;
    const dev = text.device;

    return tidy(() => {
      const textProj = tap('encoder.text_projector', this.textProjector.forward(text));
      const lyricOut = tap('encoder.lyric_encoder', le ?? this.encodeLyrics(lyric, lyricMask));

      // Unpack the per-reference embeddings to [B, maxRefs, H] (missing slots are zero, mask 0)
      // by gathering from [embeddings; zero row].
      const timbre = rt ?? this.encodeTimbre(refs);
      const table = concat([timbre, Tensor.zeros([1, hEnc], 'f32', dev)], 0);
      const nRefs = refs.shape[0];
      const ids = new Int32Array(batch * maxRefs).fill(nRefs);
      const timbreMask = new Uint8Array(batch * maxRefs);
      groups.forEach((g, b) =>
        g.forEach((n, j) => {
          ids[b * maxRefs + j] = n;
          timbreMask[b * maxRefs + j] = 1;
        }),
      );
      const timbreUnpack = tap(
        'encoder.timbre_encoder:timbre_embs_unpack',
        embedding(table, Tensor.fromArray(ids, [batch, maxRefs], { dtype: 'i32', device: dev })),
      );
      tap(
        'encoder.timbre_encoder:timbre_embs_mask',
        Tensor.fromArray(Int32Array.from(timbreMask), [batch, maxRefs], { dtype: 'i32', device: dev }),
      );

      const packed = packOrder(
        [
          { data: lyricMask, len: ll },
          { data: timbreMask, len: maxRefs },
          { data: textMask, len: lt },
        ],
        batch,
      );
      const all = concat([lyricOut, timbreUnpack, textProj], 1);
      const encoderHiddenStates = gatherRows(all, packed.order, packed.total);
      const validCounts = Array.from({ length: batch }, (_, b) =>
        packed.mask.subarray(b * packed.total, (b + 1) * packed.total).reduce((s, v) => s + v, 0),
      );
      const encoderAttentionMask = Tensor.fromArray(Int32Array.from(packed.mask), [batch, packed.total], { dtype: 'i32', device: dev });
      return { encoderHiddenStates, encoderAttentionMask, validCounts };
    });
  }

  dispose(): void {
    for (const m of [this.textProjector, this.lyricEmbed, this.lyricEncoder, this.timbreEmbed, this.timbreEncoder]) m.dispose();
    this.timbreSpecialToken?.dispose();
  }
}
