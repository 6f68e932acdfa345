#!/usr/bin/env bash
# Sanitizer run (docs/RELIABILITY.md), called by .ci/run:
#  1. the native runtime stress (test/native/runtime_stress.cc: execution queue, CPU buffer cache,
#     CPU thread pool) built with ThreadSanitizer, and again with AddressSanitizer + UBSan;
#  2. the addon built with AddressSanitizer + UndefinedBehaviorSanitizer in its own folder
#     (build-sanitize/addon; CPU only), then the op harness and the end-to-end tests on the tiny
#     checkpoints with the CPU pool at 2 and at 8 threads, both runs at once so each runs under
#     the other's load. node itself is not instrumented: libasan/libubsan are preloaded into it;
#     leak detection is off (V8 and node keep allocations until exit by design).
# Exits non-zero on any sanitizer report, test failure or build failure. Logs: build-sanitize/*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-sanitize
mkdir -p "$out"
status=0
log() { printf '\n== sanitize: %s\n' "$*"; }
fail() { echo "sanitize: FAILED: $*"; status=1; }

CXX=${CXX:-g++}
asan_lib=$($CXX -print-file-name=libasan.so)
ubsan_lib=$($CXX -print-file-name=libubsan.so)
if [ ! -e "$asan_lib" ] || [ ! -e "$ubsan_lib" ]; then
  echo "sanitize: $CXX has no libasan/libubsan"
  exit 1
fi

stress_srcs=(test/native/runtime_stress.cc native/queue.cc native/buffer.cc kernels/cpu/parallel.cc)
log "runtime stress under ThreadSanitizer"
if $CXX -std=c++17 -O1 -g -fsanitize=thread -pthread -I. "${stress_srcs[@]}" -o "$out/runtime-stress-tsan"; then
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 300 "$out/runtime-stress-tsan" 40 || fail "runtime stress (TSan)"
else
  fail "building the TSan runtime stress"
fi

log "runtime stress under AddressSanitizer + UBSan"
if $CXX -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -pthread -I. "${stress_srcs[@]}" -o "$out/runtime-stress-asan"; then
  ASAN_OPTIONS="halt_on_error=1" timeout 300 "$out/runtime-stress-asan" 40 || fail "runtime stress (ASan/UBSan)"
else
  fail "building the ASan runtime stress"
fi

log "addon with AddressSanitizer + UBSan (build-sanitize/addon)"
san_flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined"
if ! npx --no-install cmake-js compile --log-level warn --out "$out/addon" --CDACESTEP_CUDA=OFF --CDCMAKE_BUILD_TYPE=Sanitize \
  "--CDCMAKE_CXX_FLAGS_SANITIZE=$san_flags" "--CDCMAKE_SHARED_LINKER_FLAGS_SANITIZE=-fsanitize=address,undefined" >"$out/addon-build.log" 2>&1; then
  tail -30 "$out/addon-build.log"
  fail "building the sanitizer addon"
  exit 1
fi
addon=$out/addon/Release/acestep.node
[ "$(nm -D "$addon" | grep -c __asan_)" -gt 0 ] || { fail "the addon carries no ASan instrumentation"; exit 1; }

tests=(test/backend-ops.test.ts test/e2e-generate.test.ts test/e2e-lm.test.ts test/robustness-e2e.test.ts)
run_tests() {
  LD_PRELOAD="$asan_lib:$ubsan_lib" \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    ACESTEP_ADDON="$addon" ACESTEP_TEST_THREADS="$1" \
    timeout 900 npx --no-install vitest run --config scripts/sanitize.vitest.config.ts "${tests[@]}" >"$out/tests-$1-threads.log" 2>&1
}
log "op harness and end-to-end tests with 2 and 8 CPU threads, side by side"
run_tests 2 & pid2=$!
run_tests 8 & pid8=$!
wait $pid2 || fail "tests with 2 threads (build-sanitize/tests-2-threads.log)"
wait $pid8 || fail "tests with 8 threads (build-sanitize/tests-8-threads.log)"
for n in 2 8; do
  echo "-- $n threads:"
  sed 's/\x1b\[[0-9;]*m//g' "$out/tests-$n-threads.log" | grep -E "Test Files|Tests  "
  if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$out/tests-$n-threads.log"; then
    grep -E -A30 "ERROR: AddressSanitizer|runtime error:" "$out/tests-$n-threads.log" | head -60
    fail "sanitizer report with $n threads"
  fi
done

[ $status -eq 0 ] && echo "sanitize: clean (TSan and ASan/UBSan stress, ASan/UBSan addon tests at 2 and 8 threads)"
exit $status
