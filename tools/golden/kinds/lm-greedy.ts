// Golden kind lm_greedy: the 5 Hz LM architecture (Qwen3ForCausalLM, tied head) — prompt logits
// without a cache, greedy decoding through the real sampling loop, each cached single-token forward,
// and one uncached forward over prompt + generated tokens.
import { Tensor } from '../../../src/runtime/tensor.js';
import { concat } from '../../../src/runtime/ops/shape.js';
import { Qwen3Model } from '../../../src/models/qwen3.js';
import { generate } from '../../../src/pipeline/lm/sampling-loop.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';

const kind: CaseKind = {
  cases: ['lm_greedy'],
  async run(c: GoldenCase, opts) {
    const dev = opts.backend;
    const model = Qwen3Model.load(c.checkpoint, { device: dev });
    try {
      const input = c.input('input_ids');
      const prompt = Array.from(input.dataSync() as BigInt64Array, Number);
      input.dispose();
      const steps = c.params<{ decode_steps?: number }>().decode_steps ?? 8;
      const ids = Tensor.fromArray(Int32Array.from(prompt), [1, prompt.length], { device: dev });
      const promptLogits = model.logits(ids);

      const gen = await generate(model, { prompts: [prompt], maxNewTokens: steps + 1, temperature: 0 });
      const generated = gen.tokens[0];

      // The cached path step by step: prefill, then feed generated[k] at position len(prompt) + k.
      const cache = model.createCache(1, prompt.length + steps);
      const stepLogits: Tensor[] = [];
      try {
        model.logits(ids, { cache, lastOnly: true }).dispose();
        for (let k = 0; k < steps; k++) {
          const one = Tensor.fromArray(Int32Array.of(generated[k]), [1, 1], { device: dev });
          stepLogits.push(model.logits(one, { cache }).reshape([1, -1]));
        }
      } finally {
        cache.dispose();
      }
      const full = [...prompt, ...generated.slice(0, steps)];
      const fullLogits = model.logits(Tensor.fromArray(Int32Array.from(full), [1, full.length], { device: dev }));
      const out: Actual[] = [
        { name: 'prompt_logits', value: promptLogits },
        { name: 'generated_ids', value: generated, tol: 'exact' },
        { name: 'step_logits', value: concat(stepLogits, 0) },
        { name: 'full_sequence_logits_nocache', value: fullLogits },
      ];
      return out;
    } finally {
      model.dispose();
    }
  },
};

export default kind;
