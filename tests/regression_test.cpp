// regression_test.cpp - named regressions: one TEST per fuzz finding or fixed bug, holding the
// decoded op list of its minimised input (corpus/<target>/crash-<what> or a named seed).
//
// How to add one (corpus/README.md): print the input as C++ with
//   KMALLOC_FUZZ_TRACE=cpp build/dev/fuzz/fuzz_<target>_replay corpus/<target>/<file>
// paste the config and op list into a TEST named after the bug, and say in one line what broke.
// check_ops() / check_slab_ops() run the ops through the checker on a fresh heap, then free
// everything and check AC4; any difference throws CheckError with the printed op list.
#include <gtest/gtest.h>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "model/checker.h"
#include "model/op.h"
#include "model/slab_checker.h"
#include "model/slab_op.h"

namespace {

using namespace km::model;

void expect_clean(const km::Config& cfg, std::span<const Op> ops) {
  try {
    check_ops(cfg, ops);
  } catch (const CheckError& e) {
    FAIL() << e.what();
  }
}

// Seed corpus/buddy/double-free (the pattern, not a bug): a free after free_pages and after
// __free_pages must each give exactly one PageDoubleFree and leave the heap unchanged.
TEST(BuddyRegression, SeedDoubleFree) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = 3;
  cfg.arena_size = 1048576;
  cfg.dma_zone_size = 0;
  cfg.max_caches = 16;
  const Op ops[] = {
      AllocPages{2, 0xcc0}, Fill{0},       FreePages{0},
      DoubleFree{0},        ValidateAll{}, AllocPages{0, 0xcc0},
      FreePages{1, true},   DoubleFree{1},
  };
  expect_clean(cfg, ops);
}

// Seed corpus/buddy/foreign-outside: addresses outside the arena, a foreign descriptor, the
// metadata page, free pages, and a live block freed by raw address with a wrong then right order.
TEST(BuddyRegression, SeedForeignOutside) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = 3;
  cfg.arena_size = 1048576;
  cfg.dma_zone_size = 0;
  cfg.max_caches = 16;
  const Op ops[] = {
      AllocPages{0, 0xcc0},
      FreeOutside{Outside::Below},
      FreeOutside{Outside::End},
      FreeOutside{Outside::Unaligned},
      FreeOutside{Outside::ForeignPage},
      FreeRaw{0, 0},
      FreeRaw{15, 0},
      FreeRaw{8, 3},
      FreeRaw{1, 1},
      FreeRaw{1, 0},
      ValidateAll{},
  };
  expect_clean(cfg, ops);
}

} // namespace

namespace {

namespace sl = km::model::slab;

// Allocator fix (slub.cpp deactivate_slab): a flushed cpu slab without remote frees goes to the
// HEAD of the partial list, so the next allocation takes it, not the older partial slab.
// corpus/slab/regression_deactivate_to_partial_head.
TEST(SlabRegression, DeactivateToPartialHead) {
  km::Config cfg;
  cfg.page_shift = 12;
  cfg.max_order = 10;
  cfg.arena_size = 2097152;
  cfg.dma_zone_size = 0;
  cfg.nr_cpus = 1;
  cfg.slub_max_order = 0;
  cfg.slub_min_objects = 0;
  cfg.cache_line_size = 64;
  cfg.max_caches = 16;
  cfg.freelist_hardened = true;
  cfg.random_seed = 24301;
  using namespace sl;
  const sl::Op ops[] = {
      CacheCreate{512, 0, 0, false}, CacheAlloc{0, 0xcc0}, CacheAlloc{0, 0xcc0},
      CacheAlloc{0, 0xcc0},          CacheAlloc{0, 0xcc0}, CacheAlloc{0, 0xcc0},
      CacheAlloc{0, 0xcc0},          CacheAlloc{0, 0xcc0}, CacheAlloc{0, 0xcc0},
      CacheAlloc{0, 0xcc0},          CacheFree{0},         Flush{0},
      CacheAlloc{0, 0xcc0},
  };
  EXPECT_NO_THROW(sl::check_slab_ops(cfg, ops));
}

} // namespace
