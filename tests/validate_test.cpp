// validate_test.cpp - every check in PageAllocator::validate() / validate_zone() fires on a heap
// corrupted on purpose through state_for_testing(), with the invariant id and text expected, and
// a clean heap validates to 0.
//
// Heap used: 112 pages of 4 KiB, MAX_ORDER 4; the metadata pages and then ZONE_DMA fill the
// first 64 pages, Normal is the last 48 pages. Relative page numbers are chosen so that Normal
// is 16..63 (free blocks 16, 32 and 48 at order 4, 16 aligned to 16 pages) and DMA is -48..15;
// the metadata pages start the arena (meta_page()). Nothing below depends on how many
// metadata pages there are.
//
// Each test saves the memmap and the zones at a checkpoint, corrupts, checks the exact number of
// reports (validate() returns the same count) and their texts, then TearDown restores the
// checkpoint and checks that validate() is back to 0: the reports came from the corruption.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "heap_state.h"
#include "heap_test_support.h"
#include "model/text.h"
#include "page/page.h"
#include "page/page_alloc.h"

namespace {

using kmtest::lean;
using kmtest::make_config;
using kmtest::Recorder;
using kmtest::RegionHeap;

constexpr std::size_t kPages = 112;

using km::oracle::hex;

class ValidateCorruption : public testing::Test {
protected:
  // The region is aligned to 64 pages; the heap starts 16 pages into it; relative numbers count
  // from 64 pages into it.
  ValidateCorruption()
      : rh_(kmtest::with_dma_ending_at(lean(make_config(12, 4, 0, 0)), kPages, 64), kPages, 64,
            16 * 4096) {
    rh_.set_origin(64);
  }

  void SetUp() override {
    ASSERT_TRUE(rh_.status().ok) << rh_.status().message;
    heap().set_report_handler(Recorder::handle, &rec_);
    ASSERT_EQ(heap().arena_start(), rh_.addr(0) - 48 * 4096);
    ASSERT_LT(heap().page_counts().metadata, 64u);
    // The Normal zone layout the tests rely on.
    ASSERT_EQ(pa().zone_at(1).area[4].nr_free, 3u);
    ASSERT_EQ(pa().zone_at(1).free_pages, 48u);
    ASSERT_EQ(heap().validate(), 0u);
    ASSERT_EQ(rec_.size(), 0u) << rec_.dump();
    checkpoint();
  }

  void TearDown() override {
    restore();
    rec_.clear();
    EXPECT_EQ(heap().validate(), 0u) << "after restoring the checkpoint:\n" << rec_.dump();
  }

  km::Heap& heap() { return rh_.heap(); }
  km::PageAllocator& pa() { return heap().state_for_testing()->pages; }
  km::zone& zone(unsigned z) { return pa().zone_at(z); }
  page* pg(std::uintptr_t rel) { return pa().pfn_to_page(rh_.pfn(rel)); }
  // The first page of the arena: a metadata page, and the first descriptor of the memmap.
  page* meta_page() { return pa().virt_to_page(heap().arena_start()); }
  std::uintptr_t meta_addr() { return heap().arena_start(); }
  std::uintptr_t addr(std::uintptr_t rel) { return rh_.addr(rel); }
  std::uintptr_t rel_of(const page* p) { return pa().page_to_pfn(p) - rh_.pfn(0); }
  std::size_t dma_blocks() {
    std::size_t n = 0;
    for (unsigned o = 0; o <= 4; ++o)
      n += zone(0).area[o].nr_free;
    return n;
  }

  // Saves every descriptor and both zones; restore() puts them back (list links included).
  void checkpoint() {
    memmap_.assign(meta_page(), meta_page() + kPages);
    zones_[0] = zone(0);
    zones_[1] = zone(1);
  }
  void restore() {
    std::copy(memmap_.begin(), memmap_.end(), meta_page());
    zone(0) = zones_[0];
    zone(1) = zones_[1];
  }

