// model_test.cpp - the buddy model against hand-written expectations, the op printers, and one
// test per checker comparison showing it fires when the heap is broken on purpose.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "heap_state.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "model/buddy_model.h"
#include "model/checker.h"
#include "model/op.h"

namespace {

using namespace km::model;

constexpr unsigned kShift = 12;
constexpr std::uintptr_t kStartPfn = 0x100; // a synthetic arena at 1 MiB (pfn 0x100)

std::uintptr_t addr_of(std::uintptr_t pfn) {
  return pfn << kShift;
}

km::Config model_config(unsigned max_order, std::size_t pages, std::size_t dma_pages = 0) {
  km::Config cfg;
  cfg.page_shift = kShift;
  cfg.max_order = max_order;
  cfg.arena_size = pages << kShift;
  cfg.dma_zone_size = dma_pages << kShift;
  return cfg;
}

// The model's free blocks of one zone as (pfn, order) pairs.
std::vector<ModelBlock> blocks(const BuddyModel& m, unsigned zone = 0) {
  return {m.zone(zone).free.begin(), m.zone(zone).free.end()};
}

// alloc_pages through the model with a given answer; returns the commit error ("" if accepted).
std::string model_alloc(BuddyModel& m, unsigned order, std::uintptr_t pfn, gfp_t gfp = GFP_KERNEL) {
  const AllocExpect e = m.expect_alloc(gfp, order);
  return m.commit_alloc(e, gfp, order, pfn == 0 ? 0 : addr_of(pfn));
}

// ---- the model on its own

TEST(BuddyModel, GetOrderDoublesPlainly) {
  EXPECT_EQ(get_order(1, 4096), 0u);
  EXPECT_EQ(get_order(4096, 4096), 0u);
  EXPECT_EQ(get_order(4097, 4096), 1u);
  EXPECT_EQ(get_order(8192, 4096), 1u);
  EXPECT_EQ(get_order(8193, 4096), 2u);
  EXPECT_EQ(get_order(std::size_t{4} << 20, 4096), 10u);
  EXPECT_EQ(get_order(65537, 65536), 1u);
}

TEST(BuddyModel, InitialBlocksAreMaximalAlignedBlocksAfterMetadata) {
  BuddyModel m;
  m.init(model_config(3, 16), addr_of(kStartPfn), 16, 1);
  // Pages 0x101..0x10f: 0x101 (order 0), 0x102 (1), 0x104 (2), 0x108 (3).
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x101, 0}, {0x102, 1}, {0x104, 2}, {0x108, 3}}));
  EXPECT_EQ(m.zone(0).name, "Normal");
  EXPECT_EQ(m.free_pages(), 15u);
  EXPECT_EQ(m.check_invariants(), "");
}

TEST(BuddyModel, InitialBlocksOfAnUnalignedArenaAndTwoZones) {
  BuddyModel m;
  // Arena at pfn 0x103, 29 pages: metadata 0x103, then DMA 0x104..0x10a (7 pages), Normal
  // 0x10b..0x11f. The zones follow the metadata.
  m.init(model_config(3, 29, 7), addr_of(0x103), 29, 1);
  ASSERT_EQ(m.nr_zones(), 2u);
  EXPECT_EQ(m.zone(0).name, "DMA");
  EXPECT_EQ(blocks(m, 0), (std::vector<ModelBlock>{{0x104, 2}, {0x108, 1}, {0x10a, 0}}));
  EXPECT_EQ(blocks(m, 1),
            (std::vector<ModelBlock>{{0x10b, 0}, {0x10c, 2}, {0x110, 3}, {0x118, 3}}));
  EXPECT_EQ(m.check_invariants(), "");
}

TEST(BuddyModel, SplitOfOrder3ForOrder0LeavesUpperHalves) {
  BuddyModel m;
  m.init(model_config(3, 16), addr_of(kStartPfn), 16, 8); // one free block: 0x108 order 3
  ASSERT_EQ(blocks(m), (std::vector<ModelBlock>{{0x108, 3}}));
  const AllocExpect e = m.expect_alloc(GFP_KERNEL, 0);
  EXPECT_EQ(e.kind, AllocExpect::Success);
  EXPECT_EQ(e.block_order, 3u);
  EXPECT_EQ(m.commit_alloc(e, GFP_KERNEL, 0, addr_of(0x108)), "");
  // +1 at order 0, +2 at order 1, +4 at order 2.
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x109, 0}, {0x10a, 1}, {0x10c, 2}}));
  EXPECT_EQ(m.live_pages(), 1u);
  EXPECT_EQ(m.live_handles(), std::vector<Handle>{0});
  EXPECT_EQ(m.check_invariants(), "");
}

