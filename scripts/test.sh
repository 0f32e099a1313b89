#!/usr/bin/env bash
# Build everything and run the test suite.
#
#   scripts/test.sh                 all tests
#   scripts/test.sh -L torch        extra arguments go to ctest (here: PyTorch comparisons only)
#   scripts/test.sh -R lexer -V
#
#   1. scripts/setup.sh        install missing Debian packages, build into build/
#   2. scripts/fetch_mnist.sh  data/mnist/ (some tests use the digits)
#   3. ctest --test-dir build --output-on-failure -j2 --no-tests=error [args]
#   4. without [args]: scripts/sanitize.sh all (unit tests under ASan + UBSan
#      and TSan; CNNC_SANITIZE=0 skips it), then scripts/fuzz.sh all
#      $CNNC_FUZZ_SECONDS (default 15; 0 skips it): each libFuzzer target
#      replays its seeds and fuzzes briefly under ASan and UBSan
#
# Exits non-zero when any step or any test fails, and when no test ran at all
# (set CNNC_ALLOW_NO_TESTS=1 to accept that). Tests without their own TIMEOUT
# property get CNNC_TEST_TIMEOUT seconds (default 900). CNNC_TEST_JOBS
# (default 2) sets ctest's parallelism.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CNNC_BUILD_DIR:-$ROOT/build}"

phase_start=0
phase() { phase_start=$SECONDS; printf '\n==> [test] %s\n' "$*"; }
phase_done() { printf '==> [test] %s: %ds\n' "$1" $((SECONDS - phase_start)); }

phase "setup (scripts/setup.sh)"
"$ROOT/scripts/setup.sh"
phase_done setup

phase "MNIST digits (scripts/fetch_mnist.sh)"
"$ROOT/scripts/fetch_mnist.sh"
phase_done fetch_mnist

phase "ONNX Runtime for the ort tests (scripts/setup_bench.sh)"
"$ROOT/scripts/setup_bench.sh"
phase_done setup_bench

CTEST=(ctest --test-dir "$BUILD" --output-on-failure -j"${CNNC_TEST_JOBS:-2}"
       --timeout "${CNNC_TEST_TIMEOUT:-900}")
if [ "${CNNC_ALLOW_NO_TESTS:-0}" != 1 ]; then
  CTEST+=(--no-tests=error)
fi
CTEST+=("$@")

phase "tests: ${CTEST[*]}"
status=0
"${CTEST[@]}" || status=$?
phase_done ctest

if [ $# -eq 0 ] && [ "${CNNC_SANITIZE:-1}" != 0 ]; then
  phase "sanitizers (scripts/sanitize.sh all)"
  "$ROOT/scripts/sanitize.sh" all || status=$?
  phase_done sanitize
fi
if [ $# -eq 0 ] && [ "${CNNC_FUZZ_SECONDS:-15}" != 0 ]; then
  phase "fuzzing (scripts/fuzz.sh all ${CNNC_FUZZ_SECONDS:-15})"
  "$ROOT/scripts/fuzz.sh" all "${CNNC_FUZZ_SECONDS:-15}" || status=$?
  phase_done fuzz
fi
if [ "$status" -ne 0 ]; then
  printf '==> [test] FAILED (ctest exit %d)\n' "$status" >&2
fi
exit "$status"
