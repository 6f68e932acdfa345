// Transformer building blocks shared by the Qwen3 models (text encoder, 5 Hz LM) and the ACE-Step
// DiT / condition-encoder stacks (UPSTREAM.md: Transformer blocks): Linear, RMSNorm, SwiGLU MLP,
// the Qwen3/AceStep attention block (QK-norm, RoPE, GQA, masks, cross-attention, KV cache) and the
// pre-norm decoder layer. Every block loads its tensors by their upstream names through a `Weights`
// view, so a block is built the same way from a safetensors file, a checkpoint folder or a test
// map.
import {
  add,
  attention,
  concat,
  linear,
  int8RowSums,
  linearInt8,
  linearW8A8,
  quantizeInt8,
  rmsNorm,
  rope,
  swiglu,
  tidy,
  Tensor,
  ShapeError,
  getDefaultDevice,
  DisposableStack,
  W8A8_MAX_K,
  type Device,
  type W8A8Weight,
  type MatmulPrecision,
} from '../runtime/index.js';
import { Checkpoint } from '../io/checkpoint.js';
import { CheckpointError } from '../io/errors.js';

/** The device a model is built on: the one asked for, else the runtime's default (setBackend). */
export function modelDevice(device?: Device): Device {
  return device ?? getDefaultDevice();
}

/** An open model folder: its checkpoint, parsed config and Weights view. */
export interface ModelDir<C> extends Disposable {
  ckpt: Checkpoint;
  config: C;
  weights: Weights;
}

/**
 * Opens a model folder (config.json + safetensors) as one Weights view and parses its config with
 * `parse`. Dispose it (`using dir = openModelDir(...)`) once the models are built: they keep
 * their own tensors.
 */
export function openModelDir<C>(
  dir: string,
  parse: (json: Record<string, unknown>, source: string) => C,
  opts: { stripPrefix?: string } = {},
): ModelDir<C> {
  using stack = new DisposableStack();
  const ckpt = stack.use(Checkpoint.open(dir, opts));
  const config = parse(ckpt.config, `${dir}/config.json`);
  stack.move();
  return { ckpt, config, weights: new Weights(ckpt, '', dir), [Symbol.dispose]: () => ckpt.dispose() };
}

/** Anything that hands out tensors by name (a safetensors file, a checkpoint, a Map in tests). */
export interface WeightSource {
  get(name: string): Tensor;
  has(name: string): boolean;
}

/**
 * A prefixed view of a weight source. `sub('layers.3')` narrows the prefix; missing tensors raise
 * a CheckpointError that names the full tensor name and the source label.
 */
export class Weights implements WeightSource {
  constructor(
    readonly source: WeightSource,
    readonly prefix = '',
    /** Names the origin (a file or folder) in error messages. */
    readonly label = 'weights',
  ) {}

  static fromMap(map: Map<string, Tensor>, label = 'weights'): Weights {
    // Each get() hands out its own view, so a block disposing its weights leaves the map intact.
    return new Weights({ get: (n) => map.get(n)!.contiguous(), has: (n) => map.has(n) }, '', label);
  }

  full(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  sub(prefix: string): Weights {
    return new Weights(this.source, this.full(prefix), this.label);
  }

  has(name: string): boolean {
    return this.source.has(this.full(name));
  }

  get(name: string): Tensor {
    const n = this.full(name);
    if (!this.source.has(n)) throw new CheckpointError('missing tensor', this.label, n);
    return this.source.get(n);
  }

  /** The tensor, checked to have exactly `shape` (-1 matches any size). */
  getShaped(name: string, shape: number[]): Tensor {
    const t = this.get(name);
    const ok = t.ndim === shape.length && shape.every((d, i) => d < 0 || t.shape[i] === d);
    if (!ok) {
      t.dispose();
      throw new CheckpointError(`expected shape [${shape.join(',')}], found [${t.shape.join(',')}]`, this.label, this.full(name));
    }
    return t;
  }
}

/** Moves a weight to `device` (returned as is when it is already there), disposing the source. */
export function place(t: Tensor, device: Device | undefined): Tensor {
  if (!device || t.device === device) return t;
  const moved = t.toDevice(device);
  t.dispose();
  return moved;
}

/**
 * An extra branch added to a Linear's output, computed from the same input (a LoRA or LoKr
 * adapter). Keeping it apart from the weight means removing it restores the base output exactly.
 */
export interface LinearDelta {
  forward(x: Tensor): Tensor;
}

/** A Linear's own tensors, for one built from tensors rather than loaded by name. */
export interface LinearTensors {
  weight: Tensor;
  bias: Tensor | null;
  scale?: Tensor | null;
}

/**
 * `nn.Linear`: `weight [out, in]` (f32, bf16 or f16; the GEMM reads it directly), optional
 * `bias [out]`. The bias is used when the checkpoint has it, unless `bias: false` forbids it.
 * Built from `LinearTensors`, it owns them as given. A quantized Linear (`quantizeLinear`) holds
 * int8 rows in `weight` and their f32 scales in `scale`.
 */
export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** `[out]` per-row scales of an int8 `weight` (w ≈ scale[n] · weight[n, k]); null for a float weight. */
  readonly scale: Tensor | null;
  /** Adapter branch added to the output; null runs the plain layer. Owned by whoever sets it. */
  delta: LinearDelta | null = null;
  /** GEMM precision of the base product (see `setPrecision`); the adapter branch stays fp32. */
  precision: MatmulPrecision = 'fp32';
  /** The W8A8 form of the weight once `quantizeW8A8` ran: the base product is then a W8A8 linear. */
  private w8a8: W8A8Weight | null = null;

