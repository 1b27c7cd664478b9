#!/usr/bin/env bash
# ci/examples.sh - installs the given build (default build/dev) into build/install, then builds
# and runs examples/ against it through find_package, and the C example through pkg-config.
# A broken install fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build/dev}
prefix="$root/build/install"

rm -rf "$prefix" "$root/build/examples"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S examples -B build/examples -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/examples
build/examples/hello_kmalloc_c
LD_LIBRARY_PATH="$prefix/lib" build/examples/heap_cpp > build/examples/heap_cpp.out
head -3 build/examples/heap_cpp.out

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/hello_kmalloc.c $(pkg-config --cflags --libs kmalloc) \
  -o build/examples/hello_pkgconfig
LD_LIBRARY_PATH="$prefix/lib" build/examples/hello_pkgconfig >/dev/null
echo "examples: find_package and pkg-config builds ran"