TEST(BuddyModel, AllocMustUseTheSmallestAvailableOrderAndTheBlockStart) {
  BuddyModel m;
  m.init(model_config(3, 16), addr_of(kStartPfn), 16, 1);
  EXPECT_NE(model_alloc(m, 0, 0x108), ""); // order 3 block while order 0 exists
  EXPECT_NE(model_alloc(m, 0, 0x102), ""); // order 1 block
  EXPECT_NE(model_alloc(m, 1, 0x105), ""); // not aligned, inside the order-2 block
  EXPECT_NE(model_alloc(m, 0, 0), "");     // NULL although memory is free
  EXPECT_NE(model_alloc(m, 0, 0x100), ""); // the metadata page
  EXPECT_EQ(m.handle_count(), 0u);         // nothing was recorded
  EXPECT_EQ(model_alloc(m, 0, 0x101), ""); // the only order-0 block
  EXPECT_EQ(model_alloc(m, 0, 0x102), ""); // now the order-1 block splits
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x103, 0}, {0x104, 2}, {0x108, 3}}));
}

TEST(BuddyModel, FreeAppliesTheMergeClosure) {
  BuddyModel m;
  m.init(model_config(3, 16), addr_of(kStartPfn), 16, 8);
  ASSERT_EQ(model_alloc(m, 0, 0x108), ""); // #0
  ASSERT_EQ(model_alloc(m, 0, 0x109), ""); // #1
  ASSERT_EQ(model_alloc(m, 1, 0x10a), ""); // #2
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x10c, 2}}));
  FreeExpect e = m.expect_free_address(addr_of(0x109), 0);
  ASSERT_EQ(e.cls, FreeClass::Success);
  EXPECT_EQ(e.handle, 1u);
  m.commit_free(e); // 0x109's buddy 0x108 is live: no merge
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x109, 0}, {0x10c, 2}}));
  m.commit_free(m.expect_free_address(addr_of(0x10a), 1)); // 0x108 still live: no merge
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x109, 0}, {0x10a, 1}, {0x10c, 2}}));
  m.commit_free(m.expect_free_address(addr_of(0x108), 0)); // 0+0 -> 1, 1+1 -> 2, 2+2 -> 3
  EXPECT_EQ(blocks(m), (std::vector<ModelBlock>{{0x108, 3}}));
  EXPECT_EQ(m.freed_handles(), (std::vector<Handle>{0, 1, 2}));
  EXPECT_EQ(m.check_invariants(), "");
}

TEST(BuddyModel, MergeStopsAtMaxOrderAndAtZoneBoundaries) {
  BuddyModel m;
  // max_order 1; metadata 0x100, DMA 0x101..0x103, Normal 0x104..0x10f.
  m.init(model_config(1, 16, 3), addr_of(kStartPfn), 16, 1);
  EXPECT_EQ(blocks(m, 0), (std::vector<ModelBlock>{{0x101, 0}, {0x102, 1}}));
  EXPECT_EQ(blocks(m, 1),
            (std::vector<ModelBlock>{
                {0x104, 1}, {0x106, 1}, {0x108, 1}, {0x10a, 1}, {0x10c, 1}, {0x10e, 1}}));
  ASSERT_EQ(model_alloc(m, 1, 0x102, GFP_DMA), ""); // #0 in DMA
  m.commit_free(m.expect_free_address(addr_of(0x102), 1));
  // 0x102 (order 1)'s buddy at order 1 would be 0x100 (metadata); order 2 > max_order anyway.
  EXPECT_EQ(blocks(m, 0), (std::vector<ModelBlock>{{0x101, 0}, {0x102, 1}}));
  EXPECT_EQ(m.check_invariants(), "");
}

