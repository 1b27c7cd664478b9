// kmalloc/heap.h - the C++ API: one Heap is one arena with its zones, page allocator and caches.
//
// A Heap keeps all of its state inside its arena (the metadata pages at the start), so the
// Heap object itself is a small handle and the core never calls libc malloc. The arena comes
// from mmap (aligned to the largest block) or from a region the caller owns.
// Threads: every allocation and free call (the kmalloc, kmem_cache and page families) may run on
// any thread at once. Each thread takes a cpu slot of its own at its first call (threads beyond
// Config::nr_cpus share one more slot, under a lock) and gives it back when it exits; on its own
// slot the common alloc and free take no lock. Cache creation and destruction are serialised;
// destroying a cache another thread still uses is the caller's error. Introspection (validate,
// cache_info, slabinfo, page_counts, ...) and flush_cpu_slabs() are exact when no other thread
// runs; flush_cpu_slabs() leaves the cpu slabs of other live threads to them. init, destroy and
// set_report_handler must not race with other calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/cache_info.h"
#include "kmalloc/config.h"
#include "kmalloc/export.h"
#include "kmalloc/gfp.h"
#include "kmalloc/kmalloc_limits.h"
#include "kmalloc/page_info.h"
#include "kmalloc/report.h"
#include "kmalloc/slab.h"

// The page descriptor, as in the kernel. Opaque outside the allocator.
struct page;
// A slab cache (kmalloc/slab.h declares it too). Opaque outside the allocator.
struct kmem_cache;

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

struct HeapState;

// The heap's own memory: the metadata pages at the start of the arena (HeapState, the page
// descriptors, the kmem_cache descriptors and per-cpu slabs, the allocation bitmap).
// `reserved` is what the metadata pages span; `committed` is how much of it is backed by
// memory now (mincore). Metadata is committed lazily: init writes almost none of it.
struct MetadataInfo {
  std::size_t arena_bytes = 0;
  std::size_t reserved = 0;    // metadata pages * page size
  std::size_t committed = 0;   // resident bytes of the metadata pages
  std::size_t descriptors = 0; // the memmap: one struct page per page of the arena
  std::size_t bitmap = 0;      // the allocation bitmap: one bit per 8 bytes of arena
  std::size_t caches = 0;      // kmem_cache descriptors and their per-cpu slabs
};

// Every method may be called on a Heap that was never initialised or whose init failed: it
// does nothing and returns NULL, 0 or false after one HeapUninitialized warning (initialized(),
// destroy() and set_report_handler() do not warn). kfree(NULL) and kfree(ZERO_SIZE_PTR) are
// no-ops there too.
class Heap {
public:
  Heap() = default;
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Builds the heap over a fresh mmap'd arena of cfg.arena_size bytes, aligned to the largest
  // block. On failure nothing is kept and the Status names the bad Config field.
  Status init(const Config& cfg);
  // Builds the heap over [region, region + bytes), which the caller owns and keeps alive until
  // destroy(). Pages are numbered by address (pfn = address >> page_shift), so blocks are
  // naturally aligned in the address space; an unaligned region just starts with small blocks.
  // cfg.arena_size is ignored (the region's size is used); a region of fewer than 8 whole pages
  // is refused with the Status naming "region".
  Status init(const Config& cfg, void* region, std::size_t bytes);
  // Releases the arena (munmap if the heap mapped it). Safe on an uninitialised heap.
  void destroy();
  bool initialized() const { return state_ != nullptr; }
  const Config& config() const;

  // Replaces the report handler (default: default_report_handler). nullptr restores the default.
  // May be called before init(): the handler then applies to the heap init() builds, and to
  // the HeapUninitialized warnings of an uninitialised heap. It survives destroy().
  void set_report_handler(ReportHandler handler, void* context);

  // ---- page allocator (Linux 6.10 mm/page_alloc.c semantics, without pcp lists or watermarks)

