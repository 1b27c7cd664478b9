// slub_test.cpp - the slab layer through the public Heap API (Linux 6.8 mm/slub.c semantics):
// object placement, constructors, slab states and their transitions, cpu slabs and remote
// frees, order fallback, out of memory, DMA caches, slabinfo, cache_info, kmem_cache_create
// rejections, and misuse in recording mode (MU1: one report, refused, heap valid, nothing lost).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "model/text.h"

namespace {

using km::CacheInfo;
using km::ErrorKind;
using kmtest::Recorder;

km::Config small_config() {
  km::Config cfg;
  cfg.page_shift = 12;
  cfg.max_order = 10;
  cfg.arena_size = 4u << 20;
  cfg.dma_zone_size = 1u << 20;
  cfg.nr_cpus = 8;
  cfg.random_seed = 0x5eed5eedu;
  cfg.profile = km::Profile::None; // no kmalloc caches: every cache here is the test's
  return cfg;
}

// A heap in recording mode, and the page counts it started with.
struct TestHeap {
  km::Heap heap;
  Recorder rec;
  km::PageCounts initial;
  bool ok = false;

  explicit TestHeap(const km::Config& cfg = small_config()) {
    const km::Status st = heap.init(cfg);
    EXPECT_TRUE(st.ok) << (st.field != nullptr ? st.field : "") << ": " << st.message;
    ok = st.ok;
    if (ok) {
      heap.set_report_handler(Recorder::handle, &rec);
      initial = heap.page_counts();
    }
  }

