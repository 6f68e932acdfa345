// Golden kind text_encoder: Qwen3-Embedding (Qwen3Model, causal, no attention mask) final-norm
// hidden states for caption ids, and the bare embed_tokens lookup for lyric ids (spec §4.4, §5).
import { Qwen3Model } from '../../../models/qwen3.js';
import type { CaseKind, GoldenCase } from '../case.js';

const kind: CaseKind = {
  cases: ['text_encoder'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const model = Qwen3Model.load(c.checkpoint, { device: dev, lmHead: false });
    try {
      const text = c.input('text_input_ids');
      const lyric = c.input('lyric_input_ids');
      const onDev = (t: typeof text) => (t.device === dev ? t : t.toDevice(dev));
      return [
        { name: 'last_hidden_state', value: model.forward(onDev(text)) },
        { name: 'lyric_embeddings', value: model.embed(onDev(lyric)) },
      ];
    } finally {
      model.dispose();
    }
  },
};

export default kind;