TEST(BuddyModel, ZonelistAndRefusals) {
  BuddyModel m;
  m.init(model_config(3, 32, 15), addr_of(kStartPfn), 32, 1);
  AllocExpect e = m.expect_alloc(GFP_KERNEL, 3);
  EXPECT_EQ(e.kind, AllocExpect::Success);
  EXPECT_EQ(e.zone, 1u); // Normal first
  e = m.expect_alloc(GFP_KERNEL | __GFP_DMA, 0);
  EXPECT_EQ(e.zone, 0u);
  EXPECT_EQ(e.block_order, 0u);
  e = m.expect_alloc(GFP_DMA32, 2);
  EXPECT_EQ(e.zone, 1u);

  e = m.expect_alloc(GFP_KERNEL | 0x200u, 0);
  EXPECT_EQ(e.kind, AllocExpect::Refused);
  EXPECT_EQ(e.warning, km::ErrorKind::InvalidGfp);
  e = m.expect_alloc(GFP_KERNEL | 0x200u | __GFP_NOWARN, 0);
  EXPECT_EQ(e.kind, AllocExpect::Refused);
  EXPECT_FALSE(e.warning.has_value());
  e = m.expect_alloc(GFP_KERNEL, 4);
  EXPECT_EQ(e.kind, AllocExpect::Refused);
  EXPECT_EQ(e.warning, km::ErrorKind::OrderTooLarge);
  // Bad gfp is checked before the order.
  EXPECT_EQ(m.expect_alloc(0x1000000u, 9).warning, km::ErrorKind::InvalidGfp);

  m.inject_failures(1);
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL, 0).kind, AllocExpect::Injected);
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL | __GFP_NOFAIL, 0).kind, AllocExpect::Success);
  EXPECT_EQ(m.commit_alloc(m.expect_alloc(GFP_KERNEL, 0), GFP_KERNEL, 0, 0), "");
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL, 0).kind, AllocExpect::Success); // consumed
  EXPECT_EQ(m.null_handles(), std::vector<Handle>{0});
}

TEST(BuddyModel, DmaRequestsNeverFallBackToNormal) {
  BuddyModel m;
  m.init(model_config(3, 32, 3), addr_of(kStartPfn), 32, 1); // DMA free: 0x101 (0), 0x102 (1)
  EXPECT_EQ(m.expect_alloc(GFP_DMA, 2).kind, AllocExpect::NoMemory);
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL, 2).kind, AllocExpect::Success);
  // Exhaust Normal's order-3 blocks: order 3 then falls back to nothing (DMA has none).
  for (std::uintptr_t pfn : {0x108u, 0x110u, 0x118u})
    ASSERT_EQ(model_alloc(m, 3, pfn), "");
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL, 3).kind, AllocExpect::NoMemory);
  // Order 1: Normal has order 2 at 0x104 first; the DMA block is only a fallback.
  EXPECT_EQ(m.expect_alloc(GFP_KERNEL, 1).zone, 1u);
  ASSERT_EQ(model_alloc(m, 2, 0x104), "");
  const AllocExpect e = m.expect_alloc(GFP_KERNEL, 1);
  EXPECT_EQ(e.kind, AllocExpect::Success);
  EXPECT_EQ(e.zone, 0u);
}

TEST(BuddyModel, FreeClassificationFollowsThePrecedence) {
  BuddyModel m;
  m.init(model_config(3, 16), addr_of(kStartPfn), 16, 1);
  ASSERT_EQ(model_alloc(m, 2, 0x104), ""); // #0: 0x104..0x107
  auto cls = [&](std::uintptr_t addr, unsigned order) {
    return m.expect_free_address(addr, order).cls;
  };
  EXPECT_EQ(cls(0, 0), FreeClass::NoOp);
  EXPECT_EQ(cls(addr_of(0x0ff), 0), FreeClass::OutsideArena);
  EXPECT_EQ(cls(addr_of(0x110), 0), FreeClass::OutsideArena);
  EXPECT_EQ(cls(addr_of(0x110) + 1, 0), FreeClass::OutsideArena); // outside beats misaligned
  EXPECT_EQ(cls(addr_of(0x104) + 8, 2), FreeClass::Misaligned);
  EXPECT_EQ(cls(addr_of(0x101) + 8, 0), FreeClass::Misaligned); // misaligned beats free
  EXPECT_EQ(cls(addr_of(0x101), 0), FreeClass::DoubleFree);     // head of a free block
  EXPECT_EQ(cls(addr_of(0x10b), 3), FreeClass::DoubleFree);     // inside a free block
  EXPECT_EQ(cls(addr_of(0x100), 0), FreeClass::Metadata);
  EXPECT_EQ(cls(addr_of(0x106), 2), FreeClass::NotHead);
  EXPECT_EQ(cls(addr_of(0x104), 1), FreeClass::OrderMismatch);
  EXPECT_EQ(cls(addr_of(0x104), 3), FreeClass::OrderMismatch);
  EXPECT_EQ(cls(addr_of(0x104), 2), FreeClass::Success);

  const FreeExpect e = m.expect_free_address(addr_of(0x106), 2);
  EXPECT_EQ(e.report, km::ErrorKind::PageInvalidFree);
  EXPECT_EQ(e.report_address, addr_of(0x106));
  EXPECT_EQ(m.expect_free_address(addr_of(0x10b), 3).report, km::ErrorKind::PageDoubleFree);
  EXPECT_EQ(m.expect_free_address(addr_of(0x104), 1).report, km::ErrorKind::PageOrderMismatch);
  EXPECT_FALSE(m.expect_free_address(addr_of(0x104), 2).report.has_value());
  EXPECT_EQ(m.expect_free_page(false, 0, 0).cls, FreeClass::NoOp);
  EXPECT_EQ(m.expect_free_page(true, 0x106, 2).cls, FreeClass::NotHead);
  EXPECT_EQ(m.expect_free_foreign().report, km::ErrorKind::PageInvalidFree);

  // Misuse changes nothing but the counters.
  const auto before = blocks(m);
  m.commit_free(m.expect_free_address(addr_of(0x106), 2));
  EXPECT_EQ(blocks(m), before);
  EXPECT_EQ(m.free_count(FreeClass::NotHead), 1u);
  // After the free, the same address is a double free.
  m.commit_free(m.expect_free_address(addr_of(0x104), 2));
  EXPECT_EQ(cls(addr_of(0x104), 2), FreeClass::DoubleFree);
}

