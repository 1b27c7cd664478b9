// page_alloc_test.cpp - the buddy page allocator through the Heap API: worked examples of split
// and coalesce, zone fallback, exhaustion, __GFP_ZERO, out-of-contract requests (warnings),
// failure injection, address/descriptor conversions, and misuse in recording mode (MU1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "heap_state.h"
#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "model/text.h"
#include "page/page.h"

namespace {

using kmtest::Block;
using kmtest::lean;
using kmtest::make_config;
using kmtest::NamedConfig;
using kmtest::Recorder;
using kmtest::RegionHeap;
using kmtest::Snapshot;

using km::oracle::hex;

// ---------------------------------------------------------------------------------------------
// Worked examples, for each page size, on a 64-page heap (MAX_ORDER 3, no DMA) over a region
// aligned to 64 pages, reduced to its last 16 pages (RegionHeap::make_window): page 0 of that
// window is allocated and the free blocks are 1 (order 0), 2 (order 1), 4 (order 2) and
// 8 (order 3), numbered relative to the window. Nothing outside the window is free, so the
// examples do not depend on the size of the metadata.

class WorkedExample : public testing::TestWithParam<unsigned> {
protected:
  static constexpr std::size_t kPages = 64;
  WorkedExample() : rh_(lean(make_config(GetParam(), 3, 0, 0)), kPages, kPages) {}
  void SetUp() override {
    ASSERT_TRUE(rh_.status().ok) << rh_.status().message;
    ASSERT_NO_FATAL_FAILURE(rh_.make_window(kPages));
    heap().set_report_handler(Recorder::handle, &rec_);
    initial_ = Snapshot::of(heap());
    ASSERT_EQ(initial_.blocks, blocks({{1, 0}, {2, 1}, {4, 2}, {8, 3}}));
  }
  void TearDown() override { EXPECT_EQ(rec_.size(), 0u) << rec_.dump(); }

  km::Heap& heap() { return rh_.heap(); }
  // Free blocks given as {relative pfn, order} in zone 0.
  std::vector<Block> blocks(std::initializer_list<std::pair<unsigned, unsigned>> list) {
    std::vector<Block> out;
    for (auto [rel, order] : list)
      out.emplace_back(0u, rh_.pfn(rel), order);
    std::sort(out.begin(), out.end());
    return out;
  }
  // Allocates and returns the relative pfn.
  std::uintptr_t alloc(unsigned order) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, order);
    EXPECT_NE(a, 0u) << "order " << order;
    return a == 0 ? ~std::uintptr_t{0} : rh_.rel(a);
  }
  void free(std::uintptr_t rel, unsigned order) { heap().free_pages(rh_.addr(rel), order); }

  RegionHeap rh_;
  Recorder rec_;
  Snapshot initial_;
};

// __rmqueue_smallest takes the exact-fit block of each order first.
TEST_P(WorkedExample, ExactFitBlocksAreTakenFirst) {
  EXPECT_EQ(alloc(0), 1u);
  EXPECT_EQ(alloc(1), 2u);
  EXPECT_EQ(alloc(2), 4u);
  EXPECT_EQ(alloc(3), 8u);
  EXPECT_TRUE(kmtest::free_blocks(heap()).empty());
  EXPECT_EQ(heap().validate(), 0u);
}

// expand(): order 0 from the order-3 block at 8 returns 8 and frees 12 (order 2), 10 (order 1)
// and 9 (order 0), i.e. free blocks of order 0, 1, 2 at +1, +2, +4 from the block.
TEST_P(WorkedExample, SplitOrder3ForOrder0) {
  ASSERT_EQ(alloc(0), 1u);
  ASSERT_EQ(alloc(1), 2u);
  ASSERT_EQ(alloc(2), 4u);
  ASSERT_EQ(kmtest::free_blocks(heap()), blocks({{8, 3}}));
  EXPECT_EQ(alloc(0), 8u);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{9, 0}, {10, 1}, {12, 2}}));
  const km::ZoneInfo zi = heap().zone_info(0);
  EXPECT_EQ(zi.nr_free[0], 1u);
  EXPECT_EQ(zi.nr_free[1], 1u);
  EXPECT_EQ(zi.nr_free[2], 1u);
  EXPECT_EQ(zi.nr_free[3], 0u);
  EXPECT_EQ(zi.free_pages, 7u);
  EXPECT_EQ(heap().validate(), 0u);
}

TEST_P(WorkedExample, SplitOrder3ForOrder1) {
  ASSERT_EQ(alloc(1), 2u);
  ASSERT_EQ(alloc(2), 4u);
  EXPECT_EQ(alloc(1), 8u); // from the order-3 block: 12 (order 2) and 10 (order 1) are freed
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{1, 0}, {10, 1}, {12, 2}}));
  EXPECT_EQ(heap().validate(), 0u);
}

// __free_one_page: pfn 8 and 10 freed at order 1 merge into 8 at order 2 (buddy = pfn ^ 2,
// parent = 8 & 10), and stop there because 12 is allocated.
TEST_P(WorkedExample, FreeingBuddiesAt8And10MergesToOrder2) {
  ASSERT_EQ(alloc(0), 1u);
  ASSERT_EQ(alloc(1), 2u);
  ASSERT_EQ(alloc(2), 4u);
  ASSERT_EQ(alloc(1), 8u);
  ASSERT_EQ(alloc(1), 10u);
  ASSERT_EQ(alloc(2), 12u);
  ASSERT_TRUE(kmtest::free_blocks(heap()).empty());
  free(8, 1);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 1}})); // buddy 10 is allocated
  free(10, 1);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 2}})); // merged, buddy 12 allocated
  EXPECT_EQ(heap().zone_info(0).nr_free[1], 0u);
  EXPECT_EQ(heap().zone_info(0).nr_free[2], 1u);
  free(12, 2);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 3}})); // and up to order 3
  EXPECT_EQ(heap().validate(), 0u);
}