  constructor(w: Weights | LinearTensors, opts: { inFeatures?: number; outFeatures?: number; bias?: boolean; device?: Device } = {}) {
    if (!(w instanceof Weights)) {
      this.weight = w.weight;
      this.bias = w.bias;
      this.scale = w.scale ?? null;
      return;
    }
    this.scale = null;
    this.weight = place(w.getShaped('weight', [opts.outFeatures ?? -1, opts.inFeatures ?? -1]), opts.device);
    const wantBias = opts.bias ?? w.has('bias');
    this.bias = wantBias ? place(w.getShaped('bias', [this.weight.shape[0]]), opts.device) : null;
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }
  get outFeatures(): number {
    return this.weight.shape[0];
  }

  get isW8A8(): boolean {
    return this.w8a8 !== null;
  }

  /**
   * Upstream's `w8a8_dynamic`: the weight quantized per output row to int8 once (`quantizeInt8`,
   * with the row sums the product's zero-point correction needs), the activations per row at every
   * call (runtime/ops/matmul-w8a8.ts). `weight` stays as loaded (memory-mapped on the CPU) for what
   * reads it directly. A Linear that already holds int8 weights (`quantizeLinear`) is left as is.
   */
  quantizeW8A8(): void {
    if (this.w8a8 || this.scale) return;
    const { q, scale } = quantizeInt8(this.weight);
    this.w8a8 = { q, scale, rowsum: int8RowSums(q) };
  }

  forward(x: Tensor): Tensor {
    const d = this.delta;
    const opts = { precision: this.precision };
    const base = (): Tensor =>
      this.w8a8
        ? linearW8A8(x, this.w8a8, this.bias)
        : this.scale
          ? linearInt8(x, { q: this.weight, scale: this.scale }, this.bias, opts)
          : linear(x, this.weight, this.bias, opts);
    if (!d) return base();
    return tidy(() => add(base(), d.forward(x)));
  }

  /** Output features [start, start + n) as a Linear over views of this one's tensors (same precision). */
  rows(start: number, n: number): Linear {
    const part = (t: Tensor | null): Tensor | null => t?.narrow(0, start, n) ?? null;
    const l = new Linear({ weight: part(this.weight)!, bias: part(this.bias), scale: part(this.scale) });
    l.precision = this.precision;
    return l;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
    this.scale?.dispose();
    if (this.w8a8) for (const t of [this.w8a8.q, this.w8a8.scale, this.w8a8.rowsum]) t.dispose();
  }
}

/**
 * The Linear with its weight as int8 rows and one f32 scale per row (`quantizeInt8`: about half the
 * bytes of bf16 for a decode step to read, at |error| <= scale / 2 per weight); bias and precision
 * kept, `l` disposed.
 */
export function quantizeLinear(l: Linear): Linear {
  if (l.scale) return l;
  const { q, scale } = quantizeInt8(l.weight);
  l.weight.dispose();
  const out = new Linear({ weight: q, bias: l.bias, scale });
  out.precision = l.precision;
  return out;
}

