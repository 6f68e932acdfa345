// The bidirectional pre-norm encoder stack ACE-Step uses four times (lyric encoder, timbre
// encoder, attention pooler, detokenizer; spec §7-9): N Qwen3-style layers with RoPE positions
// 0..T-1, the sliding window on the layers the config marks "sliding", an optional key padding
// mask, and a final RMSNorm. The caller does the per-stack embedding and token handling.
import { ropeTables, tidy, type Device, type Tensor } from '../runtime/index.js';
import { isSlidingLayer, type AceStepConfig } from './acestep-config.js';
import { DecoderLayer, RMSNorm, type Weights } from './layers.js';

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

  /** `h [B, T, H]` -> normed `[B, T, H]`; `keyMask [B, T]` (nonzero = real token) masks keys only. */
  forward(h: Tensor, keyMask?: Tensor): Tensor {
    return tidy(() => {
      const t = h.shape[1];
      const positions = Array.from({ length: t }, (_, i) => i);
      const rope = ropeTables(positions, this.cfg.headDim, this.cfg.ropeTheta, h.device);
      let x = h;
      this.layers.forEach((layer, i) => {
        const window = isSlidingLayer(this.cfg, i) ? this.cfg.slidingWindow! : undefined;
        x = layer.forward(x, { rope, window, keyMask });
      });
      return this.norm.forward(x);
    });
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.norm.dispose();
  }
}
