// slab_validate_test.cpp - every check of SlabAllocator::validate / validate_cache /
// validate_slab fires on a heap corrupted on purpose (through Heap::state_for_testing()), with
// its invariant id and text, and only that check fires; repairing the damage validates to 0.
// Also: a SLAB_CONSISTENCY_CHECKS cache catches a corrupted free pointer at allocation time.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <regex>
#include <string>
#include <vector>

#include "heap_state.h"
#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "model/text.h"

namespace {

using km::ErrorKind;
using kmtest::Recorder;

using km::oracle::hex;
std::string hex(const void* p) {
  return hex(reinterpret_cast<std::uintptr_t>(p));
}

km::Config small_config() {
  km::Config cfg;
  cfg.arena_size = 2u << 20;
  cfg.max_order = 9;
  cfg.dma_zone_size = 0;
  cfg.nr_cpus = 8;
  cfg.random_seed = 0xabcdef12u;
  cfg.profile = km::Profile::None; // the slab layer alone: no kmalloc caches
  return cfg;
}

// A heap holding a cache "val-64" (64 objects per order-0 slab) in every state:
//   full list:    S0 (64 in use)
//   partial list: S1 (63 in use, free object f1), S2 (63 in use, free object f2)
//   cpu 0's slab: S3 (11 allocated, 53 on cpu 0's freelist)
// and an empty cache "val-other".
class SlabValidate : public testing::Test {
protected:
  void SetUp() override {
    const km::Status st = heap.init(small_config());
    ASSERT_TRUE(st.ok) << st.message;
    heap.set_report_handler(Recorder::handle, &rec);
    state = heap.state_for_testing();
    ASSERT_NE(state, nullptr);
    sa = &state->slabs;
    pa = &state->pages;
    ch = heap.kmem_cache_create("val-64", 64, 0, 0, nullptr);
    oh = heap.kmem_cache_create("val-other", 64, 0, 0, nullptr);
    ASSERT_NE(ch, nullptr);
    ASSERT_NE(oh, nullptr);
    // The heap hands out handles; the corruption below works on the descriptors behind them.
    c = sa->resolve(ch);
    other = sa->resolve(oh);
    ASSERT_NE(c, nullptr);
    ASSERT_NE(other, nullptr);
    heap.set_cpu(0);
    for (int i = 0; i < 64 * 3 + 10; ++i) {
      objs.push_back(heap.kmem_cache_alloc(ch, GFP_KERNEL));
      ASSERT_NE(objs.back(), nullptr);
    }
    heap.kmem_cache_flush(ch); // S0, S1, S2 full; S3 partial
    f1 = objs[64 + 5];
    f2 = objs[128 + 7];
    heap.kmem_cache_free(ch, f1);
    heap.kmem_cache_free(ch, f2);
    void* more = heap.kmem_cache_alloc(ch, GFP_KERNEL); // takes S3 back as the cpu slab
    ASSERT_NE(more, nullptr);
    objs.push_back(more);
    s0 = slab_of(objs[0]);
    s1 = slab_of(f1);
    s2 = slab_of(f2);
    s3 = slab_of(objs[192]);
    ASSERT_EQ(c->full.length(), 1u);
    ASSERT_EQ(c->full.front(), s0);
    ASSERT_EQ(c->partial.length(), 2u);
    ASSERT_EQ(c->partial.front(), s1);
    ASSERT_EQ(c->cpu_slab[0].slab, s3);
    ASSERT_EQ(s3->inuse, 64u);
    ASSERT_EQ(s1->inuse, 63u);
    ASSERT_EQ(rec.size(), 0u) << rec.dump();
    ASSERT_EQ(heap.validate(), 0u);
  }

  page* slab_of(const void* obj) const {
    return pa->virt_to_page(reinterpret_cast<std::uintptr_t>(obj)); // order-0 slabs
  }
  std::string base(const page* slab) const { return hex(pa->page_address(slab)); }