/**
 * Linears that read the same input, as one: their weight rows (and biases) concatenated, so a
 * decode step runs one GEMV and one pool job where it ran several. Each output element is the
 * same sum in the same order as in its part, so the outputs are bit-identical. Returns the fused
 * layer and each part again as a view of its rows (no second copy of the weights), disposing the
 * given parts; null (parts untouched) when they cannot share one weight (different input widths,
 * weight dtypes or devices, or biases on some but not all).
 */
export function fuseLinears(parts: Linear[]): { fused: Linear; parts: Linear[] } | null {
  const [first] = parts;
  const withBias = parts.filter((p) => p.bias).length;
  const uniform = parts.every(
    (p) =>
      p.inFeatures === first.inFeatures &&
      p.weight.dtype === first.weight.dtype &&
      p.weight.device === first.weight.device &&
      !p.scale === !first.scale,
  );
  if (!uniform || (withBias !== 0 && withBias !== parts.length)) return null;
  const weight = concat(
    parts.map((p) => p.weight),
    0,
  );
  const bias = withBias
    ? concat(
        parts.map((p) => p.bias!),
        0,
      )
    : null;
  const scale = first.scale
    ? concat(
        parts.map((p) => p.scale!),
        0,
      )
    : null;
  const fused = new Linear({ weight, bias, scale });
  let at = 0;
  const views = parts.map((p) => {
    const v = fused.rows(at, p.outFeatures);
    at += p.outFeatures;
    p.dispose();
    return v;
  });
  return { fused, parts: views };
}

/**
 * Sets the GEMM precision of every `Linear` reachable from a model's fields (layers, arrays of
 * layers, nested blocks), and the `precision` field of any other part that has one (Qwen3Model:
 * its KV cache storage): 'bf16' rounds activations
 * and weights to bf16 with f32 accumulation (about twice the fp32 rate on CPUs with avx512_bf16 and
 * on CUDA tensor cores); 'fp32' is exact. Attention blocks take it for QK^T and P·V (softmax in
 * f32) except on a KV cache; norms, RoPE and elementwise ops compute in f32 either way.
 */
export function setPrecision(model: object, precision: MatmulPrecision): void {
  const seen = new Set<object>();
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || o instanceof Tensor || ArrayBuffer.isView(o)) return;
    seen.add(o);
    if (o instanceof Linear) {
      o.precision = precision;
      return;
    }
    const p = o as { precision?: unknown };
    if (p.precision === 'fp32' || p.precision === 'bf16') p.precision = precision;
    for (const v of Array.isArray(o) ? o : Object.values(o)) visit(v);
  };
  visit(model);
}

/**
 * Quantizes every `Linear` reachable from a model's fields to W8A8 (upstream's `w8a8_dynamic`, which
 * it applies to the DiT and its condition encoder). Layers whose K exceeds what int32 sums hold
 * (W8A8_MAX_K) keep their float product; none of the released models has one.
 */
export function quantizeLinearsW8A8(model: object): void {
  const seen = new Set<object>();
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || o instanceof Tensor || ArrayBuffer.isView(o)) return;
    seen.add(o);
    if (o instanceof Linear) {
      if (o.inFeatures <= W8A8_MAX_K) o.quantizeW8A8();
      return;
    }
    for (const v of Array.isArray(o) ? o : Object.values(o)) visit(v);
  };
  visit(model);
}

/** `Qwen3RMSNorm`: `weight [dim]`; f32 `x * rsqrt(mean(x^2) + eps) * weight` (UPSTREAM.md: Transformer blocks). */
export class RMSNorm {
  readonly weight: Tensor;

  constructor(
    w: Weights,
    readonly eps: number,
    opts: { dim?: number; device?: Device } = {},
  ) {
    this.weight = place(w.getShaped('weight', [opts.dim ?? -1]), opts.device);
  }

