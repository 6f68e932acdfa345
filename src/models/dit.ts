// The ACE-Step 1.5 DiT decoder (`AceStepDiTModel`, UPSTREAM.md: DiT decoder; XL per
// test/fixtures/golden/README.md): one call is one velocity evaluation v(x_t, t, r | encoder
// states, context latents). Patchify (Conv1d k=s=2 as a GEMM over frame pairs), the two timestep
// embeddings (t and t-r), the condition embedder, AdaLN layers (self-attention with RoPE and the
// sliding window on "sliding" layers, ungated cross-attention without mask, gated SwiGLU MLP),
// output modulation and unpatchify (ConvTranspose1d k=s=2 as a GEMM). Cross-attention K/V depend
// only on the encoder states, so `prepareCondition` computes them once per sequence for every
// sampler step to reuse.
//
// The pipeline is responsible for the minimum of 128 latent frames (UPSTREAM.md: Task assembly):
// this model runs on whatever T it is given.
import { ShapeError } from '../runtime/errors.js';
import {
  add,
  concat,
  DisposableStack,
  gatedAdd,
  linear,
  modulate,
  pad,
  ropeTables,
  silu,
  tap,
  tidy,
  Tensor,
  type Device,
} from '../runtime/index.js';
import { f32Param, isSlidingLayer, type AceStepConfig } from './acestep-config.js';
import { Attention, Linear, MLP, modelDevice, place, RMSNorm, type Weights } from './layers.js';

/**
 * The sinusoid the timestep MLP sees, `[cos(a·f_k) | sin(a·f_k)]` with a = t·1000 and
 * f_k = exp(-ln(10000)·k/half), each step rounded to float32 as upstream computes it in f32.
 */
export function timestepSinusoid(t: ArrayLike<number>, channels: number): Float32Array {
  const half = channels / 2;
  const f = Math.fround;
  const out = new Float32Array(t.length * channels);
  const negLog = f(-Math.log(10000));
  const freqs = Array.from({ length: half }, (_, k) => f(Math.exp(f(f(negLog * k) / half))));
  for (let b = 0; b < t.length; b++) {
    const a = f(f(t[b]) * 1000);
    for (let k = 0; k < half; k++) {
      const arg = f(a * freqs[k]);
      out[b * channels + k] = f(Math.cos(arg));
      out[b * channels + half + k] = f(Math.sin(arg));
    }
  }
  return out;
}

/** `TimestepEmbedding`: linear_1 -> silu -> linear_2 = temb; time_proj(silu(temb)) = 6 modulation rows. */
class TimestepEmbedding {
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly timeProj: Linear;

  constructor(w: Weights, hidden: number, device?: Device) {
    this.linear1 = new Linear(w.sub('linear_1'), { outFeatures: hidden, device });
    this.linear2 = new Linear(w.sub('linear_2'), { inFeatures: hidden, outFeatures: hidden, device });
    this.timeProj = new Linear(w.sub('time_proj'), { inFeatures: hidden, outFeatures: 6 * hidden, device });
  }

  forward(t: ArrayLike<number>, device: Device): { temb: Tensor; proj: Tensor } {
    const ch = this.linear1.inFeatures;
    const hidden = this.linear2.outFeatures;
    return tidy(() => {
      const emb = Tensor.fromArray(timestepSinusoid(t, ch), [t.length, ch], { device });
      const temb = this.linear2.forward(silu(this.linear1.forward(emb)));
      const proj = this.timeProj.forward(silu(temb)).reshape([t.length, 6, hidden]);
      return { temb, proj };
    });
  }

  dispose(): void {
    this.linear1.dispose();
    this.linear2.dispose();
    this.timeProj.dispose();
  }
}

class DiTLayer {
  readonly selfNorm: RMSNorm;
  readonly selfAttn: Attention;
  readonly crossNorm: RMSNorm;
  readonly crossAttn: Attention;
  readonly mlpNorm: RMSNorm;
  readonly mlp: MLP;
  /** `[1, 6, H]` f32: shift, scale, gate, c_shift, c_scale, c_gate offsets. */
  readonly table: Tensor;

