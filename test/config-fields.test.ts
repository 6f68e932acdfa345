// The declarative config.json reader every model's config goes through: defaults (constant and
// derived from earlier fields), absent vs null keys, typed errors naming the file and key.
import { describe, expect, it } from 'vitest';
import { enumList, finite, flag, intList, optional, optString, posInt, posNumber, readConfig } from '../src/io/config-fields.js';
import { CheckpointError } from '../src/io/errors.js';

const spec = {
  hidden: posInt('hidden_size'),
  heads: posInt('num_heads', 4),
  headDim: posInt('head_dim', (c) => (c.hidden as number) / (c.heads as number)),
  eps: posNumber('eps', 1e-6),
  theta: finite('theta', -1),
  tied: flag('tied', true),
  window: optional(posInt('window')),
  levels: intList('levels', 2, [8, 5]),
  kinds: enumList('kinds', ['a', 'b'] as const, ['a']),
  dtype: optString('dtype'),
};

describe('readConfig', () => {
  it('reads present keys and fills absent or null ones from their defaults', () => {
    const c = readConfig(
      { hidden_size: 64, num_heads: null, tied: false, window: 3, kinds: ['b', 'a'], dtype: 'bfloat16' },
      spec,
      'c.json',
    );
    expect(c).toEqual({
      hidden: 64,
      heads: 4,
      headDim: 16,
      eps: 1e-6,
      theta: -1,
      tied: false,
      window: 3,
      levels: [8, 5],
      kinds: ['b', 'a'],
      dtype: 'bfloat16',
    });
    expect(readConfig({ hidden_size: 8 }, spec, 'c.json').window).toBeNull();
  });

  it('checks a derived default like a value and says it was derived', () => {
    expect(() => readConfig({ hidden_size: 10, num_heads: 4 }, spec, 'c.json')).toThrow(
      /'head_dim' must be a positive integer, got 2\.5 \(derived: the key is absent\)/,
    );
  });

  it('names the file, the key and the bad value or element', () => {
    const bad = (json: Record<string, unknown>) => () => readConfig(json, spec, 'dir/config.json');
    expect(bad({})).toThrow(CheckpointError);
    expect(bad({})).toThrow(/^dir\/config\.json: config lacks 'hidden_size'$/);
    expect(bad({ hidden_size: 0 })).toThrow(/'hidden_size' must be a positive integer, got 0/);
    expect(bad({ hidden_size: 8, eps: 0 })).toThrow(/'eps' must be a positive number/);
    expect(bad({ hidden_size: 8, tied: 1 })).toThrow(/'tied' must be true or false/);
    expect(bad({ hidden_size: 8, levels: [8, 1] })).toThrow(/'levels' must be a non-empty list of integers >= 2/);
    expect(bad({ hidden_size: 8, kinds: ['a', 'c'] })).toThrow(/'kinds\[1\]' must be one of a, b, got "c"/);
  });
});