  get dim(): number {
    return this.weight.shape[0];
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/**
 * `Qwen3MLP` (UPSTREAM.md: Transformer blocks): `down_proj(silu(gate_proj(x)) * up_proj(x))`.
 * Tensors: `gate_proj.weight [I, H]`, `up_proj.weight [I, H]`, `down_proj.weight [H, I]` (no biases
 * upstream; a checkpoint that has them is honoured).
 */
export class MLP {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  /** gate_proj and up_proj as one Linear (`fuse`); `gate` and `up` are then views of its rows. */
  readonly gateUp: Linear | null = null;

  constructor(w: Weights, opts: { hidden?: number; intermediate?: number; fuse?: boolean; quantize?: boolean; device?: Device } = {}) {
    const quantized = (l: Linear): Linear => (opts.quantize ? quantizeLinear(l) : l);
    let gate = quantized(new Linear(w.sub('gate_proj'), { inFeatures: opts.hidden, outFeatures: opts.intermediate, device: opts.device }));
    const inner = gate.outFeatures;
    const hidden = gate.inFeatures;
    let up = quantized(new Linear(w.sub('up_proj'), { inFeatures: hidden, outFeatures: inner, device: opts.device }));
    const fused = opts.fuse ? fuseLinears([gate, up]) : null;
    if (fused) {
      this.gateUp = fused.fused;
      [gate, up] = fused.parts;
    }
    this.gate = gate;
    this.up = up;
    this.down = quantized(new Linear(w.sub('down_proj'), { inFeatures: inner, outFeatures: hidden, device: opts.device }));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const gu = this.gateUp;
      if (!gu || this.gate.delta || this.up.delta) return this.down.forward(swiglu(this.gate.forward(x), this.up.forward(x)));
      const both = gu.forward(x);
      const inner = this.gate.outFeatures;
      return this.down.forward(swiglu(both.narrow(-1, 0, inner), both.narrow(-1, inner, inner)));
    });
  }

  dispose(): void {
    for (const m of [this.gateUp, this.gate, this.up, this.down]) m?.dispose();
  }
}

export interface AttentionConfig {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** eps of the per-head q_norm / k_norm. */
  eps: number;
  /** Per-head QK RMSNorm (Qwen3 and AceStep always have it). Default true. */
  qkNorm?: boolean;
  /** Force (true) or forbid (false) projection biases; default: whatever the checkpoint holds. */
  bias?: boolean;
  /**
   * q/k/v of self-attention as one Linear (and gate/up in a DecoderLayer's MLP): fewer GEMVs per
   * decode step (the 5 Hz LM); outputs bit-identical. Default false.
   */
  fuse?: boolean;
  /** Every projection as int8 rows with per-row scales (`quantizeLinear`; the 5 Hz LM's option). Default false. */
  quantize?: boolean;
  device?: Device;
}

/** Cos/sin tables from `ropeTables`: `[T, D/2]`, or `[B, T, D/2]` for per-row positions. */
export interface RopeTables {
  cos: Tensor;
  sin: Tensor;
}

/**
 * One layer's slice of a preallocated KV cache: `k`, `v` are `[B, maxLen, Hkv, D]` f32 (or views of
 * that); `start` is the slot the new keys are written to (= the number of slots already filled).
 */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
  start: number;
}

export interface AttentionOptions {
  /** RoPE tables for the query (and, in self-attention, key) positions. Omitted: no RoPE. */
  rope?: RopeTables;
  /** Causal masking over key slots: key j is visible to query i iff j <= i + qOffset. */
  causal?: boolean;
  /** Key-slot index of query 0; defaults to `cache.start` with a cache, else 0. */
  qOffset?: number;
  /** Bidirectional sliding window |i + qOffset - j| <= window (AceStep "sliding" layers). */
  window?: number;
  /** `[B, Tk]` nonzero = attend (covering every key slot read, cache included). */
  keyMask?: Tensor;
  /** Cross-attention: keys/values are projected from this `[B, Tk, Hsrc]` sequence, no RoPE. */
  kvSource?: Tensor;
  /** Precomputed keys/values `[B, Tk, Hkv, D]` from `projectKV` (e.g. the DiT cross-attention cache). */
  kv?: { k: Tensor; v: Tensor };
  /** Self-attention KV cache: the new K/V are written at `start`, and slots [0, start + T) are read. */
  cache?: LayerCache;
}

/**
 * Qwen3 / AceStep attention (UPSTREAM.md: Transformer blocks). Tensors, with Hq = numHeads, Hkv =
 * numKvHeads, D = headDim:
 * `q_proj.weight [Hq*D, H]`, `k_proj.weight [Hkv*D, Hsrc]`, `v_proj.weight [Hkv*D, Hsrc]`,
 * `o_proj.weight [H, Hq*D]` (each with an optional bias), `q_norm.weight [D]`, `k_norm.weight [D]`.
 * q/k are RMS-normalised per head before RoPE; RoPE applies only to self-attention; GQA shares each
 * KV head among Hq/Hkv query heads; scale 1/sqrt(D); softmax in f32 (inside the attention op).
 */
