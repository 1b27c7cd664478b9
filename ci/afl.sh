#!/usr/bin/env bash
# ci/afl.sh - builds the fuzz targets for AFL++ and, with --smoke, checks that afl-fuzz runs them.
#
#   ci/afl.sh [--smoke] [--time SECONDS] [--target NAME]... [--asan] [--dir DIR]
#
# The build is .clusterfuzzlite/build.sh (the same harnesses and sources as OSS-Fuzz) with
# CC=afl-clang-fast CXX=afl-clang-fast++ and LIB_FUZZING_ENGINE=-fsanitize=fuzzer, which
# afl-clang-fast++ links as AFL++'s libFuzzer-style driver (/usr/lib/afl/libAFLDriver.a, persistent
# mode). Coverage goes to allocator/ only (AFL_LLVM_ALLOWLIST, set by build.sh; checked here on
# the objects as in ci/clusterfuzzlite_local.sh). --asan adds AFL_USE_ASAN=1 (ASan everywhere).
# Output in DIR (default build/afl): out/<target> (+ .dict, .options, seed zip), work/, and with
# --smoke findings/<target>/ (afl-fuzz's -o).
#
# --smoke runs afl-fuzz on each target (all, or the --target ones) for --time seconds (default 5)
# from its seed corpus (corpus/<target without fuzz_>) with its dictionary, and fails if afl-fuzz
# cannot start, executes nothing, or saves a crash (AFL_BENCH_UNTIL_CRASH stops it at the first).
# One line per target. Without --smoke it only builds and prints the campaign commands.
#
# A longer campaign (one main and one secondary instance per target, stop with Ctrl-C; resume with
# -i -), e.g. for fuzz_heap:
#   AFL_SKIP_CPUFREQ=1 afl-fuzz -M main -i corpus/heap -o build/afl/findings/fuzz_heap \
#     -G 4096 -- build/afl/out/fuzz_heap
#   AFL_SKIP_CPUFREQ=1 afl-fuzz -S s1 -i corpus/heap -o build/afl/findings/fuzz_heap \
#     -G 4096 -- build/afl/out/fuzz_heap
# A crash is in findings/<target>/<instance>/crashes/ and replays with the libFuzzer build:
# build/fuzz/fuzz/fuzz_heap FILE (or build/afl/out/fuzz_heap FILE, which reads a file argument too).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

smoke=0
time_per_target=5
asan=0
dir="$root/build/afl"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; shift ;;
    --time) time_per_target=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --asan) asan=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "afl.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

. ci/lib.sh
bash ci/deps.sh
if ! command -v afl-clang-fast++ >/dev/null 2>&1 || ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "afl.sh: installing the Debian package afl++"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends afl++ ||
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $SUDO apt-get install -y -qq --no-install-recommends afl++; }
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export SRC="$dir/src" WORK="$dir/work" OUT="$dir/out"
rm -rf "$SRC" "$WORK" "$OUT"
mkdir -p "$SRC" "$WORK" "$OUT"
ln -s "$root" "$SRC/kmalloc"
export CC=afl-clang-fast CXX=afl-clang-fast++
export CFLAGS="-O1 -g -fno-omit-frame-pointer" CXXFLAGS="-O1 -g -fno-omit-frame-pointer"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer" AFL_QUIET=1
if [ $asan -eq 1 ]; then export AFL_USE_ASAN=1; fi

t0=$SECONDS
(cd "$SRC/kmalloc" && bash .clusterfuzzlite/build.sh) > "$dir/build.log" 2>&1 || {
  tail -n 40 "$dir/build.log"
  echo "afl.sh: build failed (log: $dir/build.log)" >&2
  exit 1
}
echo "afl.sh: build took $((SECONDS - t0)) s ($OUT)"
check_coverage_only_in_allocator "$WORK/kmalloc-obj"

if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$OUT"/fuzz_*; do
    case "$(basename "$bin")" in *.*) continue ;; esac
    targets+=("$(basename "$bin")")
  done
fi
if [ $smoke -eq 0 ]; then
  for t in "${targets[@]}"; do
    dict=""
    [ -f "$OUT/$t.dict" ] && dict="-x $OUT/$t.dict "
    echo "afl.sh: AFL_SKIP_CPUFREQ=1 afl-fuzz -i corpus/${t#fuzz_} -o $dir/findings/$t" \
      "$dict-- $OUT/$t"
  done
  exit 0
fi

stat_of() { # stat_of FILE KEY: a value of afl-fuzz's fuzzer_stats
  sed -nE "s/^$2 *: *//p" "$1" | head -1
}
status=0
for t in "${targets[@]}"; do
  bin="$OUT/$t"
  [ -x "$bin" ] || { echo "afl.sh: no binary for target '$t' at $bin" >&2; exit 2; }
  seeds="$root/corpus/${t#fuzz_}"
  findings="$dir/findings/$t"
  rm -rf "$findings"
  mkdir -p "$dir/findings"
  args=(-i "$seeds" -o "$findings" -V "$time_per_target")
  if [ -f "$OUT/$t.dict" ]; then args+=(-x "$OUT/$t.dict"); fi
  max_len=$(sed -nE 's/^max_len *= *([0-9]+).*/\1/p' "$OUT/$t.options" 2>/dev/null | head -1)
  if [ -n "$max_len" ]; then args+=(-G "$max_len"); fi
  set +e
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
    AFL_BENCH_UNTIL_CRASH=1 AFL_FAST_CAL=1 AFL_NO_CRASH_README=1 \
    afl-fuzz "${args[@]}" -- "$bin" > "$dir/$t.afl.log" 2>&1 < /dev/null
  rc=$?
  set -e
  stats="$findings/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    tail -n 30 "$dir/$t.afl.log"
    echo "$t: afl-fuzz did not start (rc $rc, log $dir/$t.afl.log)"
    status=1
    continue
  fi
  execs=$(stat_of "$stats" execs_done)
  crashes=$(find "$findings/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  verdict=ok
  if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ] || [ "${execs:-0}" -eq 0 ]; then
    verdict=FAILED
    status=1
  fi
  echo "$t: afl-fuzz ${time_per_target} s (rc $rc): execs ${execs:-?}," \
    "exec/s $(stat_of "$stats" execs_per_sec), corpus $(stat_of "$stats" corpus_count)" \
    "(seeds $(find "$seeds" -type f | wc -l)), edges $(stat_of "$stats" edges_found)" \
    "of $(stat_of "$stats" total_edges), stability $(stat_of "$stats" stability)," \
    "crashes $crashes, hangs $(stat_of "$stats" saved_hangs): $verdict"
  if [ "$verdict" != ok ]; then
    tail -n 30 "$dir/$t.afl.log"
    for f in "$findings"/default/crashes/id:*; do
      [ -e "$f" ] || continue
      echo "CRASH ($t): $f"
      echo "  replay: $bin '$f'"
    done
  fi
done
echo "afl.sh: total $((SECONDS - t0)) s"
exit $status
