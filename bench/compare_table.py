#!/usr/bin/env python3
"""bench/compare_table.py - the table bench/compare.sh prints: medians over the repetitions of
kmalloc_compare_bench, one column per allocator, the best peer of each row and the ratio of our two
columns (the shim, the kmalloc API) to it.

Reads RAW (compare.sh's raw directory):
  <alloc>.r<N>.json               Google Benchmark JSON of one repetition of one allocator
  <alloc>.r<N>.rss-<mode>.txt     key=value lines of `--rss=<mode>` (mode: mixed, mixed_prefill)
  kernel-<profile>.r<N>.json      Google Benchmark JSON of `--kernel=<profile>`
Assumes the benchmark names and counters of bench/compare_bench.cpp ("ops" per iteration,
"cpu_s" for the manual-time workloads). Single-threaded rows use CPU time by default (the machine
may be shared; --time real uses wall time); thread rows are wall-time aggregate Mops/s.
With --strict, a missing cell is an error (compare.sh --smoke uses it). Python 3 stdlib only.
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
OURS = ["shim", "kmalloc"]
ALLOCATORS = PEERS + OURS


def load_json(path):
    with open(path) as f:
        return json.load(f)


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def bench_values(doc, basis):
    """{name: value} of one run: ns/op, or Mops/s for threads/*, or remote-free share."""
    out = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = re.sub(r"/(manual_time|real_time)$", "", b["name"])
        ops = float(b.get("ops", 1.0)) or 1.0
        if name.startswith("threads/"):
            out[name] = ops / to_ns(b["real_time"], b["time_unit"]) * 1e3  # Mops/s
            if "remote_frees" in b:
                out[name + "/remote_share"] = 100.0 * float(b["remote_frees"]) / (ops / 2)
        elif basis == "cpu":
            t = b["cpu_s"] * 1e9 if "cpu_s" in b else to_ns(b["cpu_time"], b["time_unit"])
            out[name] = t / ops
        else:
            out[name] = to_ns(b["real_time"], b["time_unit"]) / ops
    return out


def rss_values(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def collect(raw, basis):
    """{(column, key): [values over repetitions]}"""
    samples = {}
    for path in glob.glob(os.path.join(raw, "*.r*.json")):
        base = os.path.basename(path)
        column = base.split(".r")[0]
        for k, v in bench_values(load_json(path), basis).items():
            samples.setdefault((column, k), []).append(v)
    for path in glob.glob(os.path.join(raw, "*.r*.rss-*.txt")):
        base = os.path.basename(path)
        column = base.split(".r")[0]
        mode = base.rsplit(".rss-", 1)[1][: -len(".txt")]
        for k, v in rss_values(path).items():
            samples.setdefault((column, "rss/%s/%s" % (mode, k)), []).append(v)
    return {k: statistics.median(v) for k, v in samples.items()}, samples


def fmt(v, digits):
    if v is None:
        return "-"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{d}f}".format(v, d=digits)


def size_label(n):
    n = int(n)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20)
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--time", choices=["cpu", "real"], default="cpu")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    med, samples = collect(args.raw, args.time)
    reps = max((len(v) for v in samples.values()), default=0)
    missing = []

    def cell(col, key):
        v = med.get((col, key))
        if v is None:
            missing.append("%s %s" % (col, key))
        return v

    # (label, key, unit, higher_is_better, digits, columns)
    rows = []
    for s in [8, 32, 96, 192, 1024, 4096, 8192]:
        rows.append(("pair %s" % size_label(s), "pair/%d" % s, "ns", False, 1, ALLOCATORS))
    for s in [16384, 65536, 1048576]:
        rows.append(("large pair %s" % size_label(s), "large/%d" % s, "ns", False, 1, ALLOCATORS))
    for s in [32, 256]:
        for order, label in [("in_order", "in order"), ("random", "random order")]:
            rows.append(("batch 100k x %d B, free %s" % (s, label), "batch/%d/%s" % (s, order),
                         "ns", False, 1, ALLOCATORS))
    rows.append(("mixed 1M ops", "mixed", "ns", False, 1, ALLOCATORS))
    rows.append(("mixed 1M ops, prefilled 5,000", "mixed_prefill", "ns", False, 1, ALLOCATORS))
    for t in [2, 4]:
        rows.append(("%d threads mixed" % t, "threads/%d/mixed" % t, "Mops/s", True, 1,
                     ALLOCATORS))
        rows.append(("%d threads mixed, cross-thread frees" % t, "threads/%d/cross" % t, "Mops/s",
                     True, 1, ALLOCATORS))
        rows.append(("  (share of frees that were remote)", "threads/%d/cross/remote_share" % t,
                     "%", None, 0, ALLOCATORS))
    for mode, label in [("mixed", "mixed"), ("mixed_prefill", "mixed prefilled")]:
        p = "rss/%s/" % mode
        rows.append(("peak RSS (VmHWM), %s" % label, p + "hwm_kib", "KiB", False, 0, ALLOCATORS))
        rows.append(("  RSS before the run", p + "baseline_kib", "KiB", None, 0, ALLOCATORS))
        rows.append(("  usable size of live objects at peak", p + "peak_usable_kib", "KiB", False,
                     0, ALLOCATORS))
        rows.append(("  RSS after everything is freed", p + "after_free_kib", "KiB", False, 0,
                     ALLOCATORS))
        rows.append(("  our metadata committed at peak", p + "metadata_committed_kib", "KiB", None,
                     0, ["kmalloc"]))
        rows.append(("  our metadata reserved (of arena)", p + "metadata_reserved_pct", "%", None,
                     2, ["kmalloc"]))

    # derived: metadata reserved as a share of the arena
    for mode in ["mixed", "mixed_prefill"]:
        r = med.get(("kmalloc", "rss/%s/metadata_reserved_kib" % mode))
        a = med.get(("kmalloc", "rss/%s/arena_kib" % mode))
        if r is not None and a:
            med[("kmalloc", "rss/%s/metadata_reserved_pct" % mode)] = 100.0 * r / a

    unit_note = {"ns": "ns/op", "Mops/s": "Mops/s", "KiB": "KiB", "%": "%"}
    header = ["workload", "unit"] + ALLOCATORS + ["best peer", "shim/best", "kmalloc/best"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    for label, key, unit, higher, digits, cols in rows:
        vals = {c: (cell(c, key) if c in cols else None) for c in ALLOCATORS}
        best = best_name = None
        if higher is not None:
            peer_vals = [(vals[p], p) for p in PEERS if vals[p] is not None]
            if peer_vals:
                best, best_name = (max if higher else min)(peer_vals)
        ratios = []
        for o in OURS:
            if best and vals[o] is not None:
                ratios.append("%.2f" % (vals[o] / best))
            else:
                ratios.append("-")
        best_s = "%s (%s)" % (fmt(best, digits), best_name) if best is not None else "-"
        lines.append("| " + " | ".join([label, unit_note[unit]] +
                                       [fmt(vals[c], digits) for c in ALLOCATORS] +
                                       [best_s] + ratios) + " |")
    print("\n".join(lines))
    print()
    print("ns/op: %s time per op (pair, large: one malloc + free; batch: one object allocated "
          "and freed; mixed: one malloc or one free); Mops/s: aggregate over the threads, wall "
          "time. Ratios are ours / the best peer: below 1 is better for ns and KiB, above 1 for "
          "Mops/s. Medians of %d repetition(s)." % ("CPU" if args.time == "cpu" else "wall", reps))

    # the kernel-style table
    profiles = sorted({c[len("kernel-"):] for (c, _) in med if c.startswith("kernel-")},
                      key=lambda p: (p != "linux-6", p))
    if profiles:
        keys = set()
        for (c, k) in med:
            if c.startswith("kernel-"):
                keys.add(k)
        sizes = sorted(int(k.split("/")[1]) for k in keys if k.startswith("kmalloc/"))
        krows = [("kmem_cache_alloc + free, 64 B", "kmem_cache/64"),
                 ("alloc_pages + __free_pages, order 0", "alloc_pages/0"),
                 ("alloc_pages + __free_pages, order 3", "alloc_pages/3")]
        krows += [("kmalloc + kfree, %s" % size_label(s), "kmalloc/%d" % s) for s in sizes]
        print()
        print("| kernel-style call (ns per pair, %s time) | %s |" %
              ("CPU" if args.time == "cpu" else "wall", " | ".join(profiles)))
        print("|---|" + "---:|" * len(profiles))
        for label, key in krows:
            cells = [fmt(med.get(("kernel-" + p, key)), 1) for p in profiles]
            print("| %s | %s |" % (label, " | ".join(cells)))
        for p in profiles:
            for key in ["kmem_cache/64", "alloc_pages/0", "alloc_pages/3"]:
                cell("kernel-" + p, key)
    elif args.strict:
        missing.append("the kernel-style table")

    if missing:
        print("\nmissing: " + ", ".join(sorted(set(missing))), file=sys.stderr)
        if args.strict:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
