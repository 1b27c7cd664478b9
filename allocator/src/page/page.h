// page/page.h - the page descriptor (the kernel's struct page), one per page of the arena.
//
// The descriptors form one array (the memmap) in the heap's metadata pages. A page is in
// exactly one of these states (boolean combinations of the fields; validate() checks them):
//
//   metadata (the first pages):  known by position (PageAllocator::owner_of); the descriptor is
//                                never written and stays all zero
//   head of a free block:        owner == Free && PG_buddy && order == its free_area order
//   tail of a free block:        owner == Free && !PG_buddy && !PG_head   (order, head: stale)
//   in a deferred block:         never written (all zero) until rmqueue() takes the block
//   head of an allocation:       owner in {PageAlloc, Slab, LargeKmalloc} && PG_head && order =
//                                block order
//   tail of an allocation:       same owner as its head && !PG_head && head == index of the head
//
// An all-zero descriptor is a free tail page: a fresh mapping needs no descriptor written at
// init. A free block of order o starts at a pfn that is a multiple of 2^o and lies in one zone.
#pragma once

#include <cstdint>

#include "kmalloc/page_info.h"

struct kmem_cache;

namespace km {
inline constexpr std::uint8_t PG_buddy = 1u << 0; // head of a block on a free_area list
inline constexpr std::uint8_t PG_head = 1u << 1;  // head of an allocated block
} // namespace km

struct page {
  page* next; // free_area list link (free heads) or slab list link
  page* prev;
  std::uint32_t head; // memmap index of the block's head (allocated pages)
  std::uint8_t flags; // PG_buddy, PG_head
  std::uint8_t order; // block order, valid on heads
  km::PageOwner owner;
  std::uint8_t zone; // zone index, fixed at init
  // Slab layer fields, valid on the head page of a slab (see slab/kmem_cache.h). freelist and
  // the four counters after it are one 16-byte pair, changed only as a whole
  // (slab/slab_freelist.h), as the kernel's slab->freelist and slab->counters are.
  kmem_cache* slab_cache;     // owning cache
  alignas(16) void* freelist; // first free object (encoded links inside the objects)
  std::uint16_t inuse;        // objects not on slab->freelist
  std::uint16_t objects;      // capacity of this slab
  std::uint16_t slab_cpu;     // the cpu whose c->slab this is, while frozen
  std::uint16_t frozen;       // 1 while the slab is some cpu's c->slab (PG_frozen's role)
};
static_assert(sizeof(page) % 16 == 0, "every descriptor's freelist pair is 16-byte aligned");
