// The CoT YAML emitter against PyYAML itself: test/fixtures/yaml/pyyaml-cases.json holds mappings
// and what yaml.dump(allow_unicode=True, sort_keys=True) emitted for them (quoting, folding at
// column 80, multi-line and non-ASCII captions). Output must match byte for byte.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cotMapping, dumpYaml, formatCot } from '../src/pipeline/lm/cot-yaml.js';

const corpus = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'yaml', 'pyyaml-cases.json'), 'utf8')) as {
  cases: { input: Record<string, string | number>; yaml: string }[];
};

describe('CoT YAML', () => {
  it.each(corpus.cases.map((c, i) => [i, c] as const))('matches PyYAML on case %i', (_, c) => {
    expect(dumpYaml(c.input)).toBe(c.yaml);
  });

  it('shortens N/4 time signatures, turns digit strings into ints and drops empty values', () => {
    expect(cotMapping({ bpm: '95', timesignature: '3/4', keyscale: '', caption: null, duration: '150' })).toEqual({
      bpm: 95,
      timesignature: 3,
      duration: 150,
    });
    expect(formatCot({ bpm: '95', timesignature: '4/4', language: 'no' })).toBe(
      "<think>\nbpm: 95\nlanguage: 'no'\ntimesignature: 4\n</think>",
    );
  });
});