// The same merge with the higher buddy freed first: parent is still 8.
TEST_P(WorkedExample, MergeIsIndependentOfFreeOrder) {
  ASSERT_EQ(alloc(0), 1u);
  ASSERT_EQ(alloc(1), 2u);
  ASSERT_EQ(alloc(2), 4u);
  ASSERT_EQ(alloc(1), 8u);
  ASSERT_EQ(alloc(1), 10u);
  free(10, 1);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{10, 1}, {12, 2}}));
  free(8, 1);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 3}}));
}

// One free can cascade through every order: 15 order-0 pages, the last one merges 8..15.
TEST_P(WorkedExample, CascadingMergeFromOrder0ToOrder3) {
  std::vector<std::uintptr_t> pages;
  for (int i = 0; i < 15; ++i)
    pages.push_back(alloc(0));
  ASSERT_TRUE(kmtest::free_blocks(heap()).empty());
  for (std::uintptr_t rel = 8; rel < 15; ++rel)
    free(rel, 0);
  // 8+9 -> 8 (o1); 10+11 -> 10 (o1), merging with 8 -> 8 (o2); 12+13 -> 12 (o1); 14 stays at
  // order 0 because its buddy 15 is allocated.
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 2}, {12, 1}, {14, 0}}));
  free(15, 0);
  EXPECT_EQ(kmtest::free_blocks(heap()), blocks({{8, 3}}));
  EXPECT_EQ(heap().validate(), 0u);
}

// Page 1's buddy is the allocated page 0: it never merges.
TEST_P(WorkedExample, NoMergeWithAllocatedBuddy) {
  ASSERT_EQ(alloc(0), 1u);
  free(1, 0);
  EXPECT_EQ(kmtest::free_blocks(heap()), initial_.blocks);
  EXPECT_EQ(heap().zone_info(0).nr_free[0], 1u);
}

// AC4: after everything is freed, in any order, the allocator is back in its initial state.
TEST_P(WorkedExample, FullCoalesceRestoresTheInitialState) {
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<std::uintptr_t, unsigned>> live;
    const unsigned orders[] = {0, 2, 0, 1, 0, 1, 2, 0, 0};
    for (unsigned o : orders) {
      const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, o);
      if (a != 0)
        live.emplace_back(a, o);
    }
    ASSERT_FALSE(live.empty());
    if (round == 1)
      std::reverse(live.begin(), live.end());
    if (round == 2)
      std::rotate(live.begin(), live.begin() + live.size() / 2, live.end());
    for (auto [a, o] : live)
      heap().free_pages(a, o);
    kmtest::expect_same_state(initial_, heap());
    EXPECT_EQ(heap().validate(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(PageSizes, WorkedExample, testing::Values(12u, 14u, 16u),
                         [](const testing::TestParamInfo<unsigned>& info) {
                           return "shift" + std::to_string(info.param);
                         });

// ---------------------------------------------------------------------------------------------
// Zones: 128 pages over a region aligned to 128 pages; the metadata and DMA are the first 64,
// Normal the last 64 (four free order-4 blocks), MAX_ORDER 4.

class ZoneFallback : public testing::Test {
protected:
  ZoneFallback()
      : rh_(kmtest::with_dma_ending_at(lean(make_config(12, 4, 0, 0)), 128, 64), 128, 128) {}
  void SetUp() override {
    ASSERT_TRUE(rh_.status().ok) << rh_.status().message;
    ASSERT_EQ(heap().nr_zones(), 2u);
    heap().set_report_handler(Recorder::handle, &rec_);
    dma_free_ = heap().zone_info(0).free_pages;
    normal_free_ = heap().zone_info(1).free_pages;
    ASSERT_EQ(normal_free_, 64u);
    ASSERT_GT(dma_free_, 0u);
  }
  void TearDown() override {
    EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
    EXPECT_EQ(heap().validate(), 0u);
  }
  km::Heap& heap() { return rh_.heap(); }
  unsigned zone_of(std::uintptr_t addr) {
    return heap().page_info(reinterpret_cast<void*>(addr)).zone;
  }

  RegionHeap rh_;
  Recorder rec_;
  std::size_t dma_free_ = 0;
  std::size_t normal_free_ = 0;
};

TEST_F(ZoneFallback, KernelAllocationsPreferNormalThenFallBackToDma) {
  std::vector<std::uintptr_t> pages;
  for (std::size_t i = 0; i < normal_free_; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(zone_of(a), 1u) << "allocation " << i;
    pages.push_back(a);
  }
  EXPECT_EQ(heap().zone_info(1).free_pages, 0u);
  EXPECT_EQ(heap().zone_info(0).free_pages, dma_free_); // DMA untouched so far
  // Normal is exhausted: GFP_KERNEL falls back to DMA until that is exhausted too.
  for (std::size_t i = 0; i < dma_free_; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 0);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(zone_of(a), 0u) << "fallback allocation " << i;
    pages.push_back(a);
  }
  EXPECT_EQ(heap().get_free_pages(GFP_KERNEL, 0), 0u);
  EXPECT_EQ(heap().page_counts().free, 0u);
  for (std::uintptr_t a : pages)
    heap().free_pages(a, 0);
  EXPECT_EQ(heap().zone_info(0).free_pages, dma_free_);
  EXPECT_EQ(heap().zone_info(1).free_pages, normal_free_);
}

TEST_F(ZoneFallback, DmaNeverTakesFromNormal) {
  std::vector<std::uintptr_t> pages;
  for (std::size_t i = 0; i < dma_free_; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_DMA, 0);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(zone_of(a), 0u);
    pages.push_back(a);
  }
  // DMA exhausted: GFP_DMA fails although Normal is completely free.
  EXPECT_EQ(heap().get_free_pages(GFP_DMA, 0), 0u);
  EXPECT_EQ(heap().alloc_pages(GFP_DMA | GFP_KERNEL, 0), nullptr);
  EXPECT_EQ(heap().zone_info(1).free_pages, normal_free_);
  // Freeing one DMA page makes GFP_DMA succeed again, with that page.
  heap().free_pages(pages.back(), 0);
  const std::uintptr_t again = heap().get_free_pages(GFP_DMA, 0);
  EXPECT_EQ(again, pages.back());
  for (std::uintptr_t a : pages)
    heap().free_pages(a, 0);
}

