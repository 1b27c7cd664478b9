#!/usr/bin/env bash
# ci/fuzz.sh - the main fuzz job. Builds the `fuzz` preset (clang, libFuzzer, ASan+UBSan;
# KMALLOC_BUILD_FUZZ=ON, tests off; only allocator/ carries libFuzzer's coverage
# instrumentation, so features are allocator edges) and runs every fuzz target for a bounded
# time over a scratch copy of its corpus (corpus/<target>).
#
#   ci/fuzz.sh [--time SECONDS] [--target NAME]... [--jobs N] [--seed N]
#
# Defaults: 60 s per target, all targets, 1 job, seed 1 (fixed, so CI runs are repeatable).
# --jobs N (N > 1) runs each target in libFuzzer's fork mode, -fork=N: N worker processes at a
# time (one per core with N = nproc), each fuzzing for a while from the shared corpus, which the
# parent merges their new inputs into; the target still gets --time seconds of wall time, the
# workers' seeds derive from --seed. (Not libFuzzer's -jobs, which runs independent campaigns.)
# For each target it prints one summary line: exec/s, model-checked operations per second,
# coverage features, corpus size and new inputs (in fork mode: exec/s and features as the parent
# last reported them, ops summed over the workers, new = corpus minus seeds). Every finding is
# printed with the command that replays it; the exit status is non-zero if there was any.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

time_per_target=60
jobs=1
seed=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_per_target=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
. ci/lib.sh
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz_targets)
build_fuzz_preset "${targets[@]}"

work="$root/build/fuzz-work"
findings_dir="$root/fuzz-findings"
mkdir -p "$work" "$findings_dir"
status=0
summary=()
for t in "${targets[@]}"; do
  bin="$root/build/fuzz/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz.sh: no binary for target '$t' at $bin" >&2; exit 2; }
  corpus="$work/$t"
  rm -rf "$corpus"; mkdir -p "$corpus"
  seeds="$root/corpus/${t#fuzz_}"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  n_seeds=$(find "$corpus" -type f | wc -l)

  args=(-max_total_time="$time_per_target" -seed="$seed" -print_final_stats=1
        -artifact_prefix="$findings_dir/$t-")
  if [ -f "fuzz/$t.options" ]; then
    while IFS='=' read -r k v; do
      k=$(echo "$k" | tr -d ' '); v=$(echo "$v" | tr -d ' ')
      [ -z "$k" ] || [ "${k:0:1}" = "[" ] || [ "${k:0:1}" = "#" ] || [ "$k" = dict ] && continue
      args+=("-$k=$v")
    done < "fuzz/$t.options"
  fi
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  [ "$jobs" -gt 1 ] && args+=(-fork="$jobs")

  log="$work/$t.log"
  # One process: its stats line goes to the log. Fork mode: each worker appends its own line
  # to $stats (libFuzzer deletes the workers' logs).
  stats="$work/$t.stats"
  rm -f "$stats"
  stats_env=1
  [ "$jobs" -gt 1 ] && stats_env=$stats
  mode="1 process"
  [ "$jobs" -gt 1 ] && mode="-fork=$jobs"
  echo "=== $t: ${time_per_target}s, seed $seed, $n_seeds seed inputs, $mode"
  set +e
  KMALLOC_FUZZ_STATS=$stats_env "$bin" "${args[@]}" "$corpus" > "$log" 2>&1
  rc=$?
  set -e

  # (`|| true`: a field that is missing, e.g. after a crash, prints as "?".)
  last() { grep -oE "$1" "$log" | grep -oE '[0-9]+$' | tail -1 || true; }
  corp=$(find "$corpus" -type f | wc -l)
  if [ "$jobs" -gt 1 ]; then
    # The parent's progress lines: "#EXECS: cov: C ft: F corp: N exec/s E ... job: J".
    execs=$(grep -oE '^#[0-9]+: cov:' "$log" | grep -oE '[0-9]+' | tail -1 || true)
    eps=$(last 'exec/s:? [0-9]+')
    new_units=$((corp - n_seeds))
    ops=$( (grep -ohE ' ops=[0-9]+' "$stats" 2>/dev/null || true) | grep -oE '[0-9]+' |
      awk '{ s += $1 } END { print s + 0 }')
  else
    execs=$(last 'stat::number_of_executed_units: *[0-9]+')
    eps=$(last 'stat::average_exec_per_sec: *[0-9]+')
    new_units=$(last 'stat::new_units_added: *[0-9]+')
    ops=$( (grep -E '^fuzz_stats: ' "$log" || true) | tail -1 | grep -oE ' ops=[0-9]+' |
      grep -oE '[0-9]+' || true)
  fi
  ft=$(last 'ft: [0-9]+')
  ops_per_sec=$(( ${ops:-0} / (time_per_target > 0 ? time_per_target : 1) ))
  line="$t: exec/s ${eps:-?}, ops/s ${ops_per_sec}, features ${ft:-?}, corpus ${corp} (seeds ${n_seeds}), new ${new_units:-?}, execs ${execs:-?}"
  summary+=("$line")
  echo "$line"

  if [ $rc -ne 0 ]; then
    status=1
    tail -n 60 "$log"
    for f in "$findings_dir/$t-"*; do
      [ -e "$f" ] || continue
      echo "FINDING ($t): $f"
      echo "  replay:  build/fuzz/fuzz/$t $f"
      echo "  decoded: KMALLOC_FUZZ_TRACE=1 build/fuzz/fuzz/$t $f"
      echo "  minimise: build/fuzz/fuzz/$t -minimize_crash=1 -runs=20000 $f"
    done
  fi
done

echo "=== fuzz summary (${time_per_target}s per target, seed $seed)"
printf '%s\n' "${summary[@]}"
if [ $status -ne 0 ]; then
  echo "fuzz: findings are in $findings_dir"
fi
exit $status
