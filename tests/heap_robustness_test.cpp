// heap_robustness_test.cpp - a Heap that was never initialised, or whose init failed, and stale
// kmem_cache pointers (issue 7, findings 5 and 7).
//
// Every method of such a heap returns NULL, 0 or false after exactly one HeapUninitialized
// warning, even with the default handler (which only prints warnings). A kmem_cache pointer is
// a handle that is never reused: after kmem_cache_destroy(a), every use of `a` is reported as
// InvalidCache and acted on nowhere, even once a's descriptor holds a new cache.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "kmalloc/kmalloc.h"

namespace {

using km::ErrorKind;
using kmtest::Recorder;

struct Call {
  const char* name;
  // Runs the method; returns true when its result is the "nothing" value (NULL, 0, false).
  std::function<bool(km::Heap&)> run;
};

int g_dummy_object[4];

std::vector<Call> every_method() {
  void* obj = g_dummy_object;
  auto* cache = reinterpret_cast<struct kmem_cache*>(g_dummy_object);
  auto* pg = reinterpret_cast<struct page*>(g_dummy_object);
  char buf[64] = {};
  return {
      {"config", [](km::Heap& h) { return h.config().profile == km::Profile::None; }},
      {"alloc_pages", [](km::Heap& h) { return h.alloc_pages(GFP_KERNEL, 0) == nullptr; }},
      {"free_pages(page)",
       [pg](km::Heap& h) {
         h.free_pages(pg, 0);
         return true;
       }},
      {"get_free_pages", [](km::Heap& h) { return h.get_free_pages(GFP_KERNEL, 0) == 0; }},
      {"free_pages(addr)",
       [](km::Heap& h) {
         h.free_pages(std::uintptr_t{4096}, 0);
         return true;
       }},
      {"page_address", [pg](km::Heap& h) { return h.page_address(pg) == nullptr; }},
      {"virt_to_page", [obj](km::Heap& h) { return h.virt_to_page(obj) == nullptr; }},
      {"page_to_pfn", [pg](km::Heap& h) { return h.page_to_pfn(pg) == 0; }},
      {"get_order", [](km::Heap& h) { return h.get_order(4097) == 0; }},
      {"inject_page_alloc_failures",
       [](km::Heap& h) {
         h.inject_page_alloc_failures(1);
         return true;
       }},
      {"kmem_cache_create",
       [](km::Heap& h) { return h.kmem_cache_create("x", 64, 0, 0, nullptr) == nullptr; }},
      {"kmem_cache_alloc",
       [cache](km::Heap& h) { return h.kmem_cache_alloc(cache, GFP_KERNEL) == nullptr; }},
      {"kmem_cache_zalloc",
       [cache](km::Heap& h) { return h.kmem_cache_zalloc(cache, GFP_KERNEL) == nullptr; }},
      {"kmem_cache_free",
       [cache, obj](km::Heap& h) {
         h.kmem_cache_free(cache, obj);
         return true;
       }},
      {"kmem_cache_destroy",
       [cache](km::Heap& h) {
         h.kmem_cache_destroy(cache);
         return true;
       }},
      {"kmem_cache_shrink", [cache](km::Heap& h) { return h.kmem_cache_shrink(cache) == 0; }},
      {"kmem_cache_flush",
       [cache](km::Heap& h) {
         h.kmem_cache_flush(cache);
         return true;
       }},
      {"flush_cpu_slabs",
       [](km::Heap& h) {
         h.flush_cpu_slabs();
         return true;
       }},
      {"set_cpu",
       [](km::Heap& h) {
         h.set_cpu(1);
         return true;
       }},
      {"kmalloc", [](km::Heap& h) { return h.kmalloc(64, GFP_KERNEL) == nullptr; }},
      {"kzalloc", [](km::Heap& h) { return h.kzalloc(64, GFP_KERNEL) == nullptr; }},
      {"kmalloc_array", [](km::Heap& h) { return h.kmalloc_array(2, 8, GFP_KERNEL) == nullptr; }},
      {"kcalloc", [](km::Heap& h) { return h.kcalloc(2, 8, GFP_KERNEL) == nullptr; }},
      {"krealloc", [obj](km::Heap& h) { return h.krealloc(obj, 64, GFP_KERNEL) == nullptr; }},
      {"krealloc_array",
       [obj](km::Heap& h) { return h.krealloc_array(obj, 2, 8, GFP_KERNEL) == nullptr; }},
      {"kfree",
       [obj](km::Heap& h) {
         h.kfree(obj);
         return true;
       }},
      {"kfree_sensitive",
       [obj](km::Heap& h) {
         h.kfree_sensitive(obj);
         return true;
       }},
      {"ksize", [obj](km::Heap& h) { return h.ksize(obj) == 0; }},
      {"kmalloc_size_roundup", [](km::Heap& h) { return h.kmalloc_size_roundup(5) == 0; }},
      {"kmalloc_index", [](km::Heap& h) { return h.kmalloc_index(64) == -1; }},
      {"kmalloc_cache", [](km::Heap& h) { return h.kmalloc_cache(64, GFP_KERNEL) == nullptr; }},
      {"kmalloc_limits", [](km::Heap& h) { return h.kmalloc_limits().max_size == 0; }},
      {"slab_bytes", [](km::Heap& h) { return h.slab_bytes().unreclaimable == 0; }},
      {"page_size", [](km::Heap& h) { return h.page_size() == 0; }},
      {"arena_start", [](km::Heap& h) { return h.arena_start() == 0; }},
      {"arena_pages", [](km::Heap& h) { return h.arena_pages() == 0; }},
      {"nr_zones", [](km::Heap& h) { return h.nr_zones() == 0; }},
      {"zone_info", [](km::Heap& h) { return h.zone_info(0).spanned_pages == 0; }},
      {"page_info", [obj](km::Heap& h) { return !h.page_info(obj).in_arena; }},
      {"page_counts", [](km::Heap& h) { return h.page_counts().total == 0; }},
      {"for_each_free_block",
       [](km::Heap& h) {
         int n = 0;
         h.for_each_free_block([](void* c, const km::FreeBlock&) { ++*static_cast<int*>(c); }, &n);
         return n == 0;
       }},
      {"cache_info", [cache](km::Heap& h) { return h.cache_info(cache).size == 0; }},
      {"for_each_cache",
       [](km::Heap& h) {
         int n = 0;
         h.for_each_cache([](void* c, const struct kmem_cache*) { ++*static_cast<int*>(c); }, &n);
         return n == 0;
       }},
      {"slab_object", [obj](km::Heap& h) { return h.slab_object(obj).cache == nullptr; }},
      {"slabinfo", [buf](km::Heap& h) mutable { return h.slabinfo(buf, sizeof buf) == 0; }},
      {"buddyinfo", [buf](km::Heap& h) mutable { return h.buddyinfo(buf, sizeof buf) == 0; }},
      {"metadata_info", [](km::Heap& h) { return h.metadata_info().reserved == 0; }},
      {"validate", [](km::Heap& h) { return h.validate() == 0; }},
  };
}

void expect_every_method_is_refused(km::Heap& heap) {
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  for (const Call& call : every_method()) {
    rec.clear();
    EXPECT_TRUE(call.run(heap)) << call.name << " did not return its nothing value";
    ASSERT_EQ(rec.size(), 1u) << call.name << ":\n" << rec.dump();
    EXPECT_EQ(rec.reports[0].kind, ErrorKind::HeapUninitialized) << call.name;
    EXPECT_TRUE(km::error_kind_is_warning(rec.reports[0].kind));
    EXPECT_NE(rec.reports[0].message.find("not initialised"), std::string::npos)
        << rec.reports[0].message;
  }
  EXPECT_FALSE(heap.initialized());
}

// Finding 5: every method of a never-initialised heap segfaulted (all but kfree(NULL)).
TEST(UninitialisedHeap, EveryMethodIsRefusedWithOneWarning) {
  km::Heap heap;
  expect_every_method_is_refused(heap);
}

TEST(UninitialisedHeap, AfterAFailedInitToo) {
  km::Heap heap;
  km::Config cfg;
  cfg.page_shift = 13; // rejected
  ASSERT_FALSE(heap.init(cfg).ok);
  expect_every_method_is_refused(heap);
  km::Heap region_heap;
  alignas(4096) static unsigned char tiny[4 * 4096];
  ASSERT_FALSE(region_heap.init(km::Config{}, tiny, sizeof tiny).ok);
  expect_every_method_is_refused(region_heap);
}

TEST(UninitialisedHeap, AfterDestroyToo) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(kmtest::make_config(12, 4, 64, 0)).ok);
  heap.destroy();
  expect_every_method_is_refused(heap);
}

