#!/usr/bin/env bash
# Uses an installed cnnc the ways README shows, from outside any cnnc tree:
#
#   check_installed.sh PREFIX EXAMPLES_DIR PYTHON_PACKAGE_DIR
#
#  1. cnnc --version names only files under PREFIX (runtime, headers, tuning database);
#  2. by hand: cnnc compiles LeNet-5 and its header, cc links classify.c, it runs;
#  3. CMake: examples/cmake configures with find_package(cnnc), builds, runs,
#     and rebuilds the library when the model changes;
#  4. make: examples/make finds cnnc through pkg-config, builds, runs;
#  5. Python: pip installs the module into a virtual environment (no network); it
#     compiles LeNet-5 with the installed cnnc, trains a step and infers.
# Each step prints what it checks; the first failure exits non-zero.
set -euo pipefail
prefix=$(cd "$1" && pwd) examples=$(cd "$2" && pwd) package=$(cd "$3" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf '[install] %s\n' "$*"; }
fail() { printf '[install] FAILED: %s\n' "$*" >&2; exit 1; }
export PATH="$prefix/bin:$PATH"
cnnc="$prefix/bin/cnnc"
python=${PYTHON:-python3}
[ "$(command -v cnnc)" = "$cnnc" ] || fail "cnnc on PATH is not $cnnc"

say "1. cnnc --version names files under $prefix"
version=$("$cnnc" --version)
for field in "runtime:" "runtime headers:" "tuning database:"; do
  path=$(printf '%s\n' "$version" | sed -n "s/^$field *//p")
  case "$path" in "$prefix"/*) ;; *) fail "$field '$path' is not under $prefix" ;; esac
  [ -e "$path" ] || fail "$field '$path' does not exist"
done

# The examples, copied: step 3 edits the model.
cp -r "$examples" "$work/examples"
# Eight synthetic digits as IDX files (classify's input): the pipeline, not accuracy, is under test.
"$python" - "$work" <<'PY'
import struct, sys
out = sys.argv[1]
open(f"{out}/images", "wb").write(struct.pack(">IIII", 0x803, 8, 28, 28) + bytes(i % 256 for i in range(8 * 28 * 28)))
open(f"{out}/labels", "wb").write(struct.pack(">II", 0x801, 8) + bytes(range(8)))
PY
run_classify() {
  local out
  out=$("$1" - "$work/images" "$work/labels" 8) || fail "$1 exited with $?"
  printf '%s\n' "$out" | grep -q "accuracy" || fail "$1 printed no accuracy: $out"
}

say "2. by hand: cnnc, cc, run"
mkdir "$work/hand"
"$cnnc" "$work/examples/lenet5.cnn" -q -o "$work/hand/lenet5.so"
"$cnnc" "$work/examples/lenet5.cnn" --emit=header -o "$work/hand/lenet5.h"
cc -std=c99 -O2 -Wall -Wextra -Werror -I"$work/hand" "$work/examples/classify.c" "$work/hand/lenet5.so" \
  -Wl,-rpath,"$work/hand" -o "$work/hand/classify"
run_classify "$work/hand/classify"

say "3. CMake: find_package(cnnc) and cnnc_add_model()"
cmake -S "$work/examples/cmake" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log"; fail "configuring examples/cmake"; }
cmake --build "$work/cmake-build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "building examples/cmake"; }
run_classify "$work/cmake-build/classify"
sleep 1 && touch "$work/examples/lenet5.cnn"
cmake --build "$work/cmake-build" > "$work/rebuild.log" 2>&1 || { cat "$work/rebuild.log"; fail "rebuilding"; }
grep -q "cnnc: compiling" "$work/rebuild.log" || fail "editing the model did not recompile it: $(cat "$work/rebuild.log")"
run_classify "$work/cmake-build/classify"

say "4. make: pkg-config --variable=cnnc cnnc"
PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name cnnc.pc | head -1)")" make -s -C "$work/examples/make" > "$work/make.log" 2>&1 ||
  { cat "$work/make.log"; fail "make in examples/make"; }
run_classify "$work/examples/make/classify"

say "5. Python: pip install into a virtual environment, then import cnnc"
"$python" -m venv --system-site-packages "$work/venv" > "$work/venv.log" 2>&1 || { cat "$work/venv.log"; fail "python3 -m venv"; }
cp -r "$package" "$work/python-package"  # pip builds in the directory it installs from
"$work/venv/bin/python" -m pip install --quiet --no-index --no-build-isolation "$work/python-package" > "$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; fail "pip install $package"; }
cd "$work" && "$work/venv/bin/python" - "$work/examples/lenet5.cnn" "$work/venv" <<'PY'
import sys
import numpy as np
import cnnc
assert cnnc.__file__.startswith(sys.argv[2]), cnnc.__file__
m = cnnc.compile(sys.argv[1], train=True)
x = np.zeros((2, *m.input_shape), np.float32)
m.set_sgd(0.01)
loss = m.train_step(x, [0, 1])
out = m.infer(x)
assert out.shape == (2, m.output_size) and np.isfinite(loss), (out.shape, loss)
PY
say "all good"
