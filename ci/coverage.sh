#!/usr/bin/env bash
# ci/coverage.sh - line and branch coverage of allocator/ from replaying the checked-in corpus
# (the `coverage` preset: clang source-based coverage). Prints llvm-cov's report for the
# allocator sources and writes HTML to build/coverage/html. The replay binaries (fuzz/, built with
# any compiler when KMALLOC_BUILD_TESTS is on and KMALLOC_BUILD_FUZZ off) run the corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. ci/lib.sh
bash ci/deps.sh
use_ccache
unset CCACHE_NOHASHDIR # llvm-cov reads the sources from the directories the objects record
cmake --preset coverage >/dev/null
replays=()
for src in $(grep -l LLVMFuzzerTestOneInput fuzz/fuzz_*.cpp); do
  replays+=("$(basename "$src" .cpp)_replay")
done
cmake --build --preset coverage --parallel "$(nproc)" --target "${replays[@]}"

prof="$root/build/coverage/profiles"
rm -rf "$prof"; mkdir -p "$prof"
objects=()
for r in "${replays[@]}"; do
  t=${r%_replay}
  bin="$root/build/coverage/fuzz/$r"
  LLVM_PROFILE_FILE="$prof/$t-%p.profraw" "$bin" "$root/corpus/${t#fuzz_}" >/dev/null
  objects+=(-object "$bin")
done
llvm-profdata-14 merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
ignore='(model|fuzz|tests|property|/usr)/'
llvm-cov-14 report "${objects[@]:1}" -instr-profile="$prof/merged.profdata" \
  -ignore-filename-regex="$ignore" | sed "s|$root/||"
llvm-cov-14 show "${objects[@]:1}" -instr-profile="$prof/merged.profdata" \
  -ignore-filename-regex="$ignore" -format=html -output-dir="$root/build/coverage/html" >/dev/null
echo "coverage: HTML report in build/coverage/html/index.html"