TEST(UninitialisedHeap, NullFreesAreSilentNoOps) {
  km::Heap heap;
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  heap.kfree(nullptr);
  heap.kfree(ZERO_SIZE_PTR);
  heap.kfree_sensitive(nullptr);
  heap.free_pages(static_cast<struct page*>(nullptr), 0);
  heap.free_pages(std::uintptr_t{0}, 0);
  EXPECT_EQ(heap.ksize(nullptr), 0u);
  EXPECT_EQ(heap.ksize(ZERO_SIZE_PTR), 0u);
  EXPECT_EQ(rec.size(), 0u) << rec.dump();
}

// The handler set before init is the one init's heap uses, and it survives a failed init.
TEST(UninitialisedHeap, HandlerSetBeforeInitApplies) {
  km::Heap heap;
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  km::Config bad;
  bad.page_shift = 13;
  ASSERT_FALSE(heap.init(bad).ok);
  ASSERT_TRUE(heap.init(kmtest::make_config(12, 4, 64, 0)).ok);
  EXPECT_EQ(heap.alloc_pages(GFP_KERNEL, 9), nullptr); // order above MAX_ORDER: a warning
  ASSERT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(rec.reports[0].kind, ErrorKind::OrderTooLarge);
}

// With the default handler the warnings print and the program goes on.
TEST(UninitialisedHeapDeathTest, DefaultHandlerDoesNotAbort) {
  EXPECT_EXIT(
      {
        km::Heap heap;
        for (const Call& call : every_method())
          if (!call.run(heap))
            std::_Exit(1);
        std::_Exit(heap.initialized() ? 1 : 0);
      },
      testing::ExitedWithCode(0), "kmalloc: WARNING: kmalloc on a heap that is not initialised");
}