  // validate() reports exactly `expected` (invariant id, regex of the detail), in order, each
  // as ErrorKind::Corruption, and returns their number.
  void expect_validate(const std::vector<std::pair<std::string, std::string>>& expected) {
    rec.clear();
    const std::size_t n = heap.validate();
    EXPECT_EQ(n, expected.size()) << rec.dump();
    ASSERT_EQ(rec.size(), expected.size()) << rec.dump();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const kmtest::Recorded& r = rec.reports[i];
      EXPECT_EQ(r.kind, ErrorKind::Corruption) << r.message;
      const std::string pattern =
          "kmalloc: validate: " + expected[i].first + ": " + expected[i].second;
      EXPECT_TRUE(std::regex_match(r.message, std::regex(pattern)))
          << "report " << i << ": \"" << r.message << "\"\n  expected \"" << pattern << "\"";
    }
    rec.clear();
  }
  void expect_clean() {
    rec.clear();
    EXPECT_EQ(heap.validate(), 0u) << rec.dump();
  }

  km::Heap heap;
  Recorder rec;
  km::HeapState* state = nullptr;
  km::SlabAllocator* sa = nullptr;
  km::PageAllocator* pa = nullptr;
  kmem_cache* ch = nullptr; // handles
  kmem_cache* oh = nullptr;
  kmem_cache* c = nullptr; // their descriptors
  kmem_cache* other = nullptr;
  std::vector<void*> objs;
  void* f1 = nullptr;
  void* f2 = nullptr;
  page* s0 = nullptr;
  page* s1 = nullptr;
  page* s2 = nullptr;
  page* s3 = nullptr;
};

TEST_F(SlabValidate, CleanHeapValidatesToZero) {
  expect_clean();
  // And stays clean through ordinary use on several cpus.
  for (unsigned cpu = 0; cpu < 8; ++cpu) {
    heap.set_cpu(cpu);
    void* p = heap.kmem_cache_alloc(ch, GFP_KERNEL);
    void* q = heap.kmem_cache_alloc(oh, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    heap.set_cpu((cpu + 3) % 8);
    heap.kmem_cache_free(ch, p);
    heap.kmem_cache_free(oh, q);
    expect_clean();
  }
  heap.flush_cpu_slabs();
  expect_clean();
  km::Heap fresh;
  ASSERT_TRUE(fresh.init(small_config()).ok);
  EXPECT_EQ(fresh.validate(), 0u);
}

// validate() walks under the zone lock, slab_mutex and the list_locks, and reports after
// releasing them: the handler here calls back into the heap (page_counts takes the zone lock,
// slabinfo slab_mutex and each list_lock) and would wait forever if a report came under one.
TEST_F(SlabValidate, ReportsReachTheHandlerWithNoHeapLockHeld) {
  struct Reentrant {
    km::Heap* heap;
    Recorder rec;
    static void handle(void* context, const km::ErrorReport& report) {
      auto* self = static_cast<Reentrant*>(context);
      Recorder::handle(&self->rec, report);
      char buf[256];
      (void)self->heap->page_counts();
      (void)self->heap->slabinfo(buf, sizeof buf);
    }
  };
  Reentrant r{&heap, {}};
  heap.set_report_handler(Reentrant::handle, &r);
  page* meta = pa->virt_to_page(heap.arena_start());
  const auto meta_flags = meta->flags;
  meta->flags = km::PG_head; // the page layer's DESC
  c->nr_slabs += 1;          // the slab layer's AC1 counters
  auto run = std::async(std::launch::async, [&] { return heap.validate(); });
  if (run.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "the report handler deadlocked: validate() reported under a lock\n");
    std::_Exit(1); // the blocked thread cannot be joined
  }
  EXPECT_EQ(run.get(), 2u) << r.rec.dump();
  ASSERT_EQ(r.rec.size(), 2u) << r.rec.dump();
  EXPECT_NE(r.rec.reports[0].message.find("validate: DESC: "), std::string::npos);
  EXPECT_NE(r.rec.reports[1].message.find("validate: AC1: val-64: counters say"),
            std::string::npos);
  meta->flags = meta_flags;
  c->nr_slabs -= 1;

  heap.set_report_handler(Recorder::handle, &rec);
}

