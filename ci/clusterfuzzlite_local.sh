#!/usr/bin/env bash
# ci/clusterfuzzlite_local.sh - tests .clusterfuzzlite/build.sh without Docker: runs it the way
# OSS-Fuzz's `compile` does for libFuzzer + ASan (the same CC/CXX/CFLAGS/CXXFLAGS,
# LIB_FUZZING_ENGINE, SRC/WORK/OUT, working directory $SRC/kmalloc; --sanitizer undefined: its
# UBSan flags, and at run time its UBSAN_OPTIONS silence_unsigned_overflow=1), then
#   1. checks that coverage instrumentation is in allocator/ objects only: no model/ or fuzz/
#      object has a __sancov_* section or calls a __sanitizer_cov_* hook (llvm-objdump-14,
#      llvm-nm-14), every allocator object does;
#   2. runs each target in $OUT as ClusterFuzz would (flags from $OUT/<t>.options): once over
#      its unzipped <t>_seed_corpus.zip (-runs=0 -print_coverage=1: every source file named
#      there, i.e. holding an instrumented function, must be under allocator/), then 5 s of
#      fuzzing (-max_total_time=5 -seed=1) from those seeds; any crash, leak or timeout fails.
# Prints one line per target.
#
#   ci/clusterfuzzlite_local.sh [--dir DIR] [--keep] [--time SECONDS]
#                               [--sanitizer address|undefined]
#
# DIR (default: a new /tmp/kmalloc-cfl.XXXXXX) holds src/ (a symlink to this checkout), work/
# and out/; it is removed at the end unless --keep or --dir is given. Everything builds afresh
# (no ccache), as in OSS-Fuzz. KMALLOC_BUILD_JOBS sets build.sh's parallelism (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

dir=""
keep=0
fuzz_time=5
sanitizer=address
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; keep=1; shift 2 ;;
    --keep) keep=1; shift ;;
    --time) fuzz_time=$2; shift 2 ;;
    --sanitizer) sanitizer=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "clusterfuzzlite_local.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

. ci/lib.sh
bash ci/deps.sh
if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/kmalloc-cfl.XXXXXX); fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ $keep -eq 0 ]; then trap 'rm -rf "$dir"' EXIT; fi

# The environment OSS-Fuzz's base-builder sets for FUZZING_ENGINE=libfuzzer SANITIZER=address.
export SRC="$dir/src" WORK="$dir/work" OUT="$dir/out"
rm -rf "$SRC" "$WORK" "$OUT"
mkdir -p "$SRC" "$WORK" "$OUT"
ln -s "$root" "$SRC/kmalloc"
cp .clusterfuzzlite/build.sh "$SRC/build.sh"
export CC=clang-14 CXX=clang++-14
flags="-O1 -fno-omit-frame-pointer -gline-tables-only"
case "$sanitizer" in
  address) flags+=" -fsanitize=address -fsanitize-address-use-after-scope" ;;
  undefined)
    ub="array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null"
    ub+=",object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow"
    # unsigned-integer-overflow is on but recoverable, and silenced at run time.
    flags+=" -fsanitize=$ub,unsigned-integer-overflow,unreachable,vla-bound,vptr"
    flags+=" -fno-sanitize-recover=$ub,unreachable,vla-bound,vptr"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:silence_unsigned_overflow=1"
    ;;
  *) echo "clusterfuzzlite_local.sh: --sanitizer address or undefined" >&2; exit 2 ;;
esac
flags+=" -fsanitize=fuzzer-no-link"
export CFLAGS="$flags" CXXFLAGS="$flags"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer" FUZZING_ENGINE=libfuzzer SANITIZER=$sanitizer
export ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++

t0=$SECONDS
(cd "$SRC/kmalloc" && bash "$SRC/build.sh") > "$dir/build.log" 2>&1 || {
  tail -n 40 "$dir/build.log"
  echo "clusterfuzzlite: build.sh failed (log: $dir/build.log)" >&2
  exit 1
}
echo "clusterfuzzlite: build.sh took $((SECONDS - t0)) s"

# 1. Coverage instrumentation: allocator/ only.
check_coverage_only_in_allocator "$WORK/kmalloc-obj"

unpack() { # unpack ZIP DIR
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$1" -d "$2"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
  fi
}