  // alloc_pages - a naturally aligned block of 2^order pages, or NULL.
  // Zones: __GFP_DMA only from ZONE_DMA (from Normal if there is no DMA zone); anything else
  // from Normal, then DMA. Inside a zone the smallest order with a free block is split
  // (__rmqueue_smallest + expand()); the caller gets the lower half. __GFP_ZERO zeroes it.
  // order > max_order or unknown gfp bits: NULL and a warning unless __GFP_NOWARN.
  struct page* alloc_pages(gfp_t gfp, unsigned order);
  // __free_pages - frees a block from alloc_pages; merges with its buddy while it can.
  // NULL is a no-op. Misuse (double free, not a head page, wrong order, a slab's page) is
  // reported and the free is refused.
  void free_pages(struct page* page, unsigned order);
  // __get_free_pages / free_pages - the same, by address (0 on failure; free of 0 is a no-op).
  std::uintptr_t get_free_pages(gfp_t gfp, unsigned order);
  void free_pages(std::uintptr_t addr, unsigned order);
  void* page_address(const struct page* page) const;
  // virt_to_page - the descriptor of the page holding addr, or NULL outside the arena.
  struct page* virt_to_page(const void* addr) const;
  std::uintptr_t page_to_pfn(const struct page* page) const;
  // get_order - smallest order whose block holds size bytes (size > 0).
  unsigned get_order(std::size_t size) const;
  // The next `count` page allocations without __GFP_NOFAIL fail (as fail_page_alloc would).
  void inject_page_alloc_failures(unsigned count);

  // ---- slab caches (Linux 6.8 mm/slub.c semantics; see allocator/src/slab/slub.h)

  // kmem_cache_create - a cache of objects of `size` bytes aligned to at least `align` (0 or a
  // power of two). NULL with a CacheCreateFailed warning on bad arguments or unsupported flags;
  // a SLAB_PANIC cache reports SlabPanic instead (fatal with the default handler).
  struct kmem_cache* kmem_cache_create(const char* name, unsigned size, unsigned align,
                                       slab_flags_t flags, void (*ctor)(void*));
  // kmem_cache_alloc - an object, or NULL when no page can be had. __GFP_ZERO zeroes it.
  void* kmem_cache_alloc(struct kmem_cache* cache, gfp_t gfp);
  void* kmem_cache_zalloc(struct kmem_cache* cache, gfp_t gfp);
  // kmem_cache_free - NULL is a no-op. A pointer outside the cache's slabs, not at an object
  // start, from another cache, or (detectably) already free is reported and not freed.
  void kmem_cache_free(struct kmem_cache* cache, void* obj);
  // kmem_cache_destroy - NULL is a no-op. With live objects: ObjectsRemaining, cache kept.
  void kmem_cache_destroy(struct kmem_cache* cache);
  // kmem_cache_shrink - flushes cpu slabs, releases empty slabs; 0 iff no slab remains.
  int kmem_cache_shrink(struct kmem_cache* cache);
  // Returns every cpu slab of one cache (or all caches) to the lists, as flush_all() does.
  // An invalid cache pointer is reported (InvalidCache).
  void kmem_cache_flush(struct kmem_cache* cache);
  void flush_cpu_slabs();
  // The cpu slot every following call uses, on any thread (0..nr_cpus-1): for single-threaded
  // drivers (tests, fuzzers) that move between cpus deterministically. From then on the heap no
  // longer gives threads slots of their own, and flush_cpu_slabs() flushes every slot.
  void set_cpu(unsigned cpu);
  // From now on, a free that leaves a whole MAX_ORDER block free gives its memory back to the OS
  // (madvise MADV_DONTNEED; it reads zero when used again) once its zone already keeps
  // keep_bytes (rounded up to whole MAX_ORDER blocks) of free MAX_ORDER blocks resident; those
  // are the ones allocations take first. kNeverRelease (the default) never gives memory back.
  // The malloc shim sets it so that RSS falls after a peak. Returns the number of blocks given
  // back since init.
  static constexpr std::size_t kNeverRelease = ~std::size_t{0};
  std::size_t set_release_threshold(std::size_t keep_bytes);

  // ---- kmalloc front end (Config::profile; see allocator/include/kmalloc/kmalloc.h for the
  // contract of each call, which the C API shares)