TEST_F(ZoneFallback, HigherOrderFallsBackToDma) {
  // Normal = 64, 80, 96, 112 at order 4: taken first, then DMA's order-4 blocks.
  std::vector<std::uintptr_t> big;
  for (int i = 0; i < 4; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 4);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(zone_of(a), 1u);
    big.push_back(a);
  }
  EXPECT_EQ(heap().zone_info(1).free_pages, 0u);
  const std::size_t dma_order4 = heap().zone_info(0).nr_free[4];
  for (std::size_t i = 0; i < dma_order4; ++i) {
    const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 4);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(zone_of(a), 0u);
    EXPECT_EQ(rh_.rel(a) % 16, 0u);
    big.push_back(a);
  }
  // No order-4 block left anywhere: NULL, although smaller blocks remain in DMA.
  EXPECT_EQ(heap().get_free_pages(GFP_KERNEL, 4), 0u);
  EXPECT_GT(heap().zone_info(0).free_pages, 0u);
  for (std::uintptr_t a : big)
    heap().free_pages(a, 4);
  EXPECT_EQ(heap().zone_info(0).free_pages, dma_free_);
  EXPECT_EQ(heap().zone_info(1).free_pages, normal_free_);
}

// Blocks never merge across the zone boundary (48..63 and 64..79 would be buddies at order 4
// with a larger MAX_ORDER; here every block stays inside its zone).
TEST_F(ZoneFallback, BlocksStayInsideTheirZone) {
  for (const Block& b : kmtest::free_blocks(heap())) {
    const auto [zone, pfn, order] = b;
    const std::uintptr_t end = pfn + (std::uintptr_t{1} << order);
    if (zone == 0) {
      EXPECT_LE(end, rh_.pfn(64));
    } else {
      EXPECT_GE(pfn, rh_.pfn(64));
    }
  }
}

TEST_F(ZoneFallback, Dma32AndHighmemAreServedFromNormal) {
  for (gfp_t gfp : {GFP_DMA32, __GFP_HIGHMEM, GFP_KERNEL | __GFP_DMA32, GFP_ATOMIC, GFP_NOWAIT}) {
    const std::uintptr_t a = heap().get_free_pages(gfp, 0);
    ASSERT_NE(a, 0u) << gfp;
    EXPECT_EQ(zone_of(a), 1u) << gfp;
    heap().free_pages(a, 0);
  }
}

TEST(ZoneFallbackNoDma, GfpDmaIsServedFromNormalWithoutDmaZone) {
  RegionHeap rh(lean(make_config(12, 4, 0, 0)), 64, 64);
  ASSERT_TRUE(rh.status().ok);
  ASSERT_EQ(rh.heap().nr_zones(), 1u);
  const std::uintptr_t a = rh.heap().get_free_pages(GFP_DMA, 2);
  ASSERT_NE(a, 0u);
  EXPECT_EQ(rh.heap().page_info(reinterpret_cast<void*>(a)).zone, 0u);
  EXPECT_STREQ(rh.heap().zone_info(0).name, "Normal");
  rh.heap().free_pages(a, 2);
  EXPECT_EQ(kmtest::quiet_validate(rh.heap()), 0u);
}

// ---------------------------------------------------------------------------------------------
// Behaviour that must hold for every configuration.

class PageAlloc : public testing::TestWithParam<NamedConfig> {
protected:
  void SetUp() override {
    const km::Status st = heap_.init(GetParam().cfg);
    ASSERT_TRUE(st.ok) << st.message;
    heap_.set_report_handler(Recorder::handle, &rec_);
    initial_ = Snapshot::of(heap_);
    ps_ = heap_.page_size();
    max_order_ = heap_.config().max_order;
  }
  // Highest order that has a free block now (the allocator's largest possible allocation).
  unsigned largest_free_order() const {
    unsigned best = 0;
    for (unsigned z = 0; z < heap_.nr_zones(); ++z)
      for (unsigned o = 0; o <= max_order_; ++o)
        if (heap_.zone_info(z).nr_free[o] != 0)
          best = std::max(best, o);
    return best;
  }

  km::Heap heap_;
  Recorder rec_;
  Snapshot initial_;
  std::size_t ps_ = 0;
  unsigned max_order_ = 0;
};

TEST_P(PageAlloc, EveryOrderIsNaturallyAlignedAndAccounted) {
  const unsigned top = largest_free_order();
  for (unsigned order = 0; order <= top; ++order) {
    struct page* p = heap_.alloc_pages(GFP_KERNEL, order);
    ASSERT_NE(p, nullptr) << "order " << order;
    const auto addr = reinterpret_cast<std::uintptr_t>(heap_.page_address(p));
    const std::size_t bytes = ps_ << order;
    EXPECT_EQ(addr % bytes, 0u) << "order " << order;
    EXPECT_EQ(heap_.page_to_pfn(p) % (std::uintptr_t{1} << order), 0u);
    EXPECT_GE(addr, heap_.arena_start());
    EXPECT_LE(addr + bytes, heap_.arena_start() + heap_.arena_pages() * ps_);
    const km::PageInfo info = heap_.page_info(reinterpret_cast<void*>(addr + bytes - 1));
    EXPECT_EQ(info.owner, km::PageOwner::PageAlloc);
    EXPECT_EQ(info.block, addr);
    EXPECT_EQ(info.order, order);
    EXPECT_EQ(heap_.page_counts().page_alloc, std::size_t{1} << order);
    EXPECT_EQ(heap_.page_counts().free, initial_.counts.free - (std::size_t{1} << order));
    EXPECT_EQ(heap_.validate(), 0u);
    // The memory is usable.
    std::memset(reinterpret_cast<void*>(addr), 0x3c, bytes);
    heap_.free_pages(p, order);
    kmtest::expect_same_state(initial_, heap_);
  }
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

// Exhaustion is normal: NULL, no report, a valid heap, and freeing restores everything.
TEST_P(PageAlloc, ExhaustionReturnsNullAndRecovers) {
  std::vector<std::uintptr_t> pages;
  std::set<std::uintptr_t> distinct;
  for (;;) {
    const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, 0);
    if (a == 0)
      break;
    pages.push_back(a);
    distinct.insert(a);
    ASSERT_LE(pages.size(), initial_.counts.free);
  }
  EXPECT_EQ(pages.size(), initial_.counts.free);
  EXPECT_EQ(distinct.size(), pages.size());
  EXPECT_EQ(heap_.page_counts().free, 0u);
  for (unsigned o = 0; o <= max_order_; ++o) {
    EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, o), nullptr) << o;
    EXPECT_EQ(heap_.alloc_pages(GFP_DMA, o), nullptr) << o;
  }
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0), nullptr);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  EXPECT_EQ(heap_.validate(), 0u);
  // One page back: an order-0 allocation succeeds again and gets exactly that page.
  heap_.free_pages(pages[pages.size() / 2], 0);
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 0), pages[pages.size() / 2]);
  for (std::uintptr_t a : pages)
    heap_.free_pages(a, 0);
  kmtest::expect_same_state(initial_, heap_);
  EXPECT_EQ(heap_.validate(), 0u);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