// ---- the printers

TEST(BuddyOps, FormatReadsLikeTheCalls) {
  const Op ops[] = {AllocPages{2, GFP_KERNEL}, FreePages{0}, DoubleFree{0}};
  EXPECT_EQ(format_ops(ops), "alloc_pages(order=2, GFP_KERNEL) -> #0; free_pages(#0, order=2); "
                             "free_pages(#0, order=2) [double free]");
  const Op more[] = {AllocPages{1, GFP_DMA | __GFP_ZERO},
                     FreeWrongOrder{0, -1},
                     FreeInterior{0, 0x1000},
                     FreePages{0, true},
                     FreeRaw{3, 0},
                     FreeOutside{Outside::ForeignPage},
                     InjectFailures{2},
                     ValidateAll{}};
  EXPECT_EQ(format_ops(more, "\n"), "alloc_pages(order=1, __GFP_DMA|__GFP_ZERO) -> #0\n"
                                    "free_pages(#0, order=0) [wrong order, -1]\n"
                                    "free_pages(#0 + 0x1000, order=1) [interior]\n"
                                    "__free_pages(page(#0), order=1)\n"
                                    "free_pages(arena page 3, order=0) [raw]\n"
                                    "free_pages(foreign struct page, order=0) [outside]\n"
                                    "inject_page_alloc_failures(2)\n"
                                    "validate_all()");
}

TEST(BuddyOps, GfpNamesAndCpp) {
  EXPECT_EQ(gfp_to_string(GFP_KERNEL | __GFP_NOWARN), "GFP_KERNEL|__GFP_NOWARN");
  EXPECT_EQ(gfp_to_string(GFP_ATOMIC | __GFP_HIGHMEM), "GFP_ATOMIC|__GFP_HIGHMEM");
  EXPECT_EQ(gfp_to_string(0), "0");
  EXPECT_EQ(gfp_to_string(__GFP_DMA | 0x200u), "__GFP_DMA|0x200");
  EXPECT_EQ(to_cpp(AllocPages{3, GFP_KERNEL}), "AllocPages{3, 0xcc0}");
  EXPECT_EQ(to_cpp(FreePages{4, true}), "FreePages{4, true}");
  EXPECT_EQ(to_cpp(FreeOutside{Outside::End}), "FreeOutside{Outside::End}");
  EXPECT_STREQ(op_name(Op{DoubleFree{1}}), "double_free");
}

// ---- the checker against a real heap

// 64 KiB pages keep the heap's metadata to a page or two.
km::Config heap_config(std::size_t pages = 64, std::size_t dma_pages = 0, unsigned max_order = 3) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = max_order;
  cfg.arena_size = pages << 16;
  cfg.dma_zone_size = dma_pages << 16;
  return cfg;
}

