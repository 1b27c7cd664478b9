// tests/slab_layout_spec_test.cpp - the slab layout specification (model/slab_layout_spec.h)
// against hand-written expectations: the kernel's worked numbers (linux-facts.md section 4),
// calculate_alignment, the free pointer of ctor caches, min_partial and the refused caches.
// tests/slab_layout_kernel_test.cpp checks it against real kernels' /proc/slabinfo rows.
#include <gtest/gtest.h>

#include "kmalloc/config.h"
#include "kmalloc/slab.h"
#include "model/slab_layout_spec.h"

namespace {

namespace sl = km::model::slab;

km::Config eight_cpus() {
  km::Config cfg;
  cfg.nr_cpus = 8;
  cfg.arena_size = std::size_t{4} << 20;
  cfg.dma_zone_size = 0;
  cfg.max_caches = 8;
  return cfg;
}

TEST(SlabModelLayout, KernelWorkedNumbersWithEightCpus) {
  const km::Config cfg = eight_cpus();
  struct Row {
    unsigned size, objects, order;
  };
  const Row rows[] = {{8, 512, 0},   {16, 256, 0}, {32, 128, 0}, {64, 64, 0},  {96, 42, 0},
                      {128, 32, 0},  {192, 21, 0}, {256, 32, 1}, {512, 32, 2}, {1024, 32, 3},
                      {2048, 16, 3}, {4096, 8, 3}, {8192, 4, 3}};
  for (const Row& r : rows) {
    const sl::ModelLayout l = sl::calc_layout(cfg, r.size, 0, 0, false);
    ASSERT_TRUE(l.ok) << r.size;
    EXPECT_EQ(l.size, r.size);
    EXPECT_EQ(l.objects, r.objects) << "kmalloc-" << r.size;
    EXPECT_EQ(l.order, r.order) << "kmalloc-" << r.size;
  }
}

TEST(SlabModelLayout, MinObjectsFollowCpuCount) {
  km::Config cfg = eight_cpus();
  cfg.nr_cpus = 1; // min_objects 8: 256 * 8 = 2048 fits order 0
  EXPECT_EQ(sl::calc_order(256, cfg), 0);
  cfg.nr_cpus = 16; // min_objects 24: 256 * 24 = 6144 needs order 1
  EXPECT_EQ(sl::calc_order(256, cfg), 1);
  cfg.slub_min_objects = 4; // explicit: 1024 * 4 = order 0
  EXPECT_EQ(sl::calc_order(1024, cfg), 0);
  cfg.slub_min_objects = 0;
  cfg.slub_max_order = 0; // 2048-byte objects: 2 per page, nothing better allowed
  EXPECT_EQ(sl::calc_order(2048, cfg), 0);
}

TEST(SlabModelLayout, AlignmentAsCalculateAlignment) {
  EXPECT_EQ(sl::calc_alignment(SLAB_HWCACHE_ALIGN, 0, 20, 64), 32u);
  EXPECT_EQ(sl::calc_alignment(SLAB_HWCACHE_ALIGN, 0, 8, 64), 8u);
  EXPECT_EQ(sl::calc_alignment(SLAB_HWCACHE_ALIGN, 0, 100, 64), 64u);
  EXPECT_EQ(sl::calc_alignment(0, 0, 100, 64), 8u);
  EXPECT_EQ(sl::calc_alignment(0, 128, 8, 64), 128u);
  const sl::ModelLayout l = sl::calc_layout(eight_cpus(), 20, 0, SLAB_HWCACHE_ALIGN, false);
  EXPECT_EQ(l.align, 32u);
  EXPECT_EQ(l.size, 32u);
}

TEST(SlabModelLayout, CtorMovesTheFreePointerOutside) {
  const km::Config cfg = eight_cpus();
  const sl::ModelLayout plain = sl::calc_layout(cfg, 40, 0, 0, false);
  EXPECT_EQ(plain.offset, 16u); // ALIGN_DOWN(40 / 2, 8)
  EXPECT_EQ(plain.size, 40u);
  const sl::ModelLayout ctor = sl::calc_layout(cfg, 40, 0, 0, true);
  EXPECT_EQ(ctor.offset, 40u);
  EXPECT_EQ(ctor.size, 48u);
  const sl::ModelLayout odd = sl::calc_layout(cfg, 13, 0, 0, true);
  EXPECT_EQ(odd.offset, 16u);
  EXPECT_EQ(odd.size, 24u);
}

TEST(SlabModelLayout, MinPartialIsHalfLog2Clamped) {
  EXPECT_EQ(sl::calc_min_partial(8), 5u);
  EXPECT_EQ(sl::calc_min_partial(4096), 6u);
  EXPECT_EQ(sl::calc_min_partial(16384), 7u);
  EXPECT_EQ(sl::calc_min_partial(1u << 20), 10u);
  EXPECT_EQ(sl::calc_min_partial(1u << 24), 10u);
}

TEST(SlabModelLayout, RefusedCaches) {
  km::Config cfg = eight_cpus();
  cfg.max_order = 2;
  EXPECT_FALSE(sl::calc_layout(cfg, 0, 0, 0, false).ok);
  EXPECT_FALSE(sl::calc_layout(cfg, 64, 24, 0, false).ok);
  EXPECT_FALSE(sl::calc_layout(cfg, 64, 0, SLAB_RED_ZONE, false).ok);
  EXPECT_FALSE(sl::calc_layout(cfg, 64, 0, SLAB_TYPESAFE_BY_RCU, false).ok);
  EXPECT_TRUE(sl::calc_layout(cfg, 16384, 0, 0, false).ok);
  EXPECT_FALSE(sl::calc_layout(cfg, 16385, 0, 0, false).ok); // get_order 3 > max_order 2
}

} // namespace
