#!/usr/bin/env bash
# Runs on a lent GPU machine, as the third call of the protocol in scripts/device-pack-cuda.sh
# (node and node_modules already unpacked by calls 1 and 2, .device-cuda carried now):
# 1. the differential op harness (test/backend-ops.test.ts adds the `cuda` backend when
#    cudaInfo().available) and test/cuda-runtime.test.ts,
# 2. every golden case with --backend cuda,
# 3. the GPU benchmark suites of bench/cuda.ts (GEMM and attention vs torch on this GPU, LM decode
#    vs the HBM bound, DiT 8-step turbo 88 s / 240 s, VAE decode 88 s) as JSON lines.
# Logs land in $OUT (the device tool's return folder) when set, else in ./device-out.
set -uo pipefail
root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
cd "$root"
out=${OUT:-$root/device-out}
mkdir -p "$out"
source .device/env.sh
[ -d node_modules/vitest ] || { echo "node_modules missing: run call 2 of scripts/device-pack-cuda.sh first" >&2; exit 2; }
xz -dc .device-cuda/dist.tar.xz | tar -xf -
xz -dc .device-cuda/acestep.node.xz > /tmp/acestep-cuda.node
export ACESTEP_ADDON=/tmp/acestep-cuda.node
status=0
{
  node --version
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  node -e "const n=require(process.env.ACESTEP_ADDON); console.log(JSON.stringify(n.cudaInfo()))"
} 2>&1 | tee "$out/device.txt"

echo "== op harness (CPU reference vs cuda) and the CUDA runtime test"
node node_modules/vitest/vitest.mjs run test/backend-ops.test.ts test/cuda-runtime.test.ts 2>&1 \
  | tee "$out/backend-ops.txt" || status=1

echo "== golden cases on cuda"
# shellcheck disable=SC2046
node dist/tools/golden/main.js $(ls -d test/fixtures/golden/cases/*/) --backend cuda 2>&1 \
  | tee "$out/golden-cuda.txt" || status=1

echo "== GPU benchmarks"
node dist/bench/run.js --json --suite cuda-gemm,cuda-attention,cuda-lm-decode,cuda-dit,cuda-vae \
  > "$out/bench-cuda.jsonl" 2> "$out/bench-cuda.log" || status=1
cat "$out/bench-cuda.jsonl"
exit $status
