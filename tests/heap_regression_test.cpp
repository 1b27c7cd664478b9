// heap_regression_test.cpp - named regressions of the whole-heap oracle: one TEST per fuzz_heap
// finding, holding the minimised op list of corpus/heap/regression-<name> (printed with
// KMALLOC_FUZZ_TRACE=cpp build/dev/fuzz/fuzz_heap_replay corpus/heap/<file>, then cut down to
// the ops that matter). check_heap_ops runs them on a fresh heap, frees everything and checks
// AC4; a difference throws CheckError with the printed op list.
#include <gtest/gtest.h>

#include <vector>

#include "kmalloc/config.h"
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

} // namespace
