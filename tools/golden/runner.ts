// Runs golden cases through the registered case kinds and compares every output.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tidyAsync } from '../../src/runtime/scope.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { GoldenCase, GoldenCaseError, type Actual, type CaseKind, type RunOptions, type Tolerance } from './case.js';

export interface OutputResult {
  name: string;
  pass: boolean;
  exact: boolean;
  cosine?: number;
  maxAbsScaled?: number;
  mismatches?: number;
  tol?: Tolerance;
  note?: string;
}

export interface CaseResult {
  dir: string;
  kind: string;
  pass: boolean;
  outputs: OutputResult[];
  error?: string;
}

let kindsCache: CaseKind[] | null = null;

/** Every case kind in ./kinds (one module per kind, default export or `kind`). */
export async function loadKinds(): Promise<CaseKind[]> {
  if (kindsCache) return kindsCache;
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = `${here}/kinds`;
  const files = readdirSync(dir).filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts'));
  const kinds: CaseKind[] = [];
  for (const f of files) {
    const m = await import(pathToFileURL(`${dir}/${f}`).href);
    const k = (m.default ?? m.kind) as CaseKind | undefined;
    if (k) kinds.push(k);
  }
  kindsCache = kinds;
  return kinds;
}

async function values(v: Actual['value']): Promise<Float64Array> {
  if (v instanceof Tensor) {
    const d = await v.toFloat32IfFloat();
    return Float64Array.from(d as ArrayLike<number | bigint>, Number);
  }
  return Float64Array.from(v as ArrayLike<number | bigint>, Number);
}

function compare(name: string, got: Float64Array, want: Float64Array, tol: Tolerance | 'exact'): OutputResult {
  if (got.length !== want.length) {
    return { name, pass: false, exact: tol === 'exact', note: `length ${got.length}, expected ${want.length}` };
  }
  if (tol === 'exact') {
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) mismatches++;
    return { name, pass: mismatches === 0, exact: true, mismatches };
  }
  let maxAbs = 0,
    maxRef = 0,
    dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    maxRef = Math.max(maxRef, Math.abs(want[i]));
    dot += got[i] * want[i];
    na += got[i] * got[i];
    nb += want[i] * want[i];
  }
  const cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  const maxAbsScaled = maxAbs / Math.max(1, maxRef);
  return { name, pass: maxAbsScaled <= tol.maxAbs && cosine >= tol.cosine, exact: false, cosine, maxAbsScaled, tol };
}

export async function runGoldenCase(dir: string, opts: RunOptions): Promise<CaseResult> {
  const c = GoldenCase.load(dir);
  try {
    const kinds = await loadKinds();
    const kind = kinds.find((k) => k.cases.includes(c.manifest.case));
    if (!kind) throw new GoldenCaseError(c.dir, `no runner for case kind '${c.manifest.case}'`);
    return await tidyAsync(async () => {
      const actual = await kind.run(c, opts);
      const byName = new Map(actual.map((a) => [a.name, a]));
      const skipped = kind.notChecked?.(c) ?? {};
      const outputs: OutputResult[] = [];
      for (const name of c.outputs.names) {
        const a = byName.get(name);
        if (!a) {
          const why = skipped[name];
          outputs.push({ name, pass: why !== undefined, exact: false, note: why ? `not checked: ${why}` : 'not produced by the runner' });
          continue;
        }
        const e = c.expected(name);
        const want = await values(e);
        e.dispose();
        outputs.push(compare(name, await values(a.value), want, a.tol ?? c.tolerance()));
      }
      for (const a of actual) {
        if (!c.outputs.has(a.name)) outputs.push({ name: a.name, pass: false, exact: false, note: 'no such expected output' });
      }
      return { dir: c.dir, kind: c.manifest.case, pass: outputs.every((o) => o.pass), outputs };
    });
  } finally {
    c.close();
  }
}

export function formatResult(r: CaseResult): string {
  const lines = [`${r.pass ? 'PASS' : 'FAIL'} ${r.dir} (${r.kind})`];
  if (r.error) lines.push(`  error: ${r.error}`);
  for (const o of r.outputs) {
    const status = o.pass ? 'ok  ' : 'FAIL';
    if (o.note) lines.push(`  ${status} ${o.name}: ${o.note}`);
    else if (o.exact) lines.push(`  ${status} ${o.name}: exact, ${o.mismatches} mismatches`);
    else {
      lines.push(
        `  ${status} ${o.name}: cosine ${o.cosine!.toFixed(7)} (>= ${o.tol!.cosine}), max abs scaled ${o.maxAbsScaled!.toExponential(2)} (<= ${o.tol!.maxAbs})`,
      );
    }
  }
  return lines.join('\n');
}
