// tests/slab_model_test.cpp - the slab model against hand-written expectations (the kernel's
// worked numbers, linux-facts.md section 4), and one test per SlabChecker comparison that breaks
// the heap on purpose (through Heap::state_for_testing) and shows the checker notices.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heap_state.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "kmalloc/slab.h"
#include "model/checker.h"
#include "model/slab_checker.h"
#include "model/slab_model.h"
#include "model/slab_op.h"

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

// ---- the model's policies, through the checker on a real heap

TEST(SlabModelPolicy, SequencesFromTheSpecPass) {
  km::Config cfg = eight_cpus();
  cfg.nr_cpus = 2;
  cfg.slub_max_order = 0;
  std::vector<sl::Op> ops = {
      sl::CacheCreate{512, 0, 0, false}, // 8 per slab, min_partial 5
  };
  for (int i = 0; i < 24; ++i)
    ops.push_back(sl::CacheAlloc{0, GFP_KERNEL});
  ops.push_back(sl::SetCpu{1});
  for (sl::ObjectId i = 0; i < 4; ++i)
    ops.push_back(sl::CacheFree{i}); // remote frees into cpu 0's full slabs
  ops.push_back(sl::SetCpu{0});
  ops.push_back(sl::FlushAll{});
  ops.push_back(sl::InjectPageFailures{1});
  ops.push_back(sl::CacheCreate{256, 0, SLAB_CONSISTENCY_CHECKS, true});
  ops.push_back(sl::CacheAlloc{1, GFP_KERNEL}); // preferred order fails, fallback order 0
  ops.push_back(sl::CacheFree{24});
  ops.push_back(sl::DoubleFree{24});
  ops.push_back(sl::Shrink{0});
  ops.push_back(sl::Destroy{0}); // objects remain
  EXPECT_NO_THROW(sl::check_slab_ops(cfg, ops));
}

// ---- each comparison fires when the heap is broken on purpose

struct Broken : ::testing::Test {
  sl::SlabChecker checker;
  km::HeapState* state = nullptr;
  void SetUp() override {
    km::Config cfg = eight_cpus();
    cfg.nr_cpus = 1;
    cfg.slub_max_order = 0;
    ASSERT_TRUE(checker.init(cfg).ok);
    state = checker.heap().state_for_testing();
    checker.apply(sl::CacheCreate{64, 0, 0, false});
    checker.apply(sl::CacheAlloc{0, GFP_KERNEL});
    checker.apply(sl::CacheAlloc{0, GFP_KERNEL});
  }
  // The descriptors behind the model's cache handles.
  kmem_cache* cache_desc(unsigned i) const {
    return state->slabs.resolve(reinterpret_cast<kmem_cache*>(checker.model().cache(i).ptr));
  }
  kmem_cache* cache0() const { return cache_desc(0); }
  void* object(sl::ObjectId id) const {
    return reinterpret_cast<void*>(checker.model().object(id).addr);
  }
  // Runs op and returns the checker's message ("" if it passed).
  std::string run(const sl::Op& op) {
    try {
      checker.apply(op);
    } catch (const km::model::CheckError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(Broken, CountersAC1) {
  ++cache0()->nr_slabs;
  EXPECT_NE(run(sl::SetCpu{0}).find("counters"), std::string::npos);
  --cache0()->nr_slabs;
}

TEST_F(Broken, LayoutIsRechecked) {
  cache0()->layout.min_partial = 9;
  EXPECT_NE(run(sl::ValidateAll{}).find("cache_info(c0)"), std::string::npos);
  cache0()->layout.min_partial = 5;
}

TEST_F(Broken, AllocationOutsideTheAllowedSet) {
  // The cpu freelist now starts at live object #0.
  cache0()->cpu_slab[0].freelist = object(0);
  EXPECT_NE(run(sl::CacheAlloc{0, GFP_KERNEL}).find("not on the cpu freelist"), std::string::npos);
}

TEST_F(Broken, UnexpectedReport) {
  // The slab claims another cache: a plain free is reported as a wrong-cache free.
  checker.apply(sl::CacheCreate{64, 0, 0, false});
  page* head = state->pages.virt_to_page(reinterpret_cast<std::uintptr_t>(object(0)));
  head->slab_cache = cache_desc(1);
  EXPECT_NE(run(sl::CacheFree{0}).find("expected no report"), std::string::npos);
  head->slab_cache = cache0();
}

TEST_F(Broken, PageCountsAC2) {
  page* p = state->pages.alloc(GFP_KERNEL, 0, km::PageOwner::Slab);
  ASSERT_NE(p, nullptr);
  EXPECT_NE(run(sl::SetCpu{0}).find("page_counts"), std::string::npos);
}

TEST_F(Broken, ValidateMustBeClean) {
  checker.apply(sl::FlushAll{}); // the slab is partial now; its freelist is the slab's own
  page* head = state->pages.virt_to_page(reinterpret_cast<std::uintptr_t>(object(0)));
  ASSERT_NE(head->freelist, nullptr);
  state->slabs.set_freepointer(cache0(), head->freelist, reinterpret_cast<void*>(0x10));
  EXPECT_NE(run(sl::SetCpu{0}).find("validate()"), std::string::npos);
}

TEST_F(Broken, FillPatternNO2) {
  static_cast<unsigned char*>(object(1))[63] ^= 0xff;
  EXPECT_NE(run(sl::Verify{1}).find("fill pattern"), std::string::npos);
}

TEST_F(Broken, ConstructorCalls) {
  checker.apply(sl::CacheCreate{40, 0, 0, true});
  cache_desc(1)->ctor = nullptr;
  EXPECT_NE(run(sl::CacheAlloc{1, GFP_KERNEL}).find("constructor ran 0 times"), std::string::npos);
}

TEST_F(Broken, ShrinkResult) {
  // A slab the cache does not know about is still counted: shrink cannot reach 0.
  checker.apply(sl::CacheFree{0});
  checker.apply(sl::CacheFree{1});
  ++cache0()->nr_slabs;
  const std::string msg = run(sl::Shrink{0});
  EXPECT_NE(msg.find("kmem_cache_shrink returned 1, expected 0"), std::string::npos) << msg;
  --cache0()->nr_slabs;
}

} // namespace
