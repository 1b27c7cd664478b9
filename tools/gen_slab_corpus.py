#!/usr/bin/env python3
"""Writes the named seed inputs of fuzz/fuzz_slab.cpp into corpus/slab/.

Each seed is built with the encoder below, which mirrors decode_config / decode_op in
fuzz/fuzz_slab.cpp (the byte format is described there and in corpus/README.md). Victims are
named by number: a cache selector k picks cache ck when it is live, an object selector k picks
#k when it is not freed (otherwise the next candidate after it).

Usage: tools/gen_slab_corpus.py [OUTDIR]   (default: corpus/slab next to this script's repo)
Check a seed: KMALLOC_FUZZ_TRACE=1 <build>/fuzz/fuzz_slab_replay corpus/slab/<name>
"""
import os
import struct
import sys

KMALLOC_SIZES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192, 24]

HWCACHE, DMA, DEBUG, CTOR, RECLAIM, PANIC, ACCOUNT, UNSUPPORTED = (1 << i for i in range(8))
ZERO, NOWARN, NOFAIL, ATOMIC = 0x02, 0x04, 0x08, 0x01
BAD_GFP = 0xF0


class Seed:
    def __init__(self, page_shift=12, cpus=8, max_order=10, pages=512, dma=0, hardened=True,
                 max_caches=16, min_objects=None, slub_max_order=None, cache_line=64):
        shifts = {12: 0, 14: 1, 16: 2}
        caches = {16: 0, 4: 2, 128: 3}
        b0 = shifts[page_shift] | (0 if hardened else 4) | (caches[max_caches] << 3)
        if cpus <= 4:
            b1 = cpus - 1
        else:
            b1 = 0x80 | (cpus - 1)
        b6 = 0
        b7 = 0
        if min_objects is not None:
            b6 |= 1
            b7 = min_objects - 1
        if slub_max_order is not None:
            b6 |= 2 | (slub_max_order << 2)
        if cache_line == 32:
            b6 |= 0x20
        elif cache_line == 128:
            b6 |= 0x40
        pv = pages - 16 if pages <= 256 else 0x8000 | ((pages - 16 - 0x8000 % 2033) % 2033)
        assert (16 + pv % 2033 if pv & 0x8000 else 16 + pv % 241) == pages
        self.data = bytes([b0, b1, 10 - max_order]) + struct.pack('<H', pv) + \
            bytes([dma, b6, b7])

    def add(self, *parts):
        for p in parts:
            self.data += bytes([p]) if isinstance(p, int) else p
        return self

    # ---- ops (codes as in decode_op)
    def create(self, size, align=0, flags=0, unsupported=0):
        if size in KMALLOC_SIZES and size not in (24,):
            v = (2 << 14) | KMALLOC_SIZES.index(size)
        elif 1 <= size <= 256:
            v = size - 1
        elif 1 <= size <= 4096:
            v = (1 << 14) | (size - 1)
        else:
            v = (3 << 14) | size
        ab = 0
        if align:
            ab = 0xC0 if align == 24 else 0x80 | (align.bit_length() - 1)
        ab |= (unsupported & 7) << 3
        return self.add(12, struct.pack('<H', v), ab, flags)

    def alloc(self, cache, gfp=0, times=1):
        for _ in range(times):
            self.add(0, cache, gfp)
        return self

    def free(self, *objs):
        for o in objs:
            self.add(7, struct.pack('<H', o))
        return self

    def cpu(self, n):
        return self.add(13, n)

    def flush(self, cache):
        return self.add(14, cache)

    def flush_all(self):
        return self.add(15)

    def shrink(self, cache):
        return self.add(16, cache)

    def destroy(self, cache):
        return self.add(17, cache)

    def fill(self, obj):
        return self.add(18, struct.pack('<H', obj))

    def verify(self, obj):
        return self.add(19, struct.pack('<H', obj))

    def inject(self, n):
        return self.add(20, n)

    def pages(self, order, dma=False):
        return self.add(21, order | (0x80 if dma else 0))

    def free_pages(self, p):
        return self.add(22, p)

    def wrong_cache(self, obj, cache):
        return self.add(23, struct.pack('<H', obj), cache)

    def interior(self, obj, offset):
        return self.add(24, struct.pack('<H', obj), struct.pack('<H', offset - 1))

    def double_free(self, obj):
        return self.add(25, struct.pack('<H', obj))

    def foreign(self, cache, kind, pages=0, offset=0):
        return self.add(26, kind, cache, pages, struct.pack('<H', offset))

    def invalid_cache(self, kind, cache, obj=0, destroy=False):
        return self.add(27, kind | (0x80 if destroy else 0), cache, struct.pack('<H', obj))

    def validate(self):
        return self.add(28)