  // Rewrites the free lists of zone z to exactly `blocks` ({relative pfn, order}); pages keep
  // their owner (Free) and the zone keeps its free_pages.
  void set_free_blocks(unsigned z,
                       std::initializer_list<std::pair<std::uintptr_t, unsigned>> blocks) {
    for (km::free_area& area : zone(z).area) {
      while (page* head = area.free_list.front()) {
        area.free_list.remove(head);
        head->flags = 0;
      }
      area.nr_free = 0;
    }
    for (auto [rel, order] : blocks) {
      page* head = pg(rel);
      head->flags = km::PG_buddy;
      head->order = static_cast<std::uint8_t>(order);
      zone(z).area[order].free_list.push_front(head);
      ++zone(z).area[order].nr_free;
    }
  }

  // validate() returns n, exactly n Corruption reports were made, and each pattern (an ECMAScript
  // regex matched against the whole message) matches a different one of them.
  void expect_reports(std::size_t n, const std::vector<std::string>& patterns) {
    rec_.clear();
    const std::size_t errors = heap().validate();
    EXPECT_EQ(errors, n) << rec_.dump();
    ASSERT_EQ(rec_.size(), n) << rec_.dump();
    for (const kmtest::Recorded& r : rec_.reports) {
      EXPECT_EQ(r.kind, km::ErrorKind::Corruption) << r;
    }
    std::vector<bool> used(rec_.size(), false);
    for (const std::string& pattern : patterns) {
      const std::regex re(pattern);
      bool found = false;
      for (std::size_t i = 0; i < rec_.size() && !found; ++i)
        if (!used[i] && std::regex_match(rec_.reports[i].message, re))
          used[i] = found = true;
      EXPECT_TRUE(found) << "no report matches /" << pattern << "/ in:\n" << rec_.dump();
    }
  }

  RegionHeap rh_;
  Recorder rec_;
  std::vector<page> memmap_;
  km::zone zones_[2];
};

TEST_F(ValidateCorruption, CleanHeapValidatesToZero) {
  EXPECT_EQ(heap().validate(), 0u);
  std::vector<std::uintptr_t> live;
  for (unsigned o : {0u, 3u, 1u, 4u, 2u, 0u})
    live.push_back(heap().get_free_pages(GFP_KERNEL, o));
  EXPECT_EQ(heap().validate(), 0u);
  heap().free_pages(live[1], 3);
  heap().free_pages(live[4], 2);
  EXPECT_EQ(heap().validate(), 0u);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  checkpoint();
}

// ---- validate_zone()

// A block on free_area[5] (above MAX_ORDER 4). Reports: AC3 above MAX_ORDER; LIST, because the
// PG_buddy head on that list is not counted among the listed blocks (orders <= MAX_ORDER).
TEST_F(ValidateCorruption, AC3_FreeAreaAboveMaxOrder) {
  set_free_blocks(1, {{16, 4}, {32, 5}}); // 32..63 as one order-5 block
  const std::size_t listed = dma_blocks() + 1;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2,
      {R"(kmalloc: validate: AC3: zone Normal: free_area\[5\] above MAX_ORDER 4 is not empty)",
       "kmalloc: validate: LIST: " + std::to_string(listed + 1) +
           " pages are marked PG_buddy but the lists hold " + std::to_string(listed) + " blocks"}));
}

// Broken links on free_area[4]. Reports: LIST broken; AC2 for the zone, since the broken list
// is not walked and its pages are not summed.
TEST_F(ValidateCorruption, LIST_BrokenLinks) {
  page* second = zone(1).area[4].free_list.front()->next;
  ASSERT_NE(second, nullptr);
  second->prev = second;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2,
      {R"(kmalloc: validate: LIST: zone Normal: free_area\[4\] list is broken)",
       R"(kmalloc: validate: AC2: zone Normal: sum\(nr_free\[o\] << o\) = 0 != free_pages 48)"}));
}