  CacheInfo info(const kmem_cache* c) const { return heap.cache_info(c); }
  std::size_t caches() const {
    std::size_t n = 0;
    heap.for_each_cache([](void* ctx, const kmem_cache*) { ++*static_cast<std::size_t*>(ctx); },
                        &n);
    return n;
  }
  std::vector<const kmem_cache*> cache_list() const {
    std::vector<const kmem_cache*> out;
    heap.for_each_cache(
        [](void* ctx, const kmem_cache* c) {
          static_cast<std::vector<const kmem_cache*>*>(ctx)->push_back(c);
        },
        &out);
    return out;
  }
  std::string slabinfo() const {
    const std::size_t n = heap.slabinfo(nullptr, 0);
    std::string s(n + 1, '\0');
    EXPECT_EQ(heap.slabinfo(s.data(), s.size()), n);
    s.resize(n);
    return s;
  }
};

// Exactly one report, of `kind`, whose whole message matches `pattern` (ECMAScript).
testing::AssertionResult one_report(const Recorder& rec, ErrorKind kind,
                                    const std::string& pattern) {
  if (rec.size() != 1)
    return testing::AssertionFailure()
           << rec.size() << " reports, expected one " << km::error_kind_name(kind) << ":\n"
           << rec.dump();
  const kmtest::Recorded& r = rec.reports[0];
  if (r.kind != kind)
    return testing::AssertionFailure() << "got " << km::error_kind_name(r.kind) << ", expected "
                                       << km::error_kind_name(kind) << ": " << r.message;
  if (!std::regex_match(r.message, std::regex(pattern)))
    return testing::AssertionFailure()
           << "message \"" << r.message << "\" does not match \"" << pattern << "\"";
  return testing::AssertionSuccess();
}

std::string hex(const void* p) {
  return km::oracle::hex(reinterpret_cast<std::uintptr_t>(p));
}

std::uintptr_t addr(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

std::vector<void*> alloc_n(km::Heap& heap, kmem_cache* c, std::size_t n) {
  std::vector<void*> out;
  for (std::size_t i = 0; i < n; ++i) {
    void* p = heap.kmem_cache_alloc(c, GFP_KERNEL);
    EXPECT_NE(p, nullptr) << "allocation " << i;
    if (p == nullptr)
      break;
    out.push_back(p);
  }
  return out;
}

void free_all(km::Heap& heap, kmem_cache* c, std::vector<void*>& objs) {
  for (void* p : objs)
    heap.kmem_cache_free(c, p);
  objs.clear();
}

// ---- allocation and placement

TEST(Slub, AllocFreeRoundTrip) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("rt-72", 72, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  std::vector<void*> objs = alloc_n(t.heap, c, 1000);
  ASSERT_EQ(objs.size(), 1000u);
  for (std::size_t i = 0; i < objs.size(); ++i)
    std::memset(objs[i], static_cast<int>(i & 0xff), 72);
  // Distinct, non-overlapping, each the start of an object of this cache.
  std::vector<std::uintptr_t> sorted;
  for (void* p : objs)
    sorted.push_back(addr(p));
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i)
    ASSERT_GE(sorted[i] - sorted[i - 1], ci.size) << "objects overlap";
  for (void* p : objs) {
    const km::SlabObject so = t.heap.slab_object(p);
    ASSERT_EQ(so.cache, c);
    ASSERT_EQ(so.object, addr(p));
    ASSERT_EQ(so.object % ci.align, 0u);
  }
  // NO2: bytes survive other allocations.
  for (std::size_t i = 0; i < objs.size(); ++i)
    for (unsigned b = 0; b < 72; ++b)
      ASSERT_EQ(static_cast<unsigned char*>(objs[i])[b], i & 0xff) << i << "/" << b;
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.kmem_cache_flush(c);
  EXPECT_EQ(t.info(c).active_objects, 1000u);
  std::mt19937 rng(7);
  std::shuffle(objs.begin(), objs.end(), rng);
  for (std::size_t i = 0; i < 500; ++i)
    t.heap.kmem_cache_free(c, objs[i]);
  objs.erase(objs.begin(), objs.begin() + 500);
  EXPECT_EQ(t.heap.validate(), 0u);
  // Freed objects come back (the heap does not grow).
  const std::size_t slabs = t.info(c).nr_slabs;
  std::vector<void*> again = alloc_n(t.heap, c, 500);
  EXPECT_EQ(t.info(c).nr_slabs, slabs);
  objs.insert(objs.end(), again.begin(), again.end());
  free_all(t.heap, c, objs);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  t.heap.kmem_cache_destroy(c);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
}

TEST(Slub, ObjectsAtSlabBasePlusIndexTimesStride) {
  struct Case {
    unsigned size, align;
    slab_flags_t flags;
    unsigned stride, want_align;
  };
  for (const Case& k :
       {Case{8, 0, 0, 8, 8}, Case{20, 0, SLAB_HWCACHE_ALIGN, 32, 32}, Case{100, 0, 0, 104, 8},
        Case{100, 0, SLAB_HWCACHE_ALIGN, 128, 64}, Case{96, 0, 0, 96, 8}, Case{192, 0, 0, 192, 8},
        Case{20, 256, 0, 256, 256}, Case{3000, 0, 0, 3000, 8}, Case{4096, 4096, 0, 4096, 4096}}) {
    SCOPED_TRACE(testing::Message() << "size " << k.size << " align " << k.align);
    TestHeap t;
    ASSERT_TRUE(t.ok);
    kmem_cache* c = t.heap.kmem_cache_create("place", k.size, k.align, k.flags, nullptr);
    ASSERT_NE(c, nullptr);
    const CacheInfo ci = t.info(c);
    ASSERT_EQ(ci.size, k.stride);
    ASSERT_EQ(ci.align, k.want_align);
    std::vector<void*> objs = alloc_n(t.heap, c, ci.objects_per_slab);
    ASSERT_EQ(objs.size(), ci.objects_per_slab);
    const km::PageInfo pi = t.heap.page_info(objs[0]);
    ASSERT_EQ(pi.owner, km::PageOwner::Slab);
    EXPECT_EQ(pi.cache, c);
    EXPECT_EQ(pi.order, ci.order);
    const std::uintptr_t base = pi.block;
    EXPECT_EQ(base % (t.heap.page_size() << ci.order), 0u);
    for (unsigned i = 0; i < objs.size(); ++i) {
      // A new slab's freelist is linear: object i is handed out i-th.
      EXPECT_EQ(addr(objs[i]), base + std::uintptr_t{i} * ci.size) << i;
      EXPECT_EQ(addr(objs[i]) % ci.align, 0u) << i;
      const km::SlabObject so = t.heap.slab_object(objs[i]);
      EXPECT_EQ(so.slab, base);
      EXPECT_EQ(so.index, i);
      EXPECT_EQ(t.heap.slab_object(static_cast<char*>(objs[i]) + k.size - 1).object, so.object);
    }
    // The slab tail is not an object.
    if ((t.heap.page_size() << ci.order) % ci.size != 0) {
      const std::uintptr_t tail = base + std::uintptr_t{ci.objects_per_slab} * ci.size;
      EXPECT_EQ(t.heap.slab_object(reinterpret_cast<void*>(tail)).cache, nullptr);
    }
    free_all(t.heap, c, objs);
    EXPECT_EQ(t.heap.validate(), 0u);
    EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  }
}

// ---- constructors

unsigned g_ctor_calls = 0;
std::set<std::uintptr_t> g_ctor_objects;

constexpr std::uint64_t kCtorMagic = 0xc0ffee0123456789ull;

void counting_ctor(void* obj) {
  ++g_ctor_calls;
  g_ctor_objects.insert(addr(obj));
  std::memcpy(obj, &kCtorMagic, sizeof kCtorMagic);
  std::memset(static_cast<char*>(obj) + 8, 0x5c, 32);
}

bool has_ctor_state(const void* obj) {
  std::uint64_t v;
  std::memcpy(&v, obj, sizeof v);
  const auto* b = static_cast<const unsigned char*>(obj);
  return v == kCtorMagic && std::all_of(b + 8, b + 40, [](unsigned char x) { return x == 0x5c; });
}

TEST(Slub, CtorRunsOncePerObjectWhenTheSlabIsCreated) {
  g_ctor_calls = 0;
  g_ctor_objects.clear();
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("ctor-40", 40, 0, 0, counting_ctor);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  EXPECT_EQ(ci.offset, 40u); // the free pointer lives after the object
  EXPECT_EQ(ci.size, 48u);
  const unsigned n = ci.objects_per_slab;
  EXPECT_EQ(g_ctor_calls, 0u); // no slab yet
  void* first = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(g_ctor_calls, n); // every object of the new slab
  std::vector<void*> objs = alloc_n(t.heap, c, n - 1);
  objs.push_back(first);
  EXPECT_EQ(g_ctor_calls, n); // not per allocation
  for (void* p : objs) {
    EXPECT_TRUE(g_ctor_objects.count(addr(p)) == 1) << p;
    EXPECT_TRUE(has_ctor_state(p)) << p;
  }
  // Freed and reallocated objects keep the constructed state (kmem_cache_free must not
  // write inside the object) and are not constructed again.
  free_all(t.heap, c, objs);
  objs = alloc_n(t.heap, c, n);
  EXPECT_EQ(g_ctor_calls, n);
  for (void* p : objs)
    EXPECT_TRUE(has_ctor_state(p)) << p;
  // The next slab runs the constructor n more times.
  void* more = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(more, nullptr);
  EXPECT_EQ(g_ctor_calls, 2 * n);
  EXPECT_EQ(g_ctor_objects.size(), 2u * n);
  EXPECT_TRUE(has_ctor_state(more));
  objs.push_back(more);
  free_all(t.heap, c, objs);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  t.heap.kmem_cache_destroy(c);
  EXPECT_EQ(g_ctor_calls, 2 * n); // destroying does not construct
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, ZallocZeroesTheObject) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("zero-200", 200, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, 200);
  t.heap.kmem_cache_free(c, p);
  void* z = t.heap.kmem_cache_zalloc(c, GFP_KERNEL);
  ASSERT_EQ(z, p); // LIFO: the dirty object comes back
  const auto* b = static_cast<const unsigned char*>(z);
  EXPECT_TRUE(std::all_of(b, b + 200, [](unsigned char x) { return x == 0; }));
  std::memset(z, 0xcd, 200);
  t.heap.kmem_cache_free(c, z);
  void* g = t.heap.kmem_cache_alloc(c, GFP_KERNEL | __GFP_ZERO);
  ASSERT_EQ(g, p);
  b = static_cast<const unsigned char*>(g);
  EXPECT_TRUE(std::all_of(b, b + 200, [](unsigned char x) { return x == 0; }));
  t.heap.kmem_cache_free(c, g);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- slab states

TEST(Slub, FullPartialAndEmptyTransitions) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("states-64", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  ASSERT_EQ(ci.objects_per_slab, 64u);
  ASSERT_EQ(ci.order, 0u);
  ASSERT_EQ(ci.min_partial, 5u);

  std::vector<void*> objs = alloc_n(t.heap, c, 64);
  CacheInfo now = t.info(c);
  EXPECT_EQ(now.nr_slabs, 1u);
  EXPECT_EQ(now.nr_cpu_slabs, 1u);
  EXPECT_EQ(now.nr_full, 0u);
  EXPECT_EQ(now.nr_partial, 0u);
  EXPECT_EQ(now.free_objects, 0u);
  t.heap.kmem_cache_flush(c);
  now = t.info(c);
  EXPECT_EQ(now.nr_cpu_slabs, 0u);
  EXPECT_EQ(now.nr_full, 1u); // a slab with no free object is full
  EXPECT_EQ(now.nr_partial, 0u);
  EXPECT_EQ(now.active_objects, 64u);
  EXPECT_EQ(t.heap.validate(), 0u);

  t.heap.kmem_cache_free(c, objs.back());
  objs.pop_back();
  now = t.info(c);
  EXPECT_EQ(now.nr_full, 0u); // one free object: partial
  EXPECT_EQ(now.nr_partial, 1u);
  EXPECT_EQ(now.active_objects, 63u);
  EXPECT_EQ(now.free_objects, 1u);
  EXPECT_EQ(t.heap.validate(), 0u);

  free_all(t.heap, c, objs);
  now = t.info(c);
  // nr_partial (1, itself) < min_partial: the empty slab stays on the partial list.
  EXPECT_EQ(now.nr_slabs, 1u);
  EXPECT_EQ(now.nr_partial, 1u);
  EXPECT_EQ(now.active_objects, 0u);
  EXPECT_EQ(now.total_objects, 64u);
  EXPECT_EQ(t.heap.page_counts().slab, 1u);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, EmptySlabsBeyondMinPartialGoBackToThePageAllocator) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("discard-256", 256, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  ASSERT_EQ(ci.order, 1u);
  ASSERT_EQ(ci.objects_per_slab, 32u);
  ASSERT_EQ(ci.min_partial, 5u);
  const unsigned nslabs = ci.min_partial + 3;
  std::vector<void*> objs = alloc_n(t.heap, c, std::size_t{nslabs} * 32);
  t.heap.kmem_cache_flush(c);
  EXPECT_EQ(t.info(c).nr_full, nslabs);
  EXPECT_EQ(t.heap.page_counts().slab, std::size_t{nslabs} * 2);
  const std::size_t free_before = t.heap.page_counts().free;
  // Free slab by slab (allocation order is slab order).
  for (unsigned s = 0; s < nslabs; ++s) {
    for (unsigned i = 0; i < 32; ++i)
      t.heap.kmem_cache_free(c, objs[s * 32 + i]);
    const CacheInfo now = t.info(c);
    // __slab_free: an emptied slab is discarded when nr_partial (itself included) has
    // reached min_partial, so min_partial - 1 empty slabs are kept.
    const unsigned kept = std::min(s + 1, ci.min_partial - 1);
    EXPECT_EQ(now.nr_partial, kept) << "after slab " << s;
    EXPECT_EQ(now.nr_full, nslabs - 1 - s);
    EXPECT_EQ(now.nr_slabs, kept + (nslabs - 1 - s));
    EXPECT_EQ(t.heap.page_counts().slab, 2 * now.nr_slabs);
  }
  objs.clear();
  EXPECT_EQ(t.heap.page_counts().free, free_before + 2 * (nslabs - (ci.min_partial - 1)));
  EXPECT_EQ(t.info(c).total_objects, 32u * (ci.min_partial - 1));
  EXPECT_EQ(t.heap.validate(), 0u);
  // kmem_cache_shrink releases the rest.
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.info(c).nr_slabs, 0u);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// deactivate_slab: an empty cpu slab is discarded only when min_partial slabs are on the list.
TEST(Slub, FlushDiscardsAnEmptyCpuSlabOnlyBeyondMinPartial) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("deact-1024", 1024, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  ASSERT_EQ(ci.min_partial, 5u);
  ASSERT_EQ(ci.objects_per_slab, 32u);
  ASSERT_EQ(ci.order, 3u);
  // Few partial slabs: the empty cpu slab is kept on the partial list.
  t.heap.set_cpu(7);
  void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  t.heap.kmem_cache_free(c, p);
  t.heap.kmem_cache_flush(c);
  EXPECT_EQ(t.info(c).nr_slabs, 1u);
  EXPECT_EQ(t.info(c).nr_partial, 1u);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  // Five partial slabs, each with one live object.
  t.heap.set_cpu(0);
  std::vector<void*> objs = alloc_n(t.heap, c, 5 * 32);
  t.heap.kmem_cache_flush(c);
  std::vector<void*> keep;
  for (unsigned s = 0; s < 5; ++s)
    for (unsigned i = 0; i < 32; ++i)
      if (i == 0)
        keep.push_back(objs[s * 32]);
      else
        t.heap.kmem_cache_free(c, objs[s * 32 + i]);
  ASSERT_EQ(t.info(c).nr_partial, 5u);
  // cpus 1..5 take them as cpu slabs; cpu 7 then needs a new slab.
  for (unsigned cpu = 1; cpu <= 5; ++cpu) {
    t.heap.set_cpu(cpu);
    keep.push_back(t.heap.kmem_cache_alloc(c, GFP_KERNEL));
  }
  ASSERT_EQ(t.info(c).nr_partial, 0u);
  t.heap.set_cpu(7);
  void* lone = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(lone, nullptr);
  EXPECT_EQ(t.info(c).nr_slabs, 6u);
  t.heap.kmem_cache_free(c, lone); // cpu 7's slab is now empty
  // flush goes cpu 0..7: cpus 1..5 put five slabs on the partial list, so cpu 7's empty
  // slab finds nr_partial == min_partial and goes back to the page allocator.
  t.heap.kmem_cache_flush(c);
  const CacheInfo now = t.info(c);
  EXPECT_EQ(now.nr_cpu_slabs, 0u);
  EXPECT_EQ(now.nr_partial, 5u);
  EXPECT_EQ(now.nr_slabs, 5u);
  EXPECT_EQ(now.active_objects, keep.size());
  EXPECT_EQ(t.heap.page_counts().slab, 5u * 8);
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.set_cpu(0);
  free_all(t.heap, c, keep);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, ShrinkReleasesEmptySlabsAndReportsWhatRemains) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("shrink-128", 128, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0); // nothing at all
  std::vector<void*> objs = alloc_n(t.heap, c, 32 * 4);
  void* live = objs[40]; // in the second slab
  for (void* p : objs)
    if (p != live)
      t.heap.kmem_cache_free(c, p);
  // The last slab is the cpu slab, still frozen; shrink flushes it.
  EXPECT_EQ(t.info(c).nr_cpu_slabs, 1u);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 1); // one slab keeps a live object
  CacheInfo now = t.info(c);
  EXPECT_EQ(now.nr_cpu_slabs, 0u);
  EXPECT_EQ(now.nr_slabs, 1u);
  EXPECT_EQ(now.nr_partial, 1u);
  EXPECT_EQ(now.active_objects, 1u);
  EXPECT_EQ(t.heap.page_counts().slab, 1u);
  EXPECT_EQ(t.heap.slab_object(live).cache, c);
  t.heap.kmem_cache_free(c, live);
  EXPECT_EQ(t.info(c).nr_slabs, 1u); // kept: below min_partial
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.info(c).nr_slabs, 0u);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  // A cpu slab holding only free objects is released too.
  void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  t.heap.kmem_cache_free(c, p);
  EXPECT_EQ(t.info(c).nr_cpu_slabs, 1u);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- cpu slabs

