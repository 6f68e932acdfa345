// The ACE-Step audio tokenizer and detokenizer (UPSTREAM.md: Audio tokenizer, the FSQ formula in
// test/fixtures/golden/README.md): 25 Hz VAE latents -> attention pooler -> residual FSQ (one
// quantizer) -> 5 Hz codes, and codes -> 25 Hz "LM hints" through the detokenizer. Also the
// `<|audio_code_N|>` string form the LM emits. The FSQ rounding runs on the host: it is a handful
// of values per 5 Hz frame and must reproduce upstream's float32 index arithmetic exactly.
import { AcestepError, ShapeError } from '../runtime/errors.js';
import { add, concat, DisposableStack, tap, tidy, tidyAsync, Tensor, type Device } from '../runtime/index.js';
import { f32Param, type AceStepConfig } from './acestep-config.js';
import { EncoderStack } from './acestep-encoder.js';
import { Linear, modelDevice, type Weights } from './layers.js';

/** A malformed audio-code string or an index outside the codebook. */
export class AudioCodeError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_AUDIO_CODE');
  }
}

const CODE_TOKEN = /<\|audio_code_(\d+)\|>/g;
const CODE_PREFIX = '<|audio_code_';

/**
 * Parses the code tokens of an LM answer, in order. Like upstream, text between tokens is
 * ignored and values above the codebook are clamped to `codebookSize - 1`; a token that starts
 * like a code but is malformed (`<|audio_code_x|>`) or a string without any code is an error.
 */
export function parseAudioCodes(text: string, codebookSize = 64000): number[] {
  if (typeof text !== 'string') throw new AudioCodeError(`audio codes must be a string, got ${typeof text}`);
  const codes: number[] = [];
  let last = 0;
  for (const m of text.matchAll(CODE_TOKEN)) {
    const gap = text.slice(last, m.index);
    const bad = gap.indexOf(CODE_PREFIX);
    if (bad >= 0)
      throw new AudioCodeError(`malformed audio code token at offset ${last + bad}: ${JSON.stringify(gap.slice(bad, bad + 24))}`);
    codes.push(Math.min(Number(m[1]), codebookSize - 1));
    last = m.index + m[0].length;
  }
  const tail = text.slice(last);
  const bad = tail.indexOf(CODE_PREFIX);
  if (bad >= 0)
    throw new AudioCodeError(`malformed audio code token at offset ${last + bad}: ${JSON.stringify(tail.slice(bad, bad + 24))}`);
  if (codes.length === 0) throw new AudioCodeError('no <|audio_code_N|> tokens in the text');
  return codes;
}

/** `<|audio_code_N|>` tokens joined without separators (upstream `convert_src_audio_to_codes`). */
export function formatAudioCodes(codes: ArrayLike<number>, codebookSize = 64000): string {
  let s = '';
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (!Number.isInteger(c) || c < 0 || c >= codebookSize)
      throw new AudioCodeError(`audio code ${i} is ${c}, outside [0, ${codebookSize})`);
    s += `<|audio_code_${c}|>`;
  }
  return s;
}

/**
 * Finite scalar quantisation with upstream's residual-FSQ settings (soft clamp tanh(z/c)·c with
 * c = 1 + 1/(L-1), hard clamp to [-1, 1], round half up). All steps in float32 like upstream.
 */
export class FSQ {
  readonly basis: number[];
  readonly codebookSize: number;

  constructor(readonly levels: number[]) {
    this.basis = [];
    let b = 1;
    for (const l of levels) {
      this.basis.push(b);
      b *= l;
    }
    this.codebookSize = b;
  }

  /** `z [n, d]` (project_in output) -> indices `[n]` and the codes `[n, d]` in [-1, 1]. */
  quantize(z: Float32Array): { indices: Int32Array; codes: Float32Array } {
    const d = this.levels.length;
    const n = z.length / d;
    const f = Math.fround;
    const indices = new Int32Array(n);
    const codes = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let index = 0;
      for (let k = 0; k < d; k++) {
        const l = this.levels[k];
        const c = f(1 + 1 / (l - 1));
        const soft = f(f(Math.tanh(f(z[i * d + k] / c))) * c);
        const clamped = Math.min(1, Math.max(-1, soft));
        const digit = Math.floor(f(f(f((l - 1) * f(clamped + 1)) / 2) + 0.5));
        index += digit * this.basis[k];
        codes[i * d + k] = f(f(f(2 / (l - 1)) * digit) - 1);
      }
      indices[i] = index;
    }
    return { indices, codes };
  }

  /** Codebook lookup: indices `[n]` -> codes `[n, d]` (digits (idx // basis) % L). */
  codesFromIndices(indices: ArrayLike<number>): Float32Array {
    const d = this.levels.length;
    const codes = new Float32Array(indices.length * d);
    for (let i = 0; i < indices.length; i++) {
      const idx = indices[i];
      if (!Number.isInteger(idx) || idx < 0 || idx >= this.codebookSize) {
        throw new AudioCodeError(`FSQ index ${idx} at position ${i} is outside [0, ${this.codebookSize})`);
      }
      for (let k = 0; k < d; k++) {
        const l = this.levels[k];
        const digit = Math.floor(idx / this.basis[k]) % l;
        codes[i * d + k] = Math.fround(Math.fround(Math.fround(2 / (l - 1)) * digit) - 1);
      }
    }
    return codes;
  }
}

