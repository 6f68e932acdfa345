#!/usr/bin/env bash
# Prepares, on the development machine, what scripts/device-check.sh needs on a lent GPU machine
# (CUDA and torch there, but no Node.js and no network). The device tool moves at most 64 MiB per
# call and the tracked tree alone is ~40 MiB (golden fixtures), so the payload goes in three calls
# to the same warm machine (ignored paths and /tmp written by one call stay for the next):
#   call 1: carry [".device"]       command: source .device/env.sh && node --version
#           (.device from ../shared/tools/device-pack.sh: node, unpacked to /tmp/.device-node)
#   call 2: carry [".device-nm"]    command: xz -dc .device-nm/node_modules.tar.xz | tar -xf -
#           (a trimmed node_modules, ~22 MiB compressed)
#   call 3: carry [".device-cuda"]  command: bash scripts/device-check.sh
#           (.device-cuda: the CUDA addon built here and dist/, as .xz)
# Run from anywhere in the checkout; the size of each call is checked at the end.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
build=${ACESTEP_CUDA_BUILD:-build-cuda}
echo "== building the addon into $build (CUDA archs from CMakeLists.txt)"
start=$(date +%s)
npx cmake-js compile --log-level warn -O "$build"
echo "   addon build took $(( $(date +%s) - start )) s"
echo "== compiling TypeScript into dist/"
npx tsc -p tsconfig.build.json && npx tsc -p tools/tsconfig.json
bash ../shared/tools/device-pack.sh
mkdir -p .device-cuda .device-nm
for d in .device-cuda .device-nm; do
  grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude
done
xz -T0 -6 -c "$build/Release/acestep.node" > .device-cuda/acestep.node.xz
tar -cf - dist | xz -T0 -6 > .device-cuda/dist.tar.xz
# Test runner and runtime packages only: the TypeScript compiler and the Rust tokenizers (a
# dev-only cross-check) are not needed to run vitest and dist/ there.
tar --exclude='node_modules/typescript' --exclude='node_modules/tokenizers' --exclude='node_modules/.cache' \
  -cf - node_modules | xz -T0 -6 > .device-nm/node_modules.tar.xz
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
ok=0
for part in .device .device-nm .device-cuda; do
  size=$(du -cb "$part" | tail -1 | cut -f1)
  echo "call with $part: tracked tree $(( tree >> 20 )) MiB + $(( size >> 20 )) MiB = $(( (tree + size) >> 20 )) MiB (limit 64 MiB)"
  [ $(( tree + size )) -le $(( 64 << 20 )) ] || ok=1
done
[ "$ok" -eq 0 ] || { echo "a call exceeds the device tool's 64 MiB: trim node_modules further" >&2; exit 1; }
