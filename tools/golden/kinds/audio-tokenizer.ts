// Golden kind for the audio tokenizer / detokenizer: 25 Hz latents (T not a multiple of 5,
// silence padded) -> pooler -> FSQ indices (exact) -> quantized -> 25 Hz hints, and item 0's
// code string through parse -> codebook lookup -> detokenizer.
import { openAceStepCheckpoint } from '../../../src/models/acestep-config.js';
import { AudioTokenizer, formatAudioCodes } from '../../../src/models/audio-tokenizer.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';
import { GoldenCaseError } from '../case.js';

const kind: CaseKind = {
  cases: ['audio_tokenizer'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const { ckpt, config, weights } = openAceStepCheckpoint(c.checkpoint);
    try {
      const tok = new AudioTokenizer(weights, config, dev);
      const latents = c.inputOn('latents', dev);
      const silence = c.inputOn('silence_latent', dev);
      const r = await tok.tokenize(latents, silence, c.input('attention_mask'));
      const hints = tok.detokenize(r.quantized);
      const codeString = c.params<{ codes_item0_string: string }>().codes_item0_string;
      const t5 = r.frames5Hz;
      // The handler formats item 0's indices as this string; check both directions.
      const ours = formatAudioCodes(r.indices.subarray(0, t5));
      if (ours !== codeString) throw new GoldenCaseError(c.dir, `formatted codes ${ours} differ from the manifest's ${codeString}`);
      const item0 = tok.hintsFromCodeString(codeString);
      return [
        { name: 'pooled', value: r.pooled },
        { name: 'fsq_projected_in', value: r.projectedIn },
        { name: 'quantized', value: r.quantized },
        { name: 'indices', value: r.indices, tol: 'exact' },
        { name: 'token_mask', value: r.tokenMask, tol: 'exact' },
        { name: 'lm_hints_25hz', value: hints },
        { name: 'codes_item0_indices', value: item0.indices, tol: 'exact' },
        { name: 'codes_item0_quantized', value: item0.quantized },
        { name: 'codes_item0_lm_hints_25hz', value: item0.hints },
      ] satisfies Actual[];
    } finally {
      ckpt.dispose();
    }
  },
};

export default kind;
