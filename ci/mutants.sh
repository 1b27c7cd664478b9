#!/usr/bin/env bash
# ci/mutants.sh - mutation testing: how strong is the test suite, and how strong is fuzzing alone?
#
# For each mutant of tools/mutants.tsv (id, file, original text, replacement, reason[,
# equivalent: argument]), in a scratch copy of the repository (never this tree), apply the edit,
# rebuild incrementally, run the check and record whether it fails ("killed"), how long it took
# and what fired; then revert. The original text must occur exactly once in its file, or the
# script fails loudly (so the list follows code moves). CI runs only --smoke.
#
# Usage: ci/mutants.sh [--only ID...] [--smoke] [--fuzz-only] [--check] [--list FILE]
#        ci/mutants.sh --summary RESULTS.tsv
#   (default)     whole suite: the dev-like g++ build ($KM_MUTANTS_DIR/build), then
#                 `ctest --stop-on-failure`; "fired" is the first failing test
#   --fuzz-only   fuzzing alone, no unit tests: the libFuzzer fuzz_heap of the `fuzz` preset
#                 (clang-14, ASan+UBSan, internal checks on; $KM_MUTANTS_DIR/build-fuzz, only
#                 the fuzz_heap target, so a mutant is one object and a relink) runs in one
#                 process with -seed=1 -max_total_time=$KM_MUTANTS_FUZZ_TIME -timeout=5 (and an
#                 outer `timeout`) on a fresh copy of the FROZEN seed corpus: corpus/heap as of
#                 commit 8021748 (coverage inputs of the unmutated allocator, written before this
#                 score existed; extracted once into $KM_MUTANTS_DIR/seeds-8021748). Killed = the
#                 fuzzer (or the seed replay) finds a crash, mismatch or hang. "fired" is the
#                 checker's invariant tag ("NO2", "MU1"; else "CheckError: <first words>"),
#                 "KM_CHECK"/"KM_DCHECK file:line", "ASan <kind>", "UBSan", "timeout" (a hang)...
#   --only ID...  just these mutants (ids up to the next --option)
#   --smoke       just the first 3 mutants; fails unless all 3 are killed (CI runs this)
#   --check       only verify that every original text occurs exactly once; no build
#   --list FILE   another mutant list (default tools/mutants.tsv)
#   --summary F   print the summary of a results file and exit (also printed after each run):
#                 killed/total (equivalent and invalid mutants are not in the total), median
#                 time-to-kill, the tally of what fired, the equivalents and the survivors
# Each run overwrites $KM_MUTANTS_DIR/results-<suite|fuzz>.tsv (id, status, seconds to kill,
# build seconds, what fired, phase, reason; phase is "seeds" when the frozen seeds alone killed
# it, "fuzz" when new inputs did). A build failure of a mutant counts as "invalid", except that
# a test binary gtest_discover_tests cannot run to list its tests counts as killed by it.
# Environment: KM_MUTANTS_DIR (default /tmp/kmalloc-mutants), KM_MUTANTS_JOBS (default 2),
# KM_MUTANTS_TIMEOUT (per-test timeout of the suite in seconds, default 60), KM_MUTANTS_FUZZ_TIME
# (seconds of fuzzing per mutant, default 20).
#
# Measured: KM_MUTANTS_DIR=/tmp/kmalloc-mutants-s20h KM_MUTANTS_JOBS=2 ci/mutants.sh
# (whole suite, the list of 158 at commit ade18b4, beside other work; 620 s):
#   killed 155/155 (100%; 3 argued equivalent, 0 invalid), median time-to-kill 1.5 s (max 65 s).
# KM_MUTANTS_DIR=/tmp/kmalloc-mutants-s20g KM_MUTANTS_JOBS=2 ci/mutants.sh --fuzz-only
# (the list of 158 at commit ade18b4, 20 s a mutant, a quiet 2-vCPU machine; 533 s):
#   killed 141/155 (91.0%; 3 argued equivalent, 0 invalid), median time-to-kill 0.2 s (max
#   6.7 s; 134 killed by the frozen seeds alone, 7 by new inputs). -max_total_time counts wall
#   time, so a loaded machine runs fewer inputs and kills near the limit may flip.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
list="$repo/tools/mutants.tsv"
mode=suite
only=()
smoke=0
check_only=0
summary_file=
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
  --summary) summary_file=$(realpath "$2"); shift 2 ;;
  *) echo "mutants.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

work=${KM_MUTANTS_DIR:-/tmp/kmalloc-mutants}
jobs=${KM_MUTANTS_JOBS:-2}
timeout=${KM_MUTANTS_TIMEOUT:-60}
fuzz_time=${KM_MUTANTS_FUZZ_TIME:-20}
seed_commit=8021748
src="$work/src"
mkdir -p "$work"