// Taking the largest blocks first also exhausts the heap; the remaining orders follow.
TEST_P(PageAlloc, ExhaustionAtEveryOrderRecovers) {
  std::vector<std::pair<std::uintptr_t, unsigned>> live;
  std::size_t pages = 0;
  for (unsigned o = max_order_ + 1; o-- > 0;) {
    for (std::uintptr_t a; (a = heap_.get_free_pages(GFP_KERNEL, o)) != 0;) {
      live.emplace_back(a, o);
      pages += std::size_t{1} << o;
      ASSERT_LE(pages, initial_.counts.free) << "more pages handed out than were free";
    }
    for (unsigned z = 0; z < heap_.nr_zones(); ++z)
      for (unsigned higher = o; higher <= max_order_; ++higher) {
        EXPECT_EQ(heap_.zone_info(z).nr_free[higher], 0u) << "zone " << z << " order " << higher;
      }
  }
  EXPECT_EQ(pages, initial_.counts.free);
  EXPECT_EQ(heap_.page_counts().free, 0u);
  EXPECT_EQ(heap_.validate(), 0u);
  for (auto [a, o] : live)
    heap_.free_pages(a, o);
  kmtest::expect_same_state(initial_, heap_);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

// AC4 and NO1 under a long pseudo-random sequence: live blocks never overlap, validate() stays
// at 0, and freeing everything restores the initial free lists exactly.
TEST_P(PageAlloc, RandomSequenceFullyCoalesces) {
  std::mt19937 rng(12345);
  std::map<std::uintptr_t, unsigned> live; // address -> order
  std::size_t live_pages = 0;
  for (int step = 0; step < 3000; ++step) {
    const bool do_alloc = live.empty() || rng() % 100 < 55;
    if (do_alloc) {
      const unsigned order = std::min<unsigned>(
          max_order_, static_cast<unsigned>(rng() % 4 == 0 ? rng() % (max_order_ + 1) : rng() % 3));
      const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, order);
      if (a == 0)
        continue;
      const std::uintptr_t end = a + (ps_ << order);
      auto next = live.lower_bound(a);
      if (next != live.end()) {
        ASSERT_GE(next->first, end) << "overlaps a live block";
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + (ps_ << prev->second), a) << "overlaps a live block";
      }
      ASSERT_EQ(a % (ps_ << order), 0u);
      live.emplace(a, order);
      live_pages += std::size_t{1} << order;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      heap_.free_pages(it->first, it->second);
      live_pages -= std::size_t{1} << it->second;
      live.erase(it);
    }
    ASSERT_EQ(heap_.page_counts().page_alloc, live_pages);
    if (step % 250 == 0) {
      ASSERT_EQ(heap_.validate(), 0u) << rec_.dump();
    }
  }
  for (auto [a, o] : live)
    heap_.free_pages(a, o);
  kmtest::expect_same_state(initial_, heap_);
  EXPECT_EQ(heap_.validate(), 0u);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

// __GFP_ZERO zeroes the whole block even when the pages were dirtied before.
TEST_P(PageAlloc, GfpZeroZeroesTheBlock) {
  std::vector<std::uintptr_t> pages;
  for (std::uintptr_t a; (a = heap_.get_free_pages(GFP_KERNEL, 0)) != 0;) {
    std::memset(reinterpret_cast<void*>(a), 0xa5, ps_);
    pages.push_back(a);
    ASSERT_LE(pages.size(), initial_.counts.free) << "more pages handed out than were free";
  }
  for (std::uintptr_t a : pages)
    heap_.free_pages(a, 0);
  const unsigned top = largest_free_order();
  for (unsigned order = 0; order <= top; ++order) {
    const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL | __GFP_ZERO, order);
    ASSERT_NE(a, 0u) << order;
    const auto* bytes = reinterpret_cast<const unsigned char*>(a);
    const std::size_t n = ps_ << order;
    EXPECT_EQ(std::count(bytes, bytes + n, 0), static_cast<std::ptrdiff_t>(n)) << "order " << order;
    std::memset(reinterpret_cast<void*>(a), 0x11, n);
    heap_.free_pages(a, order);
  }
  // Through alloc_pages too.
  struct page* p = heap_.alloc_pages(__GFP_ZERO, 0);
  ASSERT_NE(p, nullptr);
  const auto* bytes = static_cast<const unsigned char*>(heap_.page_address(p));
  EXPECT_EQ(std::count(bytes, bytes + ps_, 0), static_cast<std::ptrdiff_t>(ps_));
  heap_.free_pages(p, 0);
  kmtest::expect_same_state(initial_, heap_);
}

