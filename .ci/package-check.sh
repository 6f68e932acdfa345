#!/usr/bin/env bash
# Packaging check: `npm pack` holds dist/, the addon sources and docs and nothing dev-only (no
# fixtures, tests, bench, scripts, golden runner) in a few MB; the tarball installs into an empty
# project with no nvcc on PATH (the install builds the CPU addon), `import { AceStep } from
# 'acestep'` and `npx acestep --help` work, and a consumer .ts file type-checks against the shipped
# types. Offline-safe: packages come from the local npm cache when present. Exit 0 = all passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
[ -f dist/src/index.js ] || npx --no-install tsc -p tsconfig.build.json
tarball="$work/$(npm pack --silent --ignore-scripts --pack-destination "$work" | tail -1)"
size=$(stat -c %s "$tarball")
echo "tarball $(basename "$tarball"): $size bytes"
[ "$size" -lt $((5 * 1024 * 1024)) ] || { echo "tarball over 5 MB"; exit 1; }
listing=$(tar -tzf "$tarball")
for need in package/dist/src/index.js package/dist/src/index.d.ts package/dist/src/cli/acestep.js package/CMakeLists.txt package/binding.gyp package/native/addon.cc package/README.md package/docs/ARCHITECTURE.md; do
  grep -qx "$need" <<<"$listing" || { echo "tarball lacks $need"; exit 1; }
done
grep -q '^package/kernels/cpu/' <<<"$listing" || { echo "tarball lacks kernels/cpu"; exit 1; }
if grep -E '^package/(test|bench|scripts|\.ci)/|fixtures|/golden|\.map$' <<<"$listing"; then echo "tarball holds dev-only files (above)"; exit 1; fi

consumer="$work/consumer"
mkdir -p "$consumer"
cd "$consumer"
printf '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module" }\n' >package.json
nonvcc=$("$root/.ci/path-without.sh" nvcc nvcc.exe)
PATH="$nonvcc" npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball"
test -f node_modules/acestep/build/Release/acestep.node || { echo "the install built no addon"; exit 1; }
node -e "import('acestep').then((m) => { if (typeof m.AceStep?.load !== 'function') throw new Error('no AceStep.load'); console.log('import ok:', Object.keys(m).length, 'exports, cuda:', JSON.stringify(m.cudaInfo())); })"
npx --no-install acestep --help | grep -q 'acestep download' || { echo "npx acestep --help failed"; exit 1; }
npx --no-install acestep --version
cat >consumer.ts <<'TS'
import { AceStep, generateMusic, downloadModels, type GenerationParams, type GenerationResult } from 'acestep';
const params: Partial<GenerationParams> = { caption: 'lofi', duration: 30, inferenceSteps: 8 };
export async function song(): Promise<string | null> {
  const engine = await AceStep.load({ device: 'auto' });
  const r: GenerationResult = await generateMusic(engine, params, { batchSize: 1 }, { saveDir: 'out' });
  engine.dispose();
  await downloadModels(['vae'], { cacheDir: '/tmp/none' }).catch(() => null);
  return r.audios[0]?.path ?? null;
}
TS
# The consumer's own dev tools: TypeScript and @types/node from this repo's install.
tsc_js=$(cd "$root" && node -p "require.resolve('typescript/bin/tsc')")
types_root=$(cd "$root" && node -p "require('path').resolve(require.resolve('@types/node/package.json'), '../..')")
printf '{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022", "strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"], "typeRoots": ["%s"] }, "files": ["consumer.ts"] }\n' "$types_root" >tsconfig.json
node "$tsc_js" -p tsconfig.json
echo "package check passed"