# summary.py RESULTS: the summary of a results file (see --summary).
summary_py="$work/summary.py"
cat >"$summary_py" <<'PY'
import statistics, sys
from collections import Counter
rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    f += ["-"] * (7 - len(f))
    rows.append(dict(id=f[0], status=f[1], kill=f[2], build=f[3], fired=f[4], phase=f[5],
                     reason=f[6]))
equiv = [r for r in rows if r["status"].endswith("(equiv)")]
invalid = [r for r in rows if r["status"].startswith("invalid") and r not in equiv]
scored = [r for r in rows if r not in equiv and r not in invalid]
killed = [r for r in scored if r["status"] == "killed"]
survived = [r for r in scored if r["status"] == "survived"]
times = [float(r["kill"]) for r in killed if r["kill"] not in ("", "-")]
med = "%.1f s" % statistics.median(times) if times else "-"
print("killed %d/%d (%.1f%%), survived %d; invalid %d, equivalent %d (neither in the total);"
      " median time-to-kill %s" % (len(killed), len(scored),
      100.0 * len(killed) / len(scored) if scored else 0.0, len(survived), len(invalid),
      len(equiv), med))
if times:
    q = sorted(times)
    print("time-to-kill: min %.1f s, max %.1f s, %d of %d within 10 s"
          % (q[0], q[-1], sum(1 for t in q if t <= 10.0), len(q)))
phases = Counter(r["phase"] for r in killed if r["phase"] not in ("", "-"))
if phases:
    print("killed by: " + ", ".join("%s %d" % (k, v) for k, v in phases.most_common()))
def kind(fired):  # the check: an invariant tag, a sanitizer, KM_(D)CHECK, a timeout...
    if fired.startswith(("KM_CHECK", "KM_DCHECK")):
        return fired.split(" ")[0]
    if fired.startswith("CheckError: "):
        return "CheckError without a tag"
    return fired
def tabulate(title, counter):
    print(title)
    for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        print("  %3d  %s" % (v, k))
tabulate("what fired:", Counter(kind(r["fired"]) for r in killed))
untagged = Counter(r["fired"][len("CheckError: "):] for r in killed
                   if r["fired"].startswith("CheckError: "))
if untagged:
    tabulate("  the CheckErrors without a tag, by their first words:", untagged)
if equiv:
    print("equivalent (not scored):")
    for r in equiv:
        print("  %s %s: %s" % (r["id"], r["status"], r["reason"]))
if invalid:
    print("invalid (do not build; fix the mutant):")
    for r in invalid:
        print("  %s: %s" % (r["id"], r["fired"]))
if survived:
    print("survivors:")
    for r in survived:
        print("  %s: %s" % (r["id"], r["reason"]))
PY
if [[ -n "$summary_file" ]]; then
  python3 "$summary_py" "$summary_file"
  exit 0
fi

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

# The scratch copy: this tree's tracked and untracked (not ignored) files, and only those. Only
# files whose content differs are copied, so the persistent build stays incremental.
mkdir -p "$src"
(cd "$repo" && git ls-files -co --exclude-standard -z) | while IFS= read -r -d '' f; do
  [[ -f "$repo/$f" ]] || continue
  if ! cmp -s "$repo/$f" "$src/$f"; then
    mkdir -p "$(dirname "$src/$f")"
    cp "$repo/$f" "$src/$f"
  fi
done
# ...and nothing else: a file the tree no longer has (a deleted test) leaves the copy too.
(cd "$repo" && git ls-files -co --exclude-standard) | sort >"$work/files.txt"
(cd "$src" && find . -type f -printf '%P\n') | sort | comm -23 - "$work/files.txt" |
  while IFS= read -r f; do rm -f "$src/$f"; done
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [[ $mode == suite ]]; then
  build="$work/build"
  targets=()
  if [[ ! -f "$build/build.ninja" ]]; then
    # The dev preset's settings (g++, Debug, internal checks, -Werror), gold for faster links.
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
      -DCMAKE_BUILD_TYPE=Debug -DKMALLOC_INTERNAL_CHECKS=ON -DKMALLOC_WERROR=ON \
      -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=gold -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=gold \
      "${launcher[@]}" >/dev/null
  fi