TEST_P(PageAlloc, OrderAboveMaxOrderWarnsAndReturnsNull) {
  for (unsigned order : {max_order_ + 1, max_order_ + 2, 40u, 1000u}) {
    rec_.clear();
    EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, order), nullptr);
    ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
    EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::OrderTooLarge);
    EXPECT_EQ(rec_.reports[0].address, 0u);
    EXPECT_EQ(rec_.reports[0].message, "kmalloc: WARNING: alloc_pages: order " +
                                           std::to_string(order) + " > MAX_ORDER " +
                                           std::to_string(max_order_));
    EXPECT_THAT(rec_.reports[0].message,
                testing::MatchesRegex("kmalloc: WARNING: alloc_pages: order [0-9]+ > MAX_ORDER "
                                      "[0-9]+"));
    rec_.clear();
    EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, order), 0u);
    EXPECT_EQ(rec_.count(km::ErrorKind::OrderTooLarge), 1u);
    // __GFP_NOWARN: silent.
    rec_.clear();
    EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN, order), nullptr);
    EXPECT_EQ(heap_.get_free_pages(GFP_ATOMIC | __GFP_NOWARN, order), 0u);
    EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  }
  EXPECT_TRUE(km::error_kind_is_warning(km::ErrorKind::OrderTooLarge));
  kmtest::expect_same_state(initial_, heap_);
  EXPECT_EQ(heap_.validate(), 0u);
}

// MAX_ORDER itself is in contract: it succeeds when a block of that order exists, and is a
// silent NULL (plain exhaustion) when the arena has none.
TEST_P(PageAlloc, MaxOrderIsInContract) {
  bool has_block = false;
  for (unsigned z = 0; z < heap_.nr_zones(); ++z)
    has_block = has_block || heap_.zone_info(z).nr_free[max_order_] != 0;
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, max_order_);
  EXPECT_EQ(a != 0, has_block);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  if (a != 0)
    heap_.free_pages(a, max_order_);
  kmtest::expect_same_state(initial_, heap_);
}

TEST_P(PageAlloc, UnknownGfpBitWarnsAndReturnsNull) {
  const gfp_t bad_bits[] = {0x200u, 1u << 23, 1u << 31};
  for (gfp_t bad : bad_bits) {
    rec_.clear();
    const gfp_t gfp = GFP_KERNEL | bad;
    EXPECT_EQ(heap_.alloc_pages(gfp, 0), nullptr);
    ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
    EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::InvalidGfp);
    EXPECT_EQ(rec_.reports[0].address, 0u);
    EXPECT_EQ(rec_.reports[0].message, "kmalloc: WARNING: invalid gfp flags " + hex(gfp) +
                                           " (unknown bits " + hex(bad) + ")");
    rec_.clear();
    EXPECT_EQ(heap_.get_free_pages(gfp | __GFP_NOWARN, 0), 0u);
    EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  }
  // Unknown bits and a bad order together: refused with one report.
  rec_.clear();
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | 0x200u, max_order_ + 1), nullptr);
  EXPECT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_TRUE(km::error_kind_is_warning(km::ErrorKind::InvalidGfp));
  kmtest::expect_same_state(initial_, heap_);
  // Every defined bit together is valid.
  rec_.clear();
  const std::uintptr_t a = heap_.get_free_pages(__GFP_BITS_MASK, 0);
  EXPECT_NE(a, 0u);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  heap_.free_pages(a, 0);
}

// inject_page_alloc_failures(n): the next n allocations fail (no report), then allocation
// recovers; __GFP_NOFAIL is never failed and does not use up an injected failure.
TEST_P(PageAlloc, InjectedFailuresThenRecovery) {
  heap_.inject_page_alloc_failures(3);
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, 0), nullptr);
  EXPECT_EQ(heap_.get_free_pages(GFP_ATOMIC, 0), 0u);
  EXPECT_EQ(heap_.alloc_pages(GFP_DMA, 0), nullptr);
  kmtest::expect_same_state(initial_, heap_);
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, 0);
  EXPECT_NE(a, 0u);
  heap_.free_pages(a, 0);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  EXPECT_EQ(heap_.validate(), 0u);
}

TEST_P(PageAlloc, NofailBypassesInjectedFailures) {
  heap_.inject_page_alloc_failures(2);
  const std::uintptr_t nofail = heap_.get_free_pages(GFP_KERNEL | __GFP_NOFAIL, 0);
  EXPECT_NE(nofail, 0u);
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 0), 0u); // both injected failures are still due
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 0), 0u);
  const std::uintptr_t ok = heap_.get_free_pages(GFP_KERNEL, 0);
  EXPECT_NE(ok, 0u);
  heap_.free_pages(nofail, 0);
  heap_.free_pages(ok, 0);
  kmtest::expect_same_state(initial_, heap_);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

TEST_P(PageAlloc, InjectZeroFailuresIsANoOpAndLaterCallsReplace) {
  heap_.inject_page_alloc_failures(0);
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, 0);
  EXPECT_NE(a, 0u);
  heap_.inject_page_alloc_failures(5);
  heap_.inject_page_alloc_failures(1); // replaces the earlier count
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 0), 0u);
  const std::uintptr_t b = heap_.get_free_pages(GFP_KERNEL, 0);
  EXPECT_NE(b, 0u);
  heap_.free_pages(a, 0);
  heap_.free_pages(b, 0);
  kmtest::expect_same_state(initial_, heap_);
}

TEST_P(PageAlloc, GetOrderMatchesThePageSize) {
  EXPECT_EQ(heap_.get_order(1), 0u);
  EXPECT_EQ(heap_.get_order(ps_ - 1), 0u);
  EXPECT_EQ(heap_.get_order(ps_), 0u);
  EXPECT_EQ(heap_.get_order(ps_ + 1), 1u);
  EXPECT_EQ(heap_.get_order(2 * ps_), 1u);
  EXPECT_EQ(heap_.get_order(2 * ps_ + 1), 2u);
  EXPECT_EQ(heap_.get_order(4 * ps_), 2u);
  EXPECT_EQ(heap_.get_order(4 * ps_ + 1), 3u);
  EXPECT_EQ(heap_.get_order(ps_ << 10), 10u);
  if (ps_ == 4096) { // the kernel's worked example
    EXPECT_EQ(heap_.get_order(4096), 0u);
    EXPECT_EQ(heap_.get_order(4097), 1u);
    EXPECT_EQ(heap_.get_order(8192), 1u);
    EXPECT_EQ(heap_.get_order(8193), 2u);
  }
  if (ps_ == 16384) {
    EXPECT_EQ(heap_.get_order(4097), 0u);
    EXPECT_EQ(heap_.get_order(16385), 1u);
  }
  if (ps_ == 65536) {
    EXPECT_EQ(heap_.get_order(8193), 0u);
    EXPECT_EQ(heap_.get_order(65537), 1u);
    EXPECT_EQ(heap_.get_order(131073), 2u);
  }
}

