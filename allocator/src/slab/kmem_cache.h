// slab/kmem_cache.h - struct kmem_cache and its per-cpu slab (Linux 6.8 SLUB, without cpu
// partial lists or NUMA nodes).
//
// Slab states (boolean combinations of the head page's fields; validate() checks them):
//   cpu slab:      frozen && on no list && c->slab == it; objects the cpu may hand out are on
//                  c->freelist, remote frees on slab->freelist; inuse == objects -
//                  len(slab->freelist)
//   partial slab:  !frozen && on s->partial && len(slab->freelist) == objects - inuse > 0
//                  (fully free slabs stay here only while nr_partial <= min_partial)
//   full slab:     !frozen && on s->full && inuse == objects && freelist == NULL
// Every slab page is owned by PageOwner::Slab and its head's slab_cache points to the cache.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/slab.h"
#include "page/page_alloc.h"
#include "platform/lock.h"
#include "slab/slab_layout.h"
#include "support/check.h"
#include "support/reciprocal.h"

namespace km {

// One cpu slot of a cache: touched only by the thread that holds the slot (slub.h).
struct kmem_cache_cpu {
  void* freelist = nullptr; // lockless freelist of c->slab (encoded links)
  page* slab = nullptr;     // the frozen cpu slab, or nullptr
  // No tid: the kernel's transaction id guards its this_cpu_cmpxchg against preemption and
  // migration; here a slot belongs to one thread (or is used under overflow_lock).
};

// The cpu slabs are laid out cpu by cpu, as the kernel's per-cpu areas are: one cpu's slots of
// every cache are adjacent, and each cpu's run starts on a cache line of its own, so two threads
// never write one line (interleaved per cache, they made two threads 2.5x slower than one).
// A cache reaches its slot of cpu c at base[c * stride].
inline constexpr unsigned kCpuRunAlign = 8; // 8 * sizeof(kmem_cache_cpu) = 2 cache lines
struct CpuSlabs {
  kmem_cache_cpu* base = nullptr; // the cache's slot of cpu 0
  unsigned stride = 0;            // slots between one cpu's and the next's
  kmem_cache_cpu& operator[](unsigned cpu) const { return base[std::size_t{cpu} * stride]; }
  unsigned index_of(const kmem_cache_cpu* c) const {
    return static_cast<unsigned>(static_cast<std::size_t>(c - base) / stride);
  }
};
// The slots one cpu has: one per cache descriptor, rounded to whole cache lines.
inline std::size_t cpu_run_slots(std::size_t cache_slots) {
  return (cache_slots + kCpuRunAlign - 1) / kCpuRunAlign * kCpuRunAlign;
}

inline constexpr std::size_t kCacheNameMax = 63;

// Cpu slots per cache: one per cpu, and the one threads beyond nr_cpus share (slub.h).
inline unsigned cpu_slots_per_cache(const Config& cfg) {
  return cfg.nr_cpus + 1;
}

} // namespace km

// Global, like struct page, so the C API's opaque `struct kmem_cache` is this type. The fields
// every allocation and free reads come first; list_lock and what it guards, written by every
// slow path of every thread, start a cache line of their own and end the descriptor on a line
// boundary, so that one thread's locking never evicts the line another thread's fast path
// reads (they shared one: cpu_slab sat next to nr_slabs).
struct kmem_cache {
  char name[km::kCacheNameMax + 1];
  slab_flags_t flags;
  km::SlabLayout layout;          // object_size, size, align, offset, order, objects, min_partial
  km::Reciprocal reciprocal_size; // of layout.size: obj_to_index() divides by it
  void (*ctor)(void*);
  std::uint64_t random;   // freelist hardening key (0 when not hardened)
  km::CpuSlabs cpu_slab;  // cpu_slots_per_cache() slots in the metadata pages
  kmem_cache* next_cache; // slab_caches list, newest first
  kmem_cache* prev_cache;
  bool in_use;              // slot holds a live cache
  bool retired;             // the slot's generations are used up; it is never reused
  std::uint16_t generation; // bumped at each destroy; part of the handle (SlabAllocator)
  // The node's list_lock: the lists and counters below, and which list a slab is on. A slab's
  // freelist pair changes only by compare-and-swap (slab_freelist.h); a change that moves the
  // slab between lists (unfreezing, a free to a full slab, a free that empties it) is made
  // under this lock, so the list and the pair agree for every holder of it.
  alignas(64) mutable km::platform::Lock list_lock;
  km::PageList partial KM_GUARDED_BY(list_lock); // node partial list
  km::PageList full KM_GUARDED_BY(list_lock);    // full slabs (the kernel: only with debug)
  std::size_t nr_slabs KM_GUARDED_BY(list_lock);
  std::size_t total_objects KM_GUARDED_BY(list_lock);
};
static_assert(alignof(kmem_cache) == 64 && sizeof(kmem_cache) % 64 == 0,
              "a descriptor's lock lines are its own");

namespace km {

// obj_to_index: which object of its slab the byte at `offset` from the slab's start lies in
// (the offset is below the slab's size, so below 2^32).
inline unsigned obj_to_index(const kmem_cache* s, std::uintptr_t offset) {
  KM_DCHECK(offset < (std::uintptr_t{1} << 32));
  return reciprocal_divide(static_cast<std::uint32_t>(offset), s->reciprocal_size);
}

} // namespace km
