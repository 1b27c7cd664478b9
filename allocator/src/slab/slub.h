// slab/slub.h - SLUB-style object caches over the page allocator (Linux 6.8 mm/slub.c). One
// class, defined by concept: cache_registry.cpp (create, destroy, handles), cpu_slab.cpp (the
// alloc/free state machine), freepointer.cpp, live_bitmap.h (the allocation bitmap),
// slabinfo.cpp and slab_validate.cpp.
//
// Per-cpu fast path: each cache has one frozen cpu slab per cpu with a lockless freelist
// (the 6.x kmem_cache_cpu design); no cpu partial lists, no NUMA nodes, caches never merge.
// The "current cpu" is chosen with set_cpu(). flush() deactivates cpu slabs so counters can be
// compared exactly, as the kernel's flush_all() does before validation.
// Not thread-safe; callers serialise.
//
// Everything here works on live descriptors (a precondition, KM_DCHECK'd): Heap converts
// handles (see handle_of / resolve) at its API and reports a dead one as InvalidCache.
//
// Invariants (validate() checks each and names it):
//   AC1  per cache: every slab's freelist is acyclic, made of valid object starts of that slab,
//        and objects - inuse == its length (cpu freelists included for cpu slabs); partial,
//        full and cpu slabs are in the state kmem_cache.h describes; nr_slabs and
//        total_objects equal the slabs found; each slab's order gives its object count.
//   OWN  every slab's pages are owned by Slab and its head points at the cache.
//   AC2  the pages of all slabs equal the page allocator's Slab page count.
//   LIVE the allocation bitmap (one bit per 8 bytes of arena, set at each allocated object's
//        start) has no bit set on a free object, and exactly as many bits set in each slab as
//        it has allocated objects; the bits inside slabs add up to the bits ever set minus the
//        bits cleared (so none is set outside a slab).
// The bitmap makes double frees and frees of never-allocated objects detectable in O(1) in
// every cache (the kernel detects them only with SLAB_CONSISTENCY_CHECKS).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/cache_info.h"
#include "kmalloc/page_info.h"
#include "page/page_alloc.h"
#include "slab/kmem_cache.h"
#include "slab/live_bitmap.h"

namespace km {

class SlabAllocator {
public:
  // cache_slots: nr_slots descriptors; cpu_slots: nr_slots * nr_cpus per-cpu slabs.
  // live_bitmap: arena_bytes / 64 bytes, any contents (each slab clears its range when created).
  void init(const Reporter* reporter, PageAllocator* pages, const Config& cfg,
            kmem_cache* cache_slots, kmem_cache_cpu* cpu_slots, unsigned nr_slots,
            std::uint64_t* live_bitmap, std::uint64_t seed);
  // Whether obj is the start of an allocated slab object (its bit in the allocation bitmap).
  bool object_live(const void* obj) const { return live_.test(obj); }

  kmem_cache* create(const char* name, unsigned size, unsigned align, slab_flags_t flags,
                     void (*ctor)(void*));
  void* alloc(kmem_cache* s, gfp_t gfp);
  // Returns true when the object was freed; misuse is reported and refused.
  bool free(kmem_cache* s, void* obj);
  // The misuse checks of free() alone (reports and returns false), and the free without them.
  bool check_free(kmem_cache* s, void* obj) const;
  void free_checked(kmem_cache* s, void* obj);
  // For callers that already found obj's slab and checked it is an object start of s (kfree):
  // only the double-free checks remain.
  bool check_not_free(const kmem_cache* s, const page* slab, const void* obj) const;
  bool free_object(kmem_cache* s, page* slab, void* obj);
  void destroy(kmem_cache* s);
  int shrink(kmem_cache* s);
  void flush(kmem_cache* s);
  void flush_all();
  void set_cpu(unsigned cpu) { cpu_ = cpu < nr_cpus_ ? cpu : nr_cpus_ - 1; }
  unsigned cpu() const { return cpu_; }

  // The cache a live slab page belongs to and the object containing addr (nullptr if none).
  kmem_cache* cache_of(const page* head) const;
  bool is_cache(const kmem_cache* s) const;
  // Handles. A kmem_cache* that crosses the Heap API is a handle: the descriptor's address with
  // the slot's generation in bits 48..63 (64-bit targets). destroy() bumps the generation, so a
  // stale handle never resolves, even after its slot holds a new cache; a slot whose 65535
  // generations are used up is retired. resolve() returns the live descriptor or nullptr.
  kmem_cache* handle_of(const kmem_cache* s) const;
  kmem_cache* resolve(const kmem_cache* handle) const;
  const kmem_cache* newest() const { return newest_; }
  CacheInfo info(const kmem_cache* s) const;
  std::size_t slabinfo(char* buf, std::size_t size) const;
  std::size_t validate() const;

  // Encoded free pointer of a free object (for tests that corrupt freelists).
  void* get_freepointer(const kmem_cache* s, void* obj) const;
  void set_freepointer(const kmem_cache* s, void* obj, void* fp) const;

private:
  void* alloc_slow(kmem_cache* s, kmem_cache_cpu* c, gfp_t gfp);
  page* new_slab(kmem_cache* s, gfp_t gfp);
  void discard_slab(kmem_cache* s, page* slab);
  void freeze(kmem_cache_cpu* c, page* slab);
  void deactivate_slab(kmem_cache* s, kmem_cache_cpu* c);
  void slab_free_slow(kmem_cache* s, page* slab, void* obj);
  void free_to_slab(kmem_cache* s, page* slab, void* obj);
  bool object_valid(const kmem_cache* s, const page* slab, const void* obj) const;
  bool on_freelist(const kmem_cache* s, const page* slab, const void* obj) const;
  void isolate_slab(kmem_cache* s, kmem_cache_cpu* c);
  std::size_t count_free(const kmem_cache* s, const page* slab, const void* list, std::size_t limit,
                         bool& ok) const;
  std::size_t validate_cache(const kmem_cache* s) const;
  std::size_t validate_slab(const kmem_cache* s, const page* slab, const void* cpu_list,
                            char state) const;

  const Reporter* reporter_ = nullptr;
  PageAllocator* pages_ = nullptr;
  kmem_cache* slots_ = nullptr;
  kmem_cache_cpu* cpu_slots_ = nullptr;
  unsigned max_caches_ = 0;
  unsigned nr_cpus_ = 1;
  unsigned cpu_ = 0;
  bool hardened_ = true;
  std::uint64_t seed_ = 0;
  SlabOrderParams order_params_{};
  kmem_cache* newest_ = nullptr; // slab_caches list head
  LiveBitmap live_;              // the allocation bitmap
};

} // namespace km
