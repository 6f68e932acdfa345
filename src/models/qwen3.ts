// Qwen3 decoder stack (UPSTREAM.md: Text encoder and caption prompt, 5 Hz LM): one class serves the
// Qwen3-Embedding text encoder (final-norm hidden states, causal, no attention mask), the bare
// `embed_tokens` lookup used for lyrics (UPSTREAM.md: Lyrics), and the 5 Hz LM (causal LM with tied
// or separate lm_head, KV cache, batched left-padded prompts). Every size comes from config.json.
import {
  embedding,
  ropeTables,
  tap,
  tidy,
  Tensor,
  DisposableStack,
  ShapeError,
  type Device,
  type MatmulPrecision,
} from '../runtime/index.js';
import { CheckpointError } from '../io/errors.js';
import { flag, posInt, posNumber, readConfig } from '../io/config-fields.js';
import {
  DecoderLayer,
  Linear,
  modelDevice,
  openModelDir,
  place,
  quantizeLinear,
  RMSNorm,
  type LayerCache,
  type Weights,
} from './layers.js';

/**
 * Weight storage of the 5 Hz LM's linear layers and head: 'none' keeps the checkpoint's dtype,
 * 'int8' stores int8 rows with one f32 scale per row (about half the bytes a decode step reads
 * against bf16; the embedding lookup keeps the checkpoint's table).
 */
export type LmQuantization = 'none' | 'int8';

export interface Qwen3LoadOptions {
  device?: Device;
  /** false: a bare Qwen3Model (the text encoder), any head ignored. Default true. */
  lmHead?: boolean;
  /** Default 'none'. */
  quantization?: LmQuantization;
}

export interface Qwen3Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  attentionBias: boolean;
}

/** The Qwen3 keys of a transformers config.json, with transformers' defaults. */
const QWEN3_FIELDS = {
  vocabSize: posInt('vocab_size'),
  hiddenSize: posInt('hidden_size'),
  intermediateSize: posInt('intermediate_size'),
  numLayers: posInt('num_hidden_layers'),
  numHeads: posInt('num_attention_heads'),
  numKvHeads: posInt('num_key_value_heads', (c) => c.numHeads as number),
  headDim: posInt('head_dim', (c) => (c.hiddenSize as number) / (c.numHeads as number)),
  rmsNormEps: posNumber('rms_norm_eps', 1e-6),
  ropeTheta: posNumber('rope_theta', 10000),
  tieWordEmbeddings: flag('tie_word_embeddings', true),
  maxPositionEmbeddings: posInt('max_position_embeddings', 40960),
  attentionBias: flag('attention_bias', false),
};

/** Reads the Qwen3 keys of a transformers config.json; `source` names the file in errors. */
export function parseQwen3Config(json: Record<string, unknown>, source: string): Qwen3Config {
  const scaling = json.rope_scaling as { rope_type?: string; type?: string } | null | undefined;
  const ropeType = scaling?.rope_type ?? scaling?.type;
  if (scaling && ropeType !== 'default') {
    throw new CheckpointError(`rope_scaling ${JSON.stringify(scaling)} is not supported (only the default RoPE)`, source);
  }
  const cfg: Qwen3Config = readConfig(json, QWEN3_FIELDS, source);
  if (cfg.numHeads % cfg.numKvHeads !== 0) {
    throw new CheckpointError(`num_attention_heads ${cfg.numHeads} is not a multiple of num_key_value_heads ${cfg.numKvHeads}`, source);
  }
  if (cfg.headDim % 2 !== 0) throw new CheckpointError(`head_dim ${cfg.headDim} must be even for RoPE`, source);
  return cfg;
}

/**
 * Preallocated per-layer K/V views `[B, maxLen, Hkv, D]` (f32, or bf16 at bf16 precision) for one batch
 * of sequences; new keys and values are rounded into it as they are written. `length` is the
 * number of slots filled (the same for every row: left-padded rows fill their pad slots too and hide
 * them with a key mask).
 */
