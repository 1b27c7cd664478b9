// slab_death_test.cpp - the slab layer with the default report handler: misuse and corruption
// print their message and abort; the warnings (CacheCreateFailed, ObjectsRemaining) print and
// the program goes on.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "heap_state.h"
#include "kmalloc/heap.h"

namespace {

km::Config small_config() {
  km::Config cfg;
  cfg.arena_size = 2u << 20;
  cfg.max_order = 9;
  cfg.dma_zone_size = 0;
  cfg.random_seed = 0xdea7u;
  cfg.profile = km::Profile::None; // the slab layer alone: no kmalloc caches
  return cfg;
}

class SlabDeathTest : public testing::Test {
protected:
  void SetUp() override {
    testing::FLAGS_gtest_death_test_style = "threadsafe";
    ASSERT_TRUE(heap.init(small_config()).ok);
    a = heap.kmem_cache_create("death-a", 64, 0, 0, nullptr);
    b = heap.kmem_cache_create("death-b", 128, 0, 0, nullptr);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    obj = heap.kmem_cache_alloc(a, GFP_KERNEL);
    ASSERT_NE(obj, nullptr);
  }

  km::Heap heap;
  kmem_cache* a = nullptr;
  kmem_cache* b = nullptr;
  void* obj = nullptr;
};

TEST_F(SlabDeathTest, WrongCacheAborts) {
  EXPECT_DEATH(heap.kmem_cache_free(b, obj),
               "kmalloc: kmem_cache_free: Wrong slab cache\\. death-b but object 0x[0-9a-f]+ is "
               "from death-a");
}

TEST_F(SlabDeathTest, InteriorPointerAborts) {
  EXPECT_DEATH(heap.kmem_cache_free(a, static_cast<char*>(obj) + 8),
               "kmalloc: BUG death-a: Invalid object pointer 0x[0-9a-f]+ \\(not at an object "
               "boundary\\)");
}

TEST_F(SlabDeathTest, PointerOutsideTheHeapAborts) {
  static int outside = 0;
  EXPECT_DEATH(heap.kmem_cache_free(a, &outside),
               "kmalloc: BUG death-a: Invalid object pointer 0x[0-9a-f]+ \\(outside the heap\\)");
}

TEST_F(SlabDeathTest, DoubleFreeAborts) {
  heap.kmem_cache_free(a, obj);
  EXPECT_DEATH(heap.kmem_cache_free(a, obj),
               "kmalloc: BUG death-a: Object already free 0x[0-9a-f]+");
}

TEST_F(SlabDeathTest, InvalidCacheAborts) {
  static int not_a_cache = 0;
  EXPECT_DEATH(heap.kmem_cache_free(reinterpret_cast<kmem_cache*>(&not_a_cache), obj),
               "kmalloc: BUG: kmem_cache_free: 0x[0-9a-f]+ is not a live kmem_cache of this heap");
  EXPECT_DEATH(heap.kmem_cache_alloc(reinterpret_cast<kmem_cache*>(&not_a_cache), GFP_KERNEL),
               "kmalloc: BUG: kmem_cache_alloc: 0x[0-9a-f]+ is not a live kmem_cache of this "
               "heap");
}

TEST_F(SlabDeathTest, SlabPanicAborts) {
  EXPECT_DEATH(heap.kmem_cache_create("death-panic", 0, 0, SLAB_PANIC, nullptr),
               "kmalloc: kmem_cache_create\\(death-panic\\) failed: size is 0");
}

TEST_F(SlabDeathTest, FreelistCorruptAborts) {
  kmem_cache* dbg = heap.kmem_cache_create("death-dbg", 64, 0, SLAB_CONSISTENCY_CHECKS, nullptr);
  ASSERT_NE(dbg, nullptr);
  ASSERT_NE(heap.kmem_cache_alloc(dbg, GFP_KERNEL), nullptr);
  km::SlabAllocator& sa = heap.state_for_testing()->slabs;
  kmem_cache* desc = sa.resolve(dbg);                        // the descriptor behind the handle
  sa.set_freepointer(desc, desc->cpu_slab[0].freelist, obj); // obj is in death-a's slab
  EXPECT_DEATH(heap.kmem_cache_alloc(dbg, GFP_KERNEL),
               "kmalloc: BUG death-dbg: Freepointer corrupt at object 0x[0-9a-f]+; slab isolated");
}

TEST_F(SlabDeathTest, CacheCreateFailedOnlyWarns) {
  EXPECT_EXIT(
      {
        kmem_cache* c = heap.kmem_cache_create("death-bad", 64, 3, 0, nullptr);
        std::_Exit(c == nullptr ? 0 : 1);
      },
      testing::ExitedWithCode(0),
      "kmalloc: WARNING: kmem_cache_create\\(death-bad\\) failed: align is not a power of two");
  // In this process too: printed, not fatal.
  testing::internal::CaptureStderr();
  kmem_cache* c = heap.kmem_cache_create(nullptr, 64, 0, 0, nullptr);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(err, "kmalloc: WARNING: kmem_cache_create((null)) failed: name is NULL or empty\n");
}

TEST_F(SlabDeathTest, ObjectsRemainingOnlyWarns) {
  EXPECT_EXIT(
      {
        heap.kmem_cache_destroy(a);
        // The cache is still alive and usable after the warning.
        void* p = heap.kmem_cache_alloc(a, GFP_KERNEL);
        std::_Exit(p != nullptr ? 0 : 1);
      },
      testing::ExitedWithCode(0),
      "kmalloc: WARNING: kmem_cache_destroy death-a: Slab cache still has objects \\(1 "
      "remaining\\); the cache is left alive");
  testing::internal::CaptureStderr();
  heap.kmem_cache_destroy(a);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "kmalloc: WARNING: kmem_cache_destroy death-a: Slab cache still has objects (1 "
                 "remaining); the cache is left alive\n");
  heap.kmem_cache_free(a, obj);
  heap.kmem_cache_destroy(a); // now silent
  EXPECT_EQ(heap.validate(), 0u);
}

} // namespace
