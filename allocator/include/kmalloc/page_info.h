// kmalloc/page_info.h - what the introspection API says about pages: who owns a page
// (PageOwner), the block a page is in (PageInfo), free blocks, zones and page counts. Shared by
// the page allocator and the public Heap API (kmalloc/heap.h includes it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/export.h"
#include "kmalloc/slab.h"

struct kmem_cache;

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

// Who owns a page. Every page of the arena has exactly one owner.
enum class PageOwner : std::uint8_t {
  Free,         // part of a free buddy block
  Metadata,     // the heap's own state and the page descriptor array
  PageAlloc,    // handed out by alloc_pages / __get_free_pages
  Slab,         // a slab of a kmem_cache
  LargeKmalloc, // a kmalloc larger than KMALLOC_MAX_CACHE_SIZE
};
const char* page_owner_name(PageOwner owner);

struct PageInfo {
  bool in_arena = false; // false: nothing below is meaningful
  PageOwner owner = PageOwner::Free;
  unsigned zone = 0;
  std::uintptr_t block = 0; // start of the buddy block (free) or allocation the page is in
  unsigned order = 0;       // order of that block
  const struct kmem_cache* cache = nullptr; // the slab's cache, for Slab pages
};

struct FreeBlock {
  unsigned zone;
  std::uintptr_t pfn; // address >> page_shift
  unsigned order;
};

struct ZoneInfo {
  const char* name;                        // "DMA" or "Normal"
  std::uintptr_t start_pfn;                // first page of the zone
  std::size_t spanned_pages;               // pages in the zone, metadata included
  std::size_t free_pages;                  // the zone's NR_FREE_PAGES counter
  std::size_t nr_free[kMaxOrderLimit + 1]; // free_area[order].nr_free
};

// Pages by owner. total == free + metadata + page_alloc + slab + large_kmalloc (AC2).
struct PageCounts {
  std::size_t total = 0;
  std::size_t free = 0;
  std::size_t metadata = 0;
  std::size_t page_alloc = 0;
  std::size_t slab = 0;
  std::size_t large_kmalloc = 0;
};

} // namespace km
#pragma GCC visibility pop