export class KVCache {
  readonly k: Tensor[];
  readonly v: Tensor[];
  length = 0;

  constructor(
    numLayers: number,
    readonly batch: number,
    readonly maxLen: number,
    numKvHeads: number,
    headDim: number,
    device: Device,
    readonly dtype: 'f32' | 'bf16' = 'f32',
  ) {
    if (!(batch > 0 && maxLen > 0)) throw new ShapeError(`KVCache: batch ${batch} and maxLen ${maxLen} must be positive`);
    this.k = [];
    this.v = [];
    for (let i = 0; i < numLayers; i++) {
      // Unfilled slots are never read (reads stop at length), so no zero fill is needed.
      // Stored head-major [B, Hkv, maxLen, D] and exposed as [B, maxLen, Hkv, D] views: a decode
      // step then reads each head's keys as one contiguous run instead of one row per
      // Hkv * D stride (the CPU's prefetchers follow the former).
      for (const list of [this.k, this.v]) {
        using store = Tensor.empty([batch, numKvHeads, maxLen, headDim], dtype, device);
        list.push(store.permute([0, 2, 1, 3]));
      }
    }
  }

  layer(i: number): LayerCache {
    return { k: this.k[i], v: this.v[i], start: this.length };
  }

  /**
   * Fills slots [0, slots) of every row with `src`'s row 0 (keys and values of a shared prompt
   * prefix) and sets `length` to `slots`. A row that does not share the prefix must mask those
   * slots; it then holds finite values there, as a pad slot does.
   */
  copyPrefix(src: KVCache, slots: number): void {
    const [, , hkv, d] = this.k[0].shape;
    const [, , shkv, sd] = src.k[0].shape;
    if (src.k.length !== this.k.length || shkv !== hkv || sd !== d || src.dtype !== this.dtype) {
      throw new ShapeError(
        `KVCache.copyPrefix: a cache of ${src.k.length} layers x [${shkv}, ${sd}] ${src.dtype} does not fit one of ${this.k.length} x [${hkv}, ${d}] ${this.dtype}`,
      );
    }
    if (!(Number.isInteger(slots) && slots >= 0 && slots <= src.length && slots <= this.maxLen)) {
      throw new ShapeError(`KVCache.copyPrefix: ${slots} slots, but the source holds ${src.length} and this cache ${this.maxLen}`);
    }
    for (let i = 0; i < this.k.length && slots > 0; i++) {
      for (const [dst, from] of [
        [this.k[i], src.k[i]],
        [this.v[i], src.v[i]],
      ]) {
        using row = from.narrow(0, 0, 1).narrow(1, 0, slots);
        using rows = row.expand([this.batch, slots, hkv, d]);
        using target = dst.narrow(1, 0, slots);
        target.assign(rows);
      }
    }
    this.length = slots;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }
}

export interface ForwardOptions {
  /** Append to (and attend over) this cache; the new tokens occupy slots [cache.length, +T). */
  cache?: KVCache;
  /**
   * `[B, S]` key mask over all slots the step attends (cache slots included), nonzero = real token.
   * Omitted: every slot is attended (the text encoder and single-sequence LM runs).
   */
  keyMask?: Tensor;
}

export interface LogitsOptions extends ForwardOptions {
  /** Only the logits of the last position (prefill for generation). */
  lastOnly?: boolean;
  /** Restrict the vocabulary to ids [lo, hi) (e.g. the audio-code range); column j is id lo + j. */
  vocabRange?: [number, number];
}

