#!/usr/bin/env bash
# ci/lib.sh - helpers the ci/ scripts source (`. ci/lib.sh` from the repository root):
#
#   use_ccache        when ccache is installed, fresh CMake build trees compile through it
#                     (CMAKE_C/CXX_COMPILER_LAUNCHER from the environment, read on a tree's first
#                     configure); without ccache nothing changes. Paths are hashed relative to
#                     the checkout and the build directory is not hashed, so another clone of
#                     the repository (CI's) hits the same cache; the debug info of such a hit
#                     names the other clone's build directory.
#   fuzz_targets      prints the fuzz targets (fuzz/fuzz_*.cpp defining LLVMFuzzerTestOneInput)
#   build_fuzz_preset TARGET...
#                     ci/deps.sh, ccache, then configures and builds the `fuzz` preset's targets
#   timed NAME CMD... runs CMD (a command or a shell function; under `set -e` a failure ends the
#                     script there) and then prints "time: NAME: <seconds> s".
#   check_coverage_only_in_allocator OBJDIR
#                     for .clusterfuzzlite/build.sh's objects ($WORK/kmalloc-obj): fails unless
#                     every allocator/ object has SanitizerCoverage instrumentation (a __sancov_*
#                     section or a __sanitizer_cov_* hook, by llvm-objdump-14 and llvm-nm-14) and
#                     no model/ or fuzz/ object has any; prints one summary line.

use_ccache() {
  command -v ccache >/dev/null 2>&1 || return 0
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(pwd)}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
}

timed() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  echo "time: ${name}: $((SECONDS - t0)) s"
}

sancov_refs() { # sancov_refs OBJ: the number of sancov sections and hook references in OBJ
  local sections hooks
  sections=$(llvm-objdump-14 -h "$1" | grep -c '__sancov_' || true)
  hooks=$(llvm-nm-14 -u "$1" | grep -c '__sanitizer_cov_' || true)
  echo $((sections + hooks))
}

check_coverage_only_in_allocator() {
  local objdir=$1 o n bad=0 n_oracle=0 n_alloc=0 refs_alloc=0 bad_oracle=0
  while IFS= read -r o; do
    n=$(sancov_refs "$o")
    case "$o" in
      "$objdir/allocator/"*)
        n_alloc=$((n_alloc + 1))
        refs_alloc=$((refs_alloc + n))
        if [ "$n" -eq 0 ]; then echo "coverage: ${o#"$objdir"/} is not instrumented"; bad=1; fi
        ;;
      *)
        n_oracle=$((n_oracle + 1))
        if [ "$n" -ne 0 ]; then
          echo "coverage: ${o#"$objdir"/} is instrumented ($n sancov sections and hooks)"
          bad_oracle=$((bad_oracle + 1))
          bad=1
        fi
        ;;
    esac
  done < <(find "$objdir" -name '*.o' | sort)
  echo "coverage allowlist: $((n_oracle - bad_oracle)) of $n_oracle model/ and fuzz/ objects" \
    "with no sancov section or hook; $n_alloc allocator/ objects, $refs_alloc sancov sections" \
    "and hooks in all"
  if [ $bad -ne 0 ] || [ "$n_oracle" -eq 0 ] || [ "$n_alloc" -eq 0 ]; then
    echo "coverage allowlist check failed in $objdir" >&2
    return 1
  fi
}

# The fuzz targets: every fuzz/fuzz_*.cpp that defines LLVMFuzzerTestOneInput, one per line.
fuzz_targets() {
  local src
  for src in $(grep -l LLVMFuzzerTestOneInput fuzz/fuzz_*.cpp); do
    basename "$src" .cpp
  done
}

# build_fuzz_preset TARGET...: installs the deps, then configures and builds the `fuzz` preset
# (through ccache when installed) for the given targets.
build_fuzz_preset() {
  bash ci/deps.sh
  use_ccache
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz --parallel "$(nproc)" --target "$@"
}
