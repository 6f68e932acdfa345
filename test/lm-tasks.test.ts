// LM helper tasks on the tiny full-vocabulary LM (random weights): the FSM must still yield
// well-formed metadata (values inside the FSM's ranges), user fields must be injected verbatim,
// and a fixed seed must reproduce the output.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Qwen3Model } from '../src/models/qwen3.js';
import { TextTokenizer } from '../src/text/index.js';
import { createSampleFromQuery, formatSampleText, understandCodes } from '../src/pipeline/lm/tasks.js';
import { VALID_KEYSCALES, VALID_LANGUAGES } from '../src/pipeline/lm/music-vocabulary.js';
import type { LmBundle } from '../src/pipeline/lm/planner.js';

const ckpts = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');
let lm: LmBundle;

beforeAll(() => {
  lm = {
    model: Qwen3Model.load(join(ckpts, 'acestep-5Hz-lm-tiny-fullvocab')),
    tokenizer: TextTokenizer.load(join(ckpts, 'acestep-5Hz-lm-tokenizer')),
  };
});
afterAll(() => lm.model.dispose());

// A small duration range and context keep the token budget (and the test) short.
const opts = { maxDuration: 20, seed: 3, temperature: 0.9, maxModelLen: 320 };

function checkMetadata(m: Record<string, unknown>): void {
  if (m.bpm !== undefined) (expect(Number(m.bpm)).toBeGreaterThanOrEqual(30), expect(Number(m.bpm)).toBeLessThanOrEqual(300));
  if (m.duration !== undefined) (expect(Number(m.duration)).toBeGreaterThanOrEqual(10), expect(Number(m.duration)).toBeLessThanOrEqual(20));
  if (m.keyscale !== undefined) expect(VALID_KEYSCALES).toContain(m.keyscale);
  if (m.language !== undefined) expect(VALID_LANGUAGES).toContain(m.language);
  if (m.timesignature !== undefined) expect(['2', '3', '4', '6']).toContain(m.timesignature);
}

describe('LM helper tasks (random tiny LM)', () => {
  it('formatSample injects the user fields and keeps values in range', async () => {
    const r = await formatSampleText(lm, 'lofi beat', '[Instrumental]', { bpm: 92, keyscale: 'D minor', language: 'en' }, opts);
    expect(r.text.startsWith('<think>\nbpm: 92\n')).toBe(true);
    expect(r.metadata.bpm).toBe(92);
    checkMetadata(r.metadata as Record<string, unknown>);
    expect(r.metadata.lyrics).toBeTypeOf('string');
  });

  it('createSample is reproducible with a seed and echoes instrumental', async () => {
    const a = await createSampleFromQuery(lm, 'a calm piano piece', true, 'en', opts);
    const b = await createSampleFromQuery(lm, 'a calm piano piece', true, 'en', opts);
    expect(a.text).toBe(b.text);
    expect(a.metadata.instrumental).toBe(true);
    checkMetadata(a.metadata as Record<string, unknown>);
  });

  it('understand rejects a string without codes and parses metadata from codes', async () => {
    await expect(understandCodes(lm, 'no codes here')).rejects.toThrow(/audio_code/);
    const r = await understandCodes(lm, '<|audio_code_1|><|audio_code_2|><|audio_code_3|>', opts);
    expect(r.text.startsWith('<think>\nbpm:')).toBe(true);
    checkMetadata(r.metadata as Record<string, unknown>);
  });
});