class BuddyCheckerTest : public ::testing::Test {
protected:
  void SetUp() override { init(heap_config()); }
  void init(const km::Config& cfg) {
    const km::Status st = checker.init(cfg);
    ASSERT_TRUE(st.ok) << st.message;
  }
  km::HeapState& state() { return *checker.heap().state_for_testing(); }
  km::zone& normal() { return state().pages.zone_at(checker.heap().nr_zones() - 1); }
  // The first order (< max_order) of which the Normal zone has exactly one free block.
  unsigned unique_order() {
    const km::ZoneInfo info = checker.heap().zone_info(checker.heap().nr_zones() - 1);
    for (unsigned o = 0; o < checker.model().config().max_order; ++o)
      if (info.nr_free[o] == 1)
        return o;
    ADD_FAILURE() << "no order with exactly one free block";
    return 0;
  }
  // Expects apply(op) to throw a CheckError whose message contains `needle`.
  void expect_mismatch(const Op& op, const std::string& needle) {
    try {
      checker.apply(op);
      ADD_FAILURE() << "the checker did not fire for " << to_string(op);
    } catch (const CheckError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("ops:\n"), std::string::npos) << e.what();
    }
  }
  BuddyChecker checker;
};

TEST_F(BuddyCheckerTest, CleanRunWithEveryOpKindPasses) {
  const Op ops[] = {
      AllocPages{0, GFP_KERNEL},
      AllocPages{2, GFP_KERNEL | __GFP_ZERO},
      Fill{0},
      Fill{1},
      Verify{0},
      FreeWrongOrder{1, 1},
      FreeInterior{1, 0x10000},
      FreeInterior{1, 3},
      FreeRaw{0, 0},
      FreeOutside{Outside::Below},
      FreeOutside{Outside::ForeignPage},
      InjectFailures{1},
      AllocPages{0, GFP_KERNEL},
      AllocPages{5, GFP_KERNEL},
      AllocPages{0, GFP_KERNEL | 0x200u},
      FreePages{1, true},
      DoubleFree{1},
      FreePages{2},
      ValidateAll{},
  };
  for (const Op& op : ops)
    ASSERT_NO_THROW(checker.apply(op)) << to_string(op);
  EXPECT_GE(checker.misuse_count(), 8u);
  EXPECT_EQ(checker.model().free_count(FreeClass::DoubleFree), 1u);
  ASSERT_NO_THROW(checker.finish());
  EXPECT_EQ(checker.heap().page_counts().page_alloc, 0u);
}

TEST_F(BuddyCheckerTest, TwoZonesAndFinishRestoresTheInitialBlocks) {
  checker.heap().destroy();
  init(heap_config(64, 32, 4));
  for (int i = 0; i < 6; ++i)
    ASSERT_NO_THROW(checker.apply(AllocPages{3, GFP_KERNEL}));
  ASSERT_NO_THROW(checker.apply(AllocPages{2, GFP_DMA}));
  ASSERT_NO_THROW(checker.apply(ValidateAll{}));
  ASSERT_NO_THROW(checker.finish());
  const std::vector<km::FreeBlock>& initial = checker.model().initial_free_blocks();
  EXPECT_EQ(checker.model().free_blocks().size(), initial.size());
}

TEST(BuddyCheckOps, RunsASequenceAndReportsTheOpList) {
  const Op ops[] = {AllocPages{1, GFP_KERNEL}, FreePages{0}, DoubleFree{0}};
  EXPECT_NO_THROW(check_ops(heap_config(), ops));
  km::Config bad = heap_config();
  bad.page_shift = 13;
  EXPECT_THROW(check_ops(bad, ops), CheckError);
}

// result: the heap hands out a block the model says is not the smallest one.
TEST_F(BuddyCheckerTest, FiresWhenAllocReturnsTheWrongBlock) {
  const unsigned o = unique_order();
  page* head = normal().area[o].free_list.front();
  normal().area[o].free_list.remove(head);
  --normal().area[o].nr_free;
  normal().free_pages -= std::size_t{1} << o;
  expect_mismatch(AllocPages{o, GFP_KERNEL}, "the model expects the start of a free block");
}

// result: NULL while the model has memory (a failure injected behind the model's back).
TEST_F(BuddyCheckerTest, FiresWhenAllocFailsWithMemoryFree) {
  checker.heap().inject_page_alloc_failures(1);
  expect_mismatch(AllocPages{0, GFP_KERNEL}, "alloc_pages returned NULL");
}

// reports: a free the model calls fine is refused with a report.
TEST_F(BuddyCheckerTest, FiresOnAnUnexpectedReport) {
  checker.apply(AllocPages{1, GFP_KERNEL});
  const auto addr = checker.model().handle(0).addr;
  checker.heap().virt_to_page(reinterpret_cast<void*>(addr))->order = 2;
  expect_mismatch(FreePages{0}, "expected no report, got 1");
}