TEST(Slub, RemoteFreesAndFlushMakeCountersExact) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("remote-64", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  t.heap.set_cpu(0);
  std::vector<void*> a = alloc_n(t.heap, c, 10);
  const std::uintptr_t slab0 = t.heap.slab_object(a[0]).slab;
  t.heap.set_cpu(1);
  // Remote frees into cpu 0's frozen slab.
  std::vector<void*> remote(a.begin(), a.begin() + 5);
  for (void* p : remote)
    t.heap.kmem_cache_free(c, p);
  a.erase(a.begin(), a.begin() + 5);
  CacheInfo now = t.info(c);
  EXPECT_EQ(now.nr_slabs, 1u);
  EXPECT_EQ(now.nr_cpu_slabs, 1u);
  EXPECT_EQ(now.free_objects, now.total_objects - 5);
  EXPECT_EQ(t.heap.validate(), 0u);
  // cpu 1 gets a slab of its own (the partial list is empty).
  std::vector<void*> b = alloc_n(t.heap, c, 3);
  EXPECT_NE(t.heap.slab_object(b[0]).slab, slab0);
  now = t.info(c);
  EXPECT_EQ(now.nr_slabs, 2u);
  EXPECT_EQ(now.nr_cpu_slabs, 2u);
  const std::size_t live = a.size() + b.size();
  EXPECT_EQ(now.free_objects, now.total_objects - live);
  EXPECT_GE(now.active_objects, live); // cpu slabs count as active until flushed
  EXPECT_EQ(now.active_objects, now.total_objects);
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.flush_cpu_slabs();
  now = t.info(c);
  EXPECT_EQ(now.nr_cpu_slabs, 0u);
  EXPECT_EQ(now.active_objects, live);
  EXPECT_EQ(now.free_objects, now.total_objects - live);
  EXPECT_EQ(now.total_objects, 128u);
  EXPECT_EQ(now.nr_partial, 2u);
  EXPECT_EQ(t.heap.validate(), 0u);
  free_all(t.heap, c, a);
  free_all(t.heap, c, b);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, CpuTakesBackRemotelyFreedObjectsBeforeOtherSlabs) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("takeback-64", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  t.heap.set_cpu(0);
  std::vector<void*> a = alloc_n(t.heap, c, 64); // cpu 0's freelist is now empty
  // A partial slab P elsewhere: cpu 5 fills it, moves on, and one of its objects is freed.
  t.heap.set_cpu(5);
  std::vector<void*> p5 = alloc_n(t.heap, c, 65);
  t.heap.set_cpu(3);
  t.heap.kmem_cache_free(c, p5[0]);
  ASSERT_EQ(t.info(c).nr_partial, 1u);
  // Remote frees into cpu 0's frozen slab.
  std::set<void*> remote(a.begin() + 10, a.begin() + 14);
  for (void* p : remote)
    t.heap.kmem_cache_free(c, p);
  EXPECT_EQ(t.heap.validate(), 0u);
  // cpu 0 takes those back before the partial list (___slab_alloc: get_freelist first).
  t.heap.set_cpu(0);
  for (unsigned i = 0; i < 4; ++i) {
    void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
    EXPECT_TRUE(remote.count(p) == 1) << p;
    remote.erase(p);
  }
  EXPECT_EQ(t.info(c).nr_slabs, 3u);
  EXPECT_EQ(t.info(c).nr_partial, 1u);
  // Then the partial slab, and only then a new slab.
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), p5[0]);
  EXPECT_EQ(t.info(c).nr_partial, 0u);
  EXPECT_EQ(t.info(c).nr_slabs, 3u);
  void* next = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  EXPECT_EQ(t.info(c).nr_slabs, 4u);
  t.heap.kmem_cache_free(c, next);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// deactivate_slab (Linux 6.8): a cpu slab that other cpus freed into goes to the tail of the
