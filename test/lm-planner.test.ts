// The two-phase plan without tracing takes the device-side codes mask (no host readback per
// step); it must choose exactly the codes of the golden greedy run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Qwen3Model } from '../src/models/qwen3.js';
import { TextTokenizer } from '../src/text/index.js';
import { planWithLm } from '../src/pipeline/lm/planner.js';

const root = join(import.meta.dirname, 'fixtures', 'golden');
const manifest = JSON.parse(readFileSync(join(root, 'cases', 'lm_two_phase_greedy', 'manifest.json'), 'utf8'));

describe('LM planner', () => {
  it('reproduces the golden greedy codes on the fast codes path', async () => {
    const s = manifest.params.scenarios.all_metas;
    const model = Qwen3Model.load(join(root, 'checkpoints', 'acestep-5Hz-lm-tiny-fullvocab'));
    const tokenizer = TextTokenizer.load(join(root, 'checkpoints', 'acestep-5Hz-lm-tokenizer'));
    try {
      const i = s.inputs;
      const tokens: number[] = [];
      const plan = await planWithLm(
        { model, tokenizer },
        {
          caption: i.caption,
          lyrics: i.lyrics,
          userMetadata: i.user_metadata,
          targetDuration: i.target_duration,
          temperature: 0,
          cfgScale: i.cfg_scale,
          negativePrompt: i.negative_prompt,
          maxDuration: i.max_duration,
          onToken: (phase, t) => phase === 2 && tokens.push(t[0]),
        },
      );
      expect(plan.phase1).toBeNull();
      expect(plan.audioCodes).toBe(s.result.audio_codes);
      expect(plan.codes.length).toBe(20);
      expect(tokens[tokens.length - 1]).toBe(tokenizer.eosTokenId);
    } finally {
      model.dispose();
    }
  });
});
