// The import-boundary rule (.dependency-cruiser.cjs): src/ must have no violation, and the rule
// must catch one — a synthetic tree where src/runtime imports src/pipeline and src/server imports
// src/cli is cruised with the same config and must report exactly those two.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const config = join(root, '.dependency-cruiser.cjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** Cruises `src` under `cwd` with the project's rules; returns the violations. */
function cruise(cwd: string): { violations: Violation[]; modules: number } {
  let out: string;
  try {
    out = execFileSync(process.execPath, [depcruiseBin(), 'src', '--config', config, '--output-type', 'json'], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    // depcruise exits non-zero when it finds errors; its report is still on stdout.
    out = (e as { stdout?: string }).stdout ?? '';
    if (!out) throw e;
  }
  const r = JSON.parse(out) as { summary: { violations: Violation[]; totalCruised: number } };
  return { violations: r.summary.violations, modules: r.summary.totalCruised };
}

/** The depcruise CLI script, in the nearest node_modules up from the repository (as Node looks). */
function depcruiseBin(): string {
  for (let dir = root; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) throw new Error('dependency-cruiser is not installed (npm install)');
  }
}

describe('import boundaries', () => {
  it('src/ imports only downwards (runtime -> io, text -> models -> pipeline -> server -> cli)', () => {
    const r = cruise(root);
    expect(r.modules).toBeGreaterThan(50);
    expect(r.violations.map((v) => `${v.from} -> ${v.to} (${v.rule.name})`)).toEqual([]);
  });

  it('reports a lower layer importing a higher one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'acestep-boundaries-'));
    try {
      const file = (path: string, text: string) => {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), text);
      };
      file(
        'tsconfig.json',
        JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
      );
      file('src/runtime/tensor.ts', "import { plan } from '../pipeline/plan.js';\nexport const t = plan;\n");
      file('src/pipeline/plan.ts', "import { io } from '../io/read.js';\nexport const plan = io;\n");
      file('src/io/read.ts', 'export const io = 1;\n');
      file('src/cli/main.ts', "import { plan } from '../pipeline/plan.js';\nexport const main = plan;\n");
      file('src/server/app.ts', "import { main } from '../cli/main.js';\nexport const serve = main;\n");
      const found = cruise(dir)
        .violations.map((v) => `${v.from} -> ${v.to} (${v.rule.name})`)
        .sort();
      expect(found).toEqual([
        'src/runtime/tensor.ts -> src/pipeline/plan.ts (runtime-imports-above)',
        'src/server/app.ts -> src/cli/main.ts (server-imports-above)',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
