// heap_test.cpp - Heap lifecycle (init over mmap, over a caller's region, unaligned regions,
// destroy) and introspection (zone_info, page_info, page_counts, for_each_free_block, buddyinfo).
#include "kmalloc/heap.h"

#include <sys/mman.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "heap_state.h"
#include "heap_test_support.h"
#include "support/bits.h"

namespace {

using kmtest::AlignedRegion;
using kmtest::Block;
using kmtest::lean;
using kmtest::make_config;
using kmtest::NamedConfig;
using kmtest::RegionHeap;

// mincore() fails with ENOMEM for an unmapped range.
bool is_mapped(std::uintptr_t addr, std::size_t page_size, int* error = nullptr) {
  unsigned char vec = 0;
  const bool mapped = mincore(reinterpret_cast<void*>(addr), page_size, &vec) == 0;
  if (error != nullptr)
    *error = mapped ? 0 : errno;
  return mapped;
}

// Checks what every freshly initialised heap must satisfy.
void expect_fresh_heap(km::Heap& heap, std::size_t npages) {
  const km::Config& cfg = heap.config();
  const std::size_t ps = std::size_t{1} << cfg.page_shift;
  EXPECT_TRUE(heap.initialized());
  EXPECT_EQ(heap.page_size(), ps);
  EXPECT_EQ(heap.arena_pages(), npages);
  EXPECT_EQ(cfg.arena_size, npages * ps);
  EXPECT_EQ(heap.arena_start() % ps, 0u);

  const km::PageCounts c = heap.page_counts();
  // The metadata size is the implementation's; what the public API promises is that it is
  // whole pages at the start, the same in page_counts() and metadata_info(), and at least the
  // allocation bitmap (one bit per 8 bytes of arena).
  const std::size_t metadata = c.metadata;
  EXPECT_EQ(heap.metadata_info().reserved, metadata * ps);
  EXPECT_GE(metadata * ps, npages * ps / 64);
  EXPECT_LT(metadata, npages);
  EXPECT_EQ(c.total, npages);
  EXPECT_EQ(c.metadata, metadata);
  EXPECT_EQ(c.free, npages - metadata);
  EXPECT_EQ(c.page_alloc, 0u);
  EXPECT_EQ(c.slab, 0u);
  EXPECT_EQ(c.large_kmalloc, 0u);

  const std::size_t dma_pages = cfg.dma_zone_size / ps;
  ASSERT_EQ(heap.nr_zones(), dma_pages != 0 ? 2u : 1u);
  std::size_t spanned = 0, free = 0;
  for (unsigned z = 0; z < heap.nr_zones(); ++z) {
    const km::ZoneInfo zi = heap.zone_info(z);
    const bool dma = dma_pages != 0 && z == 0;
    EXPECT_STREQ(zi.name, dma ? "DMA" : "Normal");
    // The zones follow the metadata pages, which belong to none: DMA, then Normal.
    EXPECT_EQ(zi.start_pfn, (heap.arena_start() / ps) + metadata + (z == 0 ? 0 : dma_pages));
    EXPECT_EQ(zi.spanned_pages, dma ? dma_pages : npages - metadata - dma_pages);
    std::size_t listed = 0;
    for (unsigned o = 0; o <= km::kMaxOrderLimit; ++o) {
      listed += zi.nr_free[o] << o;
      if (o > cfg.max_order) {
        EXPECT_EQ(zi.nr_free[o], 0u) << "order " << o;
      }
    }
    EXPECT_EQ(listed, zi.free_pages) << "AC2 in zone " << zi.name;
    spanned += zi.spanned_pages;
    free += zi.free_pages;
  }
  EXPECT_EQ(spanned, npages - metadata);
  EXPECT_EQ(free, c.free);
  EXPECT_EQ(kmtest::free_blocks(heap), kmtest::expected_initial_blocks(heap));
  EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
}

class HeapInit : public testing::TestWithParam<NamedConfig> {};

TEST_P(HeapInit, OverMmap) {
  const km::Config cfg = GetParam().cfg;
  km::Heap heap;
  const km::Status st = heap.init(cfg);
  ASSERT_TRUE(st.ok) << st.message;
  expect_fresh_heap(heap, cfg.arena_size >> cfg.page_shift);
  // The mapping is aligned to the largest block, so the arena starts with max-order blocks.
  EXPECT_EQ(heap.arena_start() % (std::uintptr_t{1} << (cfg.page_shift + cfg.max_order)), 0u);
  EXPECT_EQ(heap.config().page_shift, cfg.page_shift);
  EXPECT_EQ(heap.config().max_order, cfg.max_order);
  EXPECT_EQ(heap.config().dma_zone_size, cfg.dma_zone_size);
}

TEST_P(HeapInit, OverAlignedRegion) {
  const km::Config cfg = GetParam().cfg;
  const std::size_t npages = cfg.arena_size >> cfg.page_shift;
  RegionHeap rh(cfg, npages);
  ASSERT_TRUE(rh.status().ok) << rh.status().message;
  EXPECT_EQ(rh.heap().arena_start(), rh.region().address());
  expect_fresh_heap(rh.heap(), npages);
}

// A region that starts 100 bytes into a page: the partial first and last pages are not used,
// and blocks stay naturally aligned in the address space, so the arena starts with small ones.
TEST_P(HeapInit, OverUnalignedRegion) {
  const km::Config cfg = GetParam().cfg;
  const std::size_t npages = cfg.arena_size >> cfg.page_shift;
  RegionHeap rh(cfg, npages, 0, 100);
  ASSERT_TRUE(rh.status().ok) << rh.status().message;
  km::Heap& heap = rh.heap();
  EXPECT_EQ(heap.arena_start(), rh.addr(1));
  expect_fresh_heap(heap, npages - 1);
  for (const Block& b : kmtest::free_blocks(heap)) {
    const auto [zone, pfn, order] = b;
    EXPECT_EQ(pfn % (std::uintptr_t{1} << order), 0u) << "pfn " << pfn << " order " << order;
    EXPECT_GE(pfn, heap.arena_start() / heap.page_size());
    EXPECT_LE(pfn + (std::uintptr_t{1} << order),
              heap.arena_start() / heap.page_size() + heap.arena_pages());
  }
}

// A page-aligned region whose first pfn is 5 mod 16 (not aligned to a large block).
TEST_P(HeapInit, OverRegionAtOddPfn) {
  const km::Config cfg = GetParam().cfg;
  const std::size_t npages = cfg.arena_size >> cfg.page_shift;
  const std::size_t ps = std::size_t{1} << cfg.page_shift;
  RegionHeap rh(cfg, npages, 0, 5 * ps);
  ASSERT_TRUE(rh.status().ok) << rh.status().message;
  EXPECT_EQ(rh.heap().arena_start(), rh.addr(5));
  expect_fresh_heap(rh.heap(), npages);
}

INSTANTIATE_TEST_SUITE_P(Configs, HeapInit, testing::ValuesIn(kmtest::sweep_configs()),
                         kmtest::config_test_name);

// ---- destroy

TEST(HeapDestroy, UnmapsAnMmapArena) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(make_config(12, 4, 64, 0)).ok);
  const std::uintptr_t start = heap.arena_start();
  ASSERT_TRUE(is_mapped(start, 4096));
  heap.destroy();
  EXPECT_FALSE(heap.initialized());
  int error = 0;
  EXPECT_FALSE(is_mapped(start, 4096, &error));
  EXPECT_EQ(error, ENOMEM);
}

