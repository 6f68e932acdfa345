#!/usr/bin/env bash
# The GPU checks, on any machine with an NVIDIA GPU (sm_80 or newer, driver installed), the CUDA
# toolkit (nvcc on PATH, or CUDACXX) and Node.js >= 20, run from a checkout with node_modules
# installed (npm ci):
#   1. builds the addon with the CUDA kernels into build/ (cmake-js) and the TypeScript into dist/,
#   2. stops unless that addon finds a usable device (cudaInfo().available),
#   3. runs the differential op harness (test/backend-ops.test.ts: every op case on the `cuda`
#      backend against the CPU reference, including the dispatch-boundary cases of
#      test/backend-ops/cuda-paths.ts) and the CUDA runtime tests (test/cuda-runtime.test.ts),
#   4. runs every golden case with --backend cuda,
#   5. runs the GPU benchmark suites of bench/cuda.ts as JSON lines (beside PyTorch on the same GPU
#      when /usr/bin/python3 has torch with CUDA).
# Usage: scripts/cuda-check.sh [--skip-build] [--no-bench] [LOG_DIR]   (LOG_DIR defaults to ./cuda-check)
# With --skip-build it tests the addon already in build/Release (or the one ACESTEP_ADDON names).
# Every step writes its log to LOG_DIR; the exit status is non-zero if any step failed.
set -uo pipefail
build=1 bench=1 logs=
for a in "$@"; do
  case "$a" in
    --skip-build) build=0 ;;
    --no-bench) bench=0 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) logs=$a ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=${logs:-$root/cuda-check}
mkdir -p "$logs"
status=0
step() { echo "== $1"; }

if [ "$build" = 1 ]; then
  step "building the addon with CUDA (archs from CMakeLists.txt) and dist/"
  npx --no-install cmake-js compile --log-level warn 2>&1 | tee "$logs/build.txt" || exit 1
  npx --no-install tsc -p tsconfig.build.json 2>&1 | tee -a "$logs/build.txt" || exit 1
fi

step "device"
{
  node --version
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  node -e "const n = require(process.env.ACESTEP_ADDON || './build/Release/acestep.node'); const i = n.cudaInfo(); console.log(JSON.stringify(i)); process.exit(i.available ? 0 : 1)"
} 2>&1 | tee "$logs/device.txt" || { echo "no usable CUDA device (see $logs/device.txt)" >&2; exit 1; }

step "op harness (cuda against the CPU reference) and the CUDA runtime tests"
npx --no-install vitest run test/backend-ops.test.ts test/cuda-runtime.test.ts 2>&1 | tee "$logs/backend-ops.txt" || status=1

step "golden cases on cuda"
# shellcheck disable=SC2046
npm run --silent golden -- $(ls -d test/fixtures/golden/cases/*/) --backend cuda 2>&1 | tee "$logs/golden-cuda.txt" || status=1

if [ "$bench" = 1 ]; then
  step "GPU benchmarks"
  npm run --silent bench -- --json --suite cuda-gemm,cuda-attention,cuda-lm-decode,cuda-dit,cuda-vae \
    > "$logs/bench-cuda.jsonl" 2> "$logs/bench-cuda.log" || status=1
  cat "$logs/bench-cuda.jsonl"
fi
exit $status