else
  build="$work/build-fuzz"
  targets=(fuzz_heap)
  if [[ ! -f "$build/build.ninja" ]]; then
    # The fuzz preset's settings: clang-14, libFuzzer + ASan + UBSan, internal checks on.
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-14 \
      -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DKMALLOC_INTERNAL_CHECKS=ON "-DKMALLOC_SANITIZE=address;undefined" \
      -DKMALLOC_BUILD_FUZZ=ON -DKMALLOC_BUILD_TESTS=OFF -DKMALLOC_WERROR=ON "${launcher[@]}" \
      >/dev/null
  fi
  # The frozen seeds, extracted once.
  seeds="$work/seeds-$seed_commit/corpus/heap"
  if [[ ! -d "$seeds" ]]; then
    rm -rf "$work/seeds-$seed_commit.tmp"
    mkdir -p "$work/seeds-$seed_commit.tmp"
    git -C "$repo" archive "$seed_commit" corpus/heap | tar -x -C "$work/seeds-$seed_commit.tmp"
    mv "$work/seeds-$seed_commit.tmp" "$work/seeds-$seed_commit"
  fi
  fuzz_args=(-seed=1 -max_total_time="$fuzz_time" -timeout=5 -print_final_stats=1)
  # fuzz_heap.options as ci/fuzz.sh reads it (max_len).
  while IFS='=' read -r k v; do
    k=$(echo "$k" | tr -d ' ')
    v=$(echo "$v" | tr -d ' ')
    [[ -z "$k" || "${k:0:1}" == "[" || "${k:0:1}" == "#" || "$k" == dict ]] && continue
    fuzz_args+=("-$k=$v")
  done <"$src/fuzz/fuzz_heap.options"
fi
echo "mutants.sh: building the unmutated scratch copy in $build"
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$work/build-base-$mode.log" 2>&1 || {
  tail -30 "$work/build-base-$mode.log"
  echo "mutants.sh: the unmutated tree does not build" >&2
  exit 1
}

run_tests() { # $1: log file. Exit status: 0 all passed.
  if [[ $mode == suite ]]; then
    ctest --test-dir "$build" -j"$jobs" --timeout "$timeout" --stop-on-failure \
      >"$1" 2>&1
  else
    local corpus="$work/fuzz-corpus"
    rm -rf "$corpus" "$work/artifacts"
    mkdir -p "$work/artifacts"
    cp -r "$seeds" "$corpus"
    # One process; the outer timeout catches what -timeout=5 cannot (a hang in the seed replay
    # before libFuzzer's alarm is armed, a wedged exit). In a subshell whose stderr is the log:
    # bash's "Aborted" notice goes there too.
    (cd "$work/artifacts" && timeout -k 10 $((fuzz_time + 120)) "$build/fuzz/fuzz_heap" \
      "${fuzz_args[@]}" -artifact_prefix="$work/artifacts/" "$corpus" >>"$1" 2>&1) 2>>"$1"
  fi
}

# fired LOG RC: what killed the mutant.
fired() {
  if [[ $mode == suite ]]; then
    grep -m1 -E '\*\*\*(Failed|Timeout|Exception)|\(Failed\)|\(Timeout\)|\(Subprocess' "$1" |
      sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/\1/' || true
    return
  fi
  local line tag
  if [[ $2 -eq 124 || $2 -eq 137 ]]; then
    echo "timeout (outer, $((fuzz_time + 120)) s)"
    return
  fi
  # The first line that names a failure, in the order they were printed.
  # (ASan prints "==PID==ERROR: ...", libFuzzer "==PID== ERROR: ...".)
  line=$(grep -m1 -aE '^heap check failed: |^heap init failed: |kmalloc: CHECK failed: |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|AddressSanitizer: CHECK failed|runtime error: |^kmalloc_init_region\(' \
    "$1" || true)
  case "$line" in
  "heap check failed: "* | "heap init failed: "* | kmalloc_init_region\(*)
    tag=$(grep -oE '\([A-Z]{2,3}[0-9]+\)' <<<"$line" | head -1 | tr -d '()' || true)
    if [[ -n "$tag" ]]; then
      echo "$tag"
    else
      # Untagged: its first words, numbers as N, so that the tally groups them.
      echo "CheckError: $(sed -E 's/^heap check failed: //; s/0x[0-9a-f]+/N/g; s/[0-9]+/N/g' \
        <<<"$line" | cut -c1-48)"
    fi
    ;;
  *"kmalloc: CHECK failed: "*)
    # "kmalloc: CHECK failed: FILE:LINE: expr": KM_DCHECK or KM_CHECK, from the source line.
    local loc f n kind
    loc=$(sed -E 's/.*CHECK failed: ([^:]+):([0-9]+):.*/\1:\2/' <<<"$line")
    f=${loc%:*}
    n=${loc##*:}
    kind=$(sed -n "${n}p" "$f" 2>/dev/null | grep -oE 'KM_D?CHECK' | head -1 || true)
    echo "${kind:-KM_CHECK} ${f#"$src"/}:$n"
    ;;
  *"libFuzzer: timeout"*) echo "timeout (libFuzzer -timeout=5)" ;;
  *"libFuzzer: out-of-memory"*) echo "libFuzzer out-of-memory" ;;
  *"libFuzzer: "*) echo "libFuzzer $(sed -E 's/.*libFuzzer: ([a-z -]+).*/\1/' <<<"$line")" ;;
  *"AddressSanitizer: CHECK failed"*) echo "ASan internal CHECK" ;;
  *"AddressSanitizer: "*)
    echo "ASan $(sed -E 's/.*AddressSanitizer: ([A-Za-z-]+).*/\1/' <<<"$line")"
    ;;
  *"LeakSanitizer"*) echo "LSan leak" ;;
  *"runtime error: "* | *UndefinedBehaviorSanitizer*)
    echo "UBSan $(sed -E 's/.*runtime error: //' <<<"$line" | cut -c1-40)"
    ;;
  *) echo "exit $2 ($(grep -m1 -aE 'deadly signal|Aborted|Segmentation' "$1" | cut -c1-40 || true))" ;;
  esac
}

