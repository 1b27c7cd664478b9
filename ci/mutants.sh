#!/usr/bin/env bash
# ci/mutants.sh - mutation testing: how strong is the test suite?
#
# For each mutant of tools/mutants.tsv (id, file, original text, replacement, reason), in a
# scratch copy of the repository (never this tree), apply the edit, rebuild incrementally, run
# the suite and record whether it fails ("killed"), how long it took, and the first failing
# test; then revert. The original text must occur exactly once in its file, or the script
# fails loudly (so the list follows code moves). Not part of CI.
#
# Usage: ci/mutants.sh [--only ID...] [--smoke] [--fuzz-only] [--check] [--list FILE]
#   --only ID...  just these mutants (ids up to the next --option)
#   --smoke       just the first 3 mutants
#   --fuzz-only   instead of ctest, replay the checked-in fuzz corpora (corpus/*) with the g++
#                 replay binaries fuzz/*_replay, stopping at the first failing target
#   --check       only verify that every original text occurs exactly once; no build
#   --list FILE   another mutant list (default tools/mutants.tsv)
# Each run overwrites $KM_MUTANTS_DIR/results-<mode>.tsv (id, status, seconds to kill, build
# seconds, first failing test, reason). A build failure of a mutant counts as "invalid".
# Environment: KM_MUTANTS_DIR (default /tmp/kmalloc-mutants: src/ is the scratch copy, build/ its
# persistent dev-like build, results-*.tsv the per-run results), KM_MUTANTS_JOBS (default 2),
# KM_MUTANTS_TIMEOUT (per-test timeout in seconds, default 60).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
list="$repo/tools/mutants.tsv"
mode=suite
only=()
smoke=0
check_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
  --only)
    shift
    while [[ $# -gt 0 && "$1" != --* ]]; do
      only+=("$1")
      shift
    done
    ;;
  --smoke) smoke=1; shift ;;
  --fuzz-only) mode=fuzz; shift ;;
  --check) check_only=1; shift ;;
  --list) list=$(realpath "$2"); shift 2 ;;
  *) echo "mutants.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

work=${KM_MUTANTS_DIR:-/tmp/kmalloc-mutants}
jobs=${KM_MUTANTS_JOBS:-2}
timeout=${KM_MUTANTS_TIMEOUT:-60}
src="$work/src"
build="$work/build"
mkdir -p "$work"

# apply.py MODE FILE ORIG REPL: MODE=count prints the number of occurrences of ORIG; MODE=apply
# replaces the single occurrence (exit 3 if it is not exactly one). \n and \t are unescaped.
apply_py="$work/apply.py"
cat >"$apply_py" <<'PY'
import sys
mode, path, orig, repl = sys.argv[1:5]
unesc = lambda s: s.replace("\\n", "\n").replace("\\t", "\t")
orig, repl = unesc(orig), unesc(repl)
text = open(path, encoding="utf-8").read()
n = text.count(orig)
if mode == "count":
    print(n)
    sys.exit(0)
if n != 1:
    sys.exit(3)
open(path, "w", encoding="utf-8").write(text.replace(orig, repl, 1))
PY

