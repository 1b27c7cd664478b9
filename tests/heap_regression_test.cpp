// heap_regression_test.cpp - named regressions of the whole-heap oracle: one TEST per fuzz_heap
// finding, holding the minimised op list of corpus/heap/regression-<name> (printed with
// KMALLOC_FUZZ_TRACE=cpp build/dev/fuzz/fuzz_heap_replay corpus/heap/<file>, then cut down to
// the ops that matter). check_heap_ops runs them on a fresh heap, frees everything and checks
// AC4; a difference throws CheckError with the printed op list.
//
// The second half holds the named regressions and allocator sequences of the retired per-layer
// oracles (tests/regression_test.cpp, model_test.cpp, slab_model_test.cpp), ported to the one op
// vocabulary: each keeps its name and its line on what broke. Their fill ops are gone (the
// checker fills every allocation); an injected failure is a fail-next right before its op.
#include <gtest/gtest.h>

#include <vector>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "kmalloc/slab.h"
#include "model/heap_checker.h"
#include "model/heap_op.h"

namespace {

using namespace km::oracle;

void expect_clean(const km::Config& cfg, const std::vector<Op>& ops) {
  try {
    check_heap_ops(cfg, ops);
  } catch (const CheckError& e) {
    FAIL() << e.what();
  }
}

km::Config linux6() {
  km::Config cfg;
  cfg.profile = km::Profile::Linux6;
  cfg.arena_size = 4u << 20;
  cfg.random_seed = 1;
  cfg.nr_cpus = 8; // the count these regressions were found with, not the machine's
  return cfg;
}

// corpus/heap/regression-kmalloc-cache-of-invalid-gfp (allocator bug): kmalloc_cache(size, gfp)
// named a cache for gfp bits kmalloc refuses; kmalloc takes no object then, so it is NULL.
TEST(HeapRegression, KmallocCacheOfInvalidGfpIsNull) {
  expect_clean(linux6(), {
                             {.kind = OpKind::CheckSize, .size = 1, .gfp = GFP_KERNEL | 0x800000},
                             {.kind = OpKind::CheckSize, .size = 96, .gfp = 0x800000},
                             {.kind = OpKind::CheckSize, .size = 96, .gfp = GFP_KERNEL},
                         });
}

// corpus/heap/regression-create-stride-near-4g (model bug): the slab model rounded a size near
// UINT_MAX up to whole pointers in 32 bits, wrapped to a tiny stride and called the cache valid.
TEST(HeapRegression, CreateOfAStrideNearFourGiBIsRefused) {
  km::Config cfg = linux6();
  cfg.profile = km::Profile::Linux4Slab;
  cfg.page_shift = 14;
  cfg.arena_size = 16u << 20;
  expect_clean(cfg, {
                        {.kind = OpKind::CacheCreate, .size = 0xffffffff},
                        {.kind = OpKind::CacheCreate,
                         .size = 0xfffffffe,
                         .n = 8,
                         .flags = SLAB_CONSISTENCY_CHECKS},
                        {.kind = OpKind::CacheAlloc, .cache = 0},
                    });
}

// corpus/heap/regression-krealloc-shrink-keeps-pattern (oracle bug): after a krealloc that
// shrinks a zeroed object below its pattern, the pattern bytes past the new size are not zero;
// growing it in place again must not be judged against zeros.
TEST(HeapRegression, KreallocShrinkThenGrowInPlace) {
  expect_clean(
      linux6(),
      {
          {.kind = OpKind::Kzalloc, .size = 11743},
          {.kind = OpKind::Krealloc, .size = 3, .handle = 0},
          {.kind = OpKind::Krealloc, .size = 192, .handle = 0},
          {.kind = OpKind::Krealloc, .size = 100, .gfp = GFP_KERNEL | __GFP_ZERO, .handle = 0},
          {.kind = OpKind::Krealloc, .size = 4000, .handle = 0},
          {.kind = OpKind::Verify, .handle = 0},
      });
}

// corpus/heap/regression-kcalloc-overflow-without-kmalloc (oracle bug): with profile=none an
// overflowing kcalloc is NULL from check_mul_overflow, before the KmallocDisabled warning.
TEST(HeapRegression, OverflowingKcallocWithoutKmallocCaches) {
  km::Config cfg = linux6();
  cfg.profile = km::Profile::None;
  expect_clean(cfg, {
                        {.kind = OpKind::Kcalloc, .size = ~std::uint64_t{0} - 36, .n = 60},
                        {.kind = OpKind::Kmalloc, .size = 8},
                    });
}

// ---- ported from the per-layer oracles

// 64 KiB pages keep the heap's metadata to a page or two (the old buddy tests' heap).
km::Config heap_config(std::size_t pages = 64, std::size_t dma_pages = 0, unsigned max_order = 3) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = max_order;
  cfg.arena_size = pages << 16;
  cfg.dma_zone_size = dma_pages << 16;
  cfg.nr_cpus = 8; // as when these were per-layer oracles (the default was 8)
  return cfg;
}

