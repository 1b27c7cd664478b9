#!/usr/bin/env bash
# ci/test.sh - the test command: installs dependencies, checks format and layering, then builds
# and runs ctest in the dev (g++) and asan (clang ASan+UBSan) presets. Unit, death, property
# and corpus-replay tests all run; after the dev build, ci/examples.sh installs it and builds
# examples/ against the install. The output ends with ctest's summary.
#
#   ci/test.sh                     # dev and asan
#   KMALLOC_TEST_PRESETS="dev" ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/deps.sh
bash ci/check_format.sh
bash ci/check_layers.sh

read -r -a presets <<< "${KMALLOC_TEST_PRESETS:-dev asan}"
for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure, build, test"
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}"
  if [ "${preset}" = dev ]; then
    bash ci/examples.sh build/dev
  fi
  ctest --preset "${preset}"
done