  constructor(
    w: Weights,
    cfg: AceStepConfig,
    readonly window: number | undefined,
    device?: Device,
  ) {
    const h = cfg.hiddenSize;
    const eps = cfg.rmsNormEps;
    const attn = { numHeads: cfg.numAttentionHeads, numKvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim, eps, device };
    this.selfNorm = new RMSNorm(w.sub('self_attn_norm'), eps, { dim: h, device });
    this.selfAttn = new Attention(w.sub('self_attn'), attn);
    this.crossNorm = new RMSNorm(w.sub('cross_attn_norm'), eps, { dim: h, device });
    this.crossAttn = new Attention(w.sub('cross_attn'), attn);
    this.mlpNorm = new RMSNorm(w.sub('mlp_norm'), eps, { dim: h, device });
    this.mlp = new MLP(w.sub('mlp'), { hidden: h, intermediate: cfg.intermediateSize, device });
    this.table = f32Param(w, 'scale_shift_table', [1, 6, h], device);
    if (this.crossAttn.k.inFeatures !== h) {
      throw new ShapeError(`DiT ${w.prefix}.cross_attn.k_proj reads width ${this.crossAttn.k.inFeatures}, expected the decoder width ${h}`);
    }
  }

  forward(h: Tensor, tproj: Tensor, rope: { cos: Tensor; sin: Tensor }, kv: { k: Tensor; v: Tensor }): Tensor {
    return tidy(() => {
      const mod = add(this.table, tproj);
      const [shift, scale, gate, cShift, cScale, cGate] = [0, 1, 2, 3, 4, 5].map((i) => mod.narrow(1, i, 1));
      const a = this.selfAttn.forward(modulate(this.selfNorm.forward(h), shift, scale), { rope, window: this.window });
      let x = gatedAdd(h, a, gate);
      x = add(x, this.crossAttn.forward(this.crossNorm.forward(x), { kv }));
      const m = this.mlp.forward(modulate(this.mlpNorm.forward(x), cShift, cScale));
      return gatedAdd(x, m, cGate);
    });
  }

  dispose(): void {
    for (const m of [this.selfNorm, this.selfAttn, this.crossNorm, this.crossAttn, this.mlpNorm, this.mlp]) m.dispose();
    this.table.dispose();
  }
}

/** Encoder states projected to the decoder width and each layer's cross-attention K/V. */
export interface DiTCondition {
  /** `condition_embedder(encoder_hidden_states)` `[B, S, H]`. */
  projected: Tensor;
  /** Per layer `[B, S, Hkv, D]` keys (k_norm applied) and values. */
  kv: { k: Tensor; v: Tensor }[];
  dispose(): void;
}

export interface DiTInputs {
  /** Noisy latents x_t `[B, T, C]`. */
  hidden: Tensor;
  /** Per-item time t `[B]`. */
  timestep: ArrayLike<number>;
  /** Per-item r `[B]`; default r = t (inference), so time_embed_r sees t - r = 0. */
  timestepR?: ArrayLike<number>;
  /** `[src | chunk_mask]` `[B, T, in_channels - C]`. */
  context: Tensor;
  /** From `prepareCondition` (reused across sampler steps). */
  condition: DiTCondition;
}

export class AceStepDiT {
  readonly timeEmbed: TimestepEmbedding;
  readonly timeEmbedR: TimestepEmbedding;
  readonly conditionEmbedder: Linear;
  readonly layers: DiTLayer[];
  readonly normOut: RMSNorm;
  readonly outTable: Tensor;
  /** proj_in as a Linear over one patch: `[H, patch * in_channels]` with (frame, channel) order. */
  readonly projInW: Tensor;
  readonly projInB: Tensor;
  /** proj_out as a Linear: `[patch * C, H]` with (frame, channel) output order; bias repeated per frame. */
  readonly projOutW: Tensor;
  readonly projOutB: Tensor;

  /** The device the weights live on (modelDevice: the default backend unless given). */
  readonly device: Device;

