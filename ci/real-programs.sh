#!/usr/bin/env bash
# ci/real-programs.sh - real programs nobody here wrote, run with and without the malloc shim
# (LD_PRELOAD=libkmalloc-malloc.so). Each program's output must be byte for byte the same both
# ways, and the shim's stats dump (KMALLOC_OPTIONS stats=FILE) must show that the kmalloc caches
# served the run (at least one allocation from a kmalloc cache, and the caches in the dump's
# slabinfo). Prints, per program, wall time and peak RSS (/usr/bin/time: the largest
# process of the run) with and without the shim, and the shim's served counts.
#
#   ci/real-programs.sh [--shim PATH] [--mib N]
#
# --shim: a built libkmalloc-malloc.so (default: build the release preset's). --mib: the size of
# the generated text for sort, gzip and xz (default 8). The programs: python3 (two threads
# building, sorting and deleting large dicts and lists; PYTHONMALLOC=malloc so pymalloc does not
# hide the shim), sqlite3 (thousands of inserts, an index, queries), sort, gzip -n, xz -T2, and
# g++ compiling one of this project's sources to assembly.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. ci/lib.sh

shim=""
mib=8
while [ $# -gt 0 ]; do
  case "$1" in
    --shim) shim=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "real-programs.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$shim" ]; then
  use_ccache
  cmake --preset release >/dev/null
  cmake --build --preset release --target kmalloc_malloc --parallel "$(nproc)" >/dev/null
  shim="$root/build/release/allocator/libkmalloc-malloc.so"
fi
[ -f "$shim" ] || { echo "real-programs.sh: no shim at $shim" >&2; exit 2; }
shim=$(readlink -f "$shim")

work=$(mktemp -d /tmp/kmalloc-real-programs.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C PYTHONHASHSEED=0 PYTHONMALLOC=malloc
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# The shared input: deterministic text lines of words and numbers.
"$python" - "$work/input.txt" "$mib" <<'PY'
import random, sys
rng = random.Random(1)
words = ["kmalloc", "slab", "buddy", "page", "zone", "order", "cache", "free", "list", "node"]
target = int(sys.argv[2]) << 20
with open(sys.argv[1], "w") as f:
    n = 0
    while n < target:
        line = " ".join(rng.choice(words) + str(rng.randrange(100000)) for _ in range(8)) + "\n"
        f.write(line)
        n += len(line)
PY

cat > "$work/dicts.py" <<'PY'
import threading
def work(seed, out):
    d = {}
    for i in range(150000):
        d[(i * 2654435761 + seed) % 1000003] = [str(i)] * (i % 5)
    keys = sorted(d, key=lambda k: (len(d[k]), k))
    total = sum(len(v) for v in d.values())
    for k in keys[: len(keys) // 2]:
        del d[k]
    out[seed] = (len(keys), total, len(d), keys[:3], keys[-3:])
out = {}
threads = [threading.Thread(target=work, args=(s, out)) for s in (1, 2)]
for t in threads: t.start()
for t in threads: t.join()
for s in sorted(out): print(s, out[s])
PY

{
  echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value INTEGER);"
  echo "BEGIN;"
  for i in $(seq 1 20000); do echo "INSERT INTO t(name, value) VALUES('name$((i * 7919 % 20011))', $((i * 104729 % 1000)));"; done
  echo "COMMIT;"
  echo "CREATE INDEX t_name ON t(name);"
  echo "SELECT count(*), sum(value), min(name), max(name) FROM t;"
  echo "SELECT value, count(*) FROM t GROUP BY value ORDER BY count(*) DESC, value LIMIT 5;"
  echo "SELECT name FROM t WHERE name LIKE 'name1%' ORDER BY name LIMIT 5;"
  echo "SELECT a.id, b.id FROM t a JOIN t b ON a.name = b.name AND a.id < b.id ORDER BY a.id LIMIT 5;"
} > "$work/sql.txt"

# run NAME MODE CMD...: runs CMD (stdin from $work/NAME.in if it exists) with or without the
# shim, output to $work/NAME.MODE.out; records "seconds maxrss_kib" in $work/NAME.MODE.time.
run() {
  local name=$1 mode=$2; shift 2
  local in=/dev/null
  [ -f "$work/$name.in" ] && in="$work/$name.in"
  local -a env_args=()
  if [ "$mode" = shim ]; then
    mkdir -p "$work/stats-$name"
    env_args=(LD_PRELOAD="$shim" KMALLOC_OPTIONS="stats=$work/stats-$name/%p.txt")
  fi
  if ! env "${env_args[@]}" /usr/bin/time -f "%e %M" -o "$work/$name.$mode.time" \
       "$@" < "$in" > "$work/$name.$mode.out" 2> "$work/$name.$mode.err"; then
    echo "real-programs: $name ($mode) failed:" >&2
    cat "$work/$name.$mode.err" >&2
    return 1
  fi
}

cp "$work/sql.txt" "$work/sqlite3.in"
cp "$work/input.txt" "$work/sort.in"
cp "$work/input.txt" "$work/gzip.in"
cp "$work/input.txt" "$work/xz.in"
programs=(python3 sqlite3 sort gzip xz g++)
command_of() {
  case "$1" in
    python3) echo "$python $work/dicts.py" ;;
    sqlite3) echo "sqlite3 :memory:" ;;
    sort) echo "sort -k2,2 -k1,1" ;;
    gzip) echo "gzip -n -6 -c" ;;
    xz) echo "xz -T2 -1 -c" ;;
    g++) echo "g++ -std=c++20 -O1 -S -o - -I$root/allocator/include -I$root/allocator/src $root/allocator/src/slab/cpu_slab.cpp" ;;
  esac
}

status=0
printf '%-8s %10s %10s %12s %12s  %s\n' program "time" "time shim" "peak RSS" "RSS shim" "served by the shim"
for p in "${programs[@]}"; do
  read -r -a cmd <<< "$(command_of "$p")"
  run "$p" plain "${cmd[@]}" || { status=1; continue; }
  run "$p" shim "${cmd[@]}" || { status=1; continue; }
  if ! cmp -s "$work/$p.plain.out" "$work/$p.shim.out"; then
    echo "real-programs: $p: output differs with the shim" >&2
    diff <(head -c 2000 "$work/$p.plain.out") <(head -c 2000 "$work/$p.shim.out") | head -20 >&2 || true
    status=1
  fi
  # Sum the served counts over every process of the run (g++ runs cc1plus and as).
  served=$(cat "$work/stats-$p"/*.txt 2>/dev/null | awk '
    /^served:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
    /^calls:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "malloc") m += kv[2] } }
    END { printf "malloc=%d slab=%d large=%d huge=%d", m, s["slab"], s["large"], s["huge"] }')
  caches=$(cat "$work/stats-$p"/*.txt 2>/dev/null | grep -c '^kmalloc-' || true)
  slab=$(echo "$served" | sed 's/.*slab=\([0-9]*\).*/\1/')
  if [ "${slab:-0}" -lt 1 ] || [ "$caches" -eq 0 ]; then
    echo "real-programs: $p: the stats do not show the kmalloc caches serving the run ($served)" >&2
    status=1
  fi
  read -r t0 r0 < "$work/$p.plain.time"
  read -r t1 r1 < "$work/$p.shim.time"
  printf '%-8s %9ss %9ss %9s KiB %9s KiB  %s\n' "$p" "$t0" "$t1" "$r0" "$r1" "$served"
done
[ $status -eq 0 ] && echo "real-programs: every output identical with the shim"
exit $status