TEST_F(SlabValidate, FreePointerOutsideTheSlab) {
  const std::string corrupt =
      "val-64: slab " + base(s1) + ": freelist corrupt \\(invalid pointer or cycle\\)";
  // f1 is S1's only free object; point its link at an object of S0.
  sa->set_freepointer(c, f1, objs[0]);
  expect_validate({{"AC1", corrupt}});
  // Into the heap's metadata.
  sa->set_freepointer(c, f1, reinterpret_cast<void*>(heap.arena_start() + 64));
  expect_validate({{"AC1", corrupt}});
  // Inside S1 but not at an object boundary.
  sa->set_freepointer(c, f1, static_cast<char*>(objs[64]) + 8);
  expect_validate({{"AC1", corrupt}});
  sa->set_freepointer(c, f1, nullptr);
  expect_clean();
  // The slab's own freelist head: S1's free object (whose link is NULL) is not S2's.
  s2->freelist = f1;
  expect_validate(
      {{"AC1", "val-64: slab " + base(s2) + ": freelist corrupt \\(invalid pointer or cycle\\)"}});
  s2->freelist = f2;
  expect_clean();
  // A cpu freelist entry.
  void* head = c->cpu_slab[0].freelist;
  void* second = sa->get_freepointer(c, head);
  sa->set_freepointer(c, head, objs[2]);
  expect_validate(
      {{"AC1", "val-64: slab " + base(s3) + ": freelist corrupt \\(invalid pointer or cycle\\)"}});
  sa->set_freepointer(c, head, second);
  expect_clean();
}

TEST_F(SlabValidate, FreelistCycle) {
  sa->set_freepointer(c, f1, f1);
  expect_validate(
      {{"AC1", "val-64: slab " + base(s1) + ": freelist corrupt \\(invalid pointer or cycle\\)"}});
  sa->set_freepointer(c, f1, nullptr);
  expect_clean();
  // The cpu freelist's last object pointing back at its head.
  void* head = c->cpu_slab[0].freelist;
  void* last = head;
  for (void* next = sa->get_freepointer(c, last); next != nullptr;
       next = sa->get_freepointer(c, last))
    last = next;
  ASSERT_NE(last, head);
  sa->set_freepointer(c, last, head);
  expect_validate(
      {{"AC1", "val-64: slab " + base(s3) + ": freelist corrupt \\(invalid pointer or cycle\\)"}});
  sa->set_freepointer(c, last, nullptr);
  expect_clean();
}

TEST_F(SlabValidate, InuseOffByOne) {
  --s1->inuse;
  expect_validate(
      {{"AC1", "val-64: slab " + base(s1) + ": objects 64 - inuse 62 != 1 on its freelist"}});
  s1->inuse += 2; // 64: also wrong for a partial slab
  expect_validate(
      {{"AC1", "val-64: slab " + base(s1) + ": objects 64 - inuse 64 != 1 on its freelist"},
       {"AC1", "val-64: slab " + base(s1) + " on the partial list has inuse 64/64, frozen 0"}});
  --s1->inuse;
  expect_clean();
}

TEST_F(SlabValidate, FullSlabOnThePartialList) {
  c->full.remove(s0);
  c->partial.push_back(s0);
  expect_validate(
      {{"AC1", "val-64: slab " + base(s0) + " on the partial list has inuse 64/64, frozen 0"}});
  c->partial.remove(s0);
  c->full.push_back(s0);
  expect_clean();
}

TEST_F(SlabValidate, SlabWithFreeObjectsOnTheFullList) {
  c->partial.remove(s2);
  c->full.push_back(s2);
  expect_validate(
      {{"AC1", "val-64: slab " + base(s2) + " on the full list has inuse 63/64, frozen 0"}});
  c->full.remove(s2);
  c->partial.push_back(s2);
  expect_clean();
}

TEST_F(SlabValidate, SlabAndObjectCounters) {
  ++c->nr_slabs;
  expect_validate({{"AC1", "val-64: counters say 5 slabs / 256 objects, lists hold 4 / 256"}});
  --c->nr_slabs;
  c->total_objects += 1;
  expect_validate({{"AC1", "val-64: counters say 4 slabs / 257 objects, lists hold 4 / 256"}});
  c->total_objects -= 1;
  expect_clean();
}

TEST_F(SlabValidate, SlabOwnedByAnotherCache) {
  s1->slab_cache = other;
  expect_validate(
      {{"OWN", "val-64: slab " + base(s1) + " is owned by slab \\(flags 0x2, cache other\\)"}});
  s1->slab_cache = nullptr;
  expect_validate(
      {{"OWN", "val-64: slab " + base(s1) + " is owned by slab \\(flags 0x2, cache other\\)"}});
  s1->slab_cache = c;
  expect_clean();
}

