// slab/slub.h - SLUB-style object caches over the page allocator (Linux 6.8 mm/slub.c). One
// class, defined by concept: cache_registry.cpp (create, destroy, handles), cpu_slab.cpp (the
// alloc/free state machine), freepointer.h, live_bitmap.h (the allocation bitmap),
// slabinfo.cpp and slab_validate.cpp.
//
// Per-cpu fast path: each cache has one frozen cpu slab per cpu slot with a lockless freelist
// (the 6.x kmem_cache_cpu design); no cpu partial lists, no NUMA nodes, caches never merge.
// flush() deactivates cpu slabs so counters can be compared exactly, as the kernel's
// flush_all() does before validation.
//
// Threads. A cpu slot is a thread's own: a thread claims a free slot (0..nr_cpus-1) at its
// first call and gives it back when it exits (a thread key's exit hook deactivates its cpu slab
// in every cache). Threads beyond nr_cpus share one more slot (index nr_cpus) under
// overflow_lock_. On its own slot a thread allocates from and frees to its cpu slab without a
// lock. A free to any other slab (a remote free) and the refill from the remote frees of the
// cpu's own slab are one compare-and-swap of the slab's freelist pair (slab_freelist.h), without
// a lock, unless the free moves the slab between lists (it was full, or it becomes empty);
// those, refills from the partial list, deactivation and new slabs take the cache's list_lock,
// and the page allocator its zone lock (lock order: platform/lock.h). The
// allocation bitmap's words change by atomic or/and. set_cpu() switches the heap to a fixed
// slot for single-threaded drivers (tests, the fuzzers): then every call uses that slot and
// flush() deactivates all of them. Debug caches (SLAB_CONSISTENCY_CHECKS) take list_lock on
// every call, so their freelist walks see no concurrent change. Introspection (info, slabinfo,
// validate) reads other threads' cpu slabs and is exact only when they are idle.
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
#include "platform/lock.h"
#include "slab/kmem_cache.h"
#include "slab/live_bitmap.h"
#include "slab/slab_freelist.h"

namespace km {

class SlabAllocator {
public:
  ~SlabAllocator();
  // cfg.nr_cpus is resolved (1..kMaxCpus). cache_slots: nr_slots descriptors; cpu_slots:
  // cpu_run_slots(nr_slots) * cpu_slots_per_cache(cfg), 64-byte aligned (kmem_cache.h: one run
  // per cpu); slot_area: slot_area_bytes(cfg.nr_cpus), 64-byte aligned, any contents (the
  // per-slot counters, claims and ownership words). live_bitmap: arena_bytes / 64 bytes, any
  // contents (each slab clears its range when created).
  void init(const Reporter* reporter, PageAllocator* pages, const Config& cfg,
            kmem_cache* cache_slots, kmem_cache_cpu* cpu_slots, unsigned nr_slots, void* slot_area,
            std::uint64_t* live_bitmap, std::uint64_t seed);
  static std::size_t slot_area_bytes(unsigned nr_cpus);
  // Whether obj is the start of an allocated slab object (its bit in the allocation bitmap).
  bool object_live(const void* obj) const { return live_.test(obj); }
  // The allocation bitmap itself, for tests that corrupt it behind the allocator's back.
  LiveBitmap& live_bitmap_for_testing() { return live_; }