// partial list (DEACTIVATE_TO_TAIL: its objects are cold), so the next cpu to need a slab takes
// the one at the head first.
TEST(Slub, DeactivatedSlabWithRemoteFreesGoesToThePartialTail) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("tail-64", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const unsigned per_slab = t.info(c).objects_per_slab;
  // cpu 0 fills slab X, then slab A (its cpu slab, full); X is full and on no cpu.
  t.heap.set_cpu(0);
  std::vector<void*> x = alloc_n(t.heap, c, per_slab);
  std::vector<void*> a = alloc_n(t.heap, c, per_slab);
  ASSERT_EQ(t.info(c).nr_slabs, 2u);
  // From cpu 2: X gets a free object (full -> partial), A a remote free (it stays cpu 0's).
  t.heap.set_cpu(2);
  t.heap.kmem_cache_free(c, x[0]);
  t.heap.kmem_cache_free(c, a[0]);
  ASSERT_EQ(t.info(c).nr_partial, 1u);
  t.heap.flush_cpu_slabs(); // deactivates A: partial list X, A
  ASSERT_EQ(t.info(c).nr_partial, 2u);
  t.heap.set_cpu(3);
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), x[0]) << "X is at the head";
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), a[0]) << "then A";
  free_all(t.heap, c, x);
  free_all(t.heap, c, a);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- page allocation: order fallback, out of memory, DMA

TEST(Slub, OrderFallbackUsesMinOrder) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("fallback-256", 256, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  const CacheInfo ci = t.info(c);
  ASSERT_EQ(ci.order, 1u);
  ASSERT_EQ(ci.min_order, 0u);
  t.heap.inject_page_alloc_failures(1); // the preferred order fails once
  void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  CacheInfo now = t.info(c);
  EXPECT_EQ(now.nr_slabs, 1u);
  EXPECT_EQ(now.total_objects, 16u); // min_objects: one page of 256-byte objects
  EXPECT_EQ(t.heap.page_info(p).order, 0u);
  EXPECT_EQ(t.heap.page_counts().slab, 1u);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump(); // the first try is __GFP_NOWARN
  // The next slab is back at the preferred order.
  std::vector<void*> objs = alloc_n(t.heap, c, 16);
  objs.push_back(p);
  now = t.info(c);
  EXPECT_EQ(now.nr_slabs, 2u);
  EXPECT_EQ(now.total_objects, 16u + 32u);
  EXPECT_EQ(t.heap.page_info(objs[15]).order, 1u);
  EXPECT_EQ(t.heap.page_counts().slab, 3u);
  EXPECT_EQ(t.heap.validate(), 0u);
  free_all(t.heap, c, objs);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, OutOfMemoryReturnsNullAndRecovers) {
  km::Config cfg = small_config();
  cfg.arena_size = 1u << 20;
  cfg.dma_zone_size = 0;
  cfg.max_order = 8;
  TestHeap t(cfg);
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("oom-2048", 2048, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  // Injected: both the preferred and the fallback order fail.
  t.heap.inject_page_alloc_failures(2);
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), nullptr);
  EXPECT_EQ(t.info(c).nr_slabs, 0u);
  EXPECT_EQ(t.heap.validate(), 0u);
  // Real exhaustion.
  std::vector<void*> objs;
  for (int i = 0; i < 100000; ++i) {
    void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
    if (p == nullptr)
      break;
    objs.push_back(p);
  }
  ASSERT_FALSE(objs.empty());
  ASSERT_LT(objs.size(), 100000u);
  EXPECT_EQ(t.heap.page_counts().free, 0u);
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), nullptr);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.kmem_cache_flush(c);
  EXPECT_EQ(t.info(c).active_objects, objs.size());
  EXPECT_EQ(t.info(c).free_objects, 0u);
  // Freeing one object makes it available again.
  void* back = objs.back();
  objs.pop_back();
  t.heap.kmem_cache_free(c, back);
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), back);
  objs.push_back(back);
  free_all(t.heap, c, objs);
  EXPECT_EQ(t.heap.validate(), 0u);
  EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(kmtest::free_blocks(t.heap), kmtest::expected_initial_blocks(t.heap)); // AC4
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, DmaCacheSlabsComeFromZoneDma) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  ASSERT_EQ(t.heap.nr_zones(), 2u);
  ASSERT_STREQ(t.heap.zone_info(0).name, "DMA");
  kmem_cache* dma = t.heap.kmem_cache_create("dma-2048", 2048, 0, SLAB_CACHE_DMA, nullptr);
  kmem_cache* normal = t.heap.kmem_cache_create("normal-2048", 2048, 0, 0, nullptr);
  ASSERT_NE(dma, nullptr);
  ASSERT_NE(normal, nullptr);
  EXPECT_EQ(t.info(dma).flags & SLAB_CACHE_DMA, SLAB_CACHE_DMA);
  void* n = t.heap.kmem_cache_alloc(normal, GFP_KERNEL);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(t.heap.page_info(n).zone, 1u);
  const std::size_t normal_free = t.heap.zone_info(1).free_pages;
  // Fill the DMA zone: every slab is in it, and Normal is never touched.
  std::vector<void*> objs;
  for (int i = 0; i < 100000; ++i) {
    void* p = t.heap.kmem_cache_alloc(dma, GFP_KERNEL);
    if (p == nullptr)
      break;
    objs.push_back(p);
    ASSERT_EQ(t.heap.page_info(p).zone, 0u) << p;
    ASSERT_EQ(t.heap.page_info(p).cache, dma);
  }
  ASSERT_FALSE(objs.empty());
  EXPECT_EQ(t.heap.zone_info(0).free_pages, 0u);
  EXPECT_EQ(t.heap.zone_info(1).free_pages, normal_free);
  EXPECT_EQ(t.heap.validate(), 0u);
  free_all(t.heap, dma, objs);
  t.heap.kmem_cache_free(normal, n);
  EXPECT_EQ(t.heap.kmem_cache_shrink(dma), 0);
  EXPECT_EQ(t.heap.kmem_cache_shrink(normal), 0);
  EXPECT_EQ(t.heap.page_counts(), t.initial);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- introspection

constexpr const char* kSlabinfoHeader =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
    "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
    "<sharedavail>\n";

std::string slabinfo_row(const char* name, unsigned long active, unsigned long num,
                         unsigned objsize, unsigned perslab, int pages, unsigned long slabs) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
                name, active, num, objsize, perslab, pages, 0u, 0u, 0u, slabs, slabs, 0ul);
  return buf;
}