# 2. Every target over its seeds, then a short fuzz run.
status=0
n_targets=0
run="$dir/run"
rm -rf "$run"
for bin in "$OUT"/fuzz_*; do
  if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
  t=$(basename "$bin")
  case "$t" in *.*) continue ;; esac
  n_targets=$((n_targets + 1))
  seeds="$run/$t/seeds"
  corpus="$run/$t/corpus"
  mkdir -p "$seeds" "$corpus" "$run/$t/artifacts"
  if [ -f "$OUT/${t}_seed_corpus.zip" ]; then unpack "$OUT/${t}_seed_corpus.zip" "$seeds"; fi
  n_seeds=$(find "$seeds" -type f | wc -l)
  cp -r "$seeds"/. "$corpus"/
  # ClusterFuzz passes the [libfuzzer] section of <t>.options as -key=value (dict next to it).
  args=(-artifact_prefix="$run/$t/artifacts/")
  if [ -f "$OUT/$t.options" ]; then
    section=""
    while IFS='=' read -r k v; do
      k=$(echo "$k" | tr -d ' '); v=$(echo "$v" | tr -d ' ')
      case "$k" in
        "" | "#"*) continue ;;
        "["*) section=$k; continue ;;
      esac
      [ "$section" = "[libfuzzer]" ] || continue
      if [ "$k" = dict ]; then v="$OUT/$v"; fi
      args+=("-$k=$v")
    done < "$OUT/$t.options"
  fi

  set +e
  "$bin" "${args[@]}" -runs=0 -print_coverage=1 "$seeds" > "$run/$t/replay.log" 2>&1
  rc_replay=$?
  "$bin" "${args[@]}" -max_total_time="$fuzz_time" -seed=1 -print_final_stats=1 "$corpus" \
    > "$run/$t/fuzz.log" 2>&1
  rc_fuzz=$?
  set -e
  ft_seeds=$(grep -oE 'INITED .*ft: [0-9]+' "$run/$t/replay.log" | grep -oE '[0-9]+$' | tail -1)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$run/$t/fuzz.log" |
    grep -oE '[0-9]+$' | tail -1)
  eps=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$run/$t/fuzz.log" | grep -oE '[0-9]+$' |
    tail -1)
  ft=$(grep -oE 'ft: [0-9]+' "$run/$t/fuzz.log" | tail -1 | grep -oE '[0-9]+')
  # The files -print_coverage=1 names (every instrumented function, covered or not).
  grep -E '^(UN)?COVERED_FUNC: ' "$run/$t/replay.log" | grep -oE '[^ ]+:[0-9]+$' |
    sed -E 's/:[0-9]+$//' | sort -u > "$run/$t/instrumented_files.txt" || true
  n_files=$(wc -l < "$run/$t/instrumented_files.txt")
  n_outside=$(grep -vc "^$SRC/kmalloc/allocator/" "$run/$t/instrumented_files.txt" || true)
  verdict=ok
  if [ "$n_files" -eq 0 ] || [ "$n_outside" -ne 0 ]; then
    verdict="FAILED (coverage outside allocator/: $(grep -v "^$SRC/kmalloc/allocator/" \
      "$run/$t/instrumented_files.txt" | head -3 | tr '\n' ' '))"
    status=1
  fi
  if [ $rc_replay -ne 0 ] || [ $rc_fuzz -ne 0 ]; then verdict=FAILED; status=1; fi
  echo "$t: seeds $n_seeds replayed (rc $rc_replay, features ${ft_seeds:-?}," \
    "instrumented files: $n_files in allocator/, $n_outside elsewhere);" \
    "${fuzz_time} s fuzz (rc $rc_fuzz): execs ${execs:-?}, exec/s ${eps:-?}," \
    "features ${ft:-?}: $verdict"
  if [ "$verdict" != ok ]; then
    for log in "$run/$t/replay.log" "$run/$t/fuzz.log"; do tail -n 40 "$log"; done
    ls -l "$run/$t/artifacts"
  fi
done
if [ "$n_targets" -eq 0 ]; then
  echo "clusterfuzzlite: build.sh put no fuzz_* target in $OUT" >&2
  exit 1
fi
if [ $status -ne 0 ] && [ $keep -eq 0 ]; then
  trap - EXIT
  echo "clusterfuzzlite: kept $dir for the failing target's logs and artifacts"
fi
echo "clusterfuzzlite: $n_targets targets, total $((SECONDS - t0)) s"
exit $status