  kmem_cache* create(const char* name, unsigned size, unsigned align, slab_flags_t flags,
                     void (*ctor)(void*)) KM_EXCLUDES(slab_mutex_);
  void* alloc(kmem_cache* s, gfp_t gfp);
  // alloc() for a caller that has refused gfp bits outside __GFP_BITS_MASK (KM_DCHECK'd): the
  // kmalloc front end, which checks them once for both layers.
  void* slab_alloc(kmem_cache* s, gfp_t gfp);
  // Returns true when the object was freed; misuse is reported and refused.
  bool free(kmem_cache* s, void* obj);
  // For callers that already found obj's slab and checked it is an object start of s (kfree):
  // only the double-free checks remain.
  bool check_not_free(const kmem_cache* s, const page* slab, const void* obj);
  bool free_object(kmem_cache* s, page* slab, void* obj);
  void destroy(kmem_cache* s) KM_EXCLUDES(slab_mutex_);
  int shrink(kmem_cache* s);
  void flush(kmem_cache* s);
  void flush_all() KM_EXCLUDES(slab_mutex_);
  // A fixed cpu slot for every following call, from any thread (single-threaded drivers).
  void set_cpu(unsigned cpu) {
    cpu_ = cpu < nr_cpus_ ? cpu : nr_cpus_ - 1;
    slot_mode_ = SlotMode::Fixed;
  }
  // Calls fn(s) for every live cache, newest first, under slab_mutex_ (fn must not create or
  // destroy caches).
  template <class F> void for_each_cache(F&& fn) const KM_EXCLUDES(slab_mutex_) {
    platform::LockGuard guard(slab_mutex_);
    for (const kmem_cache* s = newest_; s != nullptr; s = s->next_cache)
      fn(s);
  }

  // The cache a live slab page belongs to and the object containing addr (nullptr if none).
  kmem_cache* cache_of(const page* head) const;
  bool is_cache(const kmem_cache* s) const;
  // Handles. A kmem_cache* that crosses the Heap API is a handle: the descriptor's address with
  // the slot's generation in bits 48..63 (64-bit targets). destroy() bumps the generation, so a
  // stale handle never resolves, even after its slot holds a new cache; a slot whose 65535
  // generations are used up is retired. resolve() returns the live descriptor or nullptr.
  kmem_cache* handle_of(const kmem_cache* s) const;
  kmem_cache* resolve(const kmem_cache* handle) const;
  CacheInfo info(const kmem_cache* s) const;
  // The slots' path counters, summed (exact when no other thread runs).
  SlotPathStats path_stats() const;
  std::size_t slabinfo(char* buf, std::size_t size) const;
  std::size_t validate() const;

  // Encoded free pointer of a free object (for tests that corrupt freelists).
  void* get_freepointer(const kmem_cache* s, void* obj) const;
  void set_freepointer(const kmem_cache* s, void* obj, void* fp) const;

private:
  // A thread's claim on a cpu slot: the thread key's value, and the exit hook's argument.
  struct SlotClaim {
    SlabAllocator* slabs;
    unsigned cpu;
  };
  static void on_thread_exit(void* claim);
  // The fork hook: prepare takes every lock of the heap in the lock order; parent gives them
  // back; child too, and frees the slots of the threads the child does not have.
  // (The analysis cannot follow a set of locks that changes with the caches: these two are the
  // only functions it skips.)
  static void fork_prepare(void* self) KM_TSA(no_thread_safety_analysis);
  static void fork_parent(void* self);
  static void fork_child(void* self);
  void unlock_all_after_fork() const KM_TSA(no_thread_safety_analysis);
  // The calling thread's cpu slot (set_cpu's when fixed; claims one at a thread's first call).
  inline unsigned this_cpu();
  unsigned claim_slot();
  // Deactivates slot `cpu` in every cache (a thread gave it back).
  void release_slot(unsigned cpu) KM_EXCLUDES(slab_mutex_);
  // Whether the calling thread may deactivate slot cpu now: its own, the shared one (under
  // overflow_lock_), or one no thread holds (borrowed: claim_slot skips it meanwhile).
  bool borrow_slot(unsigned cpu, unsigned own);
  void return_slot(unsigned cpu, unsigned own);
  void flush_slot(kmem_cache* s, unsigned cpu) KM_EXCLUDES(s->list_lock);

