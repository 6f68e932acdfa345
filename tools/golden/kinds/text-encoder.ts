// Golden kind text_encoder: Qwen3-Embedding (Qwen3Model, causal, no attention mask) final-norm
// hidden states for caption ids, and the bare embed_tokens lookup for lyric ids (UPSTREAM.md: Text
// encoder and caption prompt, Lyrics).
import { Qwen3Model } from '../../../src/models/qwen3.js';
import { setPrecision } from '../../../src/models/layers.js';
import type { CaseKind, GoldenCase } from '../case.js';

const kind: CaseKind = {
  cases: ['text_encoder'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const model = Qwen3Model.load(c.checkpoint, { device: dev, lmHead: false });
    setPrecision(model, opts.precision ?? 'fp32');
    try {
      return [
        { name: 'last_hidden_state', value: model.forward(c.inputOn('text_input_ids', dev)) },
        { name: 'lyric_embeddings', value: model.embed(c.inputOn('lyric_input_ids', dev)) },
      ];
    } finally {
      model.dispose();
    }
  },
};

export default kind;