  void* kmalloc(std::size_t size, gfp_t gfp);
  void* kzalloc(std::size_t size, gfp_t gfp) { return kmalloc(size, gfp | __GFP_ZERO); }
  void* kmalloc_array(std::size_t n, std::size_t size, gfp_t gfp);
  void* kcalloc(std::size_t n, std::size_t size, gfp_t gfp) {
    return kmalloc_array(n, size, gfp | __GFP_ZERO);
  }
  void* krealloc(const void* obj, std::size_t new_size, gfp_t gfp);
  void* krealloc_array(const void* obj, std::size_t n, std::size_t size, gfp_t gfp);
  void kfree(const void* obj);
  void kfree_sensitive(const void* obj);
  std::size_t ksize(const void* obj) const;
  std::size_t kmalloc_size_roundup(std::size_t size) const;
  // kmalloc_index: 0 for size 0, 1 for the 96 cache, 2 for 192, n for 2^n; -1 past the
  // profile's limit (64 MiB for linux-4-slab, 2 MiB for linux-6) where the kernel would BUG().
  int kmalloc_index(std::size_t size) const;
  // The cache kmalloc(size, gfp) takes objects from; nullptr for 0 and for the large path.
  const struct kmem_cache* kmalloc_cache(std::size_t size, gfp_t gfp) const;
  KmallocLimits kmalloc_limits() const;
  SlabBytes slab_bytes() const;

  // ---- introspection

  std::size_t page_size() const;
  std::uintptr_t arena_start() const;
  std::size_t arena_pages() const;
  unsigned nr_zones() const;
  ZoneInfo zone_info(unsigned zone) const;
  PageInfo page_info(const void* addr) const;
  PageCounts page_counts() const;
  // Calls fn for every free block of every zone (zone, then order, then list order).
  void for_each_free_block(void (*fn)(void* context, const FreeBlock& block), void* context) const;
  // For a pointer that is not a live cache (never created, destroyed, or of another heap): all
  // zero, name "(not a live cache)". Cache pointers are handles that are never reused, so a
  // stale one stays invalid after its descriptor holds a new cache.
  CacheInfo cache_info(const struct kmem_cache* cache) const;
  // Calls fn for every live cache, newest first (the slabinfo order).
  void for_each_cache(void (*fn)(void* context, const struct kmem_cache* cache),
                      void* context) const;
  SlabObject slab_object(const void* addr) const;
  // /proc/slabinfo (version 2.1) text, snprintf-style.
  std::size_t slabinfo(char* buf, std::size_t size) const;
  // /proc/buddyinfo text, snprintf-style: writes at most size bytes (NUL-terminated if size > 0)
  // and returns the full length.
  std::size_t buddyinfo(char* buf, std::size_t size) const;
  MetadataInfo metadata_info() const;
  // Slab calls by path, over every cpu slot: how many took no lock (exact when no other thread
  // runs; see kmalloc/cache_info.h).
  SlotPathStats slot_path_stats() const;
  // Walks every list and descriptor; each broken invariant is reported (ErrorKind::Corruption)
  // and counted. Returns the count; 0 means the heap is consistent.
  std::size_t validate() const;

  // For corruption tests only: the internal state (allocator/src/heap_state.h).
  HeapState* state_for_testing() const { return state_; }

private:
  KMALLOC_INTERNAL Status init_common(const Config& cfg, void* region, std::size_t bytes,
                                      bool mapped);
  // True, after one HeapUninitialized warning naming `function`, when the heap has no state.
  KMALLOC_INTERNAL bool uninitialized(const char* function) const;
  // The live descriptor behind a cache handle; reports InvalidCache (naming `function`) if none.
  KMALLOC_INTERNAL struct kmem_cache* resolve_cache(const struct kmem_cache* cache,
                                                    const char* function) const;
  HeapState* state_ = nullptr;
  ReportHandler handler_ = default_report_handler;
  void* handler_context_ = nullptr;
  void* mapping_ = nullptr; // set when the heap mmap'd its arena
  std::size_t mapping_size_ = 0;
};

// The C API's default heap (kmalloc/kmalloc.h), for test drivers that call the C functions and
// look at the heap through this class. reset_c_api_heap() destroys it (and zeroes the report
// count of kmalloc_stats), so that the next kmalloc_init* builds a new one; programs never call
// it: the default heap is meant to live until the process ends. Single-threaded drivers only.
Heap& c_api_heap();
void reset_c_api_heap();

} // namespace km
#pragma GCC visibility pop
