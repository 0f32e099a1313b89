#!/usr/bin/env bash
# The install path from scratch: copies the source tree (tracked and untracked
# files, no build), builds and installs it into a temporary prefix, deletes
# the copy and its build, then uses the installed cnnc by hand, from CMake,
# from make and from Python (tests/install/check_installed.sh).
#
#   scripts/install_check.sh          # a few minutes: a full Release build
#
# ctest's install.toolchain checks the same from the existing build, to stay quick.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { printf '[install_check] %s\n' "$*"; }

log "copying the source tree to $work/src"
mkdir "$work/src"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/src")
generator=(); command -v ninja > /dev/null && generator=(-G Ninja)
log "building (Release, -j$(nproc))"
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  > "$work/configure.log"
cmake --build "$work/build" -j"$(nproc)" > "$work/build.log" || { tail -30 "$work/build.log"; exit 1; }
cmake --install "$work/build" --prefix "$work/prefix" > /dev/null
# What the checks need from the tree, kept outside it: the examples and the Python package.
cp -r "$work/src/examples" "$work/src/python" "$work/"
log "deleting the copy and its build"
rm -rf "$work/src" "$work/build"
PYTHON=/usr/bin/python3 "$ROOT/tests/install/check_installed.sh" "$work/prefix" "$work/examples" "$work/python"
