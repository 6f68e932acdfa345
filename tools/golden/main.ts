#!/usr/bin/env node
// `npm run golden -- <case-dir> [...] [--backend cpu|cuda]`: runs golden cases through the
// project's loaders and models; prints cosine and max error per output; exit 0 only if all pass.
import { setBackend, type BackendChoice } from '../../src/runtime/backend.js';
import { formatResult, runGoldenCase } from './runner.js';

async function main(argv: string[]): Promise<number> {
  let backend: BackendChoice = 'cpu';
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') backend = argv[++i] as BackendChoice;
    else if (a.startsWith('--backend=')) backend = a.slice(10) as BackendChoice;
    else if (a === '-h' || a === '--help') {
      console.log('usage: npm run golden -- <case-dir> [<case-dir> ...] [--backend cpu|cuda|auto]');
      return 0;
    } else dirs.push(a);
  }
  if (!['cpu', 'cuda', 'auto'].includes(backend)) {
    console.error(`unknown backend '${backend}' (cpu|cuda|auto)`);
    return 2;
  }
  if (dirs.length === 0) {
    console.error('usage: npm run golden -- <case-dir> [<case-dir> ...] [--backend cpu|cuda|auto]');
    return 2;
  }
  let device;
  try {
    device = setBackend(backend);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  let failed = 0;
  for (const dir of dirs) {
    try {
      const r = await runGoldenCase(dir, { backend: device });
      console.log(formatResult(r));
      if (!r.pass) failed++;
    } catch (e) {
      failed++;
      console.log(`FAIL ${dir}\n  error: ${(e as Error).message}`);
    }
  }
  console.log(`${dirs.length - failed} of ${dirs.length} golden cases passed (backend ${device})`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
