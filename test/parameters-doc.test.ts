// docs/PARAMETERS.md against src/pipeline/params.ts: every GenerationParams / GenerationConfig
// field has exactly one row, its upstream (snake_case) name resolves to the camelCase one, the
// documented default is the default, and each documented numeric range is the one resolveParams /
// resolveConfig enforce (both ends accepted unless open, just past them refused).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, DEFAULT_PARAMS, ParamError, resolveConfig, resolveParams } from '../src/index.js';

interface Row {
  upstream: string;
  camel: string;
  type: string;
  def: string;
  range: string;
}

function section(doc: string, title: string): Row[] {
  const start = doc.indexOf(`## ${title}\n`);
  expect(start, title).toBeGreaterThanOrEqual(0);
  const end = doc.indexOf('\n## ', start + 1);
  const rows: Row[] = [];
  for (const line of doc.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    // Split on cell bars, not on escaped ones inside code (`<\|audio_code_N\|>`).
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const code = (c: string) => /^`([^`]*)`$/.exec(c)?.[1] ?? c;
    rows.push({ upstream: code(cells[0]), camel: code(cells[1]), type: cells[2], def: code(cells[3]), range: cells[4] });
  }
  return rows;
}

const doc = readFileSync(new URL('../docs/PARAMETERS.md', import.meta.url), 'utf8');

function rejects(f: () => unknown, param: string): boolean {
  try {
    f();
    return false;
  } catch (e) {
    return e instanceof ParamError && e.param === param;
  }
}

for (const [title, defaults, resolve] of [
  ['GenerationParams', DEFAULT_PARAMS, (x: Record<string, unknown>) => resolveParams(x)],
  ['GenerationConfig', DEFAULT_CONFIG, (x: Record<string, unknown>) => resolveConfig(x)],
] as const) {
  describe(`docs/PARAMETERS.md: ${title}`, () => {
    const rows = section(doc, title);
    const dict = defaults as unknown as Record<string, unknown>;

    it('documents every field once, and nothing else', () => {
      expect(rows.map((r) => r.camel).sort()).toEqual(Object.keys(dict).sort());
    });

    it('upstream names resolve to the camelCase names; defaults are the defaults', () => {
      for (const r of rows) {
        const resolved = resolve({ [r.upstream]: dict[r.camel] }) as unknown as Record<string, unknown>;
        expect(resolved[r.camel], r.upstream).toEqual(dict[r.camel]);
        expect(JSON.parse(r.def), r.upstream).toEqual(dict[r.camel]);
      }
    });

    it('numeric ranges are the ones enforced', () => {
      let checked = 0;
      for (const r of rows) {
        if (!/^(int|number)( or null)?$/.test(r.type)) continue;
        const m = /^([[(])(-?[\d.]+), (-?[\d.]+)\]/.exec(r.range);
        if (!m) continue;
        checked++;
        const [lo, hi] = [Number(m[2]), Number(m[3])];
        const eps = r.type.startsWith('int') ? 1 : 1e-3;
        const at = (v: number) => () => resolve({ [r.upstream]: v });
        expect(rejects(at(hi), r.camel), `${r.upstream} = ${hi}`).toBe(false);
        expect(rejects(at(hi + eps), r.camel), `${r.upstream} = ${hi + eps}`).toBe(true);
        if (m[1] === '[') {
          expect(rejects(at(lo), r.camel), `${r.upstream} = ${lo}`).toBe(false);
          expect(rejects(at(lo - eps), r.camel), `${r.upstream} = ${lo - eps}`).toBe(true);
        }
      }
      expect(checked).toBeGreaterThan(title === 'GenerationParams' ? 25 : 1);
    });
  });
}

describe('README', () => {
  it('links the parameter reference', () => {
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain('docs/PARAMETERS.md');
  });
});
