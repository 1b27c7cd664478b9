// metadata_scale_test.cpp - configs that scale (issue 7, finding 6): the default ZONE_DMA, the
// metadata placed before the zones instead of inside ZONE_DMA, metadata shares, lazy commit
// (deferred MAX_ORDER blocks, the allocation bitmap cleared slab by slab) and the deferred
// blocks' behaviour and validation.
//
// Large arenas are mapped MAP_NORESERVE, so a 64 GiB heap runs on a small machine; its test is
// skipped under sanitizers, whose shadow memory for the poisoned arena would be committed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "heap_state.h"
#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "page/page_alloc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KM_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define KM_TEST_SANITIZED 1
#endif
#endif
#ifndef KM_TEST_SANITIZED
#define KM_TEST_SANITIZED 0
#endif

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t GiB = 1024 * MiB;

using kmtest::Recorder;

// Resident set size of this process, from /proc/self/statm.
std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

km::Config arena_config(std::size_t arena) {
  km::Config cfg;
  cfg.profile = km::Profile::Linux6;
  cfg.arena_size = arena;
  cfg.random_seed = 1;
  cfg.nr_cpus = 8; // the shares below are for 8 cpu slots, not the machine's count
  return cfg;
}

// ---- the default ZONE_DMA: min(16 MiB, arena / 4) in whole pages

TEST(DefaultDmaZone, AQuarterOfTheArenaAtMost16MiB) {
  struct Case {
    std::size_t arena;
    std::size_t dma;
  };
  for (const Case& c : {Case{64 * MiB, 16 * MiB}, Case{32 * MiB, 8 * MiB}, Case{16 * MiB, 4 * MiB},
                        Case{1 * MiB, 256 * KiB}, Case{1 * GiB, 16 * MiB},
                        Case{100 * 4096, 25 * 4096}, Case{101 * 4096, 25 * 4096}}) {
    km::Heap heap;
    km::Config cfg = arena_config(c.arena);
    cfg.profile = km::Profile::None;
    cfg.max_order = 4;
    ASSERT_TRUE(heap.init(cfg).ok) << c.arena;
    EXPECT_EQ(heap.config().dma_zone_size, c.dma) << c.arena;
    ASSERT_EQ(heap.nr_zones(), 2u);
    EXPECT_EQ(heap.zone_info(0).spanned_pages, c.dma / 4096) << c.arena;
    EXPECT_EQ(heap.zone_info(0).free_pages, c.dma / 4096) << "the metadata is not in ZONE_DMA";
  }
  // 64 KiB pages: whole pages.
  km::Heap heap;
  km::Config cfg = arena_config(5 * 64 * KiB * 4);
  cfg.page_shift = 16;
  cfg.max_order = 2;
  cfg.profile = km::Profile::None;
  ASSERT_TRUE(heap.init(cfg).ok);
  EXPECT_EQ(heap.config().dma_zone_size, 5 * 64 * KiB);
}

TEST(DefaultDmaZone, DmaZeroMeansNone) {
  km::Heap heap;
  km::Config cfg = arena_config(16 * MiB);
  cfg.dma_zone_size = 0;
  ASSERT_TRUE(heap.init(cfg).ok);
  EXPECT_EQ(heap.nr_zones(), 1u);
  EXPECT_STREQ(heap.zone_info(0).name, "Normal");
  km::Config parsed;
  km::Status st;
  ASSERT_TRUE(km::parse_options("dma=0", parsed, st));
  EXPECT_EQ(parsed.dma_zone_size, 0u);
}