export interface TokenizeResult {
  /** Attention-pooler output `[B, T5, H_enc]` (pre-FSQ). */
  pooled: Tensor;
  /** `project_in(pooled)` `[B, T5, d]` before the soft clamp. */
  projectedIn: Tensor;
  /** `project_out(codes)` `[B, T5, H_enc]`. */
  quantized: Tensor;
  /** FSQ indices `[B * T5]`, row-major over (B, T5). */
  indices: Int32Array;
  /** Max-pooled frame mask `[B * T5]` (1 where any of the 5 frames is valid). */
  tokenMask: Float32Array;
  frames5Hz: number;
}

export class AudioTokenizer {
  readonly acousticProj: Linear;
  readonly poolerEmbed: Linear;
  readonly poolerSpecial: Tensor;
  readonly pooler: EncoderStack;
  readonly projectIn: Linear;
  readonly projectOut: Linear;
  readonly detokEmbed: Linear;
  readonly detokSpecial: Tensor;
  readonly detokenizer: EncoderStack;
  readonly detokOut: Linear;
  readonly fsq: FSQ;
  readonly window: number;

  /** The device the weights live on (modelDevice: the default backend unless given). */
  readonly device: Device;

  /** `w` is the checkpoint root (tensors `tokenizer.*`, `detokenizer.*`). */
  constructor(
    w: Weights,
    readonly cfg: AceStepConfig,
    device?: Device,
  ) {
    this.device = device = modelDevice(device);
    if (cfg.fsqNumQuantizers !== 1)
      throw new ShapeError(`AudioTokenizer: ${cfg.fsqNumQuantizers} residual quantizers; only 1 is supported (the released models use 1)`);
    // A failure part-way frees what was built (the stack is emptied once everything loaded).
    using built = new DisposableStack();
    const h = cfg.encoderHiddenSize;
    const lat = cfg.audioAcousticHiddenDim;
    const t = w.sub('tokenizer');
    this.window = cfg.poolWindowSize;
    this.fsq = new FSQ(cfg.fsqLevels);
    const d = cfg.fsqLevels.length;
    this.acousticProj = built.use(new Linear(t.sub('audio_acoustic_proj'), { inFeatures: lat, outFeatures: h, device }));
    this.poolerEmbed = built.use(new Linear(t.sub('attention_pooler.embed_tokens'), { inFeatures: h, outFeatures: h, device }));
    this.poolerSpecial = built.use(f32Param(t, 'attention_pooler.special_token', [1, 1, h], device));
    this.pooler = built.use(new EncoderStack(t.sub('attention_pooler'), cfg, cfg.numAttentionPoolerHiddenLayers, device));
    this.projectIn = built.use(new Linear(t.sub('quantizer.project_in'), { inFeatures: h, outFeatures: d, device }));
    this.projectOut = built.use(new Linear(t.sub('quantizer.project_out'), { inFeatures: d, outFeatures: h, device }));
    const dt = w.sub('detokenizer');
    this.detokEmbed = built.use(new Linear(dt.sub('embed_tokens'), { inFeatures: h, outFeatures: h, device }));
    this.detokSpecial = built.use(f32Param(dt, 'special_tokens', [1, this.window, h], device));
    this.detokenizer = built.use(new EncoderStack(dt, cfg, cfg.numAttentionPoolerHiddenLayers, device));
    this.detokOut = built.use(new Linear(dt.sub('proj_out'), { inFeatures: h, outFeatures: lat, device }));
    built.move();
  }