TEST_P(PageAlloc, VirtToPageAndPageAddressRoundTrip) {
  const std::uintptr_t start = heap_.arena_start();
  const std::size_t n = heap_.arena_pages();
  const std::size_t stride = std::max<std::size_t>(1, n / 200);
  const struct page* prev = nullptr;
  for (std::size_t i = 0; i < n; i += stride) {
    const std::uintptr_t addr = start + i * ps_;
    for (std::uintptr_t off : {std::uintptr_t{0}, std::uintptr_t{1}, ps_ / 2, ps_ - 1}) {
      const struct page* p = heap_.virt_to_page(reinterpret_cast<void*>(addr + off));
      ASSERT_NE(p, nullptr) << "page " << i;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(heap_.page_address(p)), addr);
      EXPECT_EQ(heap_.page_to_pfn(p), addr / ps_);
    }
    const struct page* p = heap_.virt_to_page(reinterpret_cast<void*>(addr));
    EXPECT_NE(p, prev) << "distinct descriptors";
    prev = p;
  }
  const std::uintptr_t end = start + n * ps_;
  EXPECT_EQ(heap_.virt_to_page(reinterpret_cast<void*>(end)), nullptr);
  EXPECT_EQ(heap_.virt_to_page(reinterpret_cast<void*>(start - 1)), nullptr);
  EXPECT_EQ(heap_.virt_to_page(nullptr), nullptr);
  EXPECT_EQ(heap_.page_address(nullptr), nullptr);
  // Descriptors from alloc_pages agree with the address API.
  struct page* p = heap_.alloc_pages(GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  void* addr = heap_.page_address(p);
  EXPECT_EQ(heap_.virt_to_page(addr), p);
  EXPECT_EQ(heap_.page_to_pfn(p), reinterpret_cast<std::uintptr_t>(addr) / ps_);
  heap_.free_pages(p, 0);
}

TEST_P(PageAlloc, FreeOfNullOrZeroIsANoOp) {
  heap_.free_pages(static_cast<struct page*>(nullptr), 0);
  heap_.free_pages(static_cast<struct page*>(nullptr), 3);
  heap_.free_pages(std::uintptr_t{0}, 0);
  heap_.free_pages(std::uintptr_t{0}, 99);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  kmtest::expect_same_state(initial_, heap_);
}

INSTANTIATE_TEST_SUITE_P(Configs, PageAlloc, testing::ValuesIn(kmtest::sweep_configs()),
                         kmtest::config_test_name);

// ---------------------------------------------------------------------------------------------
// MU1 in recording mode: each misuse gives exactly one report of the right kind with the exact
// message, the free is refused, the heap validates, the page counts and free lists are unchanged
// and the victim block is still allocated.

class PageMisuse : public testing::TestWithParam<NamedConfig> {
protected:
  void SetUp() override {
    const km::Status st = heap_.init(GetParam().cfg);
    ASSERT_TRUE(st.ok) << st.message;
    heap_.set_report_handler(Recorder::handle, &rec_);
    ps_ = heap_.page_size();
    initial_ = Snapshot::of(heap_);
    order_ = std::min(2u, heap_.config().max_order);
    victim_ = heap_.get_free_pages(GFP_KERNEL, order_);
    ASSERT_NE(victim_, 0u);
    // A second live block so a wrong free could do visible damage elsewhere too.
    other_ = heap_.get_free_pages(GFP_KERNEL, 0);
    ASSERT_NE(other_, 0u);
    before_ = Snapshot::of(heap_);
  }

  // Exactly one report, of `kind`, with text `message`, about `address`; then nothing changed.
  void expect_refused(km::ErrorKind kind, const std::string& message, std::uintptr_t address) {
    ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
    EXPECT_EQ(rec_.reports[0].kind, kind) << rec_.dump();
    EXPECT_EQ(rec_.reports[0].message, message);
    EXPECT_EQ(rec_.reports[0].address, address);
    EXPECT_FALSE(km::error_kind_is_warning(kind));
    rec_.clear();
    EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
    kmtest::expect_same_state(before_, heap_);
    expect_allocated(victim_, order_);
    expect_allocated(other_, 0);
    rec_.clear();
  }
  void expect_allocated(std::uintptr_t block, unsigned order) {
    for (std::size_t i = 0; i < (std::size_t{1} << order); ++i) {
      const km::PageInfo info = heap_.page_info(reinterpret_cast<void*>(block + i * ps_));
      EXPECT_EQ(info.owner, km::PageOwner::PageAlloc) << "page " << i;
      EXPECT_EQ(info.block, block);
      EXPECT_EQ(info.order, order);
    }
  }
  // After the misuse the real owner can still free its blocks, back to the initial state.
  void free_all_and_check() {
    heap_.free_pages(victim_, order_);
    heap_.free_pages(other_, 0);
    EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
    kmtest::expect_same_state(initial_, heap_);
    EXPECT_EQ(heap_.validate(), 0u);
  }

  km::Heap heap_;
  Recorder rec_;
  std::size_t ps_ = 0;
  unsigned order_ = 0;
  std::uintptr_t victim_ = 0;
  std::uintptr_t other_ = 0;
  Snapshot initial_;
  Snapshot before_;
};

