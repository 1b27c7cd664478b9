#!/usr/bin/env python3
"""Writes the named seed inputs of fuzz/fuzz_buddy.cpp into corpus/buddy/.

The encoder below mirrors decode_config / decode_op in fuzz/fuzz_buddy.cpp (the byte format is
in corpus/README.md). Victims are named by handle: the encoder keeps the decoder's handle lists
(live, freed, NULL; each ascending) and turns a handle into the selector that picks it, so each
alloc must say whether it succeeds (ok=False: the heap returns NULL).

Usage: tools/gen_buddy_seeds.py [OUTDIR]   (default: corpus/buddy of this repository)
Check a seed: KMALLOC_FUZZ_TRACE=1 <build>/fuzz/fuzz_buddy_replay corpus/buddy/<name>
"""
import os
import sys

# gfp byte: bits 0-1 base, 2 ZERO, 3 NOWARN, 4 NOFAIL, 5-6 extra (1 COMP, 2 MOVABLE, 3 bad bit),
# 7 with extra 3: the bad bit is 0x800000 instead of 0x200, otherwise __GFP_ACCOUNT.
KERNEL, DMA, DMA32, ATOMIC_HIGHMEM = 0, 1, 2, 3
ZERO, NOWARN, NOFAIL = 0x04, 0x08, 0x10
COMP, MOVABLE, BAD_BIT = 0x20, 0x40, 0x60
BELOW, END, UNALIGNED, FOREIGN = range(4)