// Finding 6: Heap::init over a region of 16 MiB or less failed with the default Config.
TEST(DefaultDmaZone, SmallRegionWorksWithTheDefaultConfig) {
  for (std::size_t bytes : {16 * MiB, 4 * MiB, 256 * KiB}) {
    kmtest::AlignedRegion region(bytes, 4 * MiB);
    km::Heap heap;
    km::Config cfg; // every default, profile none
    cfg.random_seed = 1;
    const km::Status st = heap.init(cfg, region.get(), region.size());
    ASSERT_TRUE(st.ok) << bytes << ": " << st.message;
    EXPECT_EQ(heap.config().dma_zone_size, bytes / 4);
    EXPECT_NE(heap.alloc_pages(GFP_DMA, 0), nullptr);
    EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
  }
}

// ---- large arenas and the metadata share

struct ScaleCase {
  const char* name;
  std::size_t arena;
  std::size_t dma;
};

void measure(const ScaleCase& c) {
  const std::size_t rss0 = rss_bytes();
  const auto t0 = std::chrono::steady_clock::now();
  km::Heap heap;
  km::Config cfg = arena_config(c.arena);
  cfg.dma_zone_size = c.dma;
  const km::Status st = heap.init(cfg);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(st.ok) << c.name << ": " << st.message;
  const std::size_t rss1 = rss_bytes();
  const km::MetadataInfo m = heap.metadata_info();
  const double arena = static_cast<double>(m.arena_bytes);
  const double desc_share = 100.0 * static_cast<double>(m.descriptors) / arena;
  const double total_share = 100.0 * static_cast<double>(m.reserved) / arena;
  const double init_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  std::printf("[ metadata ] %s: init %.2f ms, RSS +%zu KiB; metadata reserved %zu KiB (%.2f%%: "
              "descriptors %.2f%%, bitmap %.2f%%, caches %zu KiB), committed %zu KiB\n",
              c.name, init_ms, (rss1 > rss0 ? rss1 - rss0 : 0) / KiB, m.reserved / KiB, total_share,
              desc_share, 100.0 * static_cast<double>(m.bitmap) / arena, m.caches / KiB,
              m.committed / KiB);
  EXPECT_LE(desc_share, 1.6) << c.name; // the kernel's 64-byte struct page per 4 KiB
  EXPECT_LE(total_share, 3.2) << c.name;
  EXPECT_LE(m.committed, m.reserved);
  EXPECT_EQ(m.reserved, heap.page_counts().metadata * heap.page_size());
  EXPECT_GE(m.reserved, m.descriptors + m.bitmap + m.caches);
  // Lazy commit: init touches a few MiB at most, whatever the arena.
  // (Under a sanitizer the shadow of the poisoned arena is committed too: not ours to count.)
  if (!KM_TEST_SANITIZED) {
    EXPECT_LT(rss1 - std::min(rss0, rss1), 8 * MiB) << c.name;
  }
  EXPECT_LT(m.committed, 8 * MiB) << c.name;
  // And the heap works at both ends: kmalloc, a large block, and the top of the arena.
  void* p = heap.kmalloc(100, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  heap.kfree(p);
  struct page* big = heap.alloc_pages(GFP_KERNEL, 10);
  ASSERT_NE(big, nullptr);
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(heap.page_address(big)) + 4 * MiB,
            heap.arena_start() + c.arena - 8 * 4 * MiB); // among the top blocks
  heap.free_pages(big, 10);
}

TEST(MetadataScale, Arena64MiB) {
  measure({"64 MiB", 64 * MiB, km::kDmaZoneDefault});
}

TEST(MetadataScale, Arena1GiB) {
  measure({"1 GiB", 1 * GiB, km::kDmaZoneDefault});
}

// Finding 6: any arena over about 580 MiB failed ("dma_zone_size: leaves no free page after 7186
// metadata pages") and arena=64G,dma=4G committed 1.8 GB of metadata in 1.6 s.
TEST(MetadataScale, Arena64GiB) {
  if (KM_TEST_SANITIZED)
    GTEST_SKIP() << "sanitizer shadow memory of a 64 GiB poisoned arena would be committed";
  if (sizeof(void*) < 8)
    GTEST_SKIP() << "needs a 64-bit address space";
  measure({"64 GiB (dma 4 GiB)", 64 * GiB, 4 * GiB});
}