TEST_P(PageMisuse, DoubleFreeByAddress) {
  heap_.free_pages(victim_, order_);
  ASSERT_EQ(rec_.size(), 0u);
  const Snapshot after_free = Snapshot::of(heap_);
  heap_.free_pages(victim_, order_);
  ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageDoubleFree);
  EXPECT_EQ(rec_.reports[0].address, victim_);
  EXPECT_EQ(rec_.reports[0].message, "kmalloc: BUG: Bad page state: double free of page " +
                                         hex(victim_) + " (order " + std::to_string(order_) + ")");
  EXPECT_THAT(rec_.reports[0].message,
              testing::MatchesRegex("kmalloc: BUG: Bad page state: double free of page "
                                    "0x[0-9a-f]+ \\(order [0-9]+\\)"));
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  kmtest::expect_same_state(after_free, heap_);
  heap_.free_pages(other_, 0);
  kmtest::expect_same_state(initial_, heap_);
}

TEST_P(PageMisuse, DoubleFreeByDescriptor) {
  struct page* p = heap_.virt_to_page(reinterpret_cast<void*>(victim_));
  heap_.free_pages(p, order_);
  const Snapshot after_free = Snapshot::of(heap_);
  heap_.free_pages(p, order_);
  ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageDoubleFree);
  EXPECT_EQ(rec_.reports[0].message, "kmalloc: BUG: Bad page state: double free of page " +
                                         hex(victim_) + " (order " + std::to_string(order_) + ")");
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  kmtest::expect_same_state(after_free, heap_);
}

// Freeing any page of an already free block is a double free, whatever order is given.
TEST_P(PageMisuse, DoubleFreeOfAnyFreePage) {
  heap_.free_pages(victim_, order_);
  const Snapshot after_free = Snapshot::of(heap_);
  const std::uintptr_t last = victim_ + ((ps_ << order_) - ps_);
  heap_.free_pages(last, 0);
  ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageDoubleFree);
  EXPECT_EQ(rec_.reports[0].message,
            "kmalloc: BUG: Bad page state: double free of page " + hex(last) + " (order 0)");
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  kmtest::expect_same_state(after_free, heap_);
}

TEST_P(PageMisuse, FreeOfTailPage) {
  if (order_ == 0)
    GTEST_SKIP() << "MAX_ORDER 0: no block has a tail page";
  const std::uintptr_t tail = victim_ + ps_;
  const std::string msg =
      "kmalloc: BUG: Invalid page pointer " + hex(tail) + ": not the first page of its block";
  heap_.free_pages(tail, 0);
  expect_refused(km::ErrorKind::PageInvalidFree, msg, tail);
  heap_.free_pages(tail, order_);
  expect_refused(km::ErrorKind::PageInvalidFree, msg, tail);
  heap_.free_pages(heap_.virt_to_page(reinterpret_cast<void*>(tail)), 0);
  expect_refused(km::ErrorKind::PageInvalidFree, msg, tail);
  const std::uintptr_t last = victim_ + ((ps_ << order_) - ps_);
  heap_.free_pages(last, 0);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(last) +
                     ": not the first page of its block",
                 last);
  free_all_and_check();
}

TEST_P(PageMisuse, FreeWithWrongOrder) {
  std::vector<unsigned> wrong = {order_ + 1, 17u, 1000u};
  if (order_ > 0)
    wrong.push_back(order_ - 1);
  for (unsigned given : wrong) {
    heap_.free_pages(victim_, given);
    expect_refused(km::ErrorKind::PageOrderMismatch,
                   "kmalloc: BUG: Bad page order: page " + hex(victim_) + " freed with order " +
                       std::to_string(given) + ", allocated with order " + std::to_string(order_),
                   victim_);
  }
  heap_.free_pages(other_, 1);
  expect_refused(km::ErrorKind::PageOrderMismatch,
                 "kmalloc: BUG: Bad page order: page " + hex(other_) +
                     " freed with order 1, allocated with order 0",
                 other_);
  free_all_and_check();
}

TEST_P(PageMisuse, FreeOfMetadataPage) {
  const std::uintptr_t meta = heap_.arena_start();
  heap_.free_pages(meta, 0);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(meta) + ": heap metadata page", meta);
  const std::uintptr_t last_meta = meta + (before_.counts.metadata - 1) * ps_;
  heap_.free_pages(heap_.virt_to_page(reinterpret_cast<void*>(last_meta)), 0);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(last_meta) + ": heap metadata page",
                 last_meta);
  free_all_and_check();
}

TEST_P(PageMisuse, FreeOutsideTheArena) {
  const std::uintptr_t end = heap_.arena_start() + heap_.arena_pages() * ps_;
  const std::uintptr_t below = heap_.arena_start() - ps_;
  int on_stack = 0;
  const auto stack = reinterpret_cast<std::uintptr_t>(&on_stack);
  for (std::uintptr_t addr : {end, below, stack}) {
    heap_.free_pages(addr, 0);
    expect_refused(km::ErrorKind::PageInvalidFree,
                   "kmalloc: BUG: Invalid page pointer " + hex(addr) + ": outside the arena", addr);
  }
  free_all_and_check();
}

TEST_P(PageMisuse, FreeOfUnalignedAddress) {
  for (std::uintptr_t addr : {victim_ + 8, victim_ + ps_ - 1, other_ + 1}) {
    heap_.free_pages(addr, order_);
    expect_refused(km::ErrorKind::PageInvalidFree,
                   "kmalloc: BUG: Invalid page pointer " + hex(addr) + ": not page aligned", addr);
  }
  free_all_and_check();
}

TEST_P(PageMisuse, FreeOfPointerThatIsNotADescriptor) {
  const std::string reason = ": not a page descriptor of this heap";
  // A pointer to something else entirely.
  alignas(page) unsigned char fake[sizeof(page)] = {};
  auto* p = reinterpret_cast<struct page*>(fake);
  heap_.free_pages(p, 0);
  const auto fake_addr = reinterpret_cast<std::uintptr_t>(fake);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(fake_addr) + reason, fake_addr);
  // A pointer into the memmap that is not at a descriptor boundary.
  auto* real =
      reinterpret_cast<unsigned char*>(heap_.virt_to_page(reinterpret_cast<void*>(victim_)));
  const auto inside = reinterpret_cast<std::uintptr_t>(real + 8);
  heap_.free_pages(reinterpret_cast<struct page*>(real + 8), order_);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(inside) + reason, inside);
  // One past the last descriptor.
  const std::uintptr_t last_page = heap_.arena_start() + (heap_.arena_pages() - 1) * ps_;
  auto* last =
      reinterpret_cast<unsigned char*>(heap_.virt_to_page(reinterpret_cast<void*>(last_page)));
  const auto past = reinterpret_cast<std::uintptr_t>(last + sizeof(page));
  heap_.free_pages(reinterpret_cast<struct page*>(last + sizeof(page)), 0);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(past) + reason, past);
  free_all_and_check();
}

