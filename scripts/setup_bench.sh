#!/usr/bin/env bash
# Install ONNX Runtime's CPU library for bench/bench.py (its speed peer besides
# PyTorch), from the npm package onnxruntime-node, into bench/.ort/ (git-ignored).
#
#   scripts/setup_bench.sh
#
# The package ships libonnxruntime.so.1 and its N-API binding
# (onnxruntime_binding.node) under bin/napi-v*/linux/x64/; bench/ort_runner.js
# loads it in a node process. --ignore-scripts skips the package's postinstall,
# which would only fetch GPU (CUDA/TensorRT) libraries from outside the registry.
#
# Idempotent: when bench/.ort already holds this version and node can load it,
# nothing is downloaded. Needs node and npm (scripts/setup.sh installs them).
# scripts/test.sh runs it, so the `ort` tests compare against ONNX Runtime.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/bench/.ort"
VERSION=1.30.0

log() { printf '[setup_bench] %s\n' "$*"; }
die() { printf '[setup_bench] error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || die "node and npm are needed; scripts/setup.sh --deps-only installs them"

installed_version() {
  (cd "$PREFIX" 2>/dev/null && node -p "require('onnxruntime-node').env.versions.node" 2>/dev/null) || true
}

if [ "$(installed_version)" = "$VERSION" ]; then
  log "onnxruntime-node $VERSION already in $PREFIX"
  exit 0
fi
mkdir -p "$PREFIX"
log "npm install onnxruntime-node@$VERSION into $PREFIX"
npm install --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund "onnxruntime-node@$VERSION"
[ "$(installed_version)" = "$VERSION" ] || die "node cannot load onnxruntime-node from $PREFIX"
log "installed: $(ls "$PREFIX"/node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime.so.1)"