TEST_F(ValidateCorruption, LIST_BrokenNextLink) {
  zone(1).area[4].free_list.front()->next = nullptr; // cuts the walk after one of three blocks
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(2, {R"(kmalloc: validate: LIST: zone Normal: free_area\[4\] list is broken)",
                         R"(kmalloc: validate: AC2: zone Normal: .* = 0 != free_pages 48)"}));
}

// nr_free one too high. Reports: LIST nr_free != length; LIST PG_buddy count (nr_free is what
// the memmap walk compares against).
TEST_F(ValidateCorruption, LIST_NrFreeNotListLength) {
  zone(1).area[4].nr_free = 4;
  const std::size_t buddies = dma_blocks() + 3;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2,
      {R"(kmalloc: validate: LIST: zone Normal: free_area\[4\].nr_free 4 != list length 3 \+ 0 deferred)",
       "kmalloc: validate: LIST: " + std::to_string(buddies) +
           " pages are marked PG_buddy but the lists hold " + std::to_string(buddies + 1) +
           " blocks"}));
}

// A descriptor that is not in the memmap on a free list. Reports: LIST foreign descriptor; AC2
// zone sum (the foreign block was counted as one free page); LIST PG_buddy count.
TEST_F(ValidateCorruption, LIST_ForeignDescriptorOnFreeList) {
  page foreign{};
  foreign.flags = km::PG_buddy;
  foreign.owner = km::PageOwner::Free;
  foreign.zone = 1;
  zone(1).area[0].free_list.push_front(&foreign);
  ++zone(1).area[0].nr_free;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      3, {R"(kmalloc: validate: LIST: zone Normal: free_area\[0\] holds a foreign descriptor)",
          R"(kmalloc: validate: AC2: zone Normal: sum\(nr_free\[o\] << o\) = 49 != free_pages 48)",
          "kmalloc: validate: LIST: [0-9]+ pages are marked PG_buddy but the lists hold "
          "[0-9]+ blocks"}));
}

// A listed head whose order field disagrees with its list. Exactly one report.
TEST_F(ValidateCorruption, AC3_ListedBlockWithWrongOrder) {
  pg(32)->order = 3;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(1, {"kmalloc: validate: AC3: free block " + hex(addr(32)) +
                         " on free_area\\[4\\] has flags 0x1 order 3 owner free"}));
  EXPECT_EQ(rec_.reports[0].address, addr(32));
}

// A listed head without PG_buddy. Reports: AC3 flags; LIST PG_buddy count one short.
TEST_F(ValidateCorruption, AC3_ListedBlockWithoutPgBuddy) {
  pg(32)->flags = 0;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(2, {"kmalloc: validate: AC3: free block " + hex(addr(32)) +
                             " on free_area\\[4\\] has flags 0 order 4 owner free",
                         "kmalloc: validate: LIST: [0-9]+ pages are marked PG_buddy but the lists "
                         "hold [0-9]+ blocks"}));
}

// A listed head owned by alloc_pages. Reports: AC3 owner; the memmap walk sees an alloc_pages
// page without PG_head (DESC), one PG_buddy page fewer (LIST), counters off for free and
// alloc_pages (2 x AC2) and the zones' free pages off from the descriptors (AC2).
TEST_F(ValidateCorruption, AC3_ListedBlockOwnedByAllocPages) {
  pg(32)->owner = km::PageOwner::PageAlloc;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      6, {"kmalloc: validate: AC3: free block " + hex(addr(32)) +
              " on free_area\\[4\\] has flags 0x1 order 4 owner alloc_pages",
          "kmalloc: validate: DESC: alloc_pages page " + hex(addr(32)) +
              " is not inside any allocated block",
          "kmalloc: validate: LIST: .*",
          "kmalloc: validate: AC2: [0-9]+ pages are owned by free but the counter says "
          "[0-9]+",
          "kmalloc: validate: AC2: 1 pages are owned by alloc_pages but the counter "
          "says 0",
          "kmalloc: validate: AC2: zones count [0-9]+ free pages, descriptors [0-9]+"}));
}

