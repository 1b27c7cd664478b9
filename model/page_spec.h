// model/page_spec.h - the buddy page allocator as the oracle states it: zones, a set of free
// blocks per zone and order with a plain merge closure, and what every page is used for.
//
// Written from linux-facts.md section 5 and heap.h, not from allocator/src. The zones follow
// the heap's metadata pages (which belong to no zone): ZONE_DMA is the next dma_zone_size bytes
// (default: a quarter of the arena, at most 16 MiB, in whole pages), ZONE_NORMAL the rest. Each
// zone starts as the largest naturally aligned blocks that fit, bottom up.
//
// Where the kernel leaves a choice (which free block of the smallest available order is
// split), take() checks the heap's answer against the rule and then follows it. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"

namespace km::oracle {

// What a page is used for, and by whom (id: a slab number or a handle, as the checker says).
enum class Use : std::uint8_t { Metadata, Free, Slab, Large, Pages };

struct PageUse {
  Use use = Use::Free;
  std::uint32_t id = 0;
};

class PageSpec {
public:
  // The arena is npages pages from arena_start; the first metadata_pages are the heap's.
  void init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
            std::size_t metadata_pages);

  std::size_t page_size() const { return std::size_t{1} << page_shift_; }
  unsigned page_shift() const { return page_shift_; }
  unsigned max_order() const { return max_order_; }
  std::uintptr_t start_pfn() const { return start_pfn_; }
  std::size_t npages() const { return npages_; }
  std::uintptr_t arena_start() const { return start_pfn_ << page_shift_; }
  std::uintptr_t arena_end() const { return (start_pfn_ + npages_) << page_shift_; }
  std::size_t metadata_pages() const { return metadata_pages_; }
  std::size_t dma_pages() const { return nr_zones() == 2 ? zone_end_[0] - zone_start_[0] : 0; }
  unsigned nr_zones() const { return static_cast<unsigned>(zone_start_.size()); }
  std::uintptr_t zone_start(unsigned z) const { return zone_start_[z]; }
  std::uintptr_t zone_end(unsigned z) const { return zone_end_[z]; }
  // The zone of pfn, or nr_zones() for a metadata page.
  unsigned zone_of(std::uintptr_t pfn) const;
  bool in_arena(std::uintptr_t addr) const { return addr >= arena_start() && addr < arena_end(); }
  PageUse use(std::uintptr_t pfn) const { return use_[pfn - start_pfn_]; }

  // The (zone, order) of the free block an allocation of `order` under gfp's zonelist must
  // split: the first zone of the zonelist (Normal then DMA; DMA only for __GFP_DMA) that has a
  // block of order >= `order`, and its smallest such order. None: the request cannot be met.
  std::optional<std::pair<unsigned, unsigned>> must_split(gfp_t gfp, unsigned order) const;
  // The heap handed out [pfn, pfn + 2^order) for (gfp, order): checks it against must_split
  // (naturally aligned, inside a free block of that zone and order), then splits that block and
  // records the pages as (use, id). Returns "" or what is wrong (then nothing changes).
  std::string take(gfp_t gfp, unsigned order, std::uintptr_t pfn, Use use, std::uint32_t id);
  // Gives [pfn, pfn + 2^order) back: free, then merged with free buddies of its zone.
  void release(std::uintptr_t pfn, unsigned order);

  std::size_t nr_free(unsigned zone, unsigned order) const {
    return nr_free_[zone * (max_order_ + 1) + order];
  }
  std::size_t zone_free_pages(unsigned zone) const { return zone_free_[zone]; }
  // Whether [pfn, pfn + 2^order) is one free block of zone (order <= max_order()).
  bool is_free_block(unsigned zone, std::uintptr_t pfn, unsigned order) const;
  std::size_t free_block_count() const {
    return std::accumulate(nr_free_.begin(), nr_free_.end(), std::size_t{0});
  }
  std::size_t pages_used_for(Use use) const { return by_use_[static_cast<unsigned>(use)]; }
  // Every free block, by zone, then pfn, into out (which is cleared first).
  void free_blocks(std::vector<FreeBlock>& out) const;

private:
  static std::uintptr_t pages_in(unsigned order) { return std::uintptr_t{1} << order; }
  void mark(std::uintptr_t pfn, unsigned order, Use use, std::uint32_t id);
  void insert_free(unsigned zone, std::uintptr_t pfn, unsigned order);
  std::size_t& count(unsigned zone, unsigned order) {
    return nr_free_[zone * (max_order_ + 1) + order];
  }

  unsigned page_shift_ = 12;
  unsigned max_order_ = 10;
  std::uintptr_t start_pfn_ = 0;
  std::size_t npages_ = 0;
  std::size_t metadata_pages_ = 0;
  std::vector<std::uintptr_t> zone_start_, zone_end_;
  // The set of free blocks is the pages marked Free, each with its block's order (a block is
  // naturally aligned, so its head is the page's pfn rounded down to the order); nr_free_
  // counts them per [zone * (max_order + 1) + order].
  std::vector<std::size_t> nr_free_;
  std::vector<std::size_t> zone_free_;
  std::vector<PageUse> use_; // per page of the arena
  std::size_t by_use_[5] = {};
};

} // namespace km::oracle
