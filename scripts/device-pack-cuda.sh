#!/usr/bin/env bash
# Prepares, on the development machine, what scripts/device-check.sh needs on a lent GPU machine
# (which has CUDA and torch but no Node.js and no network): the CUDA addon built here (static
# cudart, so it loads there), the compiled TypeScript (dist/), node itself (via
# ../shared/tools/device-pack.sh) and a trimmed node_modules tarball, all under .device/.
#   scripts/device-pack-cuda.sh        then call the device tool with carry [".device", "dist"]
#   and the command:  bash scripts/device-check.sh
# The device tool moves at most 64 MiB (the tracked tree included); the sizes are checked here.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
build=${ACESTEP_CUDA_BUILD:-build-cuda}
echo "== building the addon into $build (CUDA archs from CMakeLists.txt)"
start=$(date +%s)
npx cmake-js compile --log-level warn -O "$build"
echo "   addon build took $(( $(date +%s) - start )) s"
echo "== compiling TypeScript into dist/"
npx tsc -p tsconfig.build.json
bash ../shared/tools/device-pack.sh
cp "$build/Release/acestep.node" .device/acestep.node
# Test runner and runtime packages only: the TypeScript compiler, the Rust tokenizers (a dev-only
# cross-check) and the rolldown/lightningcss native builds are not needed to run vitest on dist.
tar -C . --exclude='node_modules/typescript' --exclude='node_modules/tokenizers' \
  --exclude='node_modules/.cache' -cf - node_modules | xz -T0 -6 > .device/node_modules.tar.xz
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carry=$(du -cb .device dist | tail -1 | cut -f1)
total=$(( tree + carry ))
echo "tracked tree $(( tree >> 20 )) MiB + carry $(( carry >> 20 )) MiB = $(( total >> 20 )) MiB (device tool limit 64 MiB)"
if [ "$total" -gt $(( 64 << 20 )) ]; then
  echo "too large for one device call: trim node_modules further or move large fixtures out of the tree" >&2
  exit 1
fi