export class Attention {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /** q_proj, k_proj and v_proj as one Linear (`fuse`); `q`, `k`, `v` are then views of its rows. */
  readonly qkv: Linear | null = null;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  /**
   * Precision of QK^T and P·V (`setPrecision`); the KV-cache path (the LM) stays fp32: its decode
   * step reads the cache at the memory bound, where bf16 products save nothing.
   */
  precision: MatmulPrecision = 'fp32';
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;

  constructor(w: Weights, cfg: AttentionConfig) {
    const { numHeads, numKvHeads, headDim, device } = cfg;
    if (!(numHeads > 0 && numKvHeads > 0 && headDim > 0) || numHeads % numKvHeads !== 0) {
      throw new ShapeError(
        `Attention ${w.prefix}: ${numHeads} query heads are not a multiple of ${numKvHeads} KV heads (head_dim ${headDim})`,
      );
    }
    this.numHeads = numHeads;
    this.numKvHeads = numKvHeads;
    this.headDim = headDim;
    const bias = cfg.bias;
    const quantized = (l: Linear): Linear => (cfg.quantize ? quantizeLinear(l) : l);
    let q = quantized(new Linear(w.sub('q_proj'), { outFeatures: numHeads * headDim, bias, device }));
    let k = quantized(new Linear(w.sub('k_proj'), { outFeatures: numKvHeads * headDim, bias, device }));
    let v = quantized(new Linear(w.sub('v_proj'), { inFeatures: k.inFeatures, outFeatures: numKvHeads * headDim, bias, device }));
    const fused = cfg.fuse ? fuseLinears([q, k, v]) : null;
    if (fused) {
      this.qkv = fused.fused;
      [q, k, v] = fused.parts;
    }
    this.q = q;
    this.k = k;
    this.v = v;
    this.o = quantized(new Linear(w.sub('o_proj'), { inFeatures: numHeads * headDim, outFeatures: this.q.inFeatures, bias, device }));
    const qk = cfg.qkNorm ?? true;
    this.qNorm = qk ? new RMSNorm(w.sub('q_norm'), cfg.eps, { dim: headDim, device }) : null;
    this.kNorm = qk ? new RMSNorm(w.sub('k_norm'), cfg.eps, { dim: headDim, device }) : null;
  }

  /** `[B, T, H]` -> per-head `[B, T, heads, D]`, normalised per head when the block has QK-norm. */
  private heads(proj: Linear, x: Tensor, n: number, norm: RMSNorm | null): Tensor {
    const [b, t] = x.shape;
    const h = proj.forward(x).reshape([b, t, n, this.headDim]);
    return norm ? norm.forward(h) : h;
  }

  /** Keys and values `[B, Tk, Hkv, D]` of a sequence (with RoPE when tables are given). */
  projectKV(src: Tensor, ropeTables?: RopeTables): { k: Tensor; v: Tensor } {
    if (src.ndim !== 3) throw new ShapeError(`Attention.projectKV: expected [B, T, H], got [${src.shape.join(',')}]`);
    return tidy(() => {
      let k = this.heads(this.k, src, this.numKvHeads, this.kNorm);
      if (ropeTables) k = rope(k, ropeTables.cos, ropeTables.sin);
      const v = this.heads(this.v, src, this.numKvHeads, null);
      return { k, v };
    });
  }

  /** Self-attention queries, keys and values of `x` (the fused projection when the block has one). */
  private projectQKV(x: Tensor, ropeTables?: RopeTables): { q: Tensor; k: Tensor; v: Tensor } {
    const withRope = (t: Tensor): Tensor => (ropeTables ? rope(t, ropeTables.cos, ropeTables.sin) : t);
    if (!this.qkv || this.q.delta || this.k.delta || this.v.delta) {
      const q = withRope(this.heads(this.q, x, this.numHeads, this.qNorm));
      return { q, ...this.projectKV(x, ropeTables) };
    }
    // One product, split into per-head views: heads [0, Hq) are q, then Hkv of k, then Hkv of v.
    const [b, t] = x.shape;
    const [hq, hkv] = [this.numHeads, this.numKvHeads];
    const all = this.qkv.forward(x).reshape([b, t, hq + 2 * hkv, this.headDim]);
    const normed = (h: Tensor, norm: RMSNorm | null): Tensor => (norm ? norm.forward(h) : h);
    const q = withRope(normed(all.narrow(2, 0, hq), this.qNorm));
    const k = withRope(normed(all.narrow(2, hq, hkv), this.kNorm));
    return { q, k, v: all.narrow(2, hq + hkv, hkv) };
  }