// ---- deferred MAX_ORDER blocks

// 64 MiB of 4 KiB pages, MAX_ORDER 10, no DMA: 15 whole order-10 blocks after the metadata, of
// which the top kListedMaxBlocks are listed and the rest deferred.
class Deferred : public testing::Test {
protected:
  void SetUp() override {
    km::Config cfg = arena_config(64 * MiB);
    cfg.profile = km::Profile::None;
    cfg.dma_zone_size = 0;
    ASSERT_TRUE(heap_.init(cfg).ok);
    heap_.set_report_handler(Recorder::handle, &rec_);
    initial_ = kmtest::free_blocks(heap_);
  }
  km::PageAllocator& pa() { return heap_.state_for_testing()->pages; }
  km::zone& normal() { return pa().zone_at(0); }
  km::Heap heap_;
  Recorder rec_;
  std::vector<kmtest::Block> initial_;
};

TEST_F(Deferred, MostWholeBlocksStartDeferredAndCountAsFree) {
  const km::zone& z = normal();
  const std::size_t deferred = km::PageAllocator::deferred_blocks(z, 10);
  EXPECT_GT(deferred, 0u);
  EXPECT_EQ(z.area[10].free_list.length(), km::kListedMaxBlocks);
  EXPECT_EQ(z.area[10].nr_free, km::kListedMaxBlocks + deferred);
  const km::ZoneInfo zi = heap_.zone_info(0);
  EXPECT_EQ(zi.nr_free[10], km::kListedMaxBlocks + deferred);
  // for_each_free_block lists them all, so the free blocks are exactly the maximal blocks.
  EXPECT_EQ(initial_, kmtest::expected_initial_blocks(heap_));
  // A deferred page is free, in its order-10 block.
  const std::uintptr_t addr = (z.deferred_start_pfn << 12) + 5 * 4096;
  const km::PageInfo info = heap_.page_info(reinterpret_cast<void*>(addr));
  EXPECT_TRUE(info.in_arena);
  EXPECT_EQ(info.owner, km::PageOwner::Free);
  EXPECT_EQ(info.block, z.deferred_start_pfn << 12);
  EXPECT_EQ(info.order, 10u);
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  // Freeing a deferred page is a double free, as for any free page.
  heap_.free_pages(addr, 0);
  ASSERT_EQ(rec_.size(), 1u) << rec_.dump();
  EXPECT_EQ(rec_.reports[0].kind, km::ErrorKind::PageDoubleFree);
}

TEST_F(Deferred, ExhaustThenFreeEverythingRestoresTheInitialState) {
  const std::size_t blocks = normal().area[10].nr_free;
  std::vector<struct page*> taken;
  std::uintptr_t previous = ~std::uintptr_t{0};
  while (struct page* p = heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)) {
    const auto a = reinterpret_cast<std::uintptr_t>(heap_.page_address(p));
    EXPECT_LT(a, previous) << "blocks come from the top down";
    previous = a;
    taken.push_back(p);
    ASSERT_EQ(heap_.validate(), 0u) << rec_.dump();
  }
  EXPECT_EQ(taken.size(), blocks);
  EXPECT_EQ(km::PageAllocator::deferred_blocks(normal(), 10), 0u);
  // Smaller orders still come from the unaligned start of the zone.
  struct page* small = heap_.alloc_pages(GFP_KERNEL, 0);
  EXPECT_NE(small, nullptr);
  heap_.free_pages(small, 0);
  for (struct page* p : taken)
    heap_.free_pages(p, 10);
  EXPECT_EQ(kmtest::free_blocks(heap_), initial_); // AC4: the same free blocks
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
}