// ---- stale kmem_cache pointers

km::Config stale_config() {
  km::Config cfg = kmtest::make_config(12, 4, 256, 0);
  cfg.max_caches = 4;
  cfg.random_seed = 1;
  return cfg;
}

// Finding 7: after kmem_cache_destroy(a), kmem_cache_create("b") reused a's descriptor, and a
// second kmem_cache_destroy(a) silently destroyed b.
TEST(StaleCache, DestroyingAStaleHandleLeavesTheNewCacheAlone) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(stale_config()).ok);
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  struct kmem_cache* a = heap.kmem_cache_create("a", 64, 0, 0, nullptr);
  ASSERT_NE(a, nullptr);
  heap.kmem_cache_destroy(a);
  struct kmem_cache* b = heap.kmem_cache_create("b", 64, 0, 0, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  void* obj = heap.kmem_cache_alloc(b, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  heap.kmem_cache_destroy(a);
  ASSERT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(rec.reports[0].kind, ErrorKind::InvalidCache);
  EXPECT_EQ(rec.reports[0].address, reinterpret_cast<std::uintptr_t>(a));
  EXPECT_STREQ(heap.cache_info(b).name, "b");
  EXPECT_EQ(heap.slab_object(obj).cache, b);
  heap.kmem_cache_free(b, obj);
  heap.kmem_cache_destroy(b);
  EXPECT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
}

// More caches than max_caches are created and destroyed, every old pointer kept: each use of a
// stale one is reported (InvalidCache) and changes nothing, while the live caches keep working.
TEST(StaleCache, EveryUseOfEveryStalePointerIsReported) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(stale_config()).ok);
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  struct kmem_cache* live = heap.kmem_cache_create("live", 128, 0, 0, nullptr);
  ASSERT_NE(live, nullptr);
  void* live_obj = heap.kmem_cache_alloc(live, GFP_KERNEL);
  ASSERT_NE(live_obj, nullptr);
  std::vector<struct kmem_cache*> stale;
  for (int round = 0; round < 12; ++round) { // 3 * max_caches creations in the other slots
    struct kmem_cache* c = heap.kmem_cache_create("gone", 64, 0, 0, nullptr);
    ASSERT_NE(c, nullptr) << round;
    void* o = heap.kmem_cache_alloc(c, GFP_KERNEL);
    heap.kmem_cache_free(c, o);
    heap.kmem_cache_destroy(c);
    stale.push_back(c);
  }
  // A cache holds a slot that every stale pointer once named.
  struct kmem_cache* fresh = heap.kmem_cache_create("fresh", 64, 0, 0, nullptr);
  ASSERT_NE(fresh, nullptr);
  void* fresh_obj = heap.kmem_cache_alloc(fresh, GFP_KERNEL);
  ASSERT_NE(fresh_obj, nullptr);
  EXPECT_EQ(std::set<struct kmem_cache*>(stale.begin(), stale.end()).size(), stale.size());
  ASSERT_EQ(rec.size(), 0u) << rec.dump();
  const km::PageCounts before = heap.page_counts();
  for (struct kmem_cache* s : stale) {
    EXPECT_NE(s, fresh);
    EXPECT_NE(s, live);
    rec.clear();
    EXPECT_EQ(heap.kmem_cache_alloc(s, GFP_KERNEL), nullptr);
    EXPECT_EQ(heap.kmem_cache_zalloc(s, GFP_KERNEL), nullptr);
    heap.kmem_cache_free(s, fresh_obj);
    heap.kmem_cache_destroy(s);
    EXPECT_EQ(heap.kmem_cache_shrink(s), 0);
    heap.kmem_cache_flush(s);
    ASSERT_EQ(rec.size(), 6u) << rec.dump();
    EXPECT_EQ(rec.count(ErrorKind::InvalidCache), 6u) << rec.dump();
    EXPECT_STREQ(heap.cache_info(s).name, "(not a live cache)");
  }
  EXPECT_EQ(heap.page_counts().slab, before.slab);
  EXPECT_STREQ(heap.cache_info(fresh).name, "fresh");
  EXPECT_EQ(heap.cache_info(fresh).free_objects + 1, heap.cache_info(fresh).total_objects);
  EXPECT_EQ(heap.slab_object(fresh_obj).cache, fresh); // not freed by the stale frees
  rec.clear();
  heap.kmem_cache_free(fresh, fresh_obj);
  heap.kmem_cache_destroy(fresh);
  heap.kmem_cache_free(live, live_obj);
  heap.kmem_cache_destroy(live);
  EXPECT_EQ(rec.size(), 0u) << rec.dump();
  EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
}

