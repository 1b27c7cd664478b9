// slab/kmem_cache.h - struct kmem_cache and its per-cpu slab (Linux 6.8 SLUB, without cpu
// partial lists or NUMA nodes).
//
// Slab states (boolean combinations of the head page's fields; validate() checks them):
//   cpu slab:      PG_frozen && on no list && c->slab == it; objects the cpu may hand out are on
//                  c->freelist, remote frees on slab->freelist; inuse == objects -
//                  len(slab->freelist)
//   partial slab:  !PG_frozen && on s->partial && len(slab->freelist) == objects - inuse > 0
//                  (fully free slabs stay here only while nr_partial <= min_partial)
//   full slab:     !PG_frozen && on s->full && inuse == objects && freelist == NULL
// Every slab page is owned by PageOwner::Slab and its head's slab_cache points to the cache.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/slab.h"
#include "page/page_alloc.h"
#include "slab/slab_layout.h"

namespace km {

inline constexpr std::uint8_t PG_frozen = 1u << 2; // slab is some cpu's c->slab

struct kmem_cache_cpu {
  void* freelist = nullptr; // lockless freelist of c->slab (encoded links)
  page* slab = nullptr;     // the frozen cpu slab, or nullptr
  std::uint64_t tid = 0;    // transaction id, bumped on every change
};

inline constexpr std::size_t kCacheNameMax = 63;

} // namespace km

// Global, like struct page, so the C API's opaque `struct kmem_cache` is this type.
struct kmem_cache {
  char name[km::kCacheNameMax + 1];
  slab_flags_t flags;
  km::SlabLayout layout; // object_size, size, align, offset, order, objects, min_partial
  void (*ctor)(void*);
  std::uint64_t random; // freelist hardening key (0 when not hardened)
  km::PageList partial; // node partial list
  km::PageList full;    // full slabs (the kernel keeps this only with debug)
  std::size_t nr_slabs;
  std::size_t total_objects;
  km::kmem_cache_cpu* cpu_slab; // nr_cpus entries in the metadata pages
  kmem_cache* next_cache;       // slab_caches list, newest first
  kmem_cache* prev_cache;
  bool in_use;              // slot holds a live cache
  bool retired;             // the slot's generations are used up; it is never reused
  std::uint16_t generation; // bumped at each destroy; part of the handle (SlabAllocator)
};