// reports: a misuse the model predicts but the heap does not report.
TEST_F(BuddyCheckerTest, FiresOnAMissingReport) {
  checker.apply(AllocPages{1, GFP_KERNEL});
  checker.heap().set_report_handler([](void*, const km::ErrorReport&) {}, nullptr);
  expect_mismatch(FreeWrongOrder{0, 1}, "expected one PageOrderMismatch report");
}

// AC2 page_counts: pages taken by another owner behind the model's back.
TEST_F(BuddyCheckerTest, FiresOnPageCounts) {
  ASSERT_NE(state().pages.alloc(GFP_KERNEL, 0, km::PageOwner::Slab), nullptr);
  expect_mismatch(InjectFailures{0}, "page_counts");
}

// AC3: a block vanishes from its free list (counters untouched).
TEST_F(BuddyCheckerTest, FiresOnTheFreeBlockSet) {
  const unsigned o = unique_order();
  normal().area[o].free_list.remove(normal().area[o].free_list.front());
  expect_mismatch(InjectFailures{0}, "free blocks differ");
}

// AC2: nr_free of one order.
TEST_F(BuddyCheckerTest, FiresOnNrFree) {
  ++normal().area[1].nr_free;
  expect_mismatch(InjectFailures{0}, "nr_free[1]");
}

// AC2: the zone's free page counter.
TEST_F(BuddyCheckerTest, FiresOnZoneFreePages) {
  ++normal().free_pages;
  expect_mismatch(InjectFailures{0}, "free_pages = ");
}

// validate(): a metadata page with flags (nothing else sees it).
TEST_F(BuddyCheckerTest, FiresWhenValidateFindsCorruption) {
  checker.heap().virt_to_page(reinterpret_cast<void*>(checker.heap().arena_start()))->flags =
      km::PG_head;
  expect_mismatch(InjectFailures{0}, "validate() found");
}

// NO2: a byte of a filled block changes.
TEST_F(BuddyCheckerTest, FiresOnAFillPatternOverwrite) {
  checker.apply(AllocPages{1, GFP_KERNEL});
  checker.apply(Fill{0});
  const auto addr = checker.model().handle(0).addr;
  reinterpret_cast<unsigned char*>(addr + checker.heap().page_size())[3] ^= 1; // page 1
  expect_mismatch(Verify{0}, "page 1 first 16 bytes");
}

// NO2: the free checks the pattern too.
TEST_F(BuddyCheckerTest, FiresOnAFillPatternOverwriteAtFree) {
  checker.apply(AllocPages{0, GFP_KERNEL});
  checker.apply(Fill{0});
  const auto addr = checker.model().handle(0).addr;
  reinterpret_cast<unsigned char*>(addr + checker.heap().page_size() - 1)[0] ^= 1;
  expect_mismatch(FreePages{0}, "before free");
}

// __GFP_ZERO: an unfilled zeroed block must still read zero.
TEST_F(BuddyCheckerTest, FiresOnANonZeroGfpZeroBlock) {
  checker.apply(AllocPages{0, GFP_KERNEL | __GFP_ZERO});
  reinterpret_cast<unsigned char*>(checker.model().handle(0).addr)[0] = 0x5a;
  expect_mismatch(Verify{0}, "(zeroed)");
}

// ValidateAll: page_info disagrees with the model.
TEST_F(BuddyCheckerTest, FiresOnPageInfo) {
  checker.apply(AllocPages{1, GFP_KERNEL});
  const auto addr = checker.model().handle(0).addr;
  checker.heap().virt_to_page(reinterpret_cast<void*>(addr + checker.heap().page_size()))->head = 0;
  expect_mismatch(ValidateAll{}, "page_info(pfn");
}

TEST_F(BuddyCheckerTest, FiresOnAnUnknownHandle) {
  expect_mismatch(FreePages{7}, "only 0 allocations");
}

TEST_F(BuddyCheckerTest, FinishFiresWhenTheHeapLostABlock) {
  checker.apply(AllocPages{0, GFP_KERNEL});
  const unsigned o = checker.model().config().max_order;
  ASSERT_GT(checker.heap().zone_info(0).nr_free[o], 0u);
  normal().area[o].free_list.remove(normal().area[o].free_list.front());
  try {
    checker.finish();
    ADD_FAILURE() << "finish() did not fire";
  } catch (const CheckError& e) {
    EXPECT_NE(std::string(e.what()).find("free blocks differ"), std::string::npos) << e.what();
  }
}

} // namespace