  /**
   * 25 Hz latents `[B, T, C]` -> 5 Hz codes. When T is not a multiple of the pool window the
   * first frames of `silenceLatent [1, Ts, C]` (frames-last layout, see silence-latent.ts) are
   * appended and the mask is zero-padded. `mask` `[B, T]` defaults to all ones.
   */
  async tokenize(latents: Tensor, silenceLatent: Tensor, mask?: Tensor | ArrayLike<number>): Promise<TokenizeResult> {
    const c = this.cfg.audioAcousticHiddenDim;
    if (latents.ndim !== 3 || latents.shape[2] !== c)
      throw new ShapeError(`tokenize: latents must be [B, T, ${c}], got [${latents.shape.join(',')}]`);
    const [b, t] = latents.shape;
    if (t < 1) throw new ShapeError('tokenize: latents have no frames');
    const w = this.window;
    const t5 = Math.ceil(t / w);
    const padFrames = t5 * w - t;
    if (padFrames > 0 && (silenceLatent.ndim !== 3 || silenceLatent.shape[2] !== c || silenceLatent.shape[1] < padFrames)) {
      throw new ShapeError(`tokenize: silence latent must be [1, >=${padFrames}, ${c}], got [${silenceLatent.shape.join(',')}]`);
    }
    let m: Float32Array;
    if (mask === undefined) m = new Float32Array(b * t).fill(1);
    else if (mask instanceof Tensor) m = await mask.toFloat32();
    else m = Float32Array.from(mask);
    if (m.length !== b * t) throw new ShapeError(`tokenize: mask has ${m.length} values, expected ${b}x${t}`);
    const tokenMask = new Float32Array(b * t5);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < t; j++) {
        const k = i * t5 + Math.floor(j / w);
        tokenMask[k] = Math.max(tokenMask[k], m[i * t + j]);
      }
    }

    return tidyAsync(async () => {
      let x = latents;
      if (padFrames > 0) x = concat([latents, silenceLatent.narrow(1, 0, padFrames).expand([b, padFrames, c])], 1);
      const h = this.cfg.encoderHiddenSize;
      const frames = this.poolerEmbed.forward(this.acousticProj.forward(x)).reshape([b * t5, w, h]);
      const seq = concat([this.poolerSpecial.expand([b * t5, 1, h]), frames], 1);
      const pooled = tap('tokenizer.attention_pooler', this.pooler.forward(seq).select(1, 0).reshape([b, t5, h]));
      const projectedIn = tap('tokenizer.quantizer.project_in', this.projectIn.forward(pooled));
      const { indices, codes } = this.fsq.quantize(await projectedIn.toFloat32());
      const quantized = tap('tokenizer.quantizer', this.codesToQuantized(codes, b, t5, pooled.device));
      return { pooled, projectedIn, quantized, indices, tokenMask, frames5Hz: t5 };
    });
  }

  private codesToQuantized(codes: Float32Array, b: number, t5: number, device: Device): Tensor {
    return tidy(() => this.projectOut.forward(Tensor.fromArray(codes, [b, t5, this.fsq.levels.length], { device })));
  }

  /** FSQ indices `[B, T5]` (row-major) -> quantized `[B, T5, H_enc]` (upstream `get_output_from_indices`). */
  quantizedFromIndices(indices: ArrayLike<number>, batch: number, device: Device = this.poolerSpecial.device): Tensor {
    if (batch < 1 || indices.length % batch !== 0 || indices.length === 0) {
      throw new ShapeError(`quantizedFromIndices: ${indices.length} indices do not split into ${batch} rows`);
    }
    return this.codesToQuantized(this.fsq.codesFromIndices(indices), batch, indices.length / batch, device);
  }

  /** Quantized `[B, T5, H_enc]` -> 25 Hz hints `[B, T5 * window, C]` (not cropped). */
  detokenize(quantized: Tensor): Tensor {
    const h = this.cfg.encoderHiddenSize;
    if (quantized.ndim !== 3 || quantized.shape[2] !== h)
      throw new ShapeError(`detokenize: expected [B, T5, ${h}], got [${quantized.shape.join(',')}]`);
    const [b, t5] = quantized.shape;
    const w = this.window;
    return tidy(() => {
      const x = this.detokEmbed.forward(quantized).reshape([b, t5, 1, h]).expand([b, t5, w, h]);
      const seq = add(x, this.detokSpecial.reshape([1, 1, w, h])).reshape([b * t5, w, h]);
      const out = this.detokOut.forward(this.detokenizer.forward(seq));
      return out.reshape([b, t5 * w, this.cfg.audioAcousticHiddenDim]);
    });
  }

  /**
   * The handler's code-string path for one item: parse, look up, detokenize, then crop or pad
   * with silence-latent frames to `targetFrames` (when given) -> `[1, frames, C]`.
   */
  hintsFromCodeString(
    text: string,
    opts: { targetFrames?: number; silenceLatent?: Tensor } = {},
  ): { indices: number[]; quantized: Tensor; hints: Tensor } {
    const indices = parseAudioCodes(text, this.fsq.codebookSize);
    return tidy(() => {
      const quantized = this.quantizedFromIndices(indices, 1);
      let hints = this.detokenize(quantized);
      const target = opts.targetFrames;
      if (target !== undefined) {
        const have = hints.shape[1];
        if (target <= have) hints = hints.narrow(1, 0, target);
        else {
          const s = opts.silenceLatent;
          const need = target - have;
          if (!s || s.ndim !== 3 || s.shape[1] < need)
            throw new ShapeError(`hintsFromCodeString: padding ${have} frames to ${target} needs a silence latent [1, >=${need}, C]`);
          // Upstream (_prepare_precomputed_lm_hints) appends the first `need` silence frames.
          hints = concat([hints, s.narrow(1, 0, need)], 1);
        }
      }
      return { indices, quantized, hints };
    });
  }

  dispose(): void {
    for (const m of [
      this.acousticProj,
      this.poolerEmbed,
      this.pooler,
      this.projectIn,
      this.projectOut,
      this.detokEmbed,
      this.detokenizer,
      this.detokOut,
    ])
      m.dispose();
    this.poolerSpecial.dispose();
    this.detokSpecial.dispose();
  }
}
