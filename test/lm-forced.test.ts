// Forced tokens (the constrained decoder's fixed text and single-choice values) are fed without
// their step's head and sampling, several per forward. The FSM must name exactly the token its
// mask would leave, and a plan that jumps over forced tokens must choose what a plan that takes
// every step through the logits chooses.
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Qwen3Model } from '../src/models/qwen3.js';
import { TextTokenizer } from '../src/text/index.js';
import { FsmTables, fsmTokenizer, MetadataFsm, type FsmConfig } from '../src/pipeline/lm/fsm.js';
import { planMetadata } from '../src/pipeline/lm/planner.js';

const root = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');
const tok = TextTokenizer.load(join(root, 'acestep-5Hz-lm-tokenizer'));
const tables = new FsmTables(fsmTokenizer(tok));
const CAPTION = 'A warm acoustic ballad with fingerpicked guitar, soft brushed drums and a breathy male vocal.';
const LYRICS = '[Verse]\nSlow rain on the window\nCoffee going cold\n\n[Chorus]\nStay a little longer\nBefore the night gets old';

/** xorshift32 in [0, 1): the logits of the property test. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe('MetadataFsm.forcedNext', () => {
  const configs: [string, Partial<FsmConfig>][] = [
    ['free metadata', {}],
    ['user bpm and key', { userMetadata: { bpm: '120', keyscale: 'C major' } }],
    ['target duration', { targetDuration: 95 }],
    ['language on', { skipLanguage: false }],
    ['every field from the user', { userMetadata: { bpm: '90', duration: '30', keyscale: 'A minor', timesignature: '3', language: 'en' } }],
  ];
  for (const [name, extra] of configs) {
    it(`names the one token process() leaves whenever it names one, and changes nothing (${name})`, () => {
      let forced = 0,
        free = 0;
      for (let seed = 1; seed <= 6; seed++) {
        const fsm = new MetadataFsm(tables, {
          phase: 'cot',
          stopAtReasoning: true,
          skipCaption: true,
          skipLanguage: true,
          skipGenres: true,
          targetDuration: null,
          ...extra,
        });
        const next = rng(seed * 7919 + name.length);
        const seq: number[] = [];
        const logits = new Float32Array(tables.tok.vocabSize);
        for (let step = 0; step < 200 && fsm.state !== 'COMPLETED' && fsm.state !== 'CODES_GENERATION'; step++) {
          for (let i = 0; i < logits.length; i++) logits[i] = next() * 4;
          const f = fsm.forcedNext();
          expect(fsm.forcedNext(), `asked twice at step ${step}`).toBe(f);
          fsm.process(logits, seq);
          const allowed: number[] = [];
          for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity) allowed.push(i);
          if (f !== null) {
            expect(allowed, `step ${step} in ${fsm.state}`).toEqual([f]);
            forced++;
          } else free++;
          let best = allowed[0];
          for (const i of allowed) if (logits[i] > logits[best]) best = i;
          seq.push(best);
          fsm.update(best);
          if (best === tok.eosTokenId) break;
        }
      }
      // The template's names and the single-choice values are forced; some values are free.
      expect(forced).toBeGreaterThan(free);
      if (name !== 'every field from the user') expect(free).toBeGreaterThan(0);
    });
  }
});

describe('Phase 1 over forced tokens', () => {
  it('samples the same CoT as a run that takes every step through the logits, in fewer forwards', async () => {
    const model = Qwen3Model.load(join(root, 'acestep-5Hz-lm-tiny-fullvocab'));
    try {
      const forward = vi.spyOn(model, 'forward');
      const run = async (traced: boolean) => {
        forward.mockClear();
        const r = await planMetadata(
          { model, tokenizer: tok },
          {
            caption: CAPTION,
            lyrics: LYRICS,
            temperature: 0.85,
            topP: 0.9,
            cfgScale: 2,
            seed: 11,
            useCotCaption: false,
            // A trace sees every step's logits, so it turns the jump over forced tokens off.
            trace: traced ? () => undefined : undefined,
          },
        );
        return { chosen: r.phase1!.chosen, forwards: forward.mock.calls.length };
      };
      const stepwise = await run(true);
      const jumped = await run(false);
      expect(jumped.chosen).toEqual(stepwise.chosen);
      expect(stepwise.forwards).toBe(stepwise.chosen.length);
      // Phase 1 of this CoT is mostly template text: well under half the forwards.
      expect(jumped.forwards).toBeLessThan(stepwise.forwards / 2);
      forward.mockRestore();
    } finally {
      model.dispose();
    }
  });
});
