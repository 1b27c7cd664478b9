#!/usr/bin/env bash
# tools/update_exported_symbols.sh - rewrites tests/exported_symbols.txt (what libkmalloc.so may
# export) from the libkmalloc.so of a build, after a public function was added or changed:
#
#   cmake --build --preset dev && tools/update_exported_symbols.sh build/dev
#
# Review the diff: every new line must be a function declared in allocator/include/kmalloc/.
# The check itself is the ctest test exported_symbols (tests/exported_symbols.cmake).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tools/update_exported_symbols.sh <build dir, e.g. build/dev>}
lib=$(find "$build/allocator" -maxdepth 1 -name 'libkmalloc.so' | head -1)
[ -n "$lib" ] || { echo "update_exported_symbols: no $build/allocator/libkmalloc.so (build it first)" >&2; exit 1; }
cmake -DLIBRARY="$lib" -DLIST=tests/exported_symbols.txt -DUPDATE=ON -P tests/exported_symbols.cmake
git --no-pager diff --stat -- tests/exported_symbols.txt || true