export class Qwen3Model {
  readonly embedTokens: Tensor;
  readonly layers: DecoderLayer[];
  readonly norm: RMSNorm;
  /**
   * The head `[V, H]` (no bias): `lm_head.weight`, or a view of `embed_tokens.weight` when tied; with
   * quantization 'int8' its int8 rows (for a tied head, an int8 copy beside the embedding table);
   * null for a bare Qwen3Model.
   */
  readonly lmHead: Linear | null;
  readonly device: Device;
  /**
   * Set with the layers' GEMM precision by `setPrecision`: 'bf16' stores the KV caches from
   * `createCache` in bf16 (half the bytes a decode step reads; upstream's bf16 runs keep a bf16
   * cache too), 'fp32' keeps them f32 so the exact path stays exact.
   */
  precision: MatmulPrecision = 'fp32';

  /**
   * Tensors (after the optional `model.` prefix): `embed_tokens.weight [V, H]`, `layers.{i}.*`
   * (DecoderLayer, 11 each), `norm.weight [H]`, and `lm_head.weight [V, H]` unless tied.
   */
  constructor(
    w: Weights,
    readonly config: Qwen3Config,
    opts: Qwen3LoadOptions = {},
  ) {
    const c = config;
    this.device = modelDevice(opts.device);
    const device = this.device;
    // A failure part-way frees what was built (the stack is emptied once everything loaded).
    using built = new DisposableStack();
    const layers: DecoderLayer[] = [];
    this.layers = layers;
    this.embedTokens = built.use(place(w.getShaped('embed_tokens.weight', [c.vocabSize, c.hiddenSize]), device));
    // The LM decodes one token per step, where q/k/v and gate/up as one GEMV each save pool jobs and
    // passes over the activations; the text encoder (no head) runs whole prompts and keeps the
    // checkpoint's mapped weights instead of a fused copy.
    const fuse = opts.lmHead !== false;
    const quantization = opts.quantization ?? 'none';
    if (quantization !== 'none' && quantization !== 'int8') {
      throw new ShapeError(`Qwen3Model: quantization must be 'none' or 'int8', got '${String(quantization)}'`);
    }
    const quantize = quantization === 'int8';
    for (let i = 0; i < c.numLayers; i++) {
      layers.push(
        built.use(
          new DecoderLayer(w.sub(`layers.${i}`), {
            numHeads: c.numHeads,
            numKvHeads: c.numKvHeads,
            headDim: c.headDim,
            eps: c.rmsNormEps,
            bias: c.attentionBias,
            hidden: c.hiddenSize,
            intermediate: c.intermediateSize,
            fuse,
            quantize,
            device,
          }),
        ),
      );
    }
    this.norm = built.use(new RMSNorm(w.sub('norm'), c.rmsNormEps, { dim: c.hiddenSize, device }));
    if (opts.lmHead === false) {
      this.lmHead = null;
    } else {
      const weight = c.tieWordEmbeddings
        ? this.embedTokens.narrow(0, 0, c.vocabSize)
        : place(w.getShaped('lm_head.weight', [c.vocabSize, c.hiddenSize]), device);
      const head = new Linear({ weight, bias: null });
      this.lmHead = built.use(quantize ? quantizeLinear(head) : head);
    }
    built.move();
  }

  /**
   * Loads a checkpoint folder (config.json + safetensors), with or without the `model.` prefix.
   * `lmHead: false` loads a bare Qwen3Model (the text encoder) and ignores any head.
   */
  static load(dir: string, opts: Qwen3LoadOptions = {}): Qwen3Model {
    // Loaded tensors hold the mapping themselves: the folder is closed once the model is built.
    using folder = openModelDir(dir, parseQwen3Config, { stripPrefix: 'model.' });
    return new Qwen3Model(folder.weights, folder.config, opts);
  }

  createCache(batch: number, maxLen: number): KVCache {
    const c = this.config;
    if (maxLen > c.maxPositionEmbeddings) {
      throw new ShapeError(`KV cache of ${maxLen} positions exceeds max_position_embeddings ${c.maxPositionEmbeddings}`);
    }
    return new KVCache(c.numLayers, batch, maxLen, c.numKvHeads, c.headDim, this.device, this.precision === 'bf16' ? 'bf16' : 'f32');
  }

