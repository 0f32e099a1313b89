#!/usr/bin/env bash
# The unit tests under sanitizers (clang-14).
#
#   scripts/sanitize.sh address   AddressSanitizer (leaks included) and
#                                 UndefinedBehaviorSanitizer: the frontend,
#                                 ir, runtime (failure injection included) and
#                                 cnnrt tool tests, and the end-to-end tests
#                                 (models compiled, loaded and run; all but
#                                 tuning), built in build-fuzz/ with the fuzz
#                                 targets' flags
#   scripts/sanitize.sh thread    ThreadSanitizer: the runtime's thread pool,
#                                 concurrent infer calls, loads and training
#                                 steps during inference, in build-tsan/
#   scripts/sanitize.sh all       both
#
# Exits nonzero on any report or test failure; each run's output is in
# BUILD/sanitize-NAME.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"
case "$MODE" in
  address|thread) ;;
  all) "$0" address && "$0" thread; exit $? ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
command -v clang++-14 >/dev/null || { echo "sanitize.sh: clang++-14 not found (scripts/setup.sh installs it)" >&2; exit 1; }

configure() {  # BUILD_DIR FLAG...
  local build="$1"; shift
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_TESTING=ON "$@" >/dev/null
}

run() {  # BUILD_DIR BINARY [gtest args...]
  local build="$1" bin="$2"; shift 2
  local log="$build/sanitize-$(basename "$bin").log"
  if "$build/$bin" "$@" >"$log" 2>&1; then
    echo "[sanitize] $MODE $(basename "$bin"): $(grep -E '^\[  PASSED  \]' "$log" | tail -1)"
  else
    tail -60 "$log" >&2
    echo "[sanitize] $MODE $(basename "$bin") FAILED (log: $log)" >&2
    return 1
  fi
}

status=0
if [ "$MODE" = address ]; then
  BUILD="${CNNC_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
  configure "$BUILD" -DCNNC_FUZZ=ON
  tests=(tests/frontend/frontend_tests tests/frontend/frontend_real_ops_tests tests/ir/ir_text_tests
         tests/runtime/cnnrt_tests tests/runtime/cnnrt_failure_tests tests/tools/cnnrt_tool_tests)
  targets=()
  for t in "${tests[@]}"; do targets+=("$(basename "$t")"); done
  cmake --build "$BUILD" --target "${targets[@]}" -j "$(nproc)" >/dev/null
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  for t in "${tests[@]}"; do run "$BUILD" "$t" || status=1; done
  # End to end: the sanitized cnnc compiles models whose libraries link the
  # sanitized runtime (with clang, as CC/CXX), and the tests load them. Leak
  # checking is off here: a library unloaded with dlclose takes with it the
  # pointer to its thread pool, which lives as long as the process by design.
  cmake --build "$BUILD" --target cnnc cnnc_e2e_tests -j "$(nproc)" >/dev/null
  CC=clang-14 CXX=clang++-14 ASAN_OPTIONS=detect_leaks=0 CNNC_CACHE_DIR="$BUILD/kernel-cache" \
    run "$BUILD" tests/e2e/cnnc_e2e_tests \
    --gtest_filter='MultipleModels.*:LenetErrors.*:LargeBatch.*:Concurrency.*:Cli.*:E2E/Examples.*:E2E/CliExamples.*' \
    || status=1
else
  BUILD="${CNNC_TSAN_BUILD_DIR:-$ROOT/build-tsan}"
  configure "$BUILD" -DCNNC_TSAN=ON
  cmake --build "$BUILD" --target cnnrt_tests -j "$(nproc)" >/dev/null
  # The tests that run threads against each other (the rest are serial),
  # five times over: a race shows in some interleavings only.
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  run "$BUILD" tests/runtime/cnnrt_tests --gtest_repeat=5 \
    --gtest_filter='ThreadPool.*:Api.LastErrorIsPerThread:Infer.ConcurrentCallsAgree:Infer.LoadDuringInferIsAllOrNothing:Train.InferDuringTrainingIsSafe' \
    || status=1
fi
exit "$status"
