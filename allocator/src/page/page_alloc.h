// page/page_alloc.h - the buddy page allocator: zones, free_area[order], split and coalesce.
//
// Follows Linux 6.10 mm/page_alloc.c (__rmqueue_smallest, expand, __free_one_page) with one
// migratetype, no per-cpu page lists and no watermarks. Thread-safe: zone_lock_ guards the
// free areas, the page counters and every descriptor of a free block; alloc() and free() take
// it. Introspection takes it too, and is exact when no other thread allocates.
//
// Invariants (validate() checks each and names it):
//   AC2  per zone, sum(nr_free[o] << o) == free_pages; over the arena, free + metadata +
//        page_alloc + slab + large == total pages, and each counter equals the descriptors.
//   AC3  every free block is naturally aligned, inside its zone, made of Free pages, and no
//        two free blocks overlap; no two free buddies of one order coexist (fully coalesced).
//   LIST every free_area list is well linked and nr_free equals its length.
//   DESC every allocated head's tails carry its owner and point back to it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/page_info.h"
#include "page/page.h"
#include "platform/lock.h"
#include "report/report_impl.h"
#include "support/list.h"

namespace km {

using PageList = IntrusiveList<page, &page::next, &page::prev>;

struct free_area {
  PageList free_list;
  std::size_t nr_free = 0;
};

// Deferred page init (the kernel's CONFIG_DEFERRED_STRUCT_PAGE_INIT, taken further): most of
// the MAX_ORDER-aligned middle of a zone is not put on free_area[MAX_ORDER] at init. Its blocks,
// [deferred_start_pfn, deferred_end_pfn), count as free (nr_free[MAX_ORDER], free_pages) and
// their descriptors are left as they are (all zero: a Free tail page) until rmqueue() takes the
// top one, so init touches no descriptor of free memory and a large arena commits nothing.
// A zone's top kListedMaxBlocks MAX_ORDER blocks are listed at init; only those below are
// deferred, so small heaps start exactly as a fully listed zone would.
inline constexpr std::size_t kListedMaxBlocks = 8;

struct zone {
  const char* name = "";
  std::uintptr_t zone_start_pfn = 0;
  std::size_t spanned_pages = 0;
  std::size_t free_pages = 0; // NR_FREE_PAGES
  free_area area[kMaxOrderLimit + 1];
  std::uintptr_t deferred_start_pfn = 0;
  std::uintptr_t deferred_end_pfn = 0; // blocks are taken from the top
  // Free MAX_ORDER blocks on the list whose memory was not given back to the OS (an estimate:
  // rmqueue takes the list's head, where they are; given-back blocks go to the tail).
  std::size_t resident_max_blocks = 0;
};

inline constexpr unsigned kOwnerKinds = 5;

class PageAllocator {
public:
  // memmap has npages descriptors for pages [start_pfn, start_pfn + npages), all zero (a fresh
  // mapping, or cleared by the caller); the first metadata_pages pages hold heap state, belong
  // to no zone and are never freed (their descriptors are never written: owner_of() knows them
  // by position). The DMA zone is the next dma_pages pages (0: no DMA zone), Normal the rest.
  void init(const Reporter* reporter, page* memmap, std::uintptr_t start_pfn, std::size_t npages,
            unsigned page_shift, unsigned max_order, std::size_t dma_pages,
            std::size_t metadata_pages);