  void* alloc_on(kmem_cache* s, unsigned cpu, gfp_t gfp, std::uintptr_t& corrupt);
  void* alloc_slow(kmem_cache* s, kmem_cache_cpu* c, gfp_t gfp, std::uintptr_t& corrupt)
      KM_EXCLUDES(s->list_lock);
  page* new_slab(kmem_cache* s, gfp_t gfp) KM_EXCLUDES(s->list_lock);
  void discard_slab(kmem_cache* s, page* slab) KM_REQUIRES(s->list_lock);
  void freeze(kmem_cache_cpu* c, page* slab); // under the cache's list_lock
  void deactivate_slab(kmem_cache* s, kmem_cache_cpu* c) KM_REQUIRES(s->list_lock);
  void* take_remote_frees(page* slab);
  enum class SlabFree : unsigned char { Done, Refused, NeedsLock };
  SlabFree slab_free_lockless(const kmem_cache* s, page* slab, void* obj) KM_EXCLUDES(s->list_lock);
  SlabFree slab_free_locked(kmem_cache* s, page* slab, void* obj) KM_REQUIRES(s->list_lock);
  // obj's slab, when obj is an object start of s; else a report and nullptr (the checks of
  // kmem_cache_free before the double-free ones).
  page* slab_of_object(kmem_cache* s, void* obj);
  bool free_to_slab(kmem_cache* s, unsigned cpu, page* slab, void* obj);
  bool check_not_free_on(const kmem_cache* s, unsigned cpu, const page* slab, const void* obj);
  bool free_on(kmem_cache* s, unsigned cpu, page* slab, void* obj);
  bool object_valid(const kmem_cache* s, const page* slab, const void* obj) const;
  bool on_freelist(const kmem_cache* s, const page* slab, const void* obj) const
      KM_REQUIRES(s->list_lock);
  void isolate_slab(kmem_cache* s, kmem_cache_cpu* c, unsigned cpu) KM_REQUIRES(s->list_lock);
  std::size_t count_free(const kmem_cache* s, const page* slab, const void* list, std::size_t limit,
                         bool& ok) const;
  std::size_t validate_locked(const Reporter& r) const KM_REQUIRES(slab_mutex_);
  std::size_t validate_cache(const kmem_cache* s, const Reporter& r) const
      KM_REQUIRES(s->list_lock);
  std::size_t validate_slab(const kmem_cache* s, const page* slab, const void* cpu_list, char state,
                            const Reporter& r) const;

  const Reporter* reporter_ = nullptr;
  PageAllocator* pages_ = nullptr;
  kmem_cache* slots_ = nullptr;
  kmem_cache_cpu* cpu_slots_ = nullptr;
  unsigned max_caches_ = 0;
  unsigned nr_cpus_ = 1;
  unsigned cpu_ = 0; // set_cpu's slot
  // How a call finds its cpu slot: Threads, each thread claims one (threads beyond nr_cpus share
  // the last); Fixed, set_cpu's for every call; Platform, the embedder's current_cpu() hook
  // (kmalloc_set_platform), as the kernel's this_cpu_ptr with preemption off.
  enum class SlotMode : unsigned char { Threads, Fixed, Platform };
  SlotMode slot_mode_ = SlotMode::Threads;
  bool hardened_ = true;
  std::uint64_t seed_ = 0;
  SlabOrderParams order_params_{};
  LiveBitmap live_; // the allocation bitmap
  // Per slot, written only by the slot's holder (one cache line each): bits its calls set in
  // the bitmap minus bits they cleared (it may go below zero when it frees other slots'
  // objects; the sum is the bits set), and the calls that took no lock and those that did.
  struct alignas(64) SlotCounters {
    long long bits = 0;
    SlotPathStats paths;
  };
  // In slot_area (the metadata pages), sized by nr_cpus_: nr_cpus_ + 1 counters and claims,
  // nr_cpus_ ownership words (0 free, 1 claimed by a thread, 2 borrowed by a flush).
  SlotCounters* live_delta_ = nullptr;
  SlotClaim* claims_ = nullptr;
  std::uint32_t* slot_state_ = nullptr;
  platform::ThreadKey key_;
  unsigned long long id_ = 0; // platform::next_heap_id(), for the thread's slot cache
  // The locks after the fields every call reads, each on cache lines of its own (the threads
  // sharing the overflow slot take overflow_lock_ on every call).
  alignas(64) mutable platform::Lock slab_mutex_;
  kmem_cache* newest_ KM_GUARDED_BY(slab_mutex_) = nullptr; // slab_caches list head
  alignas(64) platform::Lock overflow_lock_;
  platform::ForkHook fork_hook_;
};

} // namespace km

#include "slab/freepointer.h" // the inline free pointer accessors