// Normal rewritten as 16 (o0), 17 (o1, misaligned), 19 (o0), 20 (o2), 24 (o3), 32, 48 (o4):
// the same 48 pages, no two buddies free, only 17 misaligned. Exactly one report.
TEST_F(ValidateCorruption, AC3_MisalignedFreeBlock) {
  set_free_blocks(1, {{16, 0}, {17, 1}, {19, 0}, {20, 2}, {24, 3}, {32, 4}, {48, 4}});
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {"kmalloc: validate: AC3: free block " + hex(addr(17)) +
                                             " of order 1 is not naturally aligned"}));
  EXPECT_EQ(rec_.reports[0].address, addr(17));
}

// Normal's block 16 moved to DMA's free_area[4] with its pages' count: the zone sums agree,
// the block lies outside DMA. Exactly one report.
TEST_F(ValidateCorruption, AC3_FreeBlockOutsideItsZone) {
  page* block = pg(16);
  zone(1).area[4].free_list.remove(block);
  --zone(1).area[4].nr_free;
  zone(1).free_pages -= 16;
  zone(0).area[4].free_list.push_front(block);
  ++zone(0).area[4].nr_free;
  zone(0).free_pages += 16;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(1, {"kmalloc: validate: AC3: free block " + hex(addr(16)) +
                         " of order 4 is outside zone DMA or in its deferred range"}));
}

// A tail page of the free block at 32 carries PG_head. Exactly one report.
TEST_F(ValidateCorruption, AC3_FlaggedPageInsideFreeBlock) {
  pg(36)->flags = km::PG_head;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(1, {"kmalloc: validate: AC3: page 4 of free block " + hex(addr(32)) +
                         " \\(order 4\\) is owned by free with flags 0x2"}));
}

// A tail page of the free block at 32 is owned by the slab layer. Reports: AC3; DESC (a slab
// page outside any block); AC2 counters for free and slab; AC2 zones vs descriptors.
TEST_F(ValidateCorruption, AC3_NonFreePageInsideFreeBlock) {
  pg(36)->owner = km::PageOwner::Slab;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      5,
      {"kmalloc: validate: AC3: page 4 of free block " + hex(addr(32)) +
           " \\(order 4\\) is owned by slab with flags 0",
       "kmalloc: validate: DESC: slab page " + hex(addr(36)) + " is not inside any allocated block",
       "kmalloc: validate: AC2: [0-9]+ pages are owned by free but .*",
       "kmalloc: validate: AC2: 1 pages are owned by slab but the counter says 0",
       "kmalloc: validate: AC2: zones count .*"}));
}

// Two overlapping free blocks: 32 (o4) and 40 (o3) both listed; 40 lies inside 32.
TEST_F(ValidateCorruption, AC3_OverlappingFreeBlocks) {
  set_free_blocks(1, {{16, 4}, {32, 4}, {40, 3}, {48, 4}});
  zone(1).free_pages += 8;
  // Reports: AC3 for page 8 of block 32 (it is 40's PG_buddy head). The descriptors count 48
  // free pages against 56 in the zone: AC2.
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2, {"kmalloc: validate: AC3: page 8 of free block " + hex(addr(32)) +
              " \\(order 4\\) is owned by free with flags 0x1",
          "kmalloc: validate: AC2: zones count [0-9]+ free pages, descriptors [0-9]+"}));
}

// Normal rewritten with 16 and 24 both free at order 3: each reports the other.
TEST_F(ValidateCorruption, AC3_BuddiesNotCoalesced) {
  set_free_blocks(1, {{16, 3}, {24, 3}, {32, 4}, {48, 4}});
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(2, {"kmalloc: validate: AC3: free block " + hex(addr(16)) +
                             " and its buddy are both free at order 3 \\(not coalesced\\)",
                         "kmalloc: validate: AC3: free block " + hex(addr(24)) +
                             " and its buddy are both free at order 3 \\(not coalesced\\)"}));
}