  // Allocates 2^order pages owned by `owner`, checking gfp and order as alloc_pages does.
  page* alloc(gfp_t gfp, unsigned order, PageOwner owner) KM_EXCLUDES(zone_lock_);
  // Frees a block that must be owned by `expected`; misuse is reported and refused.
  // Returns true when the block was freed.
  bool free(page* head, unsigned order, PageOwner expected) KM_EXCLUDES(zone_lock_);
  bool free_address(std::uintptr_t addr, unsigned order, PageOwner expected)
      KM_EXCLUDES(zone_lock_);
  void inject_failures(unsigned count) KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    injected_failures_ = count;
  }
  // From now on a free that leaves a whole MAX_ORDER block free gives that block's memory back
  // to the OS (platform::release_pages) once its zone already keeps `blocks` such blocks
  // resident; kNeverRelease (the default) never does.
  static constexpr std::size_t kNeverRelease = ~std::size_t{0};
  void set_release_keep(std::size_t blocks) KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    release_keep_blocks_ = blocks;
  }
  // How many blocks were given back to the OS since init.
  std::size_t released_blocks() const KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    return released_blocks_;
  }

  page* pfn_to_page(std::uintptr_t pfn) const {
    return pfn - start_pfn_ < npages_ ? memmap_ + (pfn - start_pfn_) : nullptr;
  }
  std::uintptr_t page_to_pfn(const page* p) const {
    return start_pfn_ + static_cast<std::uintptr_t>(p - memmap_);
  }
  void* page_address(const page* p) const {
    return reinterpret_cast<void*>(page_to_pfn(p) << page_shift_);
  }
  page* virt_to_page(std::uintptr_t addr) const { return pfn_to_page(addr >> page_shift_); }
  // The descriptor if p points at one of ours, else nullptr.
  page* checked_descriptor(const page* p) const;
  // Who owns the page: metadata pages by position, every other page by its descriptor.
  PageOwner owner_of(const page* p) const {
    return static_cast<std::size_t>(p - memmap_) < metadata_pages_ ? PageOwner::Metadata : p->owner;
  }
  std::size_t metadata_pages() const { return metadata_pages_; }
  // The zone whose span holds pfn (metadata pages: 0).
  unsigned zone_index(std::uintptr_t pfn) const {
    return nr_zones_ == 2 && pfn >= zones_unlocked()[1].zone_start_pfn ? 1u : 0u; // (fixed)
  }

  unsigned page_shift() const { return page_shift_; }
  unsigned max_order() const { return max_order_; }
  std::uintptr_t start_pfn() const { return start_pfn_; }
  std::size_t npages() const { return npages_; }
  unsigned nr_zones() const { return nr_zones_; }
  // For introspection and corruption tests: the zone itself, read or written without the lock.
  const zone& zone_at(unsigned z) const { return zones_unlocked()[z]; }
  zone& zone_at(unsigned z) { return const_cast<zone*>(zones_unlocked())[z]; }
  std::size_t owner_pages(PageOwner o) const KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    return owner_pages_[static_cast<unsigned>(o)];
  }
  // Every owner's page count, read under one acquisition of the zone lock (so they sum to npages).
  template <class F> void read_owner_pages(F&& fn) const KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    fn(static_cast<const std::size_t*>(owner_pages_));
  }
  // The free block holding pfn: its first pfn and order. False if the page is not free.
  bool free_block_of(std::uintptr_t pfn, std::uintptr_t& block_pfn, unsigned& order) const;
  // Calls fn(zone, pfn, order) for every free block: per zone, per order, in list order, with
  // the deferred MAX_ORDER blocks after the listed ones (top first, the order rmqueue takes them).
  template <class F> void for_each_free_block(F&& fn) const KM_EXCLUDES(zone_lock_) {
    platform::LockGuard guard(zone_lock_);
    for (unsigned z = 0; z < nr_zones_; ++z) {
      for (unsigned o = 0; o <= max_order_; ++o)
        zones_[z].area[o].free_list.for_each(
            [&](const page* head) { fn(z, page_to_pfn(head), o); });
      const std::uintptr_t block = std::uintptr_t{1} << max_order_;
      for (std::uintptr_t pfn = zones_[z].deferred_end_pfn; pfn > zones_[z].deferred_start_pfn;)
        fn(z, pfn -= block, max_order_);
    }
  }
  static std::size_t deferred_blocks(const zone& z, unsigned max_order) {
    return (z.deferred_end_pfn - z.deferred_start_pfn) >> max_order;
  }

  std::size_t validate() const KM_EXCLUDES(zone_lock_);
  // Around fork() (SlabAllocator's fork hook): the zone lock, taken and given back.
  void lock_for_fork() const KM_ACQUIRE(zone_lock_) { zone_lock_.lock(); }
  void unlock_after_fork() const KM_RELEASE(zone_lock_) { zone_lock_.unlock(); }

private:
  page* rmqueue(zone& z, unsigned order) KM_REQUIRES(zone_lock_);
  page* take_deferred_block(zone& z) KM_REQUIRES(zone_lock_);
  void expand(zone& z, page* block, unsigned low, unsigned high) KM_REQUIRES(zone_lock_);
  void mark_allocated(page* head, unsigned order, PageOwner owner) KM_REQUIRES(zone_lock_);
  void free_one_block(page* head, unsigned order) KM_REQUIRES(zone_lock_);
  void add_to_free_area(zone& z, page* head, unsigned order, bool to_tail = false)
      KM_REQUIRES(zone_lock_);
  std::size_t validate_locked(const Reporter& r) const KM_REQUIRES(zone_lock_);
  std::size_t validate_zone(unsigned z, const Reporter& r) const KM_REQUIRES(zone_lock_);
  const zone* zones_unlocked() const KM_TSA(no_thread_safety_analysis) { return zones_; }

  const Reporter* reporter_ = nullptr;
  page* memmap_ = nullptr;
  std::uintptr_t start_pfn_ = 0;
  std::size_t npages_ = 0;
  std::size_t metadata_pages_ = 0;
  unsigned page_shift_ = 12;
  unsigned max_order_ = 10;
  unsigned nr_zones_ = 0;
  // A cache line of its own: every free reads the fields above, and the zone lock's holder
  // writes the lock and the zones below.
  alignas(64) mutable platform::Lock zone_lock_;
  unsigned injected_failures_ KM_GUARDED_BY(zone_lock_) = 0;
  zone zones_[kMaxZones] KM_GUARDED_BY(zone_lock_);
  std::size_t owner_pages_[kOwnerKinds] KM_GUARDED_BY(zone_lock_) = {};
  std::size_t release_keep_blocks_ KM_GUARDED_BY(zone_lock_) = kNeverRelease;
  std::size_t released_blocks_ KM_GUARDED_BY(zone_lock_) = 0;
};

} // namespace km
