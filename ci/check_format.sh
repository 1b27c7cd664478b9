#!/usr/bin/env bash
# ci/check_format.sh - fails if any tracked C/C++ file differs from clang-format-14's output.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.hpp' '*.c' '*.cpp')
bad=0
for f in $files; do
  if ! clang-format-14 --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f differs from clang-format-14 (run: clang-format-14 -i $f)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "format: $(echo "$files" | wc -w) files clean"
exit $bad