TEST(Slub, SlabinfoFormat) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  const std::string empty = t.slabinfo();
  ASSERT_EQ(empty.compare(0, std::strlen(kSlabinfoHeader), kSlabinfoHeader), 0) << empty;

  kmem_cache* a = t.heap.kmem_cache_create("info-a", 100, 0, 0, nullptr);
  kmem_cache* b = t.heap.kmem_cache_create("info-b", 64, 0, SLAB_HWCACHE_ALIGN, nullptr);
  kmem_cache* d = t.heap.kmem_cache_create("info-d-with-a-long-name", 512, 0, 0, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(d, nullptr);
  std::vector<void*> oa = alloc_n(t.heap, a, 5);
  std::vector<void*> ob = alloc_n(t.heap, b, 70); // 64 in a full slab, 6 in the cpu slab
  t.heap.kmem_cache_flush(a);
  const std::string text = t.slabinfo();
  EXPECT_EQ(t.heap.slabinfo(nullptr, 0), text.size());
  // Newest cache first; objsize is the stride (104 for info-a), free objects on cpu slabs
  // count as active, only partial slabs' free objects are subtracted.
  const std::string want =
      std::string(kSlabinfoHeader) + slabinfo_row("info-d-with-a-long-name", 0, 0, 512, 32, 4, 0) +
      slabinfo_row("info-b", 128, 128, 64, 64, 1, 2) + slabinfo_row("info-a", 5, 39, 104, 39, 1, 1);
  const std::size_t before = empty.size() - std::strlen(kSlabinfoHeader); // older caches
  EXPECT_EQ(text.substr(0, want.size()), want);
  EXPECT_EQ(text.size(), want.size() + before);
  // snprintf semantics: truncated, NUL-terminated, full length returned.
  char small[16];
  std::memset(small, 'x', sizeof small);
  EXPECT_EQ(t.heap.slabinfo(small, sizeof small), text.size());
  EXPECT_EQ(std::string(small), text.substr(0, 15));
  free_all(t.heap, a, oa);
  free_all(t.heap, b, ob);
  t.heap.kmem_cache_destroy(d);
  t.heap.kmem_cache_destroy(b);
  t.heap.kmem_cache_destroy(a);
  EXPECT_EQ(t.slabinfo(), empty);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, CacheInfoFields) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("fields-100", 100, 0, SLAB_RECLAIM_ACCOUNT, nullptr);
  ASSERT_NE(c, nullptr);
  CacheInfo ci = t.info(c);
  EXPECT_STREQ(ci.name, "fields-100");
  EXPECT_EQ(ci.flags, SLAB_RECLAIM_ACCOUNT);
  EXPECT_EQ(ci.object_size, 100u);
  EXPECT_EQ(ci.size, 104u);
  EXPECT_EQ(ci.align, 8u);
  EXPECT_EQ(ci.offset, 48u);
  EXPECT_EQ(ci.objects_per_slab, 39u);
  EXPECT_EQ(ci.order, 0u);
  EXPECT_EQ(ci.min_order, 0u);
  EXPECT_EQ(ci.min_partial, 5u);
  EXPECT_EQ(ci.nr_slabs, 0u);
  EXPECT_EQ(ci.nr_partial, 0u);
  EXPECT_EQ(ci.nr_full, 0u);
  EXPECT_EQ(ci.nr_cpu_slabs, 0u);
  EXPECT_EQ(ci.total_objects, 0u);
  EXPECT_EQ(ci.active_objects, 0u);
  EXPECT_EQ(ci.free_objects, 0u);
  std::vector<void*> objs = alloc_n(t.heap, c, 50);
  t.heap.kmem_cache_free(c, objs[3]); // a full slab becomes partial
  ci = t.info(c);
  EXPECT_EQ(ci.nr_slabs, 2u);
  EXPECT_EQ(ci.nr_partial, 1u);
  EXPECT_EQ(ci.nr_full, 0u);
  EXPECT_EQ(ci.nr_cpu_slabs, 1u);
  EXPECT_EQ(ci.total_objects, 78u);
  EXPECT_EQ(ci.free_objects, 78u - 49u);
  EXPECT_EQ(ci.active_objects, 77u); // the cpu slab's 28 free objects count as active
  objs.erase(objs.begin() + 3);
  free_all(t.heap, c, objs);

  kmem_cache* h =
      t.heap.kmem_cache_create("fields-hw-ctor", 100, 0, SLAB_HWCACHE_ALIGN, counting_ctor);
  ASSERT_NE(h, nullptr);
  ci = t.info(h);
  EXPECT_EQ(ci.size, 128u);
  EXPECT_EQ(ci.align, 64u);
  EXPECT_EQ(ci.offset, 104u);
  EXPECT_EQ(ci.objects_per_slab, 32u);
  kmem_cache* big = t.heap.kmem_cache_create("fields-8k", 8192, 0, 0, nullptr);
  ASSERT_NE(big, nullptr);
  ci = t.info(big);
  EXPECT_EQ(ci.order, 3u);
  EXPECT_EQ(ci.min_order, 1u);
  EXPECT_EQ(ci.objects_per_slab, 4u);
  EXPECT_EQ(ci.min_partial, 6u);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

TEST(Slub, NinetySixAndHundredNinetyTwoFollowTheKernel) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  for (unsigned size :
       {8u, 16u, 32u, 64u, 96u, 128u, 192u, 256u, 512u, 1024u, 2048u, 4096u, 8192u}) {
    kmem_cache* c = t.heap.kmem_cache_create("kmalloc-like", size, 0, 0, nullptr);
    ASSERT_NE(c, nullptr);
    const CacheInfo ci = t.info(c);
    const unsigned want_objects = size <= 192 ? 4096 / size : size <= 1024 ? 32 : 32768 / size;
    EXPECT_EQ(ci.objects_per_slab, want_objects) << size;
    t.heap.kmem_cache_destroy(c);
  }
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- kmem_cache_create arguments

struct BadCreate {
  const char* label;
  const char* name;
  unsigned size;
  unsigned align;
  slab_flags_t flags;
  const char* reason; // regex
};

const char kLongName[] = "0123456789012345678901234567890123456789012345678901234567890123"; // 64

TEST(Slub, CreateRejectsBadArgumentsWithOneReport) {
  const BadCreate cases[] = {
      {"null name", nullptr, 64, 0, 0, "name is NULL or empty"},
      {"empty name", "", 64, 0, 0, "name is NULL or empty"},
      {"long name", kLongName, 64, 0, 0, "name is longer than 63 characters"},
      {"size 0", "bad", 0, 0, 0, "size is 0"},
      {"align 3", "bad", 64, 3, 0, "align is not a power of two"},
      {"align 24", "bad", 64, 24, 0, "align is not a power of two"},
      {"align huge", "bad", 64, 0x80000001u, 0, "align is not a power of two"},
      {"red zone", "bad", 64, 0, SLAB_RED_ZONE, "SLAB_RED_ZONE is not supported yet"},
      {"poison", "bad", 64, 0, SLAB_POISON, "SLAB_POISON is not supported yet"},
      {"store user", "bad", 64, 0, SLAB_STORE_USER, "SLAB_STORE_USER is not supported yet"},
      {"trace", "bad", 64, 0, SLAB_TRACE, "SLAB_TRACE is not supported yet"},
      {"rcu", "bad", 64, 0, SLAB_TYPESAFE_BY_RCU,
       "SLAB_TYPESAFE_BY_RCU is not supported \\(no RCU\\)"},
      {"dma32", "bad", 64, 0, SLAB_CACHE_DMA32,
       "SLAB_CACHE_DMA32 is not supported \\(no DMA32 zone\\)"},
      {"unknown bit 0", "bad", 64, 0, 0x1u, "unknown flag bits"},
      {"unknown bit 31", "bad", 64, 0, 0x80000000u, "unknown flag bits"},
      {"unknown with supported", "bad", 64, 0, SLAB_HWCACHE_ALIGN | 0x10000000u,
       "unknown flag bits"},
      {"too large", "bad", (4u << 20) + 1, 0, 0, "object too large for MAX_ORDER"},
      {"aligned past MAX_ORDER", "bad", 3u << 20, 8u << 20, 0, "object too large for MAX_ORDER"},
      {"4 MiB fits", "fits", 4u << 20, 0, 0, nullptr},                   // control: accepted
      {"aligned to 4 MiB fits", "fits", 3u << 20, 4u << 20, 0, nullptr}, // control
  };
  TestHeap t;
  ASSERT_TRUE(t.ok);
  const std::size_t caches = t.caches();
  for (const BadCreate& k : cases) {
    SCOPED_TRACE(k.label);
    t.rec.clear();
    kmem_cache* c = t.heap.kmem_cache_create(k.name, k.size, k.align, k.flags, nullptr);
    if (k.reason == nullptr) { // accepted
      EXPECT_NE(c, nullptr);
      EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
      t.heap.kmem_cache_destroy(c);
      continue;
    }
    EXPECT_EQ(c, nullptr);
    const std::string name = k.name == nullptr ? "\\(null\\)" : k.name;
    EXPECT_TRUE(
        one_report(t.rec, ErrorKind::CacheCreateFailed,
                   "kmalloc: WARNING: kmem_cache_create\\(" + name + "\\) failed: " + k.reason));
    EXPECT_EQ(t.caches(), caches);
  }
  // A 63-character name is fine.
  t.rec.clear();
  kmem_cache* c = t.heap.kmem_cache_create(kLongName + 1, 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_STREQ(t.info(c).name, kLongName + 1);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  // Every supported flag is accepted.
  kmem_cache* all = t.heap.kmem_cache_create("all-supported", 64, 0, SLAB_SUPPORTED_FLAGS, nullptr);
  EXPECT_NE(all, nullptr);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
}

// Sizes near UINT_MAX wrap the stride to 0 in calculate_layout; creation must still fail
// with a report, not divide by zero.
TEST(Slub, CreateRejectsSizesThatOverflowTheStride) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  struct Case {
    unsigned size, align;
    bool ctor;
  };
  for (const Case& k : {Case{0xffffffffu, 0, false}, Case{0xfffffff9u, 0, false},
                        Case{0xfffffff8u, 0, true}, Case{0x80000001u, 0x80000000u, false}}) {
    SCOPED_TRACE(k.size);
    t.rec.clear();
    EXPECT_EQ(
        t.heap.kmem_cache_create("huge", k.size, k.align, 0, k.ctor ? counting_ctor : nullptr),
        nullptr);
    EXPECT_TRUE(one_report(t.rec, ErrorKind::CacheCreateFailed,
                           "kmalloc: WARNING: kmem_cache_create\\(huge\\) failed: object too large "
                           "for MAX_ORDER"));
  }
}

