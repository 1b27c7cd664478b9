#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_kmalloc (corpus/kmalloc/) and fuzz_size_class
(corpus/size_class/). The byte encodings are documented at the top of fuzz/fuzz_kmalloc.cpp and
fuzz/fuzz_size_class.cpp. Usage: tools/gen_kmalloc_corpus.py [repo root]"""
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")

# gfp byte
K, DMA, RCL, ZERO, NOWARN, ATOMIC, BAD = 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0xE0


def header(slab4=False, shift=12, min_size=0, no_dma=False, max_order=10, arena_mib=8, dma=64):
    """arena_mib: 32 takes the whole region (byte 2 bit 7); smaller sizes become a page count."""
    b0 = (1 if slab4 else 0) | ({12: 0, 14: 1, 16: 2}[shift] << 1)
    b0 |= {0: 0, 64: 2, 128: 3}[min_size] << 3
    b0 |= 0x20 if no_dma else 0
    mo = (max_order - 1) if not slab4 else max_order
    if arena_mib >= 32:
        b2 = 0x80
    else:
        pages = (arena_mib << 20) >> shift
        b2 = max(0, min(0x7F, (pages - 32) // 8))
    return bytes([b0, mo, b2, dma])


def size(mode, v=0, delta=0):
    """mode: 'small' (1 + v & 0xff), 'mid' (1 + v & 0xfff), 'class' (class v + delta),
    'pow2' (2^v + delta), 'pages' ((v + 1) pages + delta), 'zero', ('raw', shift)."""
    d = (delta + 2) << 3
    if mode == "small":
        return bytes([0]) + struct.pack("<H", v - 1)
    if mode == "mid":
        return bytes([2]) + struct.pack("<H", v - 1)
    if mode == "class":
        return bytes([3 | d]) + struct.pack("<H", v)
    if mode == "pow2":
        return bytes([4 | d]) + struct.pack("<H", v)
    if mode == "pages":
        return bytes([5 | d]) + struct.pack("<H", v - 1)
    if mode == "zero":
        return bytes([6, 0, 0])
    raise ValueError(mode)


def kmalloc(sz, gfp=K):
    return bytes([0]) + sz + bytes([gfp])


def kzalloc(sz, gfp=K):
    return bytes([6]) + sz + bytes([gfp])


def kcalloc(n, sz, gfp=K, array=False, overflow=False):
    return bytes([7, (1 if array else 0) | (2 if overflow else 0), n]) + sz + bytes([gfp])


def krealloc(h, sz, gfp=K, fail=0):
    return bytes([8, h]) + sz + bytes([gfp, (0x80 | fail) if fail else 0])


def kfree(h): return bytes([10, h])
def kfree_sensitive(h): return bytes([14, h])
def ksize(h): return bytes([15, h])
def fill(h): return bytes([16, h])
def verify(h): return bytes([18, h])
def fail_next(n): return bytes([19, n])
def interior(h, off): return bytes([20, h]) + struct.pack("<H", off)
def twice(h): return bytes([21, h])
def foreign(kind, off=0): return bytes([22, kind]) + struct.pack("<H", off)
def check(sz, gfp=K): return bytes([23]) + sz + bytes([gfp])


def write(dirname, name, data):
    d = os.path.join(ROOT, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def kmalloc_corpus():
    h6 = header()
    write("kmalloc", "seed_kmalloc30", h6 + kmalloc(size("small", 30)) + fill(0) + verify(0) +
          ksize(0) + kfree(0))
    write("kmalloc", "classes_96_192", h6 + kmalloc(size("small", 96)) + kmalloc(size("small", 97)) +
          kmalloc(size("small", 192)) + kmalloc(size("small", 193)) + fill(0) + fill(1) +
          ksize(2) + kfree(0) + kfree(1) + kfree(2) + kfree(3))
    write("kmalloc", "types_dma_rcl", h6 + kmalloc(size("mid", 1000), DMA) +
          kmalloc(size("mid", 1000), RCL) + kmalloc(size("mid", 4000), RCL | DMA) +
          kzalloc(size("small", 200), RCL) + ksize(0) + ksize(1) + kfree(0) + kfree(1))
    write("kmalloc", "large_path", h6 + kmalloc(size("pages", 3, 1)) + kzalloc(size("pages", 5)) +
          fill(0) + ksize(0) + interior(0, 4097) + kfree(0) + twice(0) + kfree(1))
    write("kmalloc", "too_large", h6 + kmalloc(size("pow2", 23, 1)) +
          kmalloc(size("pow2", 23, 1), NOWARN) + kmalloc(size("pow2", 22)) + kfree(2))
    write("kmalloc", "zero_and_null", h6 + kmalloc(size("zero")) + kfree(0) + ksize(0) +
          krealloc(0, size("small", 40)) + fill(0) + krealloc(0, size("zero")) + ksize(0))
    write("kmalloc", "krealloc_grow_shrink", h6 + kmalloc(size("small", 20)) + fill(0) +
          krealloc(0, size("small", 30)) + verify(0) + krealloc(0, size("small", 200)) +
          verify(0) + fill(0) + krealloc(0, size("pages", 4)) + verify(0) +
          krealloc(0, size("small", 10)) + verify(0) + kfree(0))
    write("kmalloc", "krealloc_zero", h6 + kzalloc(size("small", 20)) + fill(0) +
          krealloc(0, size("small", 16), ZERO) + krealloc(0, size("small", 32), ZERO) + verify(0) +
          krealloc(0, size("mid", 3000), ZERO) + verify(0) + kfree(0))
    write("kmalloc", "krealloc_fail", h6 + kmalloc(size("small", 100)) + fill(0) +
          krealloc(0, size("pages", 4), K, 3) + verify(0) + kmalloc(size("small", 8)) +
          fail_next(2) + kmalloc(size("pages", 8)) + kfree(0))
    write("kmalloc", "kcalloc", h6 + kcalloc(10, size("small", 24)) +
          kcalloc(3, size("small", 100), K, True) + kcalloc(5, size("small", 8), K, False, True) +
          kcalloc(0, size("small", 8)) + verify(0) + kfree(0) + kfree(1))
    write("kmalloc", "misuse", h6 + kmalloc(size("small", 64)) + kmalloc(size("pages", 3)) +
          interior(0, 8) + interior(1, 100) + foreign(0) + foreign(1) + foreign(2) +
          foreign(3, 8) + foreign(4, 16) + kfree(1) + twice(1) + kfree(0) + twice(0))
    write("kmalloc", "sensitive", h6 + kmalloc(size("small", 50)) + fill(0) + kfree_sensitive(0) +
          kmalloc(size("pages", 3)) + fill(1) + kfree_sensitive(1))
    write("kmalloc", "bad_gfp", h6 + kmalloc(size("small", 50), BAD) +
          kmalloc(size("small", 50), BAD | NOWARN) + kmalloc(size("small", 50)) +
          krealloc(2, size("mid", 500), BAD))
    for name, hd in [("slab4_4k", header(slab4=True)),
                     ("slab4_64k_min128", header(slab4=True, shift=16, min_size=128, max_order=4,
                                                 arena_mib=32)),
                     ("linux6_16k_min64", header(shift=14, min_size=64, max_order=6, arena_mib=16)),
                     ("linux6_64k_nodma", header(shift=16, no_dma=True, max_order=3, arena_mib=32))]:
        ops = b""
        for i in range(8):
            ops += kmalloc(size("class", i * 3))
            ops += fill(i)
        ops += kmalloc(size("pow2", 20)) + kzalloc(size("pages", 2, 1), RCL) + kmalloc(size("pow2", 17), DMA)
        ops += krealloc(0, size("pow2", 15)) + verify(0)
        for i in range(11):
            ops += kfree(i)
        write("kmalloc", name, hd + ops)


def size_class_corpus():
    def entry(mode_byte, v, gfp=K):
        return bytes([mode_byte]) + struct.pack("<H", v) + bytes([gfp])
    variants = {
        "linux6_4k": header(),
        "linux6_16k": header(shift=14, max_order=8, arena_mib=32),
        "linux6_64k": header(shift=16, max_order=4, arena_mib=32),
        "linux6_min64": header(min_size=64),
        "linux6_min128": header(min_size=128),
        "slab4_4k": header(slab4=True, arena_mib=32),
        "slab4_16k": header(slab4=True, shift=14, max_order=6, arena_mib=32),
        "slab4_64k": header(slab4=True, shift=16, max_order=3, arena_mib=32),
        "slab4_min64": header(slab4=True, min_size=64, arena_mib=32),
        "slab4_min128": header(slab4=True, min_size=128, arena_mib=32),
    }
    for name, hd in variants.items():
        body = b""
        for v in range(0, 30):  # every class +-1, allocated
            for delta in (-1, 0, 1):
                body += entry(0x80 | 3 | ((delta + 2) << 3), v)
        for v in range(0, 28):  # powers of two +-1, allocated
            for delta in (-1, 1):
                body += entry(0x80 | 4 | ((delta + 2) << 3), v, NOWARN)
        for g in (DMA, RCL, ZERO, DMA | ZERO, BAD, BAD | NOWARN):
            body += entry(0x80 | 0, 29, g) + entry(0x80 | 0, 95, g) + entry(0x80 | 5 | (2 << 3), 2, g)
        body += entry(0x80 | 6, 0)
        write("size_class", name, hd + body)


if __name__ == "__main__":
    kmalloc_corpus()
    size_class_corpus()