TEST(HeapDestroy, DestructorUnmapsTheArena) {
  std::uintptr_t start = 0;
  {
    km::Heap heap;
    ASSERT_TRUE(heap.init(make_config(12, 4, 64, 0)).ok);
    start = heap.arena_start();
    EXPECT_TRUE(is_mapped(start, 4096));
  }
  EXPECT_FALSE(is_mapped(start, 4096));
}

TEST(HeapDestroy, SafeWhenUninitialisedAndTwice) {
  km::Heap heap;
  heap.destroy();
  EXPECT_FALSE(heap.initialized());
  ASSERT_TRUE(heap.init(make_config(12, 4, 64, 0)).ok);
  heap.destroy();
  heap.destroy();
  EXPECT_FALSE(heap.initialized());
}

TEST(HeapDestroy, CanReinitialiseAfterDestroy) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(make_config(12, 4, 64, 0)).ok);
  ASSERT_NE(heap.get_free_pages(GFP_KERNEL, 2), 0u);
  heap.destroy();
  ASSERT_TRUE(heap.init(make_config(14, 6, 128, 32)).ok);
  expect_fresh_heap(heap, 128);
}

// A region heap leaves the caller's memory mapped, and every byte of it usable again (under
// ASan this also checks that destroy() unpoisons what the heap poisoned).
TEST(HeapDestroy, LeavesTheRegionToTheCaller) {
  AlignedRegion region(64 << 12, 1 << 16);
  km::Heap heap;
  ASSERT_TRUE(heap.init(make_config(12, 4, 0, 0), region.get(), region.size()).ok);
  const std::uintptr_t block = heap.get_free_pages(GFP_KERNEL, 1);
  ASSERT_NE(block, 0u);
  heap.destroy();
  EXPECT_TRUE(is_mapped(region.address(), 4096));
  std::memset(region.get(), 0x5c, region.size());
  EXPECT_EQ(static_cast<unsigned char*>(region.get())[region.size() - 1], 0x5c);
  // And the region can carry a new heap.
  ASSERT_TRUE(heap.init(make_config(12, 4, 0, 0), region.get(), region.size()).ok);
  expect_fresh_heap(heap, 64);
}

