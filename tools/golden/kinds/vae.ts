// Golden kind for the Oobleck VAE: decode of given latents, and encode of given audio to the raw
// encoder output and the posterior mean / std (upstream samples; the fixture stores the
// deterministic parts).
import { OobleckVae } from '../../../src/models/vae.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';

const kind: CaseKind = {
  cases: ['vae'],
  async run(c: GoldenCase, opts) {
    const vae = OobleckVae.load(c.checkpoint, { device: opts.backend });
    vae.setPrecision(opts.precision ?? 'fp32');
    try {
      const decoded = vae.decode(c.inputOn('latents', opts.backend));
      const raw = vae.encodeRaw(c.inputOn('audio', opts.backend));
      const { mean, std } = vae.posterior(raw);
      return [
        { name: 'decoded_audio', value: decoded },
        { name: 'encoder_raw', value: raw },
        { name: 'posterior_mean', value: mean },
        { name: 'posterior_std', value: std },
      ] satisfies Actual[];
    } finally {
      vae.dispose();
    }
  },
};

export default kind;