phase_of() { # $1: log. "seeds" when libFuzzer never finished the seed replay (INITED).
  if [[ $mode == suite ]]; then
    echo -
  elif grep -qa 'INITED' "$1"; then
    echo fuzz
  else
    echo seeds
  fi
}

echo "mutants.sh: the unmutated $mode run must pass first"
: >"$work/base-$mode.log"
if ! run_tests "$work/base-$mode.log"; then
  echo "mutants.sh: the unmutated $mode run fails ($(fired "$work/base-$mode.log" 1));" \
    "see $work/base-$mode.log" >&2
  exit 1
fi

results="$work/results-$mode.tsv"
printf '# id\tstatus\tkill_s\tbuild_s\tfired\tphase\treason\n' >"$results"
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
  phase=-
  if ! ninja -C "$build" -j"$jobs" "${targets[@]}" >"$log" 2>&1; then
    if grep -q 'Error running test executable' "$log"; then
      # Everything compiled, but gtest_discover_tests ran a test binary to list its tests and
      # it died: the mutant breaks a binary the suite runs (the shim test's malloc is the
      # allocator), so it is killed, by that binary, at build time.
      status=killed
      t1=$(date +%s.%N)
      t_kill=0.00
      what="discovery $(grep -m1 -oE 'FAILED: tests/[A-Za-z0-9_]+' "$log" | sed 's/FAILED: //')"
      what="$what ($(grep -m1 -aE 'kmalloc: |CHECK failed|Segmentation|Abort' "$log" | cut -c1-60))"
      cp "$log" "$work/killed-$mode-$id.log"
    else
      status=invalid
      t1=$(date +%s.%N)
      what=$(grep -m1 -E 'error:' "$log" | cut -c1-160 || true)
      t_kill=-
    fi
  else
    t1=$(date +%s.%N)
    : >"$log.run"
    rc=0
    run_tests "$log.run" || rc=$?
    if [[ $rc -eq 0 ]]; then
      status=survived
      what=-
      t_kill=-
    else
      status=killed
      what=$(fired "$log.run" "$rc")
      phase=$(phase_of "$log.run")
      t_kill=$(printf '%.2f' "$(echo "$(date +%s.%N) - $t1" | bc)")
      cp "$log.run" "$work/killed-$mode-$id.log"
    fi
  fi
  build_s=$(printf '%.1f' "$(echo "${t1:-$t0} - $t0" | bc)")
  restore "$file"
  trap - EXIT
  [[ -n "${equiv:-}" ]] && status="$status(equiv)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$status" "$t_kill" "$build_s" "${what:--}" \
    "$phase" "$reason" >>"$results"
  printf '%-4s %-16s kill=%6ss build=%5ss %-6s %s\n' "$id" "$status" "$t_kill" "$build_s" \
    "$phase" "${what:--}"
  unset t1
done
elapsed=$(($(date +%s) - start_all))
# Leave the scratch build unmutated for the next run.
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$log" 2>&1 || true

echo
echo "== mutation table ($mode mode, $list)"
printf '%-4s %-16s %8s %8s %-6s %s\n' id status kill_s build_s phase "what fired / reason"
while IFS=$'\t' read -r id status t_kill build_s what phase reason; do
  [[ "$id" == \#* ]] && continue
  printf '%-4s %-16s %8s %8s %-6s %s\n' "$id" "$status" "$t_kill" "$build_s" "$phase" \
    "$([[ $status == killed* ]] && echo "$what" || echo "$reason")"
done <"$results"
echo
echo "== summary ($mode mode$([[ $mode == fuzz ]] && echo ", ${fuzz_time} s a mutant"), run took ${elapsed}s)"
python3 "$summary_py" "$results"
echo "results: $results"
# A smoke run (CI) fails unless each of its mutants was killed: the script, the build and the
# suite must all still work together.
if [[ $smoke -eq 1 ]] && ! awk -F'\t' '!/^#/ && $2 !~ /^killed/ {bad = 1} END {exit bad}' "$results"; then
  echo "mutants.sh: --smoke: a mutant was not killed (see $results)" >&2
  exit 1
fi