  /** `embed_tokens` lookup: ids `[...]` i32|i64 -> `[..., H]` f32 (the lyric path, UPSTREAM.md: Lyrics). */
  embed(ids: Tensor): Tensor {
    return embedding(this.embedTokens, ids);
  }

  /**
   * Final-norm hidden states `[B, T, H]` for ids `[B, T]`. Causal; the RoPE position of slot s is s
   * (cache slots included), for every row: upstream runs left-padded batches with a 2-D mask and no
   * position ids, so a padded row's first real token sits at position = its pad count.
   */
  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    if (ids.ndim !== 2) throw new ShapeError(`Qwen3Model: ids must be [B, T], got [${ids.shape.join(',')}]`);
    const [b, t] = ids.shape;
    const cache = opts.cache;
    const start = cache?.length ?? 0;
    if (cache) {
      if (cache.batch !== b) throw new ShapeError(`Qwen3Model: ids batch ${b} does not match the KV cache batch ${cache.batch}`);
      if (start + t > cache.maxLen)
        throw new ShapeError(`Qwen3Model: ${start} cached + ${t} new tokens exceed the KV cache (${cache.maxLen})`);
    }
    if (opts.keyMask && (opts.keyMask.ndim !== 2 || opts.keyMask.shape[0] !== b || opts.keyMask.shape[1] !== start + t)) {
      throw new ShapeError(`Qwen3Model: keyMask must be [${b}, ${start + t}] (all attended slots), got [${opts.keyMask.shape.join(',')}]`);
    }
    const out = tidy(() => {
      // One contiguous copy serves every layer (the caller may pass a narrowed view of a longer mask).
      const keyMask = opts.keyMask?.contiguous();
      const positions = Array.from({ length: t }, (_, i) => start + i);
      const tables = ropeTables(positions, this.config.headDim, this.config.ropeTheta, this.device);
      let h = this.embed(ids);
      for (let i = 0; i < this.layers.length; i++) {
        const next = this.layers[i].forward(h, {
          rope: tables,
          causal: true,
          keyMask,
          cache: cache?.layer(i),
        });
        h.dispose();
        h = tap(`layers.${i}`, next);
      }
      return tap('norm', this.norm.forward(h));
    });
    if (cache) cache.length = start + t;
    return out;
  }

  /** Logits `[B, T, V']` (or `[B, 1, V']` with lastOnly), V' = the vocabulary or `vocabRange`. */
  logits(ids: Tensor, opts: LogitsOptions = {}): Tensor {
    this.headWeight(opts.vocabRange).dispose(); // validates before the forward runs
    return tidy(() => {
      const h = this.forward(ids, opts);
      return this.project(opts.lastOnly ? h.narrow(1, h.shape[1] - 1, 1) : h, opts.vocabRange);
    });
  }

  /** The LM head on final-norm hidden states `[..., H]` -> `[..., V']`, optionally for ids [lo, hi) only. */
  project(hidden: Tensor, vocabRange?: [number, number]): Tensor {
    const head = this.headWeight(vocabRange);
    try {
      return head.forward(hidden);
    } finally {
      head.dispose();
    }
  }

  /** The head rows for [lo, hi) (all rows by default) as a Linear over views; the caller disposes it. */
  private headWeight(range?: [number, number]): Linear {
    const head = this.lmHead;
    if (!head) throw new ShapeError('Qwen3Model: loaded without an LM head (lmHead: false)');
    const [lo, hi] = range ?? [0, this.config.vocabSize];
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi > lo && hi <= this.config.vocabSize)) {
      throw new ShapeError(`Qwen3Model: vocabRange [${lo}, ${hi}) is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    return head.rows(lo, hi - lo);
  }

  dispose(): void {
    this.embedTokens.dispose();
    this.lmHead?.dispose();
    this.norm.dispose();
    for (const l of this.layers) l.dispose();
  }
}