class Seed:
    def __init__(self, page_shift=12, max_order=3, pages=16, dma_fraction=0):
        """pages = base + extra * base // 256, base = 16 << e (e < 7), extra a byte."""
        e = 0
        while (16 << (e + 1)) <= pages and e < 6:
            e += 1
        base = 16 << e
        assert base <= pages < 2 * base, pages
        self.max_order = max_order
        self.page_size = 1 << page_shift
        extra = -(-(pages - base) * 256 // base)  # smallest byte with extra * base // 256 == ...
        assert base + extra * base // 256 == pages, f'{pages} pages cannot be encoded'
        self.data = bytes([{12: 0, 14: 1, 16: 2}[page_shift], max_order, e, extra,
                           dma_fraction])
        self.next_handle = 0
        self.live, self.freed, self.null, self.orders = [], [], [], {}

    def op(self, *parts):
        self.data += bytes(parts)
        return self

    def alloc(self, order, gfp=KERNEL, ok=True, code=0):
        """order > max_order encodes as 0x80 | (order - max_order - 1)."""
        if order > self.max_order:
            ob = 0x80 | (order - self.max_order - 1)
            ok = False
        else:
            ob = order
        h = self.next_handle
        self.next_handle += 1
        (self.live if ok else self.null).append(h)
        self.orders[h] = order
        return self.op(code & 3, ob, gfp)

    def free(self, h, by_page=False, code=4):
        cands = self.live + self.null
        sel = cands.index(h)
        assert sel < 128
        if h in self.live:
            self.live.remove(h)
            self.freed.append(h)
            self.freed.sort()
        return self.op(code, sel | (0x80 if by_page else 0))

    def fill(self, h):
        return self.op(7, self.live.index(h))

    def verify(self, h):
        return self.op(8, self.live.index(h))

    def inject(self, n):
        return self.op(9, n)

    def double_free(self, h):
        return self.op(10, self.freed.index(h))

    def wrong_order(self, h, given):
        """Frees live h with order `given` (!= its order, <= max_order + 1)."""
        order = self.orders[h]
        d = (given - order - 1) % (self.max_order + 2)
        assert (order + 1 + d % (self.max_order + 1)) % (self.max_order + 2) == given
        return self.op(11, self.live.index(h), d)

    def interior_page(self, h, page):
        """free_pages(addr + page * PAGE_SIZE), 1 <= page <= 2^order."""
        assert 1 <= page <= 1 << self.orders[h]
        return self.op(12, self.live.index(h), page - 1)

    def interior_byte(self, h, k):
        """free_pages(addr + 1 + k * PAGE_SIZE / 128), k < 128."""
        return self.op(12, self.live.index(h), 0x80 | k)

    def raw(self, page, order=0):
        return self.op(13, page & 0xff, page >> 8, order)

    def outside(self, where):
        return self.op(14, where)

    def validate(self):
        return self.op(15)


def seeds():
    # Most seeds use 64 KiB pages: the heap's metadata then fits in one page, so a 16-page arena
    # has 15 free pages (1 at order 0, 2 at order 1, 4 at order 2, 8 at order 3 with max_order 3).
    out = {}

    # Use up the small blocks, then split the order-3 block down to order 0 and merge it back.
    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(0).alloc(1).alloc(2).alloc(0).validate()  # #3 splits 8: frees 9, 10 (o1), 12 (o2)
    s.free(3).free(0).free(1).free(2).validate()
    out['split-coalesce'] = s

    # The same with 4 KiB pages, a DMA zone and MAX_ORDER 10 (the metadata takes ~15 pages).
    s = Seed(page_shift=12, max_order=10, pages=256, dma_fraction=128)
    s.alloc(0).alloc(3).alloc(6).alloc(0, DMA).alloc(5, DMA32).validate()
    s.free(2).free(0).free(4).free(1).free(3).validate()
    out['page4k-split-coalesce'] = s

    # 15 free pages: take every page, one more fails, free all, take an order-2 block.
    s = Seed(page_shift=16, max_order=2, pages=16)
    for _ in range(15):
        s.alloc(0)
    s.alloc(0, NOWARN, ok=False).validate()
    for h in range(15):
        s.free(h, by_page=h % 2 == 1)
    s.alloc(2).validate()
    out['exhaustion-recovery'] = s

    # DMA zone of 32 pages under a Normal zone of 32: Normal is used first, then DMA; __GFP_DMA
    # only ever gets DMA pages and fails when DMA is out though Normal has room.
    s = Seed(page_shift=16, max_order=4, pages=64, dma_fraction=128)
    s.alloc(4).alloc(4).alloc(4).validate()  # Normal, Normal, then DMA (fallback)
    s.alloc(3, DMA | NOWARN).alloc(3, DMA, ok=False).validate()  # DMA has no order 3 left
    s.free(0).alloc(3, DMA, ok=False)  # Normal has room, but __GFP_DMA never uses it
    s.alloc(3).alloc(2, DMA).validate()
    out['dma-fallback'] = s

    # Bigger heaps with 64 KiB and 16 KiB pages, large max_order, both zones.
    s = Seed(page_shift=16, max_order=9, pages=300, dma_fraction=64)
    s.alloc(5).alloc(0, DMA).alloc(7, DMA32 | ZERO).fill(0).fill(2).verify(0)
    s.free(1).alloc(8, ok=False).alloc(4, ATOMIC_HIGHMEM).validate()
    out['page64k-zones'] = s
    s = Seed(page_shift=14, max_order=12, pages=1504, dma_fraction=200)
    s.alloc(9).alloc(9, DMA, ok=False).alloc(12, ok=False).alloc(7, MOVABLE).validate()
    s.free(0).free(3).validate()
    out['page16k-max-order-12'] = s

    # max_order 0: every block is one page, nothing ever merges.
    s = Seed(page_shift=16, max_order=0, pages=20)
    s.alloc(0).alloc(0).alloc(1).free(0).free(1).validate()
    out['max-order-0'] = s

    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(2).fill(0).free(0).double_free(0).validate()
    s.alloc(0).free(1, by_page=True).double_free(1)
    out['double-free'] = s

    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(1).wrong_order(0, 2).wrong_order(0, 0).wrong_order(0, 4).verify(0).free(0)
    out['wrong-order'] = s

    # #0 is pfn 4..7: its tail pages, a misaligned address, and pfn 8 (a free block).
    s = Seed(page_shift=16, max_order=3, pages=32)
    s.alloc(2).fill(0).interior_page(0, 1).interior_page(0, 3).interior_byte(0, 5)
    s.interior_page(0, 4).verify(0).free(0)
    out['interior'] = s

    # Outside the arena, a foreign descriptor, the metadata page, free pages, and #0 (pfn 1)
    # by raw address: first with the wrong order, then freed that way.
    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(0)
    for where in (BELOW, END, UNALIGNED, FOREIGN):
        s.outside(where)
    s.raw(0).raw(15).raw(8, 3).raw(1, 1).raw(1, 0).validate()
    out['foreign-outside'] = s

    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(4).alloc(9, NOWARN).alloc(1, BAD_BIT, ok=False)
    s.alloc(1, BAD_BIT | 0x80 | NOWARN, ok=False)
    s.alloc(1).free(0).free(4).validate()
    out['order-too-large'] = s

    s = Seed(page_shift=16, max_order=3, pages=16)
    s.inject(2).alloc(0, ok=False).alloc(0, NOFAIL).alloc(1, NOWARN, ok=False).alloc(0)
    s.inject(1).inject(0).alloc(2).validate()
    out['inject-failure'] = s

    # Fill a block, free it, get it back with __GFP_ZERO: it must read zero, then hold a fill.
    s = Seed(page_shift=16, max_order=3, pages=16)
    s.alloc(1).fill(0).free(0).alloc(1, ZERO).verify(1).fill(1).verify(1).free(1)
    s.alloc(0, ZERO | DMA32).verify(2)
    out['zero'] = s
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'corpus', 'buddy')
    os.makedirs(outdir, exist_ok=True)
    for name, seed in seeds().items():
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(seed.data)
        print(f'{name}: {len(seed.data)} bytes')


if __name__ == '__main__':
    main()
