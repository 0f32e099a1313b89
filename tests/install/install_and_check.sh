#!/usr/bin/env bash
# ctest's install.toolchain: installs the build tree BUILD into a temporary
# prefix, moves the prefix (nothing may depend on where it was installed),
# then runs check_installed.sh on it.
#
#   install_and_check.sh BUILD SOURCE
set -euo pipefail
build=$1 source=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/staging" > /dev/null
mv "$dir/staging" "$dir/prefix"
"$(dirname "$0")/check_installed.sh" "$dir/prefix" "$source/examples" "$source/python"