Op pages(unsigned order, gfp_t gfp = GFP_KERNEL) {
  return {.kind = OpKind::AllocPages, .gfp = gfp, .arg = order};
}
Op free_pages(Handle h, FreeRoute route = FreeRoute::FreePages) {
  return {.kind = OpKind::Free, .handle = h, .route = route};
}
Op free_at(Where where, std::uint64_t offset = 0, FreeRoute route = FreeRoute::FreePages) {
  return {.kind = OpKind::FreeAt,
          .size = offset,
          .arg = static_cast<std::uint32_t>(where),
          .route = route};
}
Op cache_alloc(CacheId c) {
  return {.kind = OpKind::CacheAlloc, .cache = c};
}

// Seed corpus/buddy/double-free (the pattern, not a bug): a free after free_pages and after
// __free_pages must each give exactly one PageDoubleFree and leave the heap unchanged.
TEST(BuddyRegression, SeedDoubleFree) {
  km::Config cfg = heap_config(16);
  cfg.max_caches = 16;
  expect_clean(cfg, {pages(2),
                     free_pages(0),
                     free_pages(0),
                     {.kind = OpKind::Validate},
                     pages(0),
                     free_pages(1, FreeRoute::PageFree),
                     free_pages(1)});
}

// Seed corpus/buddy/foreign-outside: addresses outside the arena, a foreign descriptor, the
// metadata page, free pages, and a live block freed by raw address with a wrong then right order.
// (The raw frees are order 0 now: FreeAt has no order; the wrong order is Free's arg.)
TEST(BuddyRegression, SeedForeignOutside) {
  km::Config cfg = heap_config(16);
  cfg.max_caches = 16;
  const std::uint64_t page = std::uint64_t{1} << cfg.page_shift;
  expect_clean(cfg,
               {
                   pages(0),
                   free_at(Where::Below),
                   free_at(Where::End),
                   free_at(Where::Outside, 1),
                   free_at(Where::Outside, 0, FreeRoute::PageFree),
                   free_at(Where::ArenaPage, 0),
                   free_at(Where::ArenaPage, 15 * page),
                   free_at(Where::ArenaPage, 8 * page),
                   {.kind = OpKind::Free, .handle = 0, .arg = 1, .route = FreeRoute::FreePages},
                   free_pages(0),
                   {.kind = OpKind::Validate},
               });
}

// Allocator fix (cpu_slab.cpp deactivate_slab): a flushed cpu slab without remote frees goes to the
// HEAD of the partial list, so the next allocation takes it, not the older partial slab.
// corpus/slab/regression_deactivate_to_partial_head. The checker only checks slab policy as
// constraints, so the test states where the object must come from (Linux 6.8 deactivate_slab
// adds to the head, get_partial takes the head).
TEST(SlabRegression, DeactivateToPartialHead) {
  km::Config cfg;
  cfg.page_shift = 12;
  cfg.max_order = 10;
  cfg.arena_size = 2097152;
  cfg.dma_zone_size = 0;
  cfg.nr_cpus = 1;
  cfg.slub_max_order = 0;
  cfg.max_caches = 16;
  cfg.random_seed = 24301;
  HeapChecker checker;
  ASSERT_TRUE(checker.init(cfg, nullptr, 0).ok);
  // 512-byte objects, 8 per order-0 slab: #0..#7 fill slab A, #8 starts slab B (the cpu slab).
  std::vector<Op> ops = {{.kind = OpKind::CacheCreate, .size = 512}};
  for (int i = 0; i < 9; ++i)
    ops.push_back(cache_alloc(0));
  ops.push_back(free_pages(0, FreeRoute::Own)); // A becomes partial
  ops.push_back({.kind = OpKind::Flush});       // B is deactivated: to the head, before A
  ops.push_back(cache_alloc(0));                // #9
  try {
    for (const Op& op : ops)
      checker.apply(op);
    const std::uintptr_t slab_b = checker.allocation(8).addr >> cfg.page_shift;
    EXPECT_EQ(checker.allocation(9).addr >> cfg.page_shift, slab_b)
        << "#9 came from the older partial slab, not the deactivated cpu slab";
    checker.finish();
  } catch (const CheckError& e) {
    FAIL() << e.what();
  }
}

