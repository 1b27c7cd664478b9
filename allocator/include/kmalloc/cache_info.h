// kmalloc/cache_info.h - what the introspection API says about slab caches: a cache's layout
// and counters (CacheInfo, as /proc/slabinfo shows them), slab bytes by reclaimability, and the
// object holding an address. Shared by the slab layer and kmalloc/heap.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/export.h"
#include "kmalloc/slab.h"

struct kmem_cache;

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

// One cache, as /proc/slabinfo and /sys/kernel/slab/<name>/ show it.
struct CacheInfo {
  const char* name;
  slab_flags_t flags;
  unsigned object_size; // what kmem_cache_create was asked for
  unsigned size;        // stride (slabinfo's objsize)
  unsigned align;
  unsigned offset;           // free pointer offset in the stride
  unsigned objects_per_slab; // at the preferred order
  unsigned order;            // preferred slab order (pagesperslab = 1 << order)
  unsigned min_order;        // fallback order, get_order(size)
  unsigned min_partial;
  std::size_t nr_slabs;
  std::size_t nr_partial;
  std::size_t nr_full;
  std::size_t nr_cpu_slabs;
  std::size_t total_objects;
  std::size_t active_objects; // slabinfo: total minus the free objects on partial slabs
  std::size_t free_objects;   // every free object, cpu freelists included
};

// NR_SLAB_RECLAIMABLE_B / NR_SLAB_UNRECLAIMABLE_B: slab pages by cache flag; large kmalloc
// blocks count as unreclaimable (Linux 5.4+).
struct SlabBytes {
  std::size_t reclaimable = 0;
  std::size_t unreclaimable = 0;
};

// The slab object holding an address.
struct SlabObject {
  const struct kmem_cache* cache = nullptr; // nullptr: not inside a slab object
  std::uintptr_t object = 0;                // start of the object
  std::uintptr_t slab = 0;                  // start of its slab
  unsigned index = 0;                       // object number within the slab
};

// How the slab calls went, over every cpu slot (Heap::slot_path_stats). A debug aid: the fast
// paths take no lock.
//   fast_allocs    no lock: from the thread's cpu freelist, or a refill from the objects other
//                  threads freed to its cpu slab (one compare-and-swap of the slab's freelist)
//   fast_frees     no lock: to the thread's own cpu slab
//   remote_frees   no lock: to another slab, by one compare-and-swap of its freelist (another
//                  cpu's slab, or a partial slab that keeps objects in use)
//   locked_*       the cache's list_lock (a refill from the partial list, a new slab, a free
//                  that moves a slab off the full list or empties it, a debug cache), or a
//                  thread on the shared slot
struct SlotPathStats {
  unsigned long long fast_allocs = 0;
  unsigned long long locked_allocs = 0;
  unsigned long long fast_frees = 0;
  unsigned long long locked_frees = 0;
  unsigned long long remote_frees = 0;
};

} // namespace km
#pragma GCC visibility pop
