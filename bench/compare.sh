#!/usr/bin/env bash
# bench/compare.sh - our allocator side by side with glibc, jemalloc, mimalloc and tcmalloc: builds
# bench/compare_bench.cpp in release mode, runs it once per allocator and repetition, and prints
# one table of medians (bench/compare_table.py) with the ratio of our two columns to the best
# peer of each row, then the kernel-style table (linux-6 and linux-4-slab).
#
#   bench/compare.sh [--reps N] [--min-time S] [--time cpu|real] [--out DIR] [--smoke]
#
# --reps: repetitions (default 5). They interleave: repetition 1 of every allocator, then
# repetition 2, ..., each repetition starting one allocator further along, so drift in the
# machine's load spreads over all columns. --min-time: Google Benchmark's minimum time per
# benchmark, seconds (default 0.25). --time: what the single-threaded rows measure, the process's
# CPU time (default: the machine may be shared) or wall time; thread rows are always wall time.
# --out: keep the raw results there (default: a temporary directory, removed at exit).
# --smoke: one short repetition (min time 0.001 s) that proves every allocator, workload and cell
# works, for CI; it asserts no timing.
#
# Each allocator runs in processes of its own: glibc as is; jemalloc, mimalloc, tcmalloc_minimal
# (Debian's libjemalloc-dev, libmimalloc-dev, libgoogle-perftools-dev, from ci/deps.sh) and our
# shim libkmalloc-malloc.so by LD_PRELOAD, called as malloc/free through the PLT; our kmalloc API
# as kmalloc/kfree of libkmalloc.so (--api=kmalloc). Each run checks where malloc resolved, so a
# preload that did not take fails the script. Peak RSS runs one process per allocator and mode.
# Builds in $KM_BENCH_DIR (default /tmp/kmalloc-bench-<checksum of the checkout's path>, so two
# clones never share a tree): `cmake -S bench` (bench/CMakeLists.txt as a project of its own: the
# library, the shim and the benchmark only; the release preset would build no bench/), Release
# and g++ as in the release preset, through ccache when installed (ci/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

reps=5
min_time=0.25
basis=cpu
out=""
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --time) basis=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ $smoke -eq 1 ]; then
  reps=1
  min_time=0.001
fi
case "$basis" in cpu|real) ;; *) echo "compare.sh: --time is cpu or real" >&2; exit 2 ;; esac

# The peers' shared objects: the dev package's lib*.so link (dpkg -L), else the multiarch
# directory's lib*.so or lib*.so.N.
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
multiarch=${multiarch:-x86_64-linux-gnu}
find_peer() { # find_peer PACKAGE LIBNAME
  local pkg=$1 lib=$2 f="" d
  f=$(dpkg -L "$pkg" 2>/dev/null | grep -E "/${lib}\.so$" | head -n1 || true)
  if [ -z "$f" ] || [ ! -e "$f" ]; then
    f=""
    for d in "/usr/lib/${multiarch}" /usr/lib64 /usr/lib; do
      f=$(ls "$d/${lib}.so" "$d/${lib}.so".* 2>/dev/null | head -n1 || true)
      [ -n "$f" ] && break
    done
  fi
  if [ -z "$f" ]; then
    echo "compare.sh: ${lib}.so not found (package ${pkg}; run ci/deps.sh)" >&2
    return 1
  fi
  readlink -f "$f"
}
declare -A preload expect
preload[jemalloc]=$(find_peer libjemalloc-dev libjemalloc)
preload[mimalloc]=$(find_peer libmimalloc-dev libmimalloc)
preload[tcmalloc]=$(find_peer libgoogle-perftools-dev libtcmalloc_minimal)

build=${KM_BENCH_DIR:-/tmp/kmalloc-bench-$(pwd | cksum | cut -d" " -f1)}
use_ccache
t0=$SECONDS
mkdir -p "$build"
cmake -S bench -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc \
  -DCMAKE_CXX_COMPILER=g++ >"$build/compare-configure.log" 2>&1 ||
  { cat "$build/compare-configure.log" >&2; exit 1; }
cmake --build "$build" --target kmalloc_compare_bench kmalloc_malloc --parallel "$(nproc)" \
  >"$build/compare-build.log" 2>&1 || { tail -n 50 "$build/compare-build.log" >&2; exit 1; }
bin="$build/kmalloc_compare_bench"
preload[shim]=$(readlink -f "$build/kmalloc/allocator/libkmalloc-malloc.so")
build_s=$((SECONDS - t0))

allocators=(glibc jemalloc mimalloc tcmalloc shim kmalloc)
for a in glibc kmalloc; do expect[$a]=libc.so; done
for a in jemalloc mimalloc tcmalloc shim; do expect[$a]=${preload[$a]}; done

if [ -n "$out" ]; then
  mkdir -p "$out"
  raw=$(cd "$out" && pwd)
else
  raw=$(mktemp -d /tmp/kmalloc-compare.XXXXXX)
  trap 'rm -rf "$raw"' EXIT
fi
rm -f "$raw"/*.json "$raw"/*.txt "$raw"/*.log

# run NAME LOG CMD...: runs CMD with the allocator NAME's preload, stdout and stderr to LOG.
run() {
  local name=$1 log=$2
  shift 2
  local pre=${preload[$name]:-}
  if ! env ${pre:+LD_PRELOAD="$pre"} "$@" >"$log" 2>&1; then
    echo "compare.sh: $name failed: $*" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
}
check_from() { # check_from NAME FILE: malloc resolved where NAME's allocator lives
  if ! grep -q "malloc_from.*${expect[$1]}" "$2"; then
    echo "compare.sh: $1: malloc did not resolve to ${expect[$1]}: $(grep malloc_from "$2")" >&2
    exit 1
  fi
}

gb=(--benchmark_min_time="$min_time" --benchmark_repetitions=1 --benchmark_out_format=json)
echo "compare: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus;" \
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $reps repetition(s)," \
  "min time ${min_time} s, built in ${build_s} s ($build)"
t_run=$SECONDS
n=${#allocators[@]}
for ((r = 1; r <= reps; r++)); do
  for ((i = 0; i < n; i++)); do
    a=${allocators[$(((i + r - 1) % n))]}
    api=malloc
    [ "$a" = kmalloc ] && api=kmalloc
    run "$a" "$raw/$a.r$r.log" "$bin" --api=$api "${gb[@]}" --benchmark_out="$raw/$a.r$r.json"
    check_from "$a" "$raw/$a.r$r.log"
    for mode in mixed mixed_prefill; do
      run "$a" "$raw/$a.r$r.rss-$mode.txt" "$bin" --api=$api --rss=$mode
      check_from "$a" "$raw/$a.r$r.rss-$mode.txt"
    done
  done
  for profile in linux-6 linux-4-slab; do
    run none "$raw/kernel-$profile.r$r.log" "$bin" --kernel=$profile "${gb[@]}" \
      --benchmark_out="$raw/kernel-$profile.r$r.json"
  done
  [ $smoke -eq 1 ] || echo "compare: repetition $r of $reps done ($((SECONDS - t_run)) s)"
done
echo "compare: load average at end: $(cut -d' ' -f1-3 /proc/loadavg); runs took $((SECONDS - t_run)) s"
echo
strict=()
[ $smoke -eq 1 ] && strict=(--strict)
python3 bench/compare_table.py "$raw" --time "$basis" "${strict[@]}"
[ -z "$out" ] || echo "raw results: $raw"