// Every buddy op kind on one heap, misuse included: the old BuddyChecker's clean run. Nine ops
// are misuse the allocator must report or refuse (a wrong order, two interior pointers, the
// metadata page, below the arena, no page descriptor, an order past max_order, a gfp bit outside
// __GFP_BITS_MASK, a double free); finish() leaves no page allocated.
TEST(BuddyCheckerTest, CleanRunWithEveryOpKindPasses) {
  const km::Config cfg = heap_config();
  HeapChecker checker;
  ASSERT_TRUE(checker.init(cfg, nullptr, 0).ok);
  const std::vector<Op> ops = {
      pages(0),
      pages(2, GFP_KERNEL | __GFP_ZERO),
      {.kind = OpKind::Verify, .handle = 0},
      {.kind = OpKind::Free, .handle = 1, .arg = 1, .route = FreeRoute::FreePages},
      {.kind = OpKind::Free, .size = 0xffff, .handle = 1, .route = FreeRoute::FreePages},
      {.kind = OpKind::Free, .size = 2, .handle = 1, .route = FreeRoute::FreePages},
      free_at(Where::ArenaPage, 0),
      free_at(Where::Below),
      free_at(Where::Outside, 0, FreeRoute::PageFree),
      {.kind = OpKind::FailNext, .arg = 1},
      pages(0),
      pages(5),
      pages(0, GFP_KERNEL | 0x200u),
      free_pages(1, FreeRoute::PageFree),
      free_pages(1),
      free_pages(2),
      {.kind = OpKind::Validate},
  };
  try {
    for (const Op& op : ops)
      checker.apply(op);
    EXPECT_EQ(checker.misuse_count(), 9u);
    checker.finish();
  } catch (const CheckError& e) {
    FAIL() << e.what();
  }
  EXPECT_EQ(checker.heap().page_counts().page_alloc, 0u);
}

// Two zones: Normal's order-3 blocks run out, a DMA request is served from ZONE_DMA, and
// finish() restores the initial free blocks (AC4).
TEST(BuddyCheckerTest, TwoZonesAndFinishRestoresTheInitialBlocks) {
  std::vector<Op> ops;
  for (int i = 0; i < 6; ++i)
    ops.push_back(pages(3));
  ops.push_back(pages(2, GFP_DMA));
  ops.push_back({.kind = OpKind::Validate});
  expect_clean(heap_config(64, 32, 4), ops);
}

// check_heap_ops runs a sequence and refuses a config the heap cannot build (8 KiB pages).
TEST(BuddyCheckOps, RunsASequenceAndReportsTheOpList) {
  const std::vector<Op> ops = {pages(1), free_pages(0), free_pages(0)};
  EXPECT_NO_THROW(check_heap_ops(heap_config(), ops));
  km::Config bad = heap_config();
  bad.page_shift = 13;
  EXPECT_THROW(check_heap_ops(bad, ops), CheckError);
}

// Slab policies from the spec on a real heap: remote frees from another cpu into cpu 0's full
// slabs, a flush, a debug ctor cache whose first slab's preferred order fails (the fallback is
// the min order), a double free in a debug cache, shrink, and destroy with objects remaining.
TEST(SlabModelPolicy, SequencesFromTheSpecPass) {
  km::Config cfg;
  cfg.nr_cpus = 2;
  cfg.arena_size = std::size_t{4} << 20;
  cfg.dma_zone_size = 0;
  cfg.max_caches = 8;
  cfg.slub_max_order = 0;
  std::vector<Op> ops = {{.kind = OpKind::CacheCreate, .size = 512}}; // 8 per slab
  for (int i = 0; i < 24; ++i)
    ops.push_back(cache_alloc(0));
  ops.push_back({.kind = OpKind::SetCpu, .arg = 1});
  for (Handle h = 0; h < 4; ++h)
    ops.push_back(free_pages(h, FreeRoute::Own)); // remote frees into cpu 0's full slabs
  ops.push_back({.kind = OpKind::SetCpu, .arg = 0});
  ops.push_back({.kind = OpKind::Flush});
  ops.push_back(
      {.kind = OpKind::CacheCreate, .size = 256, .flags = SLAB_CONSISTENCY_CHECKS, .arg = 1});
  ops.push_back({.kind = OpKind::FailNext, .arg = 1});
  ops.push_back(cache_alloc(1)); // #24: preferred order fails, fallback order 0
  ops.push_back(free_pages(24, FreeRoute::Own));
  ops.push_back(free_pages(24, FreeRoute::Own)); // double free: reported
  ops.push_back({.kind = OpKind::CacheShrink, .cache = 0});
  ops.push_back({.kind = OpKind::CacheDestroy, .cache = 0}); // objects remain
  expect_clean(cfg, ops);
}

} // namespace