// ---- introspection

// 128 pages over a region aligned to 128 pages, MAX_ORDER 3, no DMA, reduced to the worked
// example's window (RegionHeap::make_window): every page allocated except pages 1..15 of the last
// 16, which form the free blocks 1 (order 0), 2 (order 1), 4 (order 2) and 8 (order 3).
// Relative page numbers count from the window.
class SmallHeap : public testing::Test {
protected:
  static constexpr std::size_t kPages = 128;
  SmallHeap() : rh_(lean(make_config(12, 3, 0, 0)), kPages, kPages) {}
  void SetUp() override {
    ASSERT_TRUE(rh_.status().ok) << rh_.status().message;
    ASSERT_NO_FATAL_FAILURE(rh_.make_window(kPages));
  }
  km::Heap& heap() { return rh_.heap(); }
  kmtest::RegionHeap rh_;
};

TEST_F(SmallHeap, WindowLayout) {
  const std::vector<Block> expected = {
      {0, rh_.pfn(1), 0}, {0, rh_.pfn(2), 1}, {0, rh_.pfn(4), 2}, {0, rh_.pfn(8), 3}};
  EXPECT_EQ(kmtest::free_blocks(heap()), expected);
  const km::ZoneInfo zi = heap().zone_info(0);
  EXPECT_STREQ(zi.name, "Normal");
  const std::size_t meta = heap().page_counts().metadata;
  EXPECT_EQ(zi.start_pfn, heap().arena_start() / heap().page_size() + meta);
  EXPECT_EQ(zi.spanned_pages, kPages - meta);
  EXPECT_EQ(zi.free_pages, 15u);
  EXPECT_EQ(zi.nr_free[0], 1u);
  EXPECT_EQ(zi.nr_free[1], 1u);
  EXPECT_EQ(zi.nr_free[2], 1u);
  EXPECT_EQ(zi.nr_free[3], 1u);
  EXPECT_EQ(zi.nr_free[4], 0u);
  EXPECT_EQ(kmtest::quiet_validate(heap()), 0u);
}

TEST_F(SmallHeap, BuddyinfoExactFormat) {
  EXPECT_EQ(kmtest::buddyinfo_string(heap()),
            "Node 0, zone   Normal      1      1      1      1 \n");
  // Take the order-3 block: its count drops to 0.
  ASSERT_NE(heap().get_free_pages(GFP_KERNEL, 3), 0u);
  EXPECT_EQ(kmtest::buddyinfo_string(heap()),
            "Node 0, zone   Normal      1      1      1      0 \n");
}

TEST(Buddyinfo, TwoZonesAndWideCounts) {
  // 4096 pages, DMA 1024, MAX_ORDER 0: every free page is its own order-0 block.
  RegionHeap rh(make_config(12, 0, 0, 1024), 4096);
  ASSERT_TRUE(rh.status().ok);
  const std::size_t meta = rh.heap().page_counts().metadata;
  char expected[128];
  std::snprintf(expected, sizeof expected, "Node 0, zone %8s %6zu \nNode 0, zone %8s %6zu \n",
                "DMA", std::size_t{1024}, "Normal", 3072 - meta);
  EXPECT_EQ(kmtest::buddyinfo_string(rh.heap()), expected);
  EXPECT_THAT(kmtest::buddyinfo_string(rh.heap()),
              testing::StartsWith("Node 0, zone      DMA   1024 \n"));
}

TEST(Buddyinfo, OneColumnPerOrderUpToMaxOrder) {
  for (unsigned max_order : {0u, 4u, 10u, 16u}) {
    RegionHeap rh(lean(make_config(12, max_order, 0, 0)), 64, 64);
    ASSERT_TRUE(rh.status().ok);
    const std::string text = kmtest::buddyinfo_string(rh.heap());
    // "Node 0, zone   Normal " is 22 characters, then 7 per order, then '\n'.
    EXPECT_EQ(text.size(), 22u + 7u * (max_order + 1) + 1u) << text;
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.substr(0, 22), "Node 0, zone   Normal ");
  }
}