TEST(Slub, SlabPanicReportsInsteadOfWarning) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.heap.kmem_cache_create("panic", 0, 0, SLAB_PANIC, nullptr), nullptr);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::SlabPanic,
                         "kmalloc: kmem_cache_create\\(panic\\) failed: size is 0"));
  t.rec.clear();
  EXPECT_EQ(t.heap.kmem_cache_create("panic", 64, 0, SLAB_PANIC | SLAB_POISON, nullptr), nullptr);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::SlabPanic,
                         "kmalloc: kmem_cache_create\\(panic\\) failed: SLAB_POISON is not "
                         "supported yet"));
  t.rec.clear();
  kmem_cache* ok = t.heap.kmem_cache_create("panic", 64, 0, SLAB_PANIC, nullptr);
  EXPECT_NE(ok, nullptr);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
}

TEST(Slub, RunningOutOfCacheDescriptorsFailsCleanly) {
  km::Config cfg = small_config();
  cfg.max_caches = 6;
  TestHeap t(cfg);
  ASSERT_TRUE(t.ok);
  // Config::max_caches counts the user's caches (kmalloc caches come on top of it).
  const std::size_t existing = t.caches();
  ASSERT_EQ(existing, 0u);
  std::vector<kmem_cache*> mine;
  for (std::size_t i = existing; i < cfg.max_caches; ++i) {
    mine.push_back(t.heap.kmem_cache_create("slot", 32, 0, 0, nullptr));
    ASSERT_NE(mine.back(), nullptr);
  }
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.kmem_cache_create("one-too-many", 32, 0, 0, nullptr), nullptr);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::CacheCreateFailed,
                         "kmalloc: WARNING: kmem_cache_create\\(one-too-many\\) failed: no free "
                         "kmem_cache descriptor \\(Config::max_caches\\)"));
  EXPECT_EQ(t.caches(), cfg.max_caches);
  EXPECT_EQ(t.heap.validate(), 0u);
  // The caches still work.
  void* p = t.heap.kmem_cache_alloc(mine[0], GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  t.heap.kmem_cache_free(mine[0], p);
  // Destroying an (empty) cache frees its descriptor; all of them, max_caches again.
  t.rec.clear();
  t.heap.kmem_cache_destroy(mine[1]);
  kmem_cache* again = t.heap.kmem_cache_create("reused", 32, 0, 0, nullptr);
  EXPECT_NE(again, nullptr);
  mine[1] = again;
  for (kmem_cache* c : mine)
    t.heap.kmem_cache_destroy(c);
  EXPECT_EQ(t.caches(), existing);
  for (int round = 0; round < 3; ++round) {
    mine.clear();
    for (std::size_t i = existing; i < cfg.max_caches; ++i) {
      mine.push_back(t.heap.kmem_cache_create("round", 32, 0, 0, nullptr));
      ASSERT_NE(mine.back(), nullptr) << round;
      void* q = t.heap.kmem_cache_alloc(mine.back(), GFP_KERNEL);
      ASSERT_NE(q, nullptr);
      t.heap.kmem_cache_free(mine.back(), q);
    }
    for (kmem_cache* c : mine)
      t.heap.kmem_cache_destroy(c);
  }
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.page_counts(), t.initial); // destroy released every slab
  EXPECT_EQ(t.heap.validate(), 0u);
}

TEST(Slub, DestroyNullIsANoOp) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  const std::size_t caches = t.caches();
  t.heap.kmem_cache_destroy(nullptr);
  t.heap.kmem_cache_free(nullptr, nullptr);
  kmem_cache* c = t.heap.kmem_cache_create("null-free", 32, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  t.heap.kmem_cache_free(c, nullptr);
  EXPECT_EQ(t.info(c).nr_slabs, 0u);
  t.heap.kmem_cache_destroy(c);
  EXPECT_EQ(t.caches(), caches);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
}

TEST(Slub, DestroyWithOneLiveObjectWarnsAndKeepsTheCache) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("one-live", 32, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  void* p = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  t.heap.kmem_cache_destroy(c);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectsRemaining,
                         "kmalloc: WARNING: kmem_cache_destroy one-live: Slab cache still has "
                         "objects \\(1 remaining\\); the cache is left alive"));
  EXPECT_EQ(t.info(c).nr_slabs, 1u);
  EXPECT_EQ(t.heap.slab_object(p).cache, c);
  EXPECT_EQ(t.heap.validate(), 0u);
  t.rec.clear();
  t.heap.kmem_cache_free(c, p);
  t.heap.kmem_cache_destroy(c);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.page_counts(), t.initial);
}

TEST(Slub, CachesAreListedNewestFirst) {
  TestHeap t;
  ASSERT_TRUE(t.ok);
  const std::size_t existing = t.caches();
  kmem_cache* a = t.heap.kmem_cache_create("a", 32, 0, 0, nullptr);
  kmem_cache* b = t.heap.kmem_cache_create("b", 32, 0, 0, nullptr);
  kmem_cache* c = t.heap.kmem_cache_create("c", 32, 0, 0, nullptr);
  std::vector<const kmem_cache*> list = t.cache_list();
  ASSERT_EQ(list.size(), existing + 3);
  EXPECT_EQ(list[0], c);
  EXPECT_EQ(list[1], b);
  EXPECT_EQ(list[2], a);
  t.heap.kmem_cache_destroy(b);
  list = t.cache_list();
  ASSERT_EQ(list.size(), existing + 2);
  EXPECT_EQ(list[0], c);
  EXPECT_EQ(list[1], a);
  kmem_cache* d = t.heap.kmem_cache_create("d", 32, 0, 0, nullptr);
  list = t.cache_list();
  EXPECT_EQ(list[0], d);
  EXPECT_EQ(list[1], c);
  EXPECT_EQ(list[2], a);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
}

// ---- misuse in recording mode (MU1)