# The mutants: id|file|orig|repl|reason|equivalent (TAB-separated, comments skipped).
mapfile -t lines < <(grep -v '^#' "$list" | grep -v '^[[:space:]]*$')
selected=()
for line in "${lines[@]}"; do
  IFS=$'\t' read -r id file orig repl reason equiv <<<"$line"
  if [[ -z "${reason:-}" ]]; then
    echo "mutants.sh: malformed entry (need 5 TAB-separated fields): $line" >&2
    exit 1
  fi
  if [[ ${#only[@]} -gt 0 ]]; then
    keep=0
    for o in "${only[@]}"; do [[ "$o" == "$id" ]] && keep=1; done
    [[ $keep -eq 1 ]] || continue
  fi
  selected+=("$line")
  [[ $smoke -eq 1 && ${#selected[@]} -ge 3 ]] && break
done
if [[ ${#selected[@]} -eq 0 ]]; then
  echo "mutants.sh: no mutant selected" >&2
  exit 1
fi

# Fail loudly on any original text that is not exactly once in its file (checked in this
# tree, before anything is built).
bad=0
for line in "${selected[@]}"; do
  IFS=$'\t' read -r id file orig repl reason equiv <<<"$line"
  if [[ ! -f "$repo/$file" ]]; then
    echo "mutants.sh: $id: no file $file" >&2
    bad=1
    continue
  fi
  n=$(python3 "$apply_py" count "$repo/$file" "$orig" "$repl")
  if [[ "$n" != 1 ]]; then
    echo "mutants.sh: $id: original text occurs $n times in $file (must be exactly once): $orig" >&2
    bad=1
  fi
done
if [[ $bad -ne 0 ]]; then
  echo "mutants.sh: FAILED: the mutant list does not match the sources; update $list" >&2
  exit 1
fi
if [[ $check_only -eq 1 ]]; then
  echo "mutants.sh: all ${#selected[@]} mutants match exactly once"
  exit 0
fi

# The scratch copy: this tree's tracked and untracked (not ignored) files. Only files whose
# content differs are copied, so the persistent build stays incremental.
mkdir -p "$src"
(cd "$repo" && git ls-files -co --exclude-standard -z) | while IFS= read -r -d '' f; do
  [[ -f "$repo/$f" ]] || continue
  if ! cmp -s "$repo/$f" "$src/$f"; then
    mkdir -p "$(dirname "$src/$f")"
    cp "$repo/$f" "$src/$f"
  fi
done
if [[ ! -f "$build/build.ninja" ]]; then
  # The dev preset's settings (g++, Debug, internal checks, -Werror), gold for faster links.
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_BUILD_TYPE=Debug -DKMALLOC_INTERNAL_CHECKS=ON -DKMALLOC_WERROR=ON \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=gold -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=gold >/dev/null
fi
echo "mutants.sh: building the unmutated scratch copy in $build"
ninja -C "$build" -j"$jobs" >"$work/build-base.log" 2>&1 || {
  tail -30 "$work/build-base.log"
  echo "mutants.sh: the unmutated tree does not build" >&2
  exit 1
}

run_tests() { # $1: log file. Exit status: 0 all passed.
  if [[ $mode == suite ]]; then
    ctest --test-dir "$build" -j"$jobs" --timeout "$timeout" --stop-on-failure \
      >"$1" 2>&1
  else
    local t
    for t in heap; do
      echo "== fuzz_${t}_replay corpus/$t" >>"$1"
      # In a subshell whose stderr is the log: bash's "Aborted" notice goes there too.
      if ! (timeout "$timeout" "$build/fuzz/fuzz_${t}_replay" "$src/corpus/$t" >>"$1" 2>&1) \
        2>>"$1"; then
        echo "FAILED fuzz_${t}_replay" >>"$1"
        return 1
      fi
    done
  fi
}

first_failure() { # $1: log file
  if [[ $mode == suite ]]; then
    grep -m1 -E '\*\*\*(Failed|Timeout|Exception)|\(Failed\)|\(Timeout\)|\(Subprocess' "$1" |
      sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/\1/' || true
  else
    grep -m1 '^FAILED ' "$1" | sed 's/^FAILED //' || true
  fi
}

echo "mutants.sh: the unmutated suite must pass first"
if ! run_tests "$work/base-$mode.log"; then
  echo "mutants.sh: the unmutated suite fails; see $work/base-$mode.log" >&2
  exit 1
fi

results="$work/results-$mode.tsv"
: >"$results"
log="$work/mutant.log"
restore() { # put every file back as in this tree
  local f
  for f in "$@"; do cp "$repo/$f" "$src/$f"; done
}
start_all=$(date +%s)
for line in "${selected[@]}"; do
  IFS=$'\t' read -r id file orig repl reason equiv <<<"$line"
  trap 'restore "$file"' EXIT
  python3 "$apply_py" apply "$src/$file" "$orig" "$repl" || {
    echo "mutants.sh: $id: cannot apply to the scratch copy of $file" >&2
    exit 1
  }
  t0=$(date +%s.%N)
  if ! ninja -C "$build" -j"$jobs" >"$log" 2>&1; then
    status=invalid
    what=$(grep -m1 -E 'error:' "$log" | cut -c1-160 || true)
    t_kill=-
  else
    t1=$(date +%s.%N)
    : >"$log.run"
    if run_tests "$log.run"; then
      status=survived
      what=-
      t_kill=-
    else
      status=killed
      what=$(first_failure "$log.run")
      t_kill=$(echo "$(date +%s.%N) - $t1" | bc)
      t_kill=$(printf '%.2f' "$t_kill")
    fi
  fi
  build_s=$(printf '%.1f' "$(echo "${t1:-$t0} - $t0" | bc)")
  restore "$file"
  trap - EXIT
  [[ -n "${equiv:-}" ]] && status="$status(equiv)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$status" "$t_kill" "$build_s" "${what:--}" "$reason" \
    >>"$results"
  printf '%-4s %-16s kill=%5ss build=%5ss %s\n' "$id" "$status" "$t_kill" "$build_s" "${what:--}"
  unset t1
done
elapsed=$(($(date +%s) - start_all))
# Leave the scratch build unmutated for the next run.
ninja -C "$build" -j"$jobs" >"$log" 2>&1 || true

echo
echo "== mutation table ($mode mode, $list)"
printf '%-4s %-16s %8s %8s  %s\n' id status kill_s build_s "first failing test / reason"
while IFS=$'\t' read -r id status t_kill build_s what reason; do
  printf '%-4s %-16s %8s %8s  %s\n' "$id" "$status" "$t_kill" "$build_s" \
    "$([[ $status == killed* ]] && echo "$what" || echo "$reason")"
done <"$results"
total=$(wc -l <"$results")
killed=$(grep -c $'\tkilled' "$results" || true)
survived=$(grep -c $'\tsurvived' "$results" || true)
invalid=$(grep -c $'\tinvalid' "$results" || true)
median=$(awk -F'\t' '$2 ~ /^killed/ {print $3}' "$results" | sort -g |
  awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2];
       else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}')
echo
echo "== summary ($mode mode)"
echo "killed $killed/$total, survived $survived, invalid $invalid; median time-to-kill ${median}s;" \
  "run took ${elapsed}s"
if [[ $survived -gt 0 ]]; then
  echo "survivors:"
  awk -F'\t' '$2 ~ /^survived/ {printf "  %s %s: %s\n", $1, $2, $6}' "$results"
fi
if [[ $invalid -gt 0 ]]; then
  echo "invalid (do not build; fix the mutant):"
  awk -F'\t' '$2 ~ /^invalid/ {printf "  %s: %s\n", $1, $5}' "$results"
fi
echo "results: $results"