TEST_F(SmallHeap, BuddyinfoTruncatesLikeSnprintf) {
  const std::string full = "Node 0, zone   Normal      1      1      1      1 \n";
  // size 0: nothing is written, the full length is returned.
  char sentinel = 'x';
  EXPECT_EQ(heap().buddyinfo(&sentinel, 0), full.size());
  EXPECT_EQ(sentinel, 'x');
  EXPECT_EQ(heap().buddyinfo(nullptr, 0), full.size());
  // Every smaller size: size - 1 characters and a NUL; the return value is the full length.
  for (std::size_t size = 1; size <= full.size() + 1; ++size) {
    std::vector<char> buf(full.size() + 8, '#');
    EXPECT_EQ(heap().buddyinfo(buf.data(), size), full.size()) << size;
    const std::size_t written = std::min(size - 1, full.size());
    EXPECT_EQ(std::string(buf.data()), full.substr(0, written)) << size;
    EXPECT_EQ(buf[written], '\0') << size;
    EXPECT_EQ(buf[size], '#') << "wrote past size " << size;
  }
}

TEST(Buddyinfo, TruncationAcrossZoneLines) {
  RegionHeap rh(lean(make_config(12, 2, 0, 32)), 64, 64);
  ASSERT_TRUE(rh.status().ok);
  const std::string full = kmtest::buddyinfo_string(rh.heap());
  ASSERT_EQ(std::count(full.begin(), full.end(), '\n'), 2);
  const std::size_t first_line = full.find('\n') + 1;
  std::vector<char> buf(full.size() + 1, '#');
  EXPECT_EQ(rh.heap().buddyinfo(buf.data(), first_line + 5), full.size());
  EXPECT_EQ(std::string(buf.data()), full.substr(0, first_line + 4));
}

TEST_F(SmallHeap, PageInfoOfEachKindOfPage) {
  const std::size_t ps = heap().page_size();
  // Metadata page: its own block, order 0.
  const std::uintptr_t meta_addr = heap().arena_start();
  km::PageInfo meta = heap().page_info(reinterpret_cast<void*>(meta_addr + 123));
  EXPECT_TRUE(meta.in_arena);
  EXPECT_EQ(meta.owner, km::PageOwner::Metadata);
  EXPECT_EQ(meta.zone, 0u);
  EXPECT_EQ(meta.block, meta_addr);
  EXPECT_EQ(meta.order, 0u);
  // Page 0 of the window: allocated at order 0 by the fixture.
  km::PageInfo single = heap().page_info(reinterpret_cast<void*>(rh_.addr(0)));
  EXPECT_EQ(single.owner, km::PageOwner::PageAlloc);
  EXPECT_EQ(single.block, rh_.addr(0));
  EXPECT_EQ(single.order, 0u);
  // A tail page of the free order-3 block at +8.
  km::PageInfo tail = heap().page_info(reinterpret_cast<void*>(rh_.addr(13) + ps - 1));
  EXPECT_TRUE(tail.in_arena);
  EXPECT_EQ(tail.owner, km::PageOwner::Free);
  EXPECT_EQ(tail.block, rh_.addr(8));
  EXPECT_EQ(tail.order, 3u);
  // The head of the free order-1 block.
  km::PageInfo head = heap().page_info(reinterpret_cast<void*>(rh_.addr(2)));
  EXPECT_EQ(head.owner, km::PageOwner::Free);
  EXPECT_EQ(head.block, rh_.addr(2));
  EXPECT_EQ(head.order, 1u);
  // An allocated order-2 block: every page points at its head.
  const std::uintptr_t block = heap().get_free_pages(GFP_KERNEL, 2);
  ASSERT_EQ(block, rh_.addr(4));
  for (unsigned i = 0; i < 4; ++i) {
    km::PageInfo a = heap().page_info(reinterpret_cast<void*>(block + i * ps + 7));
    EXPECT_TRUE(a.in_arena);
    EXPECT_EQ(a.owner, km::PageOwner::PageAlloc) << i;
    EXPECT_EQ(a.block, block) << i;
    EXPECT_EQ(a.order, 2u) << i;
    EXPECT_EQ(a.zone, 0u) << i;
  }
  // Outside the arena.
  EXPECT_FALSE(heap().page_info(reinterpret_cast<void*>(rh_.addr(16))).in_arena);
  EXPECT_FALSE(heap().page_info(reinterpret_cast<void*>(heap().arena_start() - 1)).in_arena);
  EXPECT_FALSE(heap().page_info(nullptr).in_arena);
}