  /** `w` is the checkpoint root (tensors `decoder.*`). */
  constructor(
    w: Weights,
    readonly cfg: AceStepConfig,
    device?: Device,
  ) {
    this.device = device = modelDevice(device);
    // A failure part-way frees what was built (the stack is emptied once everything loaded).
    using built = new DisposableStack();
    const d = w.sub('decoder');
    const h = cfg.hiddenSize;
    const p = cfg.patchSize;
    const c = cfg.audioAcousticHiddenDim;
    this.timeEmbed = built.use(new TimestepEmbedding(d.sub('time_embed'), h, device));
    this.timeEmbedR = built.use(new TimestepEmbedding(d.sub('time_embed_r'), h, device));
    this.conditionEmbedder = built.use(
      new Linear(d.sub('condition_embedder'), { inFeatures: cfg.encoderHiddenSize, outFeatures: h, device }),
    );
    this.layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) =>
      built.use(new DiTLayer(d.sub(`layers.${i}`), cfg, isSlidingLayer(cfg, i) ? cfg.slidingWindow! : undefined, device)),
    );
    this.normOut = built.use(new RMSNorm(d.sub('norm_out'), cfg.rmsNormEps, { dim: h, device }));
    this.outTable = built.use(f32Param(d, 'scale_shift_table', [1, 2, h], device));

    using inW = d.getShaped('proj_in.1.weight', [h, cfg.inChannels, p]);
    this.projInW = built.use(
      tidy(() =>
        place(
          inW
            .permute([0, 2, 1])
            .contiguous()
            .reshape([h, p * cfg.inChannels]),
          device,
        ),
      ),
    );
    this.projInB = built.use(f32Param(d, 'proj_in.1.bias', [h], device));
    using outW = d.getShaped('proj_out.1.weight', [h, c, p]);
    this.projOutW = built.use(
      tidy(() =>
        place(
          outW
            .permute([2, 1, 0])
            .contiguous()
            .reshape([p * c, h]),
          device,
        ),
      ),
    );
    this.projOutB = built.use(
      tidy(() => {
        const b = f32Param(d, 'proj_out.1.bias', [c], device);
        return concat(new Array<Tensor>(p).fill(b), 0);
      }),
    );
    built.move();
  }

  /** `encoderHiddenStates [B, S, encoder_hidden_size]` -> projected states and per-layer cross K/V. */
  prepareCondition(encoderHiddenStates: Tensor): DiTCondition {
    const e = encoderHiddenStates;
    if (e.ndim !== 3 || e.shape[2] !== this.cfg.encoderHiddenSize) {
      throw new ShapeError(`DiT: encoder states must be [B, S, ${this.cfg.encoderHiddenSize}], got [${e.shape.join(',')}]`);
    }
    const { projected, kv } = tidy(() => {
      const projected = tap('decoder.condition_embedder', this.conditionEmbedder.forward(e));
      return { projected, kv: this.layers.map((l) => l.crossAttn.projectKV(projected)) };
    });
    return {
      projected,
      kv,
      dispose() {
        projected.dispose();
        for (const { k, v } of kv) {
          k.dispose();
          v.dispose();
        }
      },
    };
  }

  /** One velocity evaluation -> `[B, T, C]`. */
  forward(inp: DiTInputs): Tensor {
    const { hidden: x, context: ctx, condition } = inp;
    const { cfg } = this;
    const c = cfg.audioAcousticHiddenDim;
    if (x.ndim !== 3 || x.shape[2] !== c) throw new ShapeError(`DiT: hidden must be [B, T, ${c}], got [${x.shape.join(',')}]`);
    const [b, t] = x.shape;
    if (t < 1) throw new ShapeError('DiT: hidden has no frames');
    const ctxCh = cfg.inChannels - c;
    if (ctx.ndim !== 3 || ctx.shape[0] !== b || ctx.shape[1] !== t || ctx.shape[2] !== ctxCh) {
      throw new ShapeError(`DiT: context must be [${b}, ${t}, ${ctxCh}], got [${ctx.shape.join(',')}]`);
    }
    if (inp.timestep.length !== b) throw new ShapeError(`DiT: ${inp.timestep.length} timesteps for batch ${b}`);
    const tr = inp.timestepR ?? inp.timestep;
    if (tr.length !== b) throw new ShapeError(`DiT: ${tr.length} r values for batch ${b}`);
    if (condition.kv.length !== this.layers.length || condition.projected.shape[0] !== b) {
      throw new ShapeError(
        `DiT: condition is for batch ${condition.projected.shape[0]} / ${condition.kv.length} layers, the call has batch ${b} / ${this.layers.length} layers`,
      );
    }
    const h = cfg.hiddenSize;
    const p = cfg.patchSize;
    const dev = x.device;

    return tidy(() => {
      const f = Math.fround;
      const tMinusR = Array.from({ length: b }, (_, i) => f(f(inp.timestep[i]) - f(tr[i])));
      const e1 = this.timeEmbed.forward(inp.timestep, dev);
      const e2 = this.timeEmbedR.forward(tMinusR, dev);
      const temb = tap('decoder:temb', add(e1.temb, e2.temb));
      const tproj = tap('decoder:timestep_proj', add(e1.proj, e2.proj));

      // Patchify: [ctx | x] channels, zero-pad T to a multiple of the patch, one GEMM per patch.
      let hcat = concat([ctx, x], 2);
      const s = Math.ceil(t / p);
      if (s * p !== t) hcat = pad(hcat, 1, 0, s * p - t);
      let hs = tap('decoder.proj_in', this.patchLinear(hcat.reshape([b, s, p * cfg.inChannels])));

      const rope = ropeTables(
        Array.from({ length: s }, (_, i) => i),
        cfg.headDim,
        cfg.ropeTheta,
        dev,
      );
      this.layers.forEach((layer, i) => {
        hs = tap(`decoder.layers.${i}`, layer.forward(hs, tproj, rope, condition.kv[i]));
      });

      const mod = add(this.outTable, temb.reshape([b, 1, h]));
      const y = modulate(this.normOut.forward(hs), mod.narrow(1, 0, 1), mod.narrow(1, 1, 1));
      const out = this.unpatchLinear(y).reshape([b, s * p, c]);
      return s * p === t ? out : out.narrow(1, 0, t).contiguous();
    });
  }

  /**
   * Every Linear of the decoder by its upstream module path relative to `decoder` (what PEFT and
   * LyCORIS adapters name: `layers.3.cross_attn.k_proj`, `time_embed.linear_1`, ...). proj_in and
   * proj_out are convolutions upstream, so they are not listed.
   */
  linearModules(): Map<string, Linear> {
    const m = new Map<string, Linear>();
    for (const [name, te] of [
      ['time_embed', this.timeEmbed],
      ['time_embed_r', this.timeEmbedR],
    ] as const) {
      m.set(`${name}.linear_1`, te.linear1);
      m.set(`${name}.linear_2`, te.linear2);
      m.set(`${name}.time_proj`, te.timeProj);
    }
    m.set('condition_embedder', this.conditionEmbedder);
    this.layers.forEach((l, i) => {
      for (const [name, a] of [
        ['self_attn', l.selfAttn],
        ['cross_attn', l.crossAttn],
      ] as const) {
        for (const p of ['q', 'k', 'v', 'o'] as const) m.set(`layers.${i}.${name}.${p}_proj`, a[p]);
      }
      m.set(`layers.${i}.mlp.gate_proj`, l.mlp.gate);
      m.set(`layers.${i}.mlp.up_proj`, l.mlp.up);
      m.set(`layers.${i}.mlp.down_proj`, l.mlp.down);
    });
    return m;
  }

  private patchLinear(x: Tensor): Tensor {
    return linear(x, this.projInW, this.projInB);
  }

  private unpatchLinear(x: Tensor): Tensor {
    return linear(x, this.projOutW, this.projOutB);
  }

  dispose(): void {
    for (const m of [this.timeEmbed, this.timeEmbedR, this.conditionEmbedder, ...this.layers, this.normOut]) m.dispose();
    for (const t of [this.outTable, this.projInW, this.projInB, this.projOutW, this.projOutB]) t.dispose();
  }
}