TEST_F(SlabValidate, SlabPageOwnedByThePageAllocator) {
  s1->owner = km::PageOwner::PageAlloc;
  rec.clear();
  EXPECT_GE(heap.validate(), 1u);
  bool own = false;
  for (const kmtest::Recorded& r : rec.reports)
    own = own || std::regex_match(r.message,
                                  std::regex("kmalloc: validate: OWN: val-64: slab " + base(s1) +
                                             " is owned by alloc_pages \\(flags 0x2, cache ok\\)"));
  EXPECT_TRUE(own) << rec.dump();
  s1->owner = km::PageOwner::Slab;
  expect_clean();
}

TEST_F(SlabValidate, CpuFreelistWithoutACpuSlab) {
  c->cpu_slab[3].freelist = objs[0];
  expect_validate({{"AC1", "val-64: cpu 3 has a freelist but no slab"}});
  c->cpu_slab[3].freelist = nullptr;
  expect_clean();
}

TEST_F(SlabValidate, CpuSlabRecordsTheWrongCpu) {
  s3->slab_cpu = 5;
  expect_validate({{"AC1", "val-64: cpu 0 slab records cpu 5"}});
  s3->slab_cpu = 0;
  expect_clean();
}

TEST_F(SlabValidate, CpuSlabNotFrozen) {
  s3->frozen = 0;
  expect_validate(
      {{"AC1", "val-64: slab " + base(s3) + " on the cpu list has inuse 64/64, frozen 0"}});
  s3->frozen = 1;
  expect_clean();
}

TEST_F(SlabValidate, FreeObjectsExceedTheSlabCapacity) {
  // The cpu freelist (53 objects) also hung on the slab: 106 free objects in a 64-object slab.
  s3->freelist = c->cpu_slab[0].freelist;
  s3->inuse = 64 - 53;
  expect_validate({{"AC1", "val-64: slab " + base(s3) + ": 106 free objects exceed capacity 64"}});
  s3->freelist = nullptr;
  s3->inuse = 64;
  expect_clean();
}

// LIVE per slab: a free object whose allocation bit is set (a free that forgot to clear it), and
// an allocated object whose bit is clear (an allocation that forgot to set it).
TEST_F(SlabValidate, AFreeObjectMarkedAllocated) {
  km::LiveBitmap& live = sa->live_bitmap_for_testing();
  ASSERT_TRUE(live.set(f1)); // S1: 63 allocated, f1 on its freelist
  expect_validate(
      {{"LIVE", "val-64: slab " + base(s1) + ": 64 allocation bits set, 63 objects allocated"},
       {"LIVE", "val-64: slab " + base(s1) + ": a free object is marked allocated"}});
  ASSERT_TRUE(live.clear(f1));
  expect_clean();
}

TEST_F(SlabValidate, AnAllocatedObjectNotMarked) {
  km::LiveBitmap& live = sa->live_bitmap_for_testing();
  ASSERT_TRUE(live.clear(objs[3])); // S0, full
  expect_validate(
      {{"LIVE", "val-64: slab " + base(s0) + ": 63 allocation bits set, 64 objects allocated"}});
  ASSERT_TRUE(live.set(objs[3]));
  expect_clean();
}

TEST_F(SlabValidate, SlabPagesDisagreeWithThePageAllocator) {
  const std::size_t pages = heap.page_counts().slab;
  ASSERT_EQ(pages, 4u);
  // S2 leaves every list, with the counters adjusted: AC2 sees its pages, LIVE its objects'
  // allocation bits (no longer inside any listed slab).
  c->partial.remove(s2);
  --c->nr_slabs;
  c->total_objects -= 64;
  expect_validate({{"LIVE", "201 allocation bits are set, 138 of them inside slab objects"},
                   {"AC2", "caches hold 3 slab pages, the page allocator 4"}});
  c->partial.push_back(s2);
  ++c->nr_slabs;
  c->total_objects += 64;
  expect_clean();
}