// A descriptor of another heap is not ours, even for a block that is allocated there.
TEST_P(PageMisuse, FreeOfAnotherHeapsDescriptor) {
  km::Heap other_heap;
  ASSERT_TRUE(other_heap.init(GetParam().cfg).ok);
  struct page* foreign = other_heap.alloc_pages(GFP_KERNEL, order_);
  ASSERT_NE(foreign, nullptr);
  const auto foreign_addr = reinterpret_cast<std::uintptr_t>(foreign);
  heap_.free_pages(foreign, order_);
  expect_refused(km::ErrorKind::PageInvalidFree,
                 "kmalloc: BUG: Invalid page pointer " + hex(foreign_addr) +
                     ": not a page descriptor of this heap",
                 foreign_addr);
  // The other heap's block is untouched and can be freed there.
  EXPECT_EQ(other_heap.page_info(other_heap.page_address(foreign)).owner, km::PageOwner::PageAlloc);
  other_heap.free_pages(foreign, order_);
  EXPECT_EQ(other_heap.page_counts().page_alloc, 0u);
  free_all_and_check();
}

// PageOwnerMismatch can only be provoked by corruption until the slab layer exists: mark the
// victim's pages as owned by the slab layer (or large kmalloc), then free it as alloc_pages.
TEST_P(PageMisuse, FreeOfABlockOwnedBySlabOrLargeKmalloc) {
  km::HeapState* state = heap_.state_for_testing();
  ASSERT_NE(state, nullptr);
  page* head = state->pages.virt_to_page(victim_);
  const std::size_t count = std::size_t{1} << order_;
  for (km::PageOwner owner : {km::PageOwner::Slab, km::PageOwner::LargeKmalloc}) {
    for (std::size_t i = 0; i < count; ++i)
      head[i].owner = owner;
    heap_.free_pages(victim_, order_);
    ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
    EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageOwnerMismatch);
    EXPECT_EQ(rec_.reports[0].address, victim_);
    EXPECT_EQ(rec_.reports[0].message, "kmalloc: BUG: Bad page state: page " + hex(victim_) +
                                           " belongs to " + km::page_owner_name(owner) +
                                           ", not alloc_pages");
    rec_.clear();
    // The block was not touched: still the owner we gave it, still a head of this order.
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(head[i].owner, owner);
    }
    EXPECT_EQ(head->flags, km::PG_head);
    EXPECT_EQ(head->order, order_);
    // Give it back to alloc_pages: the heap is exactly as before.
    for (std::size_t i = 0; i < count; ++i)
      head[i].owner = km::PageOwner::PageAlloc;
    EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
    kmtest::expect_same_state(before_, heap_);
  }
  EXPECT_STREQ(km::page_owner_name(km::PageOwner::Slab), "slab");
  EXPECT_STREQ(km::page_owner_name(km::PageOwner::LargeKmalloc), "large kmalloc");
  free_all_and_check();
}

// With the slab layer in place the mismatch is reachable without corruption: free_pages() of a
// slab's pages is refused and the slab, its object and its cache are untouched.
TEST_P(PageMisuse, FreeOfASlabPageIsRefused) {
  struct kmem_cache* cache = heap_.kmem_cache_create("page-misuse", 64, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr) << rec_.dump();
  void* obj = heap_.kmem_cache_alloc(cache, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  const km::PageInfo info = heap_.page_info(obj);
  ASSERT_EQ(info.owner, km::PageOwner::Slab);
  EXPECT_EQ(info.cache, cache);
  const Snapshot with_slab = Snapshot::of(heap_);
  heap_.free_pages(info.block, info.order);
  ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageOwnerMismatch);
  EXPECT_EQ(rec_.reports[0].address, info.block);
  EXPECT_EQ(rec_.reports[0].message, "kmalloc: BUG: Bad page state: page " + hex(info.block) +
                                         " belongs to slab, not alloc_pages");
  rec_.clear();
  heap_.free_pages(heap_.virt_to_page(reinterpret_cast<void*>(info.block)), info.order);
  EXPECT_EQ(rec_.count(km::ErrorKind::PageOwnerMismatch), 1u) << rec_.dump();
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  kmtest::expect_same_state(with_slab, heap_);
  EXPECT_EQ(heap_.page_info(obj).owner, km::PageOwner::Slab);
  std::memset(obj, 0x77, 64);
  heap_.kmem_cache_free(cache, obj);
  heap_.kmem_cache_destroy(cache);
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
  EXPECT_EQ(heap_.page_counts().slab, 0u);
  free_all_and_check();
}

// Several misuses in a row, then the real frees: nothing was lost on the way.
TEST_P(PageMisuse, ManyMisusesLoseNothing) {
  const std::uintptr_t end = heap_.arena_start() + heap_.arena_pages() * ps_;
  heap_.free_pages(victim_, order_ + 1);
  heap_.free_pages(heap_.arena_start(), 0);
  heap_.free_pages(end, 0);
  heap_.free_pages(victim_ + 16, order_);
  EXPECT_EQ(rec_.size(), 4u) << rec_.dump();
  EXPECT_EQ(rec_.count(km::ErrorKind::PageOrderMismatch), 1u);
  EXPECT_EQ(rec_.count(km::ErrorKind::PageInvalidFree), 3u);
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  kmtest::expect_same_state(before_, heap_);
  free_all_and_check();
}

INSTANTIATE_TEST_SUITE_P(Configs, PageMisuse, testing::ValuesIn(kmtest::sweep_configs()),
                         kmtest::config_test_name);

} // namespace
