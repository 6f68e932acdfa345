// Golden kind for one DiT velocity evaluation: dit_decoder_forward (2B, f32 weights),
// dit_decoder_forward_bf16_weights (the same weights stored as BF16, read by the GEMM directly
// and upcast exactly everywhere else; compute in f32, so the fp32 tolerance applies) and
// xl_dit_decoder_forward (decoder width != encoder width).
import { collectTaps } from '../../../src/runtime/debug.js';
import { openAceStepCheckpoint } from '../../../src/models/acestep-config.js';
import { AceStepDiT } from '../../../src/models/dit.js';
import { quantizeLinearsW8A8, setPrecision } from '../../../src/models/layers.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';

/** The module path the DiT taps for an upstream output name (see src/runtime/debug.ts). */
function tapName(output: string): string {
  const layer = /^layer_(\d+)_out$/.exec(output);
  if (layer) return `decoder.layers.${layer[1]}`;
  const named: Record<string, string> = {
    temb: 'decoder:temb',
    timestep_proj: 'decoder:timestep_proj',
    hidden_after_proj_in: 'decoder.proj_in',
    encoder_hidden_states_projected: 'decoder.condition_embedder',
  };
  return named[output] ?? output;
}

const kind: CaseKind = {
  cases: ['dit_decoder_forward', 'dit_decoder_forward_bf16_weights', 'xl_dit_decoder_forward'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const { ckpt, config, weights } = openAceStepCheckpoint(c.checkpoint);
    try {
      const dit = new AceStepDiT(weights, config, dev);
      setPrecision(dit, opts.precision ?? 'fp32');
      if (opts.quantization === 'w8a8_dynamic') quantizeLinearsW8A8(dit);
      const hidden = c.inputOn('hidden_states', dev);
      const context = c.inputOn('context_latents', dev);
      const timestep = await c.input('timestep').toFloat32();
      const rAlt = await c.input('timestep_r_alt').toFloat32();
      const { result, taps } = await collectTaps(
        (n) => n.startsWith('decoder'),
        () => {
          const condition = dit.prepareCondition(c.inputOn('encoder_hidden_states', dev));
          return { condition, velocity: dit.forward({ hidden, context, timestep, condition }) };
        },
      );
      // Second call: r != t, reusing the cross-attention K/V of the first.
      const velocityRAlt = dit.forward({ hidden, context, timestep, timestepR: rAlt, condition: result.condition });
      const out: Actual[] = [
        { name: 'velocity', value: result.velocity },
        { name: 'velocity_r_alt', value: velocityRAlt },
      ];
      for (const name of c.outputs.names) {
        const v = taps.get(tapName(name));
        if (v) out.push({ name, value: v });
      }
      return out;
    } finally {
      ckpt.dispose();
    }
  },
};

export default kind;
