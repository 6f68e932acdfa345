// Glue between the ACE-Step models and the sampler (UPSTREAM.md: Guidance, Task assembly, Cover
// strength and noise): builds a condition set the way upstream prepare_condition does (packed
// encoder states; context = [src | chunk mask] with cover items' src replaced by the FSQ round trip
// of their latents), doubles it for CFG with null_condition_emb as the unconditional encoder
// states, and wraps AceStepDiT as the sampler's velocity function with one cross-attention K/V set
// per condition.
import { ShapeError } from '../../runtime/errors.js';
import { concat, tidy, tidyAsync, keep, Tensor } from '../../runtime/index.js';
import type { AudioTokenizer } from '../../models/audio-tokenizer.js';
import type { ConditionEncoder, ConditionInputs } from '../../models/condition-encoder.js';
import type { AceStepDiT, DiTCondition } from '../../models/dit.js';
import type { AdapterSnapshot } from '../../models/lora.js';
import type { VelocityFn } from './sampler.js';

/** One condition set as the DiT consumes it. */
export interface DiTStepCondition {
  /** Packed encoder states `[B', S, H_enc]` (B' = 2B with guidance: [cond; null]). */
  encoderHiddenStates: Tensor;
  /** `[B', S]` 1 = valid token (the decoder ignores it, as upstream's does). */
  encoderAttentionMask: Tensor;
  /** `[src | chunk mask]` `[B', T, 2C]`. */
  contextLatents: Tensor;
  dispose(): void;
}

export interface ConditionSetInputs extends ConditionInputs {
  /** Source latents `[B, T, C]` (silence for text2music). */
  srcLatents: Tensor;
  /** `[B, T, C]` chunk mask, already expanded over channels. */
  chunkMasks: Tensor;
  /** Per item: 1 = cover (src becomes the FSQ round trip of its latents, or the given hints). */
  isCovers: ArrayLike<number>;
  /** `[1, Ts, C]` silence latent (pads the tokenizer input to a multiple of the pool window). */
  silenceLatent: Tensor;
  /** 25 Hz hints from LM codes `[B, >=T, C]`; used instead of the round trip when given. */
  precomputedHints?: Tensor;
}

function makeCondition(e: Tensor, m: Tensor, c: Tensor): DiTStepCondition {
  return {
    encoderHiddenStates: e,
    encoderAttentionMask: m,
    contextLatents: c,
    dispose() {
      e.dispose();
      m.dispose();
      c.dispose();
    },
  };
}

/**
 * upstream `prepare_condition`: runs the condition encoder and builds the context latents. The
 * round trip runs only when some item is a cover, since other items keep their src.
 */
export async function prepareDiTCondition(
  models: { encoder: ConditionEncoder; tokenizer: AudioTokenizer },
  inp: ConditionSetInputs,
): Promise<DiTStepCondition> {
  const src = inp.srcLatents;
  if (src.ndim !== 3) throw new ShapeError(`prepareDiTCondition: srcLatents must be [B, T, C], got [${src.shape.join(',')}]`);
  const [B, T, C] = src.shape;
  const cm = inp.chunkMasks;
  if (cm.ndim !== 3 || cm.shape[0] !== B || cm.shape[1] !== T || cm.shape[2] !== C) {
    throw new ShapeError(`prepareDiTCondition: chunkMasks must be [${B}, ${T}, ${C}], got [${cm.shape.join(',')}]`);
  }
  if (inp.isCovers.length !== B) throw new ShapeError(`prepareDiTCondition: ${inp.isCovers.length} isCovers flags for batch ${B}`);
  const hints = inp.precomputedHints;
  if (hints && (hints.ndim !== 3 || hints.shape[0] !== B || hints.shape[1] < T || hints.shape[2] !== C)) {
    throw new ShapeError(`prepareDiTCondition: precomputedHints must be [${B}, >=${T}, ${C}], got [${hints.shape.join(',')}]`);
  }
  const enc = await models.encoder.forward(inp);
  const covers = Array.from(inp.isCovers, (v) => v > 0);
  const context = await tidyAsync(async () => {
    let lm: Tensor | null = null;
    if (covers.some(Boolean)) {
      if (hints) lm = hints.narrow(1, 0, T);
      else {
        const tok = await models.tokenizer.tokenize(src, inp.silenceLatent);
        lm = models.tokenizer.detokenize(tok.quantized).narrow(1, 0, T);
      }
    }
    const rows = covers.map((isCover, b) => (isCover ? lm!.narrow(0, b, 1) : src.narrow(0, b, 1)));
    const chosen = B === 1 ? rows[0] : concat(rows, 0);
    return concat([chosen, cm.device === chosen.device ? cm : cm.toDevice(chosen.device)], 2);
  });
  return makeCondition(enc.encoderHiddenStates, enc.encoderAttentionMask, context);
}

/** The CFG batch [cond; uncond]: uncond encoder states are null_condition_emb broadcast. */
export function withNullCondition(cond: DiTStepCondition, nullConditionEmb: Tensor): DiTStepCondition {
  const e = cond.encoderHiddenStates;
  const h = e.shape[2];
  if (nullConditionEmb.numel !== h)
    throw new ShapeError(`withNullCondition: null_condition_emb has ${nullConditionEmb.numel} values, encoder width is ${h}`);
  const out = tidy(() => ({
    e: concat([e, nullConditionEmb.reshape([1, 1, h]).expand(e.shape)], 0),
    m: concat([cond.encoderAttentionMask, cond.encoderAttentionMask], 0),
    c: concat([cond.contextLatents, cond.contextLatents], 0),
  }));
  return makeCondition(out.e, out.m, out.c);
}

/**
 * The sampler's velocity function over AceStepDiT. Cross-attention K/V are computed once per
 * condition set and reused by every step that uses it (upstream's cache does the same; its
 * fresh cache for Heun's corrector recomputes identical values). dispose() frees them. With
 * `adapters`, every DiT call runs with that snapshot's adapter (K/V included); without, with
 * whatever the model has attached.
 */
export function ditVelocity(dit: AceStepDiT, adapters?: AdapterSnapshot): { velocity: VelocityFn<DiTStepCondition>; dispose(): void } {
  const cache = new Map<DiTStepCondition, DiTCondition>();
  const withAdapters = <T>(fn: () => T): T => (adapters ? adapters.run(fn) : fn());
  const velocity: VelocityFn<DiTStepCondition> = (x, t, cond) => {
    let kv = cache.get(cond);
    if (!kv) {
      kv = withAdapters(() => dit.prepareCondition(cond.encoderHiddenStates));
      for (const k of [kv.projected, ...kv.kv.flatMap((p) => [p.k, p.v])]) keep(k);
      cache.set(cond, kv);
    }
    const condition = kv;
    return withAdapters(() =>
      dit.forward({ hidden: x, timestep: new Float32Array(x.shape[0]).fill(t), context: cond.contextLatents, condition }),
    );
  };
  return {
    velocity,
    dispose() {
      for (const kv of cache.values()) kv.dispose();
      cache.clear();
    },
  };
}
