#!/usr/bin/env bash
# ci/coverage.sh - line and branch coverage of allocator/src from everything that exercises it:
# every ctest test of the `coverage` preset (clang source-based coverage, Debug): unit, death and
# property tests, the C API programs, and the replay of the checked-in corpus (fuzz/*_replay).
# Prints the line and branch coverage of each allocator/src file and the totals, and writes
# llvm-cov's HTML to build/coverage/html. Exits non-zero if a test failed (the report is still
# written).
#
# Every process writes its own profile (LLVM_PROFILE_FILE=.../%p-%m.profraw: %p the pid, %m
# merges the profiles of one binary safely). Death-test children die in km::platform::fatal(),
# which in coverage builds writes the profile before std::abort() (allocator/src/platform/os.cpp),
# so what they covered counts too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. ci/lib.sh
bash ci/deps.sh
use_ccache
unset CCACHE_NOHASHDIR # llvm-cov reads the sources from the directories the objects record
build="$root/build/coverage"
cmake --preset coverage >/dev/null
timed "coverage build" cmake --build --preset coverage --parallel "$(nproc)"

prof="$build/profiles"
rm -rf "$prof"
mkdir -p "$prof"
status=0
run_tests() { LLVM_PROFILE_FILE="$prof/%p-%m.profraw" ctest --preset coverage || status=$?; }
timed "coverage tests" run_tests
[ $status -eq 0 ] || echo "coverage: some tests failed (ctest exit status $status)"

llvm-profdata-14 merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
# Every instrumented binary the tests ran: executables and the shared library.
objects=()
while IFS= read -r f; do
  if head -c 4 "$f" | grep -q 'ELF' && llvm-objdump-14 -h "$f" 2>/dev/null | grep -q __llvm_covmap; then
    objects+=(-object "$f")
  fi
done < <(find "$build" -type f \( -perm -u+x -o -name '*.so*' \) ! -path '*/CMakeFiles/*' | sort)
[ ${#objects[@]} -gt 0 ] || { echo "coverage: no instrumented binaries in $build" >&2; exit 2; }

cov_args=("${objects[@]:1}" -instr-profile="$prof/merged.profdata")
# allocator/src only. The objects record their sources as <build dir>/../../allocator/...
# (ccache's CCACHE_BASEDIR makes them relative), so filter by name, not by path.
only_src=(-ignore-filename-regex='/(model|fuzz|tests|property|examples|bench|tools|include)/|^/usr/')
echo "=== coverage of allocator/src (lines and branches; every test and the corpus replay)"
# "functions have mismatched data": inline functions whose instances in different binaries were
# compiled with different macros; llvm-cov keeps one instance of each.
llvm-cov-14 report "${cov_args[@]}" "${only_src[@]}" -show-region-summary=false \
  -show-instantiation-summary=false 2> >(grep -v 'mismatched data' >&2)
llvm-cov-14 show "${cov_args[@]}" "${only_src[@]}" -show-branches=count -format=html \
  -output-dir="$build/html" 2>/dev/null >/dev/null
echo "coverage: HTML report in build/coverage/html/index.html"
exit $status
