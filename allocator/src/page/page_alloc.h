// page/page_alloc.h - the buddy page allocator: zones, free_area[order], split and coalesce.
//
// Follows Linux 6.10 mm/page_alloc.c (__rmqueue_smallest, expand, __free_one_page) with one
// migratetype, no per-cpu page lists and no watermarks. Not thread-safe; callers serialise.
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
#include "kmalloc/heap.h"
#include "page/page.h"
#include "report_impl.h"
#include "support/list.h"

namespace km {

using PageList = IntrusiveList<page, &page::next, &page::prev>;

struct free_area {
  PageList free_list;
  std::size_t nr_free = 0;
};

struct zone {
  const char* name = "";
  std::uintptr_t zone_start_pfn = 0;
  std::size_t spanned_pages = 0;
  std::size_t free_pages = 0; // NR_FREE_PAGES
  free_area area[kMaxOrderLimit + 1];
};

inline constexpr unsigned kOwnerKinds = 5;

class PageAllocator {
public:
  // memmap has npages descriptors for pages [start_pfn, start_pfn + npages); the first
  // metadata_pages of them hold heap state and are never freed. The DMA zone is the first
  // dma_pages pages (0: no DMA zone), Normal the rest.
  void init(const Reporter* reporter, page* memmap, std::uintptr_t start_pfn, std::size_t npages,
            unsigned page_shift, unsigned max_order, std::size_t dma_pages,
            std::size_t metadata_pages);

  // Allocates 2^order pages owned by `owner`, checking gfp and order as alloc_pages does.
  page* alloc(gfp_t gfp, unsigned order, PageOwner owner);
  // Frees a block that must be owned by `expected`; misuse is reported and refused.
  // Returns true when the block was freed.
  bool free(page* head, unsigned order, PageOwner expected);
  bool free_address(std::uintptr_t addr, unsigned order, PageOwner expected);
  void inject_failures(unsigned count) { injected_failures_ = count; }

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

  unsigned page_shift() const { return page_shift_; }
  unsigned max_order() const { return max_order_; }
  std::uintptr_t start_pfn() const { return start_pfn_; }
  std::size_t npages() const { return npages_; }
  unsigned nr_zones() const { return nr_zones_; }
  const zone& zone_at(unsigned z) const { return zones_[z]; }
  zone& zone_at(unsigned z) { return zones_[z]; }
  std::size_t owner_pages(PageOwner o) const { return owner_pages_[static_cast<unsigned>(o)]; }
  // The free block holding pfn (nullptr if the page is not free).
  page* free_block_of(std::uintptr_t pfn) const;

  std::size_t validate() const;

private:
  page* rmqueue(zone& z, unsigned order);
  void expand(zone& z, page* block, unsigned low, unsigned high);
  void mark_allocated(page* head, unsigned order, PageOwner owner);
  void free_one_block(page* head, unsigned order);
  void add_to_free_area(zone& z, page* head, unsigned order);
  std::size_t validate_zone(unsigned z) const;

  const Reporter* reporter_ = nullptr;
  page* memmap_ = nullptr;
  std::uintptr_t start_pfn_ = 0;
  std::size_t npages_ = 0;
  unsigned page_shift_ = 12;
  unsigned max_order_ = 10;
  unsigned nr_zones_ = 0;
  unsigned injected_failures_ = 0;
  zone zones_[kMaxZones];
  std::size_t owner_pages_[kOwnerKinds] = {};
};

} // namespace km