TEST_F(SlabValidate, WrongObjectCountForTheOrder) {
  s1->objects = 63;
  c->total_objects -= 1;
  expect_validate({{"AC1", "val-64: slab " + base(s1) +
                               " order 0 has 63 objects \\(63 in use\\), expected 64"}});
  s1->objects = 65;
  c->total_objects += 2;
  expect_validate({{"AC1", "val-64: slab " + base(s1) +
                               " order 0 has 65 objects \\(63 in use\\), expected 64"}});
  s1->objects = 64;
  c->total_objects -= 1;
  expect_clean();
  // inuse above objects is caught by the same check.
  s0->inuse = 65;
  expect_validate({{"AC1", "val-64: slab " + base(s0) +
                               " order 0 has 64 objects \\(65 in use\\), expected 64"}});
  s0->inuse = 64;
  expect_clean();
}

TEST_F(SlabValidate, BrokenPartialListLinks) {
  ASSERT_EQ(s1->next, s2);
  s2->prev = nullptr;
  expect_validate({{"AC1", "val-64: partial list is broken"},
                   {"AC1", "val-64: counters say 4 slabs / 256 objects, lists hold 2 / 128"}});
  s2->prev = s1;
  expect_clean();
  s1->prev = s2; // the head's prev must be NULL
  expect_validate({{"AC1", "val-64: partial list is broken"},
                   {"AC1", "val-64: counters say 4 slabs / 256 objects, lists hold 2 / 128"}});
  s1->prev = nullptr;
  expect_clean();
}

TEST_F(SlabValidate, BrokenFullListLinks) {
  s0->prev = s0;
  expect_validate({{"AC1", "val-64: full list is broken"},
                   {"AC1", "val-64: counters say 4 slabs / 256 objects, lists hold 3 / 192"}});
  s0->prev = nullptr;
  expect_clean();
}

TEST_F(SlabValidate, ForeignDescriptorOnASlabList) {
  page fake{};
  c->partial.push_back(&fake);
  expect_validate({{"AC1", "val-64: a slab list holds a foreign descriptor"},
                   {"AC1", "val-64: counters say 4 slabs / 256 objects, lists hold 5 / 256"},
                   {"AC2", "caches hold 5 slab pages, the page allocator 4"}});
  c->partial.remove(&fake);
  expect_clean();
}

TEST_F(SlabValidate, EachReportNamesTheSlab) {
  --s1->inuse;
  rec.clear();
  ASSERT_EQ(heap.validate(), 1u);
  EXPECT_EQ(rec.reports[0].address, reinterpret_cast<std::uintptr_t>(pa->page_address(s1)));
  ++s1->inuse;
  expect_clean();
}

// ---- SLAB_CONSISTENCY_CHECKS: corruption found by the allocation path

// A thread on the shared slot (threads beyond nr_cpus) allocates under overflow_lock. Its
// corrupt-freelist report must still come with no heap lock held: the handler here allocates
// from the same heap, which would wait forever on overflow_lock if the report came under it.
TEST(SlabConsistencyChecks, ACorruptFreelistOnTheSharedSlotIsReportedWithNoLockHeld) {
  km::Config cfg = small_config();
  cfg.nr_cpus = 1;
  km::Heap heap;
  ASSERT_TRUE(heap.init(cfg).ok);
  struct Reentrant {
    km::Heap* heap;
    kmem_cache* plain;
    Recorder rec;
    static void handle(void* context, const km::ErrorReport& report) {
      auto* self = static_cast<Reentrant*>(context);
      Recorder::handle(&self->rec, report);
      self->heap->kmem_cache_free(self->plain, self->heap->kmem_cache_alloc(self->plain, 0));
    }
  };
  Reentrant r{&heap, heap.kmem_cache_create("val-plain", 64, 0, 0, nullptr), {}};
  kmem_cache* dbg_handle =
      heap.kmem_cache_create("val-dbg", 64, 0, SLAB_CONSISTENCY_CHECKS, nullptr);
  ASSERT_NE(r.plain, nullptr);
  ASSERT_NE(dbg_handle, nullptr);
  void* mine = heap.kmem_cache_alloc(r.plain, GFP_KERNEL); // this thread takes slot 0
  ASSERT_NE(mine, nullptr);
  heap.set_report_handler(Reentrant::handle, &r);
  km::SlabAllocator& sa = heap.state_for_testing()->slabs;
  kmem_cache* dbg = sa.resolve(dbg_handle);
  auto shared_slot = std::async(std::launch::async, [&] {
    void* elsewhere = heap.kmem_cache_alloc(r.plain, GFP_KERNEL);
    void* a = heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL);
    if (a == nullptr || dbg->cpu_slab[1].freelist == nullptr)
      return std::string("the shared slot (1) holds no cpu freelist");
    void* h = dbg->cpu_slab[1].freelist;
    sa.set_freepointer(dbg, h, elsewhere); // h's link points into another cache's slab
    if (heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL) == nullptr)
      return std::string("no object after the corrupt freelist");
    return std::string();
  });
  if (shared_slot.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "the report handler deadlocked: it ran under overflow_lock\n");
    std::_Exit(1); // the blocked thread cannot be joined
  }
  EXPECT_EQ(shared_slot.get(), "");
  ASSERT_EQ(r.rec.count(ErrorKind::FreelistCorrupt), 1u) << r.rec.dump();
  heap.set_report_handler(nullptr, nullptr);
  heap.kmem_cache_free(r.plain, mine);
}

