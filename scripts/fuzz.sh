#!/usr/bin/env bash
# Fuzz one of cnnc's readers with libFuzzer, under AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   scripts/fuzz.sh all SECONDS        each target for SECONDS
#
# Targets (fuzz/fuzz_TARGET.cpp):
#   cnn      the .cnn front end, its IR round trip and the inference passes
#   ir       the IR parser, the verifier (kernel groups, memory plan), the passes
#   weights  the runtime's safetensors and checkpoint readers
#   data     cnnrt's IDX, CIFAR-10, PGM/PPM and PNG readers and the training-state file
#
# Builds fuzz/ with clang-14 into build-fuzz/ (CNNC_FUZZ=ON; needs clang-14
# and libfuzzer-14-dev, which scripts/setup.sh installs), seeds from
# fuzz/corpus/TARGET and the repository's own examples, and grows its corpus
# in build-fuzz/corpus/TARGET. A finding is written to build-fuzz/findings/
# and the script exits nonzero: reproduce it with
# `build-fuzz/fuzz/fuzz_TARGET FILE`, fix it, and add FILE to fuzz/corpus/TARGET
# as a regression seed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CNNC_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
if [ $# -lt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -ge 2 ] && exit 0 || exit 2
fi
TARGET="$1" SECONDS_EACH="$2"
shift 2
TARGETS=(cnn ir weights data)
if [ "$TARGET" = all ]; then
  failed=0
  for t in "${TARGETS[@]}"; do "$0" "$t" "$SECONDS_EACH" "$@" || failed=1; done
  exit "$failed"
fi
case " ${TARGETS[*]} " in *" $TARGET "*) ;; *) echo "fuzz.sh: unknown target '$TARGET' (${TARGETS[*]})" >&2; exit 2 ;; esac
command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 not found (scripts/setup.sh installs it)" >&2; exit 1; }

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCNNC_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
fi
cmake --build "$BUILD" --target "fuzz_$TARGET" -j "$(nproc)" >/dev/null

seeds=()
case "$TARGET" in
  cnn) seeds+=("$ROOT/examples" "$ROOT/tests/lit") ;;
  ir) seeds+=("$ROOT/tests/lit") ;;
esac
[ -d "$ROOT/fuzz/corpus/$TARGET" ] && seeds=("$ROOT/fuzz/corpus/$TARGET" "${seeds[@]}")
corpus="$BUILD/corpus/$TARGET"
mkdir -p "$corpus" "$BUILD/findings"
echo "[fuzz] $TARGET for ${SECONDS_EACH}s"
# Leaks are checked; -timeout flags an input that takes over 10 s (a hang).
ASAN_OPTIONS=detect_leaks=1 "$BUILD/fuzz/fuzz_$TARGET" -max_total_time="$SECONDS_EACH" -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$BUILD/findings/$TARGET-" "$@" \
  "$corpus" "${seeds[@]}" 2>"$BUILD/fuzz-$TARGET.log" || {
  tail -40 "$BUILD/fuzz-$TARGET.log" >&2
  echo "[fuzz] $TARGET: finding in $BUILD/findings/ (log: $BUILD/fuzz-$TARGET.log)" >&2
  exit 1
}
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$BUILD/fuzz-$TARGET.log" | sed "s/^/[fuzz] $TARGET /"