// free_pages one too high. Reports: AC2 for the zone; AC2 zones vs descriptors.
TEST_F(ValidateCorruption, AC2_ZoneSumNotFreePages) {
  zone(1).free_pages += 1;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2, {R"(kmalloc: validate: AC2: zone Normal: sum\(nr_free\[o\] << o\) = 48 != free_pages 49)",
          "kmalloc: validate: AC2: zones count [0-9]+ free pages, descriptors [0-9]+"}));
}

// ---- the memmap walk in validate()

// Metadata pages are known by position and their descriptors are never written: a metadata
// descriptor with an owner is one DESC report (the metadata counter is unaffected).
TEST_F(ValidateCorruption, DESC_WrittenMetadataDescriptor) {
  meta_page()->owner = static_cast<km::PageOwner>(9);
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      1, {"kmalloc: validate: DESC: metadata page " + hex(meta_addr()) +
          " has a written descriptor \\(owner 9\\); metadata descriptors are never written"}));
  EXPECT_EQ(rec_.reports[0].address, meta_addr());
}

// A tail page of the free Normal block at 32 (order 4) with owner 9. Reports: AC3 (a page of a
// free block not owned by free), DESC unknown owner, AC2 free counter one above the descriptors
// and the zones one above the descriptors.
TEST_F(ValidateCorruption, DESC_UnknownOwner) {
  pg(40)->owner = static_cast<km::PageOwner>(9);
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      4, {"kmalloc: validate: AC3: page 8 of free block " + hex(addr(32)) +
              " \\(order 4\\) is owned by unknown with flags 0",
          "kmalloc: validate: DESC: page " + hex(addr(40)) + " has an unknown owner 9",
          "kmalloc: validate: AC2: [0-9]+ pages are owned by free but the counter says [0-9]+",
          "kmalloc: validate: AC2: zones count [0-9]+ free pages, descriptors [0-9]+"}));
}

// A metadata page that claims zone Normal, a free tail page that claims DMA: one report each.
TEST_F(ValidateCorruption, DESC_WrongZone) {
  meta_page()->zone = 1;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {"kmalloc: validate: DESC: page " + hex(meta_addr()) +
                                             " records zone 1, lies in zone 0"}));
  meta_page()->zone = 0;
  pg(40)->zone = 0;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      1, {"kmalloc: validate: DESC: page " + hex(addr(40)) + " records zone 0, lies in zone 1"}));
}

TEST_F(ValidateCorruption, DESC_MetadataPageWithFlags) {
  meta_page()->flags = km::PG_head;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      1, {"kmalloc: validate: DESC: metadata page " + hex(meta_addr()) + " has flags 0x2"}));
}

// PG_buddy on a metadata page. Reports: DESC flags; LIST PG_buddy count one too high.
TEST_F(ValidateCorruption, DESC_MetadataPageWithPgBuddy) {
  meta_page()->flags = km::PG_buddy;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2, {"kmalloc: validate: DESC: metadata page " + hex(meta_addr()) + " has flags 0x1",
          "kmalloc: validate: LIST: [0-9]+ pages are marked PG_buddy but the lists "
          "hold [0-9]+ blocks"}));
}

// An allocated order-0 page loses PG_head. Exactly one report.
TEST_F(ValidateCorruption, DESC_AllocatedPageWithoutHead) {
  const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
  ASSERT_NE(a, 0u);
  checkpoint();
  pa().virt_to_page(a)->flags = 0;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {"kmalloc: validate: DESC: alloc_pages page " + hex(a) +
                                             " is not inside any allocated block"}));
}