TEST(SlabConsistencyChecks, CorruptFreePointerIsCaughtAtAllocation) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(small_config()).ok);
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  km::SlabAllocator& sa = heap.state_for_testing()->slabs;
  kmem_cache* dbg_handle =
      heap.kmem_cache_create("val-dbg", 64, 0, SLAB_CONSISTENCY_CHECKS, nullptr);
  kmem_cache* plain = heap.kmem_cache_create("val-plain", 64, 0, 0, nullptr);
  kmem_cache* dbg = sa.resolve(dbg_handle);
  ASSERT_NE(dbg, nullptr);
  ASSERT_NE(plain, nullptr);
  void* elsewhere = heap.kmem_cache_alloc(plain, GFP_KERNEL);
  void* a = heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL);
  ASSERT_NE(a, nullptr);
  const std::uintptr_t bad_slab = heap.slab_object(a).slab;
  // cpu 0's freelist: h -> n1 -> n2 -> ...; n2's link now points into another cache's slab.
  void* h = dbg->cpu_slab[0].freelist;
  void* n1 = sa.get_freepointer(dbg, h);
  void* n2 = sa.get_freepointer(dbg, n1);
  sa.set_freepointer(dbg, n2, elsewhere);
  EXPECT_EQ(heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL), h);
  EXPECT_EQ(heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL), n1);
  EXPECT_EQ(rec.size(), 0u) << rec.dump();
  // Allocating n2 would hand its corrupt link to the cpu: reported, the slab isolated, and the
  // allocation served from a new slab.
  void* fresh = heap.kmem_cache_alloc(dbg_handle, GFP_KERNEL);
  ASSERT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(rec.reports[0].kind, ErrorKind::FreelistCorrupt);
  EXPECT_EQ(rec.reports[0].message,
            "kmalloc: BUG val-dbg: Freepointer corrupt at object " + hex(n2) + "; slab isolated");
  EXPECT_EQ(rec.reports[0].address, reinterpret_cast<std::uintptr_t>(n2));
  ASSERT_NE(fresh, nullptr);
  EXPECT_NE(heap.slab_object(fresh).slab, bad_slab);
  EXPECT_EQ(heap.slab_object(fresh).cache, dbg_handle);
  const km::CacheInfo ci = heap.cache_info(dbg_handle);
  EXPECT_EQ(ci.nr_slabs, 2u);
  EXPECT_EQ(ci.nr_full, 1u); // the isolated slab
  EXPECT_EQ(ci.nr_cpu_slabs, 1u);
  rec.clear();
  EXPECT_EQ(heap.validate(), 0u) << rec.dump();
  // Every live object can still be freed; the isolated slab's free objects are leaked.
  for (void* p : {a, h, n1, fresh})
    heap.kmem_cache_free(dbg_handle, p);
  heap.kmem_cache_free(plain, elsewhere);
  EXPECT_EQ(rec.size(), 0u) << rec.dump();
  EXPECT_EQ(heap.validate(), 0u) << rec.dump();
  heap.kmem_cache_destroy(dbg_handle);
  ASSERT_EQ(rec.size(), 1u) << rec.dump();
  EXPECT_EQ(rec.reports[0].kind, ErrorKind::ObjectsRemaining);
  EXPECT_EQ(rec.reports[0].message, "kmalloc: WARNING: kmem_cache_destroy val-dbg: Slab cache "
                                    "still has objects (61 remaining); the cache is left alive");
}

} // namespace
