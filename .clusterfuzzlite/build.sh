#!/usr/bin/env bash
# .clusterfuzzlite/build.sh - builds every fuzz target for ClusterFuzzLite / OSS-Fuzz.
#
# OSS-Fuzz's `compile` runs this from $SRC/kmalloc (the Dockerfile's WORKDIR) with the engine's
# and sanitizer's settings in the environment:
#   CC CXX CFLAGS CXXFLAGS  the compiler and its flags (sanitizer, -fsanitize=fuzzer-no-link, ...)
#   LIB_FUZZING_ENGINE      what a target links to get its main() (-fsanitize=fuzzer for libFuzzer)
#   SRC WORK OUT            sources ($SRC/kmalloc), scratch space, and where the targets go
# ci/clusterfuzzlite_local.sh runs it here without Docker, ci/afl.sh with AFL++'s compilers.
#
# No CMake: the sources are compiled directly (allocator/src/**/*.cpp into libkmalloc.a,
# model/*.cpp into libkmalloc_model.a, fuzz/fuzz_support.cpp and one fuzz/fuzz_<name>.cpp per
# target), with the flags the CMake `fuzz` preset gives each (KMALLOC_INTERNAL_CHECKS on in the
# allocator). Only allocator/src is instrumented for coverage: the oracle (model/, fuzz/) would
# otherwise add features that say nothing about the allocator. For clang's SanitizerCoverage
# (libFuzzer, honggfuzz) that is -fsanitize-coverage-allowlist=, for AFL++ AFL_LLVM_ALLOWLIST
# (which reads the same file). ASan/UBSan still instrument everything.
#
# For each target <t> it writes $OUT/<t>, $OUT/<t>_seed_corpus.zip (corpus/<t without fuzz_>),
# and copies fuzz/<t>.dict and fuzz/<t>.options next to the binary when they exist.
# KMALLOC_BUILD_JOBS sets the compile parallelism (default: nproc); KMALLOC_COVERAGE_ALLOWLIST=0
# instruments everything (only to compare feature counts with and without the list).
set -euo pipefail

: "${SRC:?SRC is not set (OSS-Fuzz sets it)}" "${WORK:?WORK is not set}" "${OUT:?OUT is not set}"
: "${CXX:?CXX is not set}" "${LIB_FUZZING_ENGINE:?LIB_FUZZING_ENGINE is not set}"
export CXX CXXFLAGS="${CXXFLAGS:-}"
repo="${KMALLOC_SRC_DIR:-$SRC/kmalloc}"
[ -f "$repo/allocator/include/kmalloc/heap.h" ] || {
  echo "build.sh: no kmalloc checkout at $repo" >&2
  exit 2
}
jobs="${KMALLOC_BUILD_JOBS:-$(nproc)}"
obj="$WORK/kmalloc-obj"
rm -rf "$obj"
mkdir -p "$obj/allocator" "$obj/model" "$obj/fuzz" "$OUT"

# Coverage goes to the allocator only. clang reads the special-case-list format and instruments
# a function when its module's source file matches a src: line AND its name a fun: line; AFL++
# reads the same format but instruments a function matching a src: OR a fun: line, so its list
# has no fun: line; and it matches the end of a function's file name (with a leading `*`), which
# is not always the absolute path given to the compiler, so its src: line is relative.
allowlist="$WORK/kmalloc-coverage-allowlist.txt"
printf 'src:%s/allocator/src/*\nfun:*\n' "$repo" > "$allowlist"
afl_allowlist="$WORK/kmalloc-afl-allowlist.txt"
printf 'src:allocator/src/*\n' > "$afl_allowlist"
export KMALLOC_COV_FLAGS=""
if [ "${KMALLOC_COVERAGE_ALLOWLIST:-1}" != 0 ]; then
  case " $CXXFLAGS " in
    *-fsanitize=fuzzer* | *-fsanitize-coverage=*)
      KMALLOC_COV_FLAGS="-fsanitize-coverage-allowlist=$allowlist"
      ;;
  esac
  export AFL_LLVM_ALLOWLIST="$afl_allowlist"
