// Every golden case copied into test/fixtures/golden runs through the golden runner (the same
// code as `npm run golden`) on the CPU; tolerances come from each case's manifest and the
// fixture README (single forwards 1e-4 scaled / cosine 0.99999; 8-step samplers 1e-3 / 0.9999;
// ids exact).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatResult, loadKinds, runGoldenCase } from '../tools/golden/runner.js';
import { GoldenCase } from '../tools/golden/case.js';

const root = join(import.meta.dirname, 'fixtures', 'golden', 'cases');
const kinds = await loadKinds();
const handled = new Set(kinds.flatMap((k) => k.cases));
const dirs = readdirSync(root).sort();

describe('golden cases (cpu)', () => {
  for (const name of dirs) {
    const dir = join(root, name);
    const kind = GoldenCase.load(dir).manifest.case;
    // Cases whose kind has no runner yet are listed by the coverage test below, not skipped silently.
    if (!handled.has(kind)) continue;
    it(name, async () => {
      const r = await runGoldenCase(dir, { backend: 'cpu' });
      expect(r.pass, formatResult(r)).toBe(true);
    });
  }

  it('every fixture case kind has a runner', () => {
    const missing = dirs.filter((d) => !handled.has(GoldenCase.load(join(root, d)).manifest.case));
    expect(missing, `case kinds without a runner: ${missing.join(', ')}`).toEqual([]);
  });
});