  /** `x [B, Tq, H]` -> `[B, Tq, H]`. */
  forward(x: Tensor, opts: AttentionOptions = {}): Tensor {
    if (x.ndim !== 3) throw new ShapeError(`Attention: expected x [B, T, H], got [${x.shape.join(',')}]`);
    const [b, t] = x.shape;
    const cross = opts.kvSource !== undefined || opts.kv !== undefined;
    if (cross && opts.cache) throw new ShapeError('Attention: a KV cache is for self-attention; cross-attention takes kv or kvSource');
    return tidy(() => {
      let q: Tensor;
      let k: Tensor;
      let v: Tensor;
      let qOffset = opts.qOffset ?? 0;
      if (cross) {
        q = this.heads(this.q, x, this.numHeads, this.qNorm);
        ({ k, v } = opts.kv ?? this.projectKV(opts.kvSource!));
      } else {
        ({ q, k, v } = this.projectQKV(x, opts.rope));
        if (opts.cache) {
          const c = opts.cache;
          const maxLen = c.k.shape[1];
          if (c.start < 0 || c.start + t > maxLen) {
            throw new ShapeError(`Attention: KV cache holds ${maxLen} positions; cannot write ${t} at ${c.start}`);
          }
          c.k.narrow(1, c.start, t).assign(k);
          c.v.narrow(1, c.start, t).assign(v);
          k = c.k.narrow(1, 0, c.start + t);
          v = c.v.narrow(1, 0, c.start + t);
          qOffset = opts.qOffset ?? c.start;
        }
      }
      const o = attention(q, k, v, {
        causal: opts.causal,
        qOffset,
        window: opts.window,
        keyMask: opts.keyMask,
        precision: opts.cache ? 'fp32' : this.precision,
      });
      return this.o.forward(o.reshape([b, t, this.numHeads * this.headDim]));
    });
  }

  dispose(): void {
    for (const m of [this.qkv, this.q, this.k, this.v, this.o, this.qNorm, this.kNorm]) m?.dispose();
  }
}

/**
 * Pre-norm transformer layer (`Qwen3DecoderLayer`, also the AceStep lyric/timbre encoder, pooler and
 * detokenizer layers): `x + self_attn(input_layernorm(x))`, then `x + mlp(post_attention_layernorm(x))`.
 * Tensors: `input_layernorm.weight [H]`, `self_attn.*` (see Attention), `post_attention_layernorm.weight [H]`,
 * `mlp.*` (see MLP) — 11 tensors without biases.
 */
export class DecoderLayer {
  readonly inputNorm: RMSNorm;
  readonly attn: Attention;
  readonly postNorm: RMSNorm;
  readonly mlp: MLP;

  constructor(w: Weights, cfg: AttentionConfig & { hidden?: number; intermediate?: number }) {
    this.inputNorm = new RMSNorm(w.sub('input_layernorm'), cfg.eps, { dim: cfg.hidden, device: cfg.device });
    const hidden = this.inputNorm.dim;
    this.attn = new Attention(w.sub('self_attn'), cfg);
    if (this.attn.q.inFeatures !== hidden) {
      throw new CheckpointError(
        `q_proj input ${this.attn.q.inFeatures} does not match hidden size ${hidden}`,
        w.label,
        w.full('self_attn.q_proj.weight'),
      );
    }
    this.postNorm = new RMSNorm(w.sub('post_attention_layernorm'), cfg.eps, { dim: hidden, device: cfg.device });
    this.mlp = new MLP(w.sub('mlp'), {
      hidden,
      intermediate: cfg.intermediate,
      fuse: cfg.fuse,
      quantize: cfg.quantize,
      device: cfg.device,
    });
  }

  forward(x: Tensor, opts: AttentionOptions = {}): Tensor {
    return tidy(() => {
      const h = add(x, this.attn.forward(this.inputNorm.forward(x), opts));
      return add(h, this.mlp.forward(this.postNorm.forward(h)));
    });
  }

  dispose(): void {
    this.inputNorm.dispose();
    this.attn.dispose();
    this.postNorm.dispose();
    this.mlp.dispose();
  }
}