// An allocated head with an order above MAX_ORDER. Exactly one report.
TEST_F(ValidateCorruption, DESC_AllocatedHeadWithOrderAboveMax) {
  const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
  ASSERT_NE(a, 0u);
  checkpoint();
  pa().virt_to_page(a)->order = 5;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {"kmalloc: validate: DESC: alloc_pages page " + hex(a) +
                                             " is not inside any allocated block"}));
}

// An allocated order-0 page at an odd pfn claims order 1. Exactly one report.
TEST_F(ValidateCorruption, DESC_MisalignedAllocatedBlock) {
  std::uintptr_t odd = 0;
  for (int i = 0; i < 4 && odd == 0; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
    ASSERT_NE(a, 0u);
    if (rh_.rel(a) % 2 == 1)
      odd = a;
  }
  ASSERT_NE(odd, 0u);
  checkpoint();
  pa().virt_to_page(odd)->order = 1;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(1, {"kmalloc: validate: DESC: allocated block " + hex(odd) +
                         " of order 1 is misaligned or past the arena"}));
}

// An allocated order-2 block's tails: wrong owner, wrong head index, flags. One report each.
TEST_F(ValidateCorruption, DESC_TailMismatch) {
  const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 2);
  ASSERT_NE(a, 0u);
  checkpoint();
  page* head = pa().virt_to_page(a);
  const std::string index = std::to_string(head[2].head);
  const std::string prefix = "kmalloc: validate: DESC: page 2 of alloc_pages block " + hex(a) +
                             " \\(order 2\\) has owner ";

  head[2].owner = km::PageOwner::Slab;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {prefix + "slab head " + index + " flags 0"}));
  restore();

  head[2].head = 0;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {prefix + "alloc_pages head 0 flags 0"}));
  restore();

  head[2].flags = km::PG_buddy;
  ASSERT_NO_FATAL_FAILURE(expect_reports(1, {prefix + "alloc_pages head " + index + " flags 0x1"}));
}

// A free block taken off its list (its pages and count dropped from the zone) but still marked
// PG_buddy. Reports: LIST PG_buddy count; AC2 zones vs descriptors (the pages are still Free).
TEST_F(ValidateCorruption, LIST_PgBuddyCountNotListed) {
  page* block = pg(32);
  zone(1).area[4].free_list.remove(block);
  --zone(1).area[4].nr_free;
  zone(1).free_pages -= 16;
  const std::size_t listed = dma_blocks() + 2;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2, {"kmalloc: validate: LIST: " + std::to_string(listed + 1) +
              " pages are marked PG_buddy but the lists hold " + std::to_string(listed) + " blocks",
          "kmalloc: validate: AC2: zones count [0-9]+ free pages, descriptors [0-9]+"}));
}

// The same lost block with PG_buddy cleared: only the zone counters disagree with the
// descriptors. Exactly one report.
TEST_F(ValidateCorruption, AC2_ZoneFreePagesNotDescriptors) {
  page* block = pg(32);
  zone(1).area[4].free_list.remove(block);
  --zone(1).area[4].nr_free;
  zone(1).free_pages -= 16;
  block->flags = 0;
  const std::size_t desc = heap().page_counts().free;
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(1, {"kmalloc: validate: AC2: zones count " + std::to_string(desc - 16) +
                         " free pages, descriptors " + std::to_string(desc)}));
}

// An allocated order-0 page handed to the slab layer behind the counters' back. Reports: AC2
// for alloc_pages and for slab.
TEST_F(ValidateCorruption, AC2_OwnerCounterMismatch) {
  const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
  ASSERT_NE(a, 0u);
  checkpoint();
  pa().virt_to_page(a)->owner = km::PageOwner::Slab;
  ASSERT_NO_FATAL_FAILURE(expect_reports(
      2, {"kmalloc: validate: AC2: 0 pages are owned by alloc_pages but the counter "
          "says 1",
          "kmalloc: validate: AC2: 1 pages are owned by slab but the counter says 0"}));
}