def seeds():
    out = {}
    # kmem_cache_create("c0", 96, 0, SLAB_HWCACHE_ALIGN); alloc, free, flush, shrink, destroy.
    s = Seed()
    s.create(96, flags=HWCACHE).alloc(0, times=3).verify(1).free(0, 1, 2)
    s.flush(0).shrink(0).destroy(0)
    out['basic_hwcache_96'] = s
    # The kernel's worked sizes, one cache each (8 cpus, 4K pages).
    s = Seed()
    for i, size in enumerate([8, 96, 192, 256, 512, 1024, 2048, 4096, 8192]):
        s.create(size).alloc(i)
    s.flush_all().validate()
    out['kmalloc_sizes_layout'] = s
    # Partial and full: 1 cpu, 512-byte objects with max order 0 (8 per slab).
    s = Seed(cpus=1, slub_max_order=0)
    s.create(512).alloc(0, times=20)
    s.free(1, 3, 9, 10).alloc(0, times=3).flush(0).free(12).alloc(0, times=2).flush(0).validate()
    out['partial_full_transitions'] = s
    # Empty slabs beyond min_partial go back to the page allocator.
    s = Seed(cpus=1, slub_max_order=0)
    s.create(1024).alloc(0, times=48).flush(0)
    s.free(*range(48)).flush(0).shrink(0).destroy(0)
    out['release_beyond_min_partial'] = s
    # Remote frees: cpu 0 allocates, cpu 1 frees into cpu 0's slab, cpu 0 takes them back.
    s = Seed(cpus=4, slub_max_order=0)
    s.create(256).alloc(0, times=6).cpu(1).free(0, 2, 4).alloc(0, times=2).cpu(0)
    s.alloc(0, times=14).cpu(1).free(1, 3).flush(0).cpu(2).alloc(0, times=3).flush_all()
    out['remote_frees_cpus'] = s
    # Flush with cpu slabs on many cpus, then shrink.
    s = Seed(cpus=64)
    s.create(64, flags=HWCACHE)
    for c in range(0, 64, 7):
        s.cpu(c).alloc(0, times=2)
    s.cpu(3).free(0, 5, 7).flush_all().shrink(0).cpu(0).free(1, 2, 3).shrink(0)
    out['flush_many_cpus'] = s
    # Destroy with live objects (ObjectsRemaining, cache kept), then for real.
    s = Seed()
    s.create(128).alloc(0, times=3).destroy(0).alloc(0).free(0, 1, 2, 3).destroy(0)
    s.invalid_cache(0, 0, destroy=True)
    out['destroy_live_then_empty'] = s
    # Constructor caches: pattern after alloc, restored before free, free pointer outside.
    s = Seed(cpus=2, slub_max_order=0)
    s.create(40, flags=CTOR).create(200, flags=CTOR | HWCACHE)
    s.alloc(0, times=4).alloc(1, gfp=ZERO).free(0, 1).alloc(0, times=2).fill(2).verify(2)
    s.alloc(1, times=30).flush_all().shrink(0).shrink(1)
    out['ctor_caches'] = s
    # DMA cache in a DMA zone; an alloc_pages block beside it.
    s = Seed(pages=256, dma=64)
    s.create(192, flags=DMA).alloc(0, times=40).pages(1, dma=True).pages(2).free(3, 4)
    s.flush(0).destroy(0)
    out['dma_cache'] = s
    # Order fallback: the preferred order fails (injected), get_order(size) is used.
    s = Seed()
    s.create(256).create(2048).inject(1).alloc(0).inject(1).alloc(1).inject(2).alloc(1, gfp=NOWARN)
    s.flush_all().validate().inject(3).alloc(0, gfp=NOFAIL)
    out['order_fallback_injected'] = s
    # Out of memory: a 32-page arena filled with slabs and pages, then freed.
    s = Seed(pages=32, max_order=3, cpus=1)
    s.create(2048).alloc(0, times=40).pages(0).pages(1).free(*range(0, 40, 2))
    s.alloc(0, times=4).shrink(0)
    out['oom_small_arena'] = s
    # Misuse on a normal cache: wrong cache, interior pointers, foreign pointers.
    s = Seed(pages=128)
    s.create(64).create(64).alloc(0, times=2).alloc(1).pages(0)
    s.wrong_cache(0, 1).interior(0, 8).interior(0, 64).interior(1, 4096).interior(1, 3)
    for kind in range(5):
        s.foreign(0, kind, 0, 100)
    s.invalid_cache(0, 0, 1).invalid_cache(1, 1, 1).invalid_cache(2, 0, 2)
    s.invalid_cache(1, 0, destroy=True).invalid_cache(2, 0, destroy=True)
    s.free(0, 1, 2).destroy(1).invalid_cache(0, 1, 0).destroy(1)
    out['misuse_free_kinds'] = s
    # Double frees on a SLAB_CONSISTENCY_CHECKS cache: on cpu freelist, remote, partial slab.
    s = Seed(cpus=2, slub_max_order=0)
    s.create(512, flags=DEBUG).alloc(0, times=12).free(0).double_free(0)
    s.cpu(1).free(1).double_free(1).cpu(0).double_free(1).flush(0).free(10).double_free(10)
    s.double_free(0).interior(2, 512).validate()
    out['double_free_debug_cache'] = s
    # kmem_cache_create failures: size 0, bad align, unsupported flags, too large, SLAB_PANIC.
    s = Seed(max_order=2)
    s.create(0).create(64, align=24).create(64, flags=UNSUPPORTED, unsupported=0)
    s.create(64, flags=UNSUPPORTED, unsupported=4).create(16383).create(16383, flags=PANIC)
    s.create(100, align=64, flags=PANIC | ACCOUNT | RECLAIM).alloc(0).alloc(0, gfp=BAD_GFP)
    s.alloc(0, gfp=BAD_GFP | NOWARN)
    out['create_failures_bad_gfp'] = s
    # Running out of kmem_cache descriptors (max_caches 4).
    s = Seed(max_caches=4)
    for _ in range(6):
        s.create(32)
    s.destroy(1).create(48).alloc(6).free(0).destroy(6).validate()
    out['max_caches'] = s
    # 64 KiB pages, slub_min_objects, no hardening, a 128-byte cache line.
    s = Seed(page_shift=16, cpus=3, max_order=5, pages=64, hardened=False, min_objects=200,
             cache_line=128)
    s.create(24, flags=HWCACHE).create(3000).alloc(0, times=5).alloc(1, times=3)
    s.free(0, 6).flush_all().shrink(1)
    out['page64k_min_objects'] = s
    # 16 KiB pages, a mix of everything.
    s = Seed(page_shift=14, cpus=5, max_order=6, pages=200, dma=40)
    s.create(700, flags=DMA | HWCACHE).create(33, align=16, flags=CTOR | DEBUG)
    s.alloc(0, times=10).alloc(1, times=10).cpu(4).free(0, 11, 12).alloc(1, gfp=ZERO)
    s.cpu(2).free(1, 13).double_free(13).flush_all().shrink(0).destroy(1).free(14, 15)
    s.destroy(1).validate()
    out['page16k_mix'] = s
    # Regression (allocator fix, slub.cpp deactivate_slab): a flushed cpu slab without remote
    # frees goes to the HEAD of the partial list, so the next allocation takes it, not the
    # older partial slab. Also tests/regression_test.cpp SlabRegression.DeactivateToPartialHead.
    s = Seed(cpus=1, slub_max_order=0)
    s.create(512).alloc(0, times=9).free(0).flush(0).alloc(0)
    out['regression_deactivate_to_partial_head'] = s
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'corpus', 'slab')
    os.makedirs(outdir, exist_ok=True)
    for name, seed in seeds().items():
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(seed.data)
        print(f'{name}: {len(seed.data)} bytes')


if __name__ == '__main__':
    main()