// Handles name their heap's caches in every answer the heap gives: page_info, slab_object,
// for_each_cache and kmalloc_cache return the handle kmem_cache_create returned.
TEST(StaleCache, IntrospectionReturnsTheSameHandles) {
  km::Heap heap;
  km::Config cfg = stale_config();
  cfg.profile = km::Profile::Linux6;
  cfg.arena_size = 8u << 20;
  ASSERT_TRUE(heap.init(cfg).ok);
  struct kmem_cache* c = heap.kmem_cache_create("mine", 200, 0, 0, nullptr);
  void* obj = heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(heap.page_info(obj).cache, c);
  EXPECT_EQ(heap.slab_object(obj).cache, c);
  bool listed = false;
  struct Ctx {
    struct kmem_cache* c;
    bool* listed;
  } ctx{c, &listed};
  heap.for_each_cache(
      [](void* p, const struct kmem_cache* s) {
        auto* x = static_cast<Ctx*>(p);
        *x->listed |= s == x->c;
      },
      &ctx);
  EXPECT_TRUE(listed);
  void* small = heap.kmalloc(64, GFP_KERNEL);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(heap.slab_object(small).cache, heap.kmalloc_cache(64, GFP_KERNEL));
  EXPECT_STREQ(heap.cache_info(heap.kmalloc_cache(64, GFP_KERNEL)).name, "kmalloc-64");
  heap.kfree(small);
  heap.kmem_cache_free(c, obj);
  heap.kmem_cache_destroy(c);
}

// A slot reused 65535 times has used up its handle values: it is retired, so no handle value
// ever comes back. (The next slot takes over.)
TEST(StaleCache, HandlesAreNeverReusedEvenAfterManyGenerations) {
  km::Heap heap;
  km::Config cfg = stale_config();
  cfg.max_caches = 2;
  ASSERT_TRUE(heap.init(cfg).ok);
  std::set<struct kmem_cache*> seen;
  for (int i = 0; i < 65536 + 10; ++i) {
    struct kmem_cache* c = heap.kmem_cache_create("cycle", 32, 0, 0, nullptr);
    ASSERT_NE(c, nullptr) << i;
    ASSERT_TRUE(seen.insert(c).second) << "handle reused at creation " << i;
    heap.kmem_cache_destroy(c);
  }
  EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
}

} // namespace