// The Corruption report carries the invariant and goes through the heap's handler; validate()
// counts what it reported even across several corruptions at once.
TEST_F(ValidateCorruption, SeveralCorruptionsAreAllCounted) {
  meta_page()->flags = km::PG_head;                         // DESC
  pg(36)->flags = km::PG_head;                              // AC3
  set_free_blocks(1, {{16, 3}, {24, 3}, {32, 4}, {48, 4}}); // AC3 x2
  ASSERT_NO_FATAL_FAILURE(
      expect_reports(4, {"kmalloc: validate: DESC: .*", "kmalloc: validate: AC3: page 4 .*",
                         "kmalloc: validate: AC3: .*not coalesced\\)",
                         "kmalloc: validate: AC3: .*not coalesced\\)"}));
  EXPECT_FALSE(km::error_kind_is_warning(km::ErrorKind::Corruption));
}

// The last page of a 49-page arena, allocated at order 0, claims order 4: aligned (48 % 16 == 0)
// but running past the arena. Exactly one report.
TEST(ValidateArenaEnd, AllocatedBlockPastTheArena) {
  RegionHeap rh(lean(make_config(12, 4, 0, 0)), 49, 64);
  ASSERT_TRUE(rh.status().ok);
  Recorder rec;
  rh.heap().set_report_handler(Recorder::handle, &rec);
  std::vector<std::uintptr_t> pages;
  for (std::uintptr_t a; (a = rh.heap().get_free_pages(GFP_KERNEL, 0)) != 0;) {
    pages.push_back(a);
    ASSERT_LE(pages.size(), 49u);
  }
  ASSERT_EQ(rh.heap().validate(), 0u);
  page* last = rh.heap().state_for_testing()->pages.virt_to_page(rh.addr(48));
  ASSERT_EQ(last->owner, km::PageOwner::PageAlloc);
  last->order = 4;
  EXPECT_EQ(rh.heap().validate(), 1u);
  ASSERT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(rec.reports[0].message, "kmalloc: validate: DESC: allocated block " + hex(rh.addr(48)) +
                                        " of order 4 is misaligned or past the arena");
  last->order = 0;
  rec.clear();
  EXPECT_EQ(rh.heap().validate(), 0u) << rec.dump();
  for (std::uintptr_t a : pages)
    rh.heap().free_pages(a, 0);
  EXPECT_EQ(rh.heap().validate(), 0u);
}

// Buddies in different zones are legitimately both free (no merge across zones) and validate()
// must not report them: DMA = 0..47 ends with 32 (o4), Normal starts with its buddy 48 (o4).
TEST(ValidateZones, BuddiesAcrossTheZoneBoundaryAreNotCoalesced) {
  RegionHeap rh(kmtest::with_dma_ending_at(lean(make_config(12, 5, 0, 0)), 64, 48), 64, 64);
  ASSERT_TRUE(rh.status().ok);
  Recorder rec;
  rh.heap().set_report_handler(Recorder::handle, &rec);
  const auto blocks = kmtest::free_blocks(rh.heap());
  EXPECT_NE(std::find(blocks.begin(), blocks.end(), kmtest::Block{0, rh.pfn(32), 4}), blocks.end());
  EXPECT_NE(std::find(blocks.begin(), blocks.end(), kmtest::Block{1, rh.pfn(48), 4}), blocks.end());
  EXPECT_EQ(rh.heap().validate(), 0u) << rec.dump();
  // Free and reallocate the Normal block: it stays at order 4.
  const std::uintptr_t a = rh.heap().get_free_pages(GFP_KERNEL, 4);
  ASSERT_EQ(a, rh.addr(48));
  rh.heap().free_pages(a, 4);
  EXPECT_EQ(kmtest::free_blocks(rh.heap()), blocks);
  EXPECT_EQ(rh.heap().validate(), 0u) << rec.dump();
}

} // namespace