// Two ordinary caches and a SLAB_CONSISTENCY_CHECKS one, each with live objects over several
// slabs and cpus. After a misuse, intact() proves nothing was lost.
class SlubMisuse : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(t.ok);
    a = t.heap.kmem_cache_create("misuse-a", 64, 0, 0, nullptr);
    b = t.heap.kmem_cache_create("misuse-b", 128, 0, 0, nullptr);
    d = t.heap.kmem_cache_create("misuse-dbg", 64, 0, SLAB_CONSISTENCY_CHECKS, nullptr);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    ASSERT_NE(d, nullptr);
    for (unsigned cpu : {0u, 2u}) {
      t.heap.set_cpu(cpu);
      append(la, alloc_n(t.heap, a, 100));
      append(lb, alloc_n(t.heap, b, 40));
      append(ld, alloc_n(t.heap, d, 100));
    }
    t.heap.set_cpu(0);
    // Some partial slabs too.
    for (std::size_t i = 0; i < la.size(); i += 7)
      t.heap.kmem_cache_free(a, take(la, i));
    ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
    ASSERT_EQ(t.heap.validate(), 0u);
  }

  static void append(std::vector<void*>& to, const std::vector<void*>& from) {
    to.insert(to.end(), from.begin(), from.end());
  }
  static void* take(std::vector<void*>& v, std::size_t i) {
    void* p = v[i];
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    return p;
  }

  struct Counters {
    std::size_t total, free, slabs;
    bool operator==(const Counters&) const = default;
  };
  Counters counters(const kmem_cache* c) const {
    const CacheInfo ci = t.info(c);
    return {ci.total_objects, ci.free_objects, ci.nr_slabs};
  }

  // Every live object is still live and can be freed; then everything goes back.
  void intact() {
    EXPECT_EQ(t.heap.validate(), 0u);
    t.rec.clear();
    t.heap.flush_cpu_slabs();
    EXPECT_EQ(t.info(a).active_objects, la.size());
    EXPECT_EQ(t.info(b).active_objects, lb.size());
    EXPECT_EQ(t.info(d).active_objects, ld.size());
    for (auto [c, list] : {std::pair{a, &la}, std::pair{b, &lb}, std::pair{d, &ld}}) {
      for (void* p : *list)
        EXPECT_EQ(t.heap.slab_object(p).cache, c) << p;
      free_all(t.heap, c, *list);
      EXPECT_EQ(t.info(c).active_objects, 0u);
      EXPECT_EQ(t.heap.kmem_cache_shrink(c), 0);
      t.heap.kmem_cache_destroy(c);
    }
    EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
    EXPECT_EQ(t.heap.validate(), 0u);
    EXPECT_EQ(t.heap.page_counts().slab, 0u);
  }

  TestHeap t;
  kmem_cache* a = nullptr;
  kmem_cache* b = nullptr;
  kmem_cache* d = nullptr;
  std::vector<void*> la, lb, ld;
};

TEST_F(SlubMisuse, FreeToTheWrongCache) {
  void* p = la[10];
  const Counters ca = counters(a), cb = counters(b);
  t.heap.kmem_cache_free(b, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::WrongCache,
                         "kmalloc: kmem_cache_free: Wrong slab cache\\. misuse-b but object " +
                             hex(p) + " is from misuse-a"));
  EXPECT_EQ(t.rec.reports[0].address, addr(p));
  EXPECT_TRUE(counters(a) == ca);
  EXPECT_TRUE(counters(b) == cb);
  // Same-sized caches are not interchangeable either.
  t.rec.clear();
  t.heap.kmem_cache_free(d, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::WrongCache,
                         "kmalloc: kmem_cache_free: Wrong slab cache\\. misuse-dbg but object " +
                             hex(p) + " is from misuse-a"));
  EXPECT_EQ(t.heap.validate(), 0u);
  intact();
}

TEST_F(SlubMisuse, InteriorPointer) {
  const Counters ca = counters(a);
  for (std::size_t off : {std::size_t{1}, std::size_t{8}, std::size_t{32}, std::size_t{63}}) {
    t.rec.clear();
    char* p = static_cast<char*>(la[20]) + off;
    t.heap.kmem_cache_free(a, p);
    EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidObjectPointer,
                           "kmalloc: BUG misuse-a: Invalid object pointer " + hex(p) +
                               " \\(not at an object boundary\\)"))
        << off;
    EXPECT_EQ(t.rec.reports[0].address, addr(p));
  }
  EXPECT_TRUE(counters(a) == ca);
  EXPECT_EQ(t.heap.validate(), 0u);
  intact();
}

TEST_F(SlubMisuse, PointerIntoTheSlabTail) {
  kmem_cache* c = t.heap.kmem_cache_create("tail-100", 100, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  void* obj = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  const km::SlabObject so = t.heap.slab_object(obj);
  // 39 objects of 104 bytes leave a 40-byte tail.
  char* tail = reinterpret_cast<char*>(so.slab) + 39 * 104;
  t.heap.kmem_cache_free(c, tail);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidObjectPointer,
                         "kmalloc: BUG tail-100: Invalid object pointer " + hex(tail) +
                             " \\(not at an object boundary\\)"));
  t.rec.clear();
  t.heap.kmem_cache_free(c, obj);
  EXPECT_EQ(t.rec.size(), 0u);
  t.heap.kmem_cache_destroy(c);
  intact();
}

TEST_F(SlubMisuse, PointerOutsideTheHeap) {
  int local = 0;
  const Counters ca = counters(a);
  const std::uintptr_t end = t.heap.arena_start() + t.heap.arena_pages() * t.heap.page_size();
  for (void* p : {static_cast<void*>(&local), reinterpret_cast<void*>(t.heap.arena_start() - 64),
                  reinterpret_cast<void*>(end), reinterpret_cast<void*>(end + 4096)}) {
    t.rec.clear();
    t.heap.kmem_cache_free(a, p);
    EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidObjectPointer,
                           "kmalloc: BUG misuse-a: Invalid object pointer " + hex(p) +
                               " \\(outside the heap\\)"));
  }
  EXPECT_TRUE(counters(a) == ca);
  intact();
}

TEST_F(SlubMisuse, PointerIntoAFreePage) {
  std::vector<kmtest::Block> blocks = kmtest::free_blocks(t.heap);
  ASSERT_FALSE(blocks.empty());
  const auto [zone, pfn, order] = blocks.back();
  (void)zone;
  const std::uintptr_t block = pfn * t.heap.page_size();
  const Counters ca = counters(a);
  const kmtest::Snapshot snap = kmtest::Snapshot::of(t.heap);
  // The head of a free block, and an address in its last page.
  for (std::uintptr_t p : {block, block + (t.heap.page_size() << order) - 64}) {
    t.rec.clear();
    t.heap.kmem_cache_free(a, reinterpret_cast<void*>(p));
    EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidObjectPointer,
                           "kmalloc: BUG misuse-a: Invalid object pointer " +
                               hex(reinterpret_cast<void*>(p)) + " \\(in a free page\\)"));
  }
  kmtest::expect_same_state(snap, t.heap);
  EXPECT_TRUE(counters(a) == ca);
  intact();
}

TEST_F(SlubMisuse, PointerIntoPagesFromAllocPagesOrMetadata) {
  struct page* pg = t.heap.alloc_pages(GFP_KERNEL, 2);
  ASSERT_NE(pg, nullptr);
  char* base = static_cast<char*>(t.heap.page_address(pg));
  const Counters ca = counters(a);
  for (char* p : {base, base + 64, base + 3 * t.heap.page_size() + 8,
                  reinterpret_cast<char*>(t.heap.arena_start())}) {
    t.rec.clear();
    t.heap.kmem_cache_free(a, p);
    EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidObjectPointer,
                           "kmalloc: BUG misuse-a: Invalid object pointer " + hex(p) +
                               " \\(not in a slab page\\)"));
  }
  EXPECT_TRUE(counters(a) == ca);
  EXPECT_EQ(t.heap.page_info(base).owner, km::PageOwner::PageAlloc);
  t.rec.clear();
  t.heap.free_pages(pg, 2); // still allocated, still the caller's
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  intact();
}

