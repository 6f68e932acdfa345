// Benchmark entry (`npm run bench -- [--json] [--quick] [--suite NAME,...] [--filter REGEX] [--threads N]`): loads every
// bench/*.js module that exports `suites()` (see bench/suite.ts for the interface), runs the suites
// one after another and prints one row per measurement — a JSON object per line with --json, an
// aligned table otherwise.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { native } from '../src/runtime/native.js';
import type { BenchContext, BenchRow, Suite } from './suite.js';

function parseArgs(argv: string[]) {
  const opts = { json: false, quick: false, filter: null as RegExp | null, threads: 0, suites: null as string[] | null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--filter') opts.filter = new RegExp(argv[++i] ?? '');
    else if (a === '--threads') opts.threads = Number(argv[++i]);
    else if (a === '--suite') opts.suites = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--json] [--quick] [--suite NAME,...] [--filter REGEX] [--threads N]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument '${a}'\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.threads) || opts.threads < 0) {
    process.stderr.write('bench: --threads needs a non-negative integer\n');
    process.exit(2);
  }
  return opts;
}

async function loadSuites(): Promise<Suite[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const files = readdirSync(here).filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts') && f !== `run${ext}` && f !== `suite${ext}`);
  const out: Suite[] = [];
  for (const f of files.sort()) {
    // One broken module (e.g. a suite whose dependencies are mid-change) must not stop the others.
    try {
      const mod = (await import(pathToFileURL(join(here, f)).href)) as { suites?: () => Suite[] };
      if (typeof mod.suites === 'function') out.push(...mod.suites());
    } catch (e) {
      process.stderr.write(`bench: skipping ${f}: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  return out;
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? '-' : v.toFixed(digits);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.threads > 0) native.setNumThreads(opts.threads);
  const ctx: BenchContext = {
    quick: opts.quick,
    filter: opts.filter,
    threads: native.numThreads(),
    minSeconds: opts.quick ? 0.15 : 0.5,
    log: (m) => process.stderr.write(`${m}\n`),
  };
  const all = await loadSuites();
  const suites = opts.suites ? all.filter((s) => opts.suites!.includes(s.name)) : all;
  if (opts.suites && suites.length === 0) {
    process.stderr.write(`bench: no suite named ${opts.suites.join(', ')} (have: ${all.map((s) => s.name).join(', ')})\n`);
    process.exit(2);
  }
  ctx.log(`bench: ${suites.length} suite(s), ${ctx.threads} thread(s)${opts.quick ? ', quick' : ''}`);
  if (!opts.json) {
    process.stdout.write(
      `${'name'.padEnd(34)} ${'shape'.padEnd(20)} ${'dtype'.padEnd(12)} ${'ours'.padStart(9)} ${'ref'.padStart(9)} ${'ratio'.padStart(6)}  unit     reference\n`,
    );
  }
  const emit = (r: BenchRow) => {
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else
      process.stdout.write(
        `${r.name.padEnd(34)} ${r.shape.padEnd(20)} ${r.dtype.padEnd(12)} ${fmt(r.ours).padStart(9)} ${fmt(r.ref).padStart(9)} ${fmt(r.ratio).padStart(6)}  ${r.unit.padEnd(8)} ${r.reference}\n`,
      );
  };
  for (const s of suites) {
    ctx.log(`bench: suite ${s.name}`);
    await s.run(ctx, emit);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