TEST_F(Deferred, SplittingADeferredBlockServesSmallOrders) {
  // Take every listed order-10 block, then an order-0 page must split a deferred one.
  std::vector<struct page*> listed;
  for (std::size_t i = 0; i < km::kListedMaxBlocks; ++i)
    listed.push_back(heap_.alloc_pages(GFP_KERNEL, 10));
  const std::size_t deferred = km::PageAllocator::deferred_blocks(normal(), 10);
  ASSERT_GT(deferred, 0u);
  std::vector<struct page*> pages;
  // Exhaust the small free blocks below the first whole block, then one more.
  while (heap_.zone_info(0).nr_free[10] == km::kListedMaxBlocks * 0 + deferred)
    pages.push_back(heap_.alloc_pages(GFP_KERNEL, 0));
  EXPECT_EQ(km::PageAllocator::deferred_blocks(normal(), 10), deferred - 1);
  EXPECT_EQ(heap_.zone_info(0).nr_free[9], 1u);
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
  for (struct page* p : pages)
    heap_.free_pages(p, 0);
  for (struct page* p : listed)
    heap_.free_pages(p, 10);
  EXPECT_EQ(kmtest::free_blocks(heap_), initial_);
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
}

// validate() checks the deferred range: MAX_ORDER-aligned, inside its zone, and counted in
// nr_free[MAX_ORDER].
TEST_F(Deferred, ValidateFiresOnABrokenDeferredRange) {
  km::zone& z = normal();
  const std::uintptr_t end = z.deferred_end_pfn;
  z.deferred_end_pfn = end - 1; // misaligned
  rec_.clear();
  EXPECT_GT(heap_.validate(), 0u);
  bool named = false;
  for (const kmtest::Recorded& r : rec_.reports)
    named |= r.message.find("deferred range") != std::string::npos;
  EXPECT_TRUE(named) << rec_.dump();
  z.deferred_end_pfn = end;
  ++z.area[10].nr_free; // one more than listed + deferred
  rec_.clear();
  EXPECT_GT(heap_.validate(), 0u);
  bool counted = false;
  for (const kmtest::Recorded& r : rec_.reports)
    counted |= r.message.find("deferred") != std::string::npos &&
               r.message.find("LIST") != std::string::npos;
  EXPECT_TRUE(counted) << rec_.dump();
  --z.area[10].nr_free;
  // A listed block inside the deferred range overlaps it.
  page* inside = pa().pfn_to_page(z.deferred_start_pfn);
  z.area[10].free_list.push_front(inside);
  inside->flags = km::PG_buddy;
  inside->order = 10;
  ++z.area[10].nr_free;
  z.free_pages += 1024;
  rec_.clear();
  EXPECT_GT(heap_.validate(), 0u);
  bool overlap = false;
  for (const kmtest::Recorded& r : rec_.reports)
    overlap |= r.message.find("in its deferred range") != std::string::npos;
  EXPECT_TRUE(overlap) << rec_.dump();
  z.area[10].free_list.remove(inside);
  inside->flags = 0;
  inside->order = 0;
  --z.area[10].nr_free;
  z.free_pages -= 1024;
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << rec_.dump();
}

// The allocation bitmap is cleared slab by slab: a caller's region full of garbage works.
TEST(LazyBitmap, GarbageRegionIsCleanAfterInit) {
  kmtest::AlignedRegion region(8 * MiB, 4 * MiB);
  std::memset(region.get(), 0xa5, region.size());
  km::Heap heap;
  km::Config cfg = arena_config(0);
  ASSERT_TRUE(heap.init(cfg, region.get(), region.size()).ok);
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  std::vector<void*> objs;
  for (std::size_t size = 8; size <= 8192; size *= 2)
    for (int i = 0; i < 20; ++i)
      objs.push_back(heap.kmalloc(size, GFP_KERNEL));
  EXPECT_EQ(heap.validate(), 0u) << rec.dump();
  for (void* p : objs)
    heap.kfree(p);
  EXPECT_EQ(rec.size(), 0u) << rec.dump();
  EXPECT_EQ(heap.validate(), 0u) << rec.dump();
}

} // namespace