TEST_F(SlubMisuse, InvalidCachePointer) {
  int local = 0;
  void* p = la[0];
  const Counters ca = counters(a);
  auto* bogus = reinterpret_cast<kmem_cache*>(&local);
  auto* inside = reinterpret_cast<kmem_cache*>(reinterpret_cast<char*>(a) + 8);
  for (kmem_cache* c : {bogus, inside}) {
    t.rec.clear();
    t.heap.kmem_cache_free(c, p);
    EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidCache,
                           "kmalloc: BUG: kmem_cache_free: " + hex(c) +
                               " is not a live kmem_cache of this heap"));
    EXPECT_EQ(t.rec.reports[0].address, addr(c));
  }
  // A destroyed cache is not live any more.
  kmem_cache* gone = t.heap.kmem_cache_create("gone", 64, 0, 0, nullptr);
  ASSERT_NE(gone, nullptr);
  t.heap.kmem_cache_destroy(gone);
  t.rec.clear();
  t.heap.kmem_cache_free(gone, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidCache,
                         "kmalloc: BUG: kmem_cache_free: " + hex(gone) +
                             " is not a live kmem_cache of this heap"));
  t.rec.clear();
  EXPECT_EQ(t.heap.kmem_cache_alloc(gone, GFP_KERNEL), nullptr);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidCache,
                         "kmalloc: BUG: kmem_cache_alloc: " + hex(gone) +
                             " is not a live kmem_cache of this heap"));
  t.rec.clear();
  EXPECT_EQ(t.heap.kmem_cache_shrink(bogus), 0);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidCache,
                         "kmalloc: BUG: kmem_cache_shrink: " + hex(bogus) +
                             " is not a live kmem_cache of this heap"));
  t.rec.clear();
  t.heap.kmem_cache_destroy(gone);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::InvalidCache,
                         "kmalloc: BUG: kmem_cache_destroy: " + hex(gone) +
                             " is not a live kmem_cache of this heap"));
  EXPECT_TRUE(counters(a) == ca);
  intact();
}

TEST_F(SlubMisuse, ImmediateDoubleFreeOnTheCpuSlab) {
  // The object most recently allocated on cpu 0 is in cpu 0's slab.
  void* p = t.heap.kmem_cache_alloc(a, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  t.heap.kmem_cache_free(a, p);
  const Counters ca = counters(a);
  t.heap.kmem_cache_free(a, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-a: Object already free " + hex(p)));
  EXPECT_EQ(t.rec.reports[0].address, addr(p));
  EXPECT_TRUE(counters(a) == ca);
  EXPECT_EQ(t.heap.validate(), 0u);
  // The object is handed out once, not twice.
  void* q = t.heap.kmem_cache_alloc(a, GFP_KERNEL);
  void* r = t.heap.kmem_cache_alloc(a, GFP_KERNEL);
  EXPECT_EQ(q, p);
  EXPECT_NE(r, p);
  la.push_back(q);
  la.push_back(r);
  intact();
}

TEST_F(SlubMisuse, ImmediateDoubleFreeOnANonCpuSlab) {
  t.heap.flush_cpu_slabs();
  void* p = la[3]; // a full or partial slab, no cpu's
  la.erase(la.begin() + 3);
  t.heap.kmem_cache_free(a, p);
  const Counters ca = counters(a);
  t.heap.kmem_cache_free(a, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-a: Object already free " + hex(p)));
  EXPECT_TRUE(counters(a) == ca);
  intact();
}

TEST_F(SlubMisuse, DoubleFreeOfAnOlderObjectInADebugCache) {
  void* x = ld[150];
  void* y = ld[151];
  void* z = ld[152];
  ld.erase(ld.begin() + 150, ld.begin() + 153);
  t.heap.kmem_cache_free(d, x);
  t.heap.kmem_cache_free(d, y);
  t.heap.kmem_cache_free(d, z);
  ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
  const Counters cd = counters(d);
  t.heap.kmem_cache_free(d, x); // not the freelist head: found by walking the freelist
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-dbg: Object already free " + hex(x)));
  EXPECT_TRUE(counters(d) == cd);
  // And once the slab is on the partial list.
  t.heap.flush_cpu_slabs();
  t.rec.clear();
  t.heap.kmem_cache_free(d, y);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-dbg: Object already free " + hex(y)));
  EXPECT_EQ(t.heap.validate(), 0u);
  intact();
}

TEST_F(SlubMisuse, FreeToAnotherCpusSlabIsARemoteFree) {
  // cpu 2's slab holds the last objects allocated on cpu 2.
  void* p = la.back();
  la.pop_back();
  t.heap.set_cpu(5);
  t.heap.kmem_cache_free(a, p);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.validate(), 0u);
  // The naive check sees it at the head of the slab's (remote) freelist.
  t.heap.kmem_cache_free(a, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-a: Object already free " + hex(p)));
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.set_cpu(0);
  intact();
}

TEST_F(SlubMisuse, DoubleFreeAcrossCpusInADebugCache) {
  // Allocated on cpu 2, freed remotely from cpu 4, then again from cpu 2 (its own slab).
  void* p = ld.back();
  ld.pop_back();
  t.heap.set_cpu(4);
  t.heap.kmem_cache_free(d, p);
  ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
  t.heap.set_cpu(2);
  t.heap.kmem_cache_free(d, p);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-dbg: Object already free " + hex(p)));
  // Freed on its own cpu (cpu freelist), then again from another cpu.
  void* q = ld.back();
  ld.pop_back();
  t.rec.clear();
  t.heap.kmem_cache_free(d, q); // cpu 2, local
  void* r = ld.back();
  ld.pop_back();
  t.heap.kmem_cache_free(d, r); // q is no longer the head
  ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
  t.heap.set_cpu(6);
  t.heap.kmem_cache_free(d, q);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectDoubleFree,
                         "kmalloc: BUG misuse-dbg: Object already free " + hex(q)));
  EXPECT_EQ(t.heap.validate(), 0u);
  t.heap.set_cpu(0);
  intact();
}

TEST_F(SlubMisuse, DestroyWithLiveObjectsWarnsAndKeepsTheCache) {
  const std::size_t live = la.size();
  t.heap.kmem_cache_destroy(a);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::ObjectsRemaining,
                         "kmalloc: WARNING: kmem_cache_destroy misuse-a: Slab cache still has "
                         "objects \\(" +
                             std::to_string(live) + " remaining\\); the cache is left alive"));
  EXPECT_EQ(t.heap.validate(), 0u);
  const std::vector<const kmem_cache*> caches = t.cache_list();
  EXPECT_TRUE(std::find(caches.begin(), caches.end(), a) != caches.end());
  // Still usable.
  t.rec.clear();
  void* p = t.heap.kmem_cache_alloc(a, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  la.push_back(p);
  EXPECT_EQ(t.heap.slab_object(p).cache, a);
  EXPECT_EQ(t.rec.size(), 0u);
  // A later destroy after freeing everything succeeds.
  free_all(t.heap, a, la);
  t.heap.kmem_cache_destroy(a);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  const std::vector<const kmem_cache*> after = t.cache_list();
  EXPECT_TRUE(std::find(after.begin(), after.end(), a) == after.end());
  EXPECT_EQ(t.heap.validate(), 0u);
  // intact() would destroy `a` again: drop it from the fixture's caches.
  free_all(t.heap, b, lb);
  free_all(t.heap, d, ld);
  t.heap.kmem_cache_destroy(b);
  t.heap.kmem_cache_destroy(d);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(t.heap.page_counts(), t.initial);
}

TEST_F(SlubMisuse, CreateFailureWithSlabPanicInRecordingMode) {
  EXPECT_EQ(t.heap.kmem_cache_create("panicky", 64, 0, SLAB_PANIC | SLAB_RED_ZONE, nullptr),
            nullptr);
  EXPECT_TRUE(one_report(t.rec, ErrorKind::SlabPanic,
                         "kmalloc: kmem_cache_create\\(panicky\\) failed: SLAB_RED_ZONE is not "
                         "supported yet"));
  intact();
}

} // namespace