TEST(PageInfo, ZoneOfEachPage) {
  RegionHeap rh(lean(make_config(12, 4, 0, 16)), 64, 64);
  ASSERT_TRUE(rh.status().ok);
  // Metadata first (no zone; reported as 0), then 16 pages of DMA, then Normal.
  const std::size_t meta = rh.heap().page_counts().metadata;
  for (std::uintptr_t rel = 0; rel < 64; ++rel) {
    const km::PageInfo info = rh.heap().page_info(reinterpret_cast<void*>(rh.addr(rel)));
    EXPECT_TRUE(info.in_arena);
    EXPECT_EQ(info.owner == km::PageOwner::Metadata, rel < meta) << rel;
    EXPECT_EQ(info.zone, rel < meta + 16 ? 0u : 1u) << rel;
  }
}

TEST_F(SmallHeap, PageCountsFollowAllocations) {
  const km::PageCounts before = heap().page_counts();
  EXPECT_EQ(before.total, kPages);
  EXPECT_EQ(before.free, 15u);
  EXPECT_EQ(before.page_alloc, kPages - 15 - before.metadata);
  const std::uintptr_t a = heap().get_free_pages(GFP_KERNEL, 2);
  const std::uintptr_t b = heap().get_free_pages(GFP_KERNEL, 0);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  km::PageCounts c = heap().page_counts();
  EXPECT_EQ(c.total, kPages);
  EXPECT_EQ(c.metadata, before.metadata);
  EXPECT_EQ(c.page_alloc, before.page_alloc + 5);
  EXPECT_EQ(c.free, 10u);
  EXPECT_EQ(c.slab, 0u);
  EXPECT_EQ(c.large_kmalloc, 0u);
  EXPECT_EQ(c.total, c.free + c.metadata + c.page_alloc + c.slab + c.large_kmalloc);
  EXPECT_EQ(heap().zone_info(0).free_pages, 10u);
  heap().free_pages(a, 2);
  c = heap().page_counts();
  EXPECT_EQ(c.page_alloc, before.page_alloc + 1);
  EXPECT_EQ(c.free, 14u);
  heap().free_pages(b, 0);
  EXPECT_EQ(heap().page_counts(), before);
  EXPECT_EQ(kmtest::quiet_validate(heap()), 0u);
}

// for_each_free_block visits zone by zone, then order by order.
TEST(ForEachFreeBlock, VisitsByZoneThenOrder) {
  RegionHeap rh(lean(make_config(12, 4, 0, 32)), 64, 64);
  ASSERT_TRUE(rh.status().ok);
  std::vector<km::FreeBlock> seen;
  rh.heap().for_each_free_block(
      [](void* ctx, const km::FreeBlock& b) {
        static_cast<std::vector<km::FreeBlock>*>(ctx)->push_back(b);
      },
      &seen);
  ASSERT_FALSE(seen.empty());
  for (std::size_t i = 1; i < seen.size(); ++i) {
    const bool ordered = seen[i - 1].zone < seen[i].zone ||
                         (seen[i - 1].zone == seen[i].zone && seen[i - 1].order <= seen[i].order);
    EXPECT_TRUE(ordered) << "block " << i;
  }
  std::size_t pages = 0;
  for (const km::FreeBlock& b : seen)
    pages += std::size_t{1} << b.order;
  EXPECT_EQ(pages, rh.heap().page_counts().free);
  EXPECT_EQ(seen.front().zone, 0u);
  EXPECT_EQ(seen.back().zone, 1u);
}

TEST(HeapConfig, RegionHeapReportsItsConfig) {
  RegionHeap rh(make_config(14, 5, 0, 16), 40, 32, 3);
  ASSERT_TRUE(rh.status().ok);
  // 3 bytes in: the first partial page is dropped, 39 whole pages remain.
  EXPECT_EQ(rh.heap().arena_pages(), 39u);
  EXPECT_EQ(rh.heap().config().arena_size, std::size_t{39} << 14);
  EXPECT_EQ(rh.heap().config().page_shift, 14u);
  EXPECT_EQ(rh.heap().config().max_order, 5u);
  EXPECT_EQ(rh.heap().config().dma_zone_size, std::size_t{16} << 14);
  EXPECT_EQ(rh.heap().page_size(), 16384u);
}

} // namespace
