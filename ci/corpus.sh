#!/usr/bin/env bash
# ci/corpus.sh - keeps the checked-in corpus (corpus/<target>/) useful and small.
#
#   ci/corpus.sh --check                      # sizes only: under 2 MiB in all, 64 KiB a file
#   ci/corpus.sh --merge DIR... [--target NAME]...
#
# --merge runs each fuzz target (fuzz preset) with libFuzzer's -merge=1 over its checked-in
# corpus plus the given directories (e.g. the scratch corpora ci/fuzz.sh leaves in
# build/fuzz-run/<target>), and copies into corpus/<target>/ only the inputs that add coverage,
# named cov-<first 12 hex digits of their sha1> (a seed with a meaningful name is never
# replaced). Inputs over 64 KiB are skipped. Review `git status corpus/` and commit what you keep.
# --check fails if the corpus is over its size limits; ci/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

max_total=$((2 * 1024 * 1024))
max_file=$((64 * 1024))

check_sizes() {
  local total=0 bad=0 size
  while IFS= read -r -d '' f; do
    size=$(stat -c %s "$f")
    total=$((total + size))
    if [ "$size" -gt "$max_file" ]; then
      echo "corpus: $f is $size bytes (limit $max_file)" >&2
      bad=1
    fi
  done < <(find corpus -type f ! -name README.md -print0)
  if [ "$total" -gt "$max_total" ]; then
    echo "corpus: $total bytes in all (limit $max_total)" >&2
    bad=1
  fi
  echo "corpus: $(find corpus -type f ! -name README.md | wc -l) files, $total bytes" \
    "(limits: $max_total in all, $max_file a file)"
  return "$bad"
}

mode=""
dirs=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check; shift ;;
    --merge) mode=merge; shift ;;
    --target) targets+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "corpus.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) dirs+=("$1"); shift ;;
  esac
done

case "$mode" in
  check) check_sizes; exit $? ;;
  merge) ;;
  *) echo "corpus.sh: say --check or --merge DIR... (see --help)" >&2; exit 2 ;;
esac
[ ${#dirs[@]} -gt 0 ] || { echo "corpus.sh: --merge needs at least one directory" >&2; exit 2; }

. ci/lib.sh
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz_targets)
build_fuzz_preset "${targets[@]}"

for t in "${targets[@]}"; do
  name=${t#fuzz_}
  scratch=$(mktemp -d)
  extra=()
  for d in "${dirs[@]}"; do
    if [ -d "$d/$t" ]; then extra+=("$d/$t"); elif [ -d "$d" ]; then extra+=("$d"); fi
  done
  # -merge=1 writes to the first directory the inputs of the others that add coverage; start it
  # with the checked-in corpus so only the additions are new there.
  cp "corpus/$name"/* "$scratch"/
  before=$(ls "$scratch" | wc -l)
  "build/fuzz/fuzz/$t" -merge=1 -max_len=$max_file "$scratch" "${extra[@]}" >/dev/null 2>&1
  added=0
  for f in "$scratch"/*; do
    base=$(basename "$f")
    [ -e "corpus/$name/$base" ] && continue
    [ "$(stat -c %s "$f")" -le "$max_file" ] || continue
    cp "$f" "corpus/$name/cov-$(sha1sum "$f" | cut -c1-12)"
    added=$((added + 1))
  done
  echo "corpus: $t: $added inputs added (corpus had $before)"
  rm -rf "$scratch"
done
check_sizes