fi

# compile_one SOURCE: one object under $obj, flags by directory (as the CMake targets set them).
compile_one() {
  local src=$1 rel=${1#"$KMALLOC_REPO"/} flags
  local out="$KMALLOC_OBJ/${rel%.cpp}.o"
  case "$rel" in
    allocator/*)
      # -fno-rtti rules out UBSan's vptr check, which OSS-Fuzz's UBSan flags ask for.
      flags=(-I"$KMALLOC_REPO/allocator/include" -I"$KMALLOC_REPO/allocator/src"
        -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-sanitize=vptr
        -fvisibility=hidden -fvisibility-inlines-hidden -DKMALLOC_INTERNAL_CHECKS=1)
      ;;
    *) flags=(-I"$KMALLOC_REPO" -I"$KMALLOC_REPO/allocator/include") ;;
  esac
  mkdir -p "$(dirname "$out")"
  # shellcheck disable=SC2086 # CXXFLAGS and KMALLOC_COV_FLAGS are word lists
  $CXX $CXXFLAGS $KMALLOC_COV_FLAGS -std=c++20 -Wall -Wextra "${flags[@]}" -c "$src" -o "$out"
}
export -f compile_one
export KMALLOC_REPO="$repo" KMALLOC_OBJ="$obj"

targets=()
for f in "$repo"/fuzz/fuzz_*.cpp; do
  if grep -q LLVMFuzzerTestOneInput "$f"; then targets+=("$(basename "$f" .cpp)"); fi
done
sources=$(find "$repo/allocator/src" "$repo/model" -name '*.cpp' | sort)
sources+=$'\n'"$repo/fuzz/fuzz_support.cpp"
sources+=$'\n'"$repo/fuzz/heap_decode.cpp"
for t in "${targets[@]}"; do sources+=$'\n'"$repo/fuzz/$t.cpp"; done

echo "build.sh: $(echo "$sources" | wc -l) sources, $jobs jobs, targets: ${targets[*]}"
# shellcheck disable=SC2016 # $1 is the inner bash's argument
echo "$sources" | xargs -P "$jobs" -I{} bash -c 'compile_one "$1"' _ {}

AR="${AR:-ar}"
rm -f "$WORK/libkmalloc.a" "$WORK/libkmalloc_model.a"
# shellcheck disable=SC2046 # one word per object path (no spaces in the tree)
"$AR" rcs "$WORK/libkmalloc.a" $(find "$obj/allocator" -name '*.o' | sort)
# shellcheck disable=SC2046
"$AR" rcs "$WORK/libkmalloc_model.a" $(find "$obj/model" -name '*.o' | sort)

pack_corpus() { # pack_corpus DIR ZIP
  if command -v zip >/dev/null 2>&1; then
    (cd "$1" && zip -q -r "$2" .)
  else
    python3 - "$1" "$2" <<'EOF'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, os.path.relpath(path, src))
EOF
  fi
}

for t in "${targets[@]}"; do
  # shellcheck disable=SC2086 # CXXFLAGS and LIB_FUZZING_ENGINE are word lists
  $CXX $CXXFLAGS "$obj/fuzz/$t.o" "$obj/fuzz/fuzz_support.o" "$obj/fuzz/heap_decode.o" \
    "$WORK/libkmalloc_model.a" "$WORK/libkmalloc.a" $LIB_FUZZING_ENGINE -o "$OUT/$t"
  corpus="$repo/corpus/${t#fuzz_}"
  rm -f "$OUT/${t}_seed_corpus.zip"
  if [ -d "$corpus" ]; then pack_corpus "$corpus" "$OUT/${t}_seed_corpus.zip"; fi
  for extra in "$t.dict" "$t.options"; do
    if [ -f "$repo/fuzz/$extra" ]; then cp "$repo/fuzz/$extra" "$OUT/$extra"; fi
  done
  echo "build.sh: $OUT/$t"
done
