#!/usr/bin/env bash
# ci/test.sh - the test command: installs dependencies, checks format and layering, then builds
# and runs ctest in the dev (g++), asan (clang ASan+UBSan) and tsan (clang ThreadSanitizer: the
# thread stress tests, no suppressions) presets. Unit, death, property and corpus-replay tests
# all run; after the dev preset, ci/consumers.sh builds, installs and
# links the library the ways its users do (release preset with g++ and clang, find_package,
# pkg-config, add_subdirectory, the README's code blocks) and ci/real-programs.sh runs python3,
# sqlite3, sort, gzip, xz and g++ with and without the malloc shim, and bench/compare.sh --smoke
# runs the allocator comparison once (every allocator and workload; no timing asserted). Then
# the smoke runs of the suite's own tools: the OSS-Fuzz build simulated without Docker
# (ci/clusterfuzzlite_local.sh), AFL++ on the same harnesses (ci/afl.sh --smoke) and the mutation
# script on its first 3 mutants (ci/mutants.sh --smoke). Each stage prints its wall time
# ("time: <stage>: N s"). Builds use ccache when it is installed (ci/lib.sh).
#
#   ci/test.sh                     # dev, asan and tsan
#   KMALLOC_TEST_PRESETS="dev" ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
jobs=$(nproc)

preset_stage() {
  local preset=$1
  echo "=== ${preset}: configure, build, test"
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" --parallel "${jobs}"
  ctest --preset "${preset}"
}

timed deps bash ci/deps.sh
use_ccache # after deps.sh, which installs ccache
timed format bash ci/check_format.sh
timed layers bash ci/check_layers.sh
timed corpus bash ci/corpus.sh --check

read -r -a presets <<< "${KMALLOC_TEST_PRESETS:-dev asan tsan}"
for preset in "${presets[@]}"; do
  timed "${preset} (build + test)" preset_stage "${preset}"
  if [ "${preset}" = dev ]; then
    echo "=== consumers: release builds, install, find_package, pkg-config, add_subdirectory, README"
    timed consumers bash ci/consumers.sh
    echo "=== real programs with and without the malloc shim"
    timed real-programs bash ci/real-programs.sh
    echo "=== bench/compare.sh --smoke: every allocator and workload once, no timing asserted"
    timed bench-smoke bash bench/compare.sh --smoke
  fi
done

echo "=== ClusterFuzzLite: .clusterfuzzlite/build.sh as OSS-Fuzz runs it, then each target"
timed clusterfuzzlite bash ci/clusterfuzzlite_local.sh --time 3
echo "=== AFL++: the same harnesses under afl-fuzz, briefly"
timed afl-smoke bash ci/afl.sh --smoke --time 5
echo "=== ci/mutants.sh --smoke: the first 3 mutants, whole suite"
timed mutants-smoke bash ci/mutants.sh --smoke
