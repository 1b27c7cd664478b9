// kmalloc_contract_test.cpp - one test per sentence of the kernel-doc comments in
// kmalloc/kmalloc.h, run against the C++ Heap API (the code the C API forwards to) with a fresh
// heap per test. Tests of the C functions themselves, which share one process-global default
// heap, are in capi_death_test.cpp (one process each) and the C programs c_api_*_test.c.
//
// Expectations come from the kernel (linux-facts.md §1-§3, the seed's kmalloc_index table),
// never from the allocator's own tables. Every test runs with a recording report handler and
// ends with validate() == 0 and no report left unexamined.
#include "kmalloc/kmalloc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "platform/asan.h"

namespace {

using km::ErrorKind;
using testing::HasSubstr;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

std::uintptr_t addr(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// ---- reading and writing arena bytes ASan has poisoned (slack, freed objects, free pages)

// Under ASan the allocator poisons everything a caller may not touch. These helpers unpoison
// [p, p + n), access it, and poison again from the first byte that was poisoned (the poisoned
// part of an object is always a suffix: the slack, or all of a freed object).
std::size_t first_poisoned(const void* p, std::size_t n) {
#ifdef KMALLOC_ASAN
  const void* bad = __asan_region_is_poisoned(const_cast<void*>(p), n);
  return bad != nullptr ? addr(bad) - addr(p) : n;
#else
  (void)p;
  return n;
#endif
}

std::vector<unsigned char> peek(const void* p, std::size_t n) {
  const std::size_t from = first_poisoned(p, n);
  km::unpoison(p, n);
  const auto* b = static_cast<const unsigned char*>(p);
  std::vector<unsigned char> out(b, b + n);
  km::poison(b + from, n - from);
  return out;
}

void poke(void* p, int value, std::size_t n) {
  const std::size_t from = first_poisoned(p, n);
  km::unpoison(p, n);
  std::memset(p, value, n);
  km::poison(static_cast<unsigned char*>(p) + from, n - from);
}

// Index of the first byte in [from, to) of `bytes` that is not `value`, or -1.
long first_not(const std::vector<unsigned char>& bytes, unsigned char value, std::size_t from,
               std::size_t to) {
  for (std::size_t i = from; i < to && i < bytes.size(); ++i)
    if (bytes[i] != value)
      return static_cast<long>(i);
  return -1;
}

void fill_pattern(void* p, std::size_t n, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<unsigned char>(i * 7 + seed);
}

bool has_pattern(const void* p, std::size_t n, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != static_cast<unsigned char>(i * 7 + seed))
      return false;
  return true;
}

// ---- the kernel's size classes, written from the specification (linux-facts.md §1)

struct ProfileSpec {
  const char* options;
  std::size_t page_size;
  std::size_t min_size;       // KMALLOC_MIN_SIZE
  std::size_t minalign;       // ARCH_KMALLOC_MINALIGN (what the pointers are checked against)
  std::size_t max_cache_size; // KMALLOC_MAX_CACHE_SIZE
  std::size_t max_size;       // KMALLOC_MAX_SIZE
  bool has_rcl;               // kmalloc-rcl-* (4.20+)
  bool short_names;           // kmalloc-1k (4.20+) rather than kmalloc-1024
  int max_index;              // the largest index kmalloc_index() answers
};

const ProfileSpec kLinux6{
    "profile=linux-6,seed=1", 4 * KiB, 8, 8, 8 * KiB, 4 * MiB, true, true, 21};

const ProfileSpec kProfiles[] = {
    kLinux6,
    // arm64 with DMA alignment: no kmalloc-96 (64), no kmalloc-192 either (128).
    {"profile=linux-6,min_size=64,seed=1", 4 * KiB, 64, 64, 8 * KiB, 4 * MiB, true, true, 21},
    {"profile=linux-6,min_size=128,seed=1", 4 * KiB, 128, 128, 8 * KiB, 4 * MiB, true, true, 21},
    // 16 KiB pages: KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1, KMALLOC_SHIFT_MAX = MAX_ORDER +
    // PAGE_SHIFT.
    {"profile=linux-6,page_shift=14,max_order=8,seed=1", 16 * KiB, 8, 8, 32 * KiB, 4 * MiB, true,
     true, 21},
    // The seed's SLAB (4.19): kmalloc-32 .. kmalloc-4194304, all from caches; ARCH_KMALLOC_MINALIGN
    // stays 8 there (KMALLOC_MIN_SIZE is 32 because of KMALLOC_SHIFT_LOW 5).
    {"profile=linux-4-slab,seed=1", 4 * KiB, 32, 8, 4 * MiB, 4 * MiB, false, false, 26},
};

// Ascending cache sizes: powers of two from KMALLOC_MIN_SIZE, plus 96 iff KMALLOC_MIN_SIZE <= 32
// and 192 iff KMALLOC_MIN_SIZE <= 64.
std::vector<std::size_t> class_sizes(const ProfileSpec& s) {
  std::vector<std::size_t> out;
  for (std::size_t c = s.min_size; c <= s.max_cache_size; c *= 2)
    out.push_back(c);
  if (s.min_size <= 32)
    out.push_back(96);
  if (s.min_size <= 64)
    out.push_back(192);
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t smallest_class(const ProfileSpec& s, std::size_t n) {
  for (std::size_t c : class_sizes(s))
    if (c >= n)
      return c;
  return 0;
}

std::string class_name(const char* prefix, std::size_t bytes, bool short_names) {
  std::string out = prefix;
  if (short_names && bytes >= MiB)
    return out + std::to_string(bytes / MiB) + "M";
  if (short_names && bytes >= KiB)
    return out + std::to_string(bytes / KiB) + "k";
  return out + std::to_string(bytes);
}

unsigned order_for(std::size_t n, std::size_t page_size) {
  unsigned order = 0;
  while ((page_size << order) < n)
    ++order;
  return order;
}

// Sizes worth trying for a profile: 1..4096, and each class size -1/+0/+1 beyond.
std::vector<std::size_t> interesting_sizes(const ProfileSpec& s) {
  std::vector<std::size_t> out;
  const std::size_t dense = std::min<std::size_t>(s.max_cache_size, 4096);
  for (std::size_t n = 1; n <= dense; ++n)
    out.push_back(n);
  for (std::size_t c : class_sizes(s))
    for (std::size_t n : {c - 1, c, c + 1})
      if (n > dense && n <= s.max_cache_size)
        out.push_back(n);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---- the fixture: a fresh linux-6 heap with a recording handler

class KmallocContract : public testing::Test {
protected:
  void SetUp() override { init(kLinux6.options); }

  void TearDown() override {
    if (heap_.initialized()) {
      EXPECT_EQ(heap_.validate(), 0u);
    }
    EXPECT_EQ(rec_.size(), 0u) << "reports no test looked at:\n" << rec_.dump();
    heap_.destroy();
  }

  // A fresh heap from an option string. With `dirty`, the heap lives in a region filled with
  // 0xa5 first, so every object and page starts out non-zero and zeroing is observable.
  void init(const char* options, bool dirty = false) {
    heap_.destroy();
    region_.reset();
    rec_.clear();
    km::Config cfg;
    km::Status st;
    ASSERT_TRUE(km::parse_options(options, cfg, st)) << st.message;
    if (dirty) {
      region_ = std::make_unique<kmtest::AlignedRegion>(cfg.arena_size, 4 * MiB);
      std::memset(region_->get(), 0xa5, region_->size());
      st = heap_.init(cfg, region_->get(), region_->size());
    } else {
      st = heap_.init(cfg);
    }
    ASSERT_TRUE(st.ok) << st.message;
    heap_.set_report_handler(kmtest::Recorder::handle, &rec_);
  }

  // Exactly `count` reports were made since the last check, all of `kind`; forgets them.
  void expect_reports(ErrorKind kind, std::size_t count, const std::string& text = "") {
    EXPECT_EQ(rec_.size(), count) << rec_.dump();
    EXPECT_EQ(rec_.count(kind), count) << rec_.dump();
    if (!text.empty()) {
      for (const kmtest::Recorded& r : rec_.reports) {
        EXPECT_THAT(r.message, HasSubstr(text));
      }
    }
    rec_.clear();
  }
  void expect_no_reports() {
    EXPECT_EQ(rec_.size(), 0u) << rec_.dump();
    rec_.clear();
  }

  std::string cache_name_of(const void* p) const {
    const km::SlabObject so = heap_.slab_object(p);
    return so.cache != nullptr ? heap_.cache_info(so.cache).name : std::string();
  }
  kmem_cache* kmalloc_cache(std::size_t n, gfp_t gfp = GFP_KERNEL) const {
    return const_cast<kmem_cache*>(heap_.kmalloc_cache(n, gfp));
  }
  // Live objects of a cache (cpu slabs flushed first, as the kernel does before counting).
  std::size_t live(const kmem_cache* c) {
    heap_.flush_cpu_slabs();
    return heap_.cache_info(c).active_objects;
  }
  std::vector<kmem_cache*> all_caches() const {
    std::vector<kmem_cache*> caches;
    heap_.for_each_cache(
        [](void* ctx, const kmem_cache* c) {
          static_cast<std::vector<kmem_cache*>*>(ctx)->push_back(const_cast<kmem_cache*>(c));
        },
        &caches);
    return caches;
  }
  void shrink_all() {
    for (kmem_cache* c : all_caches())
      heap_.kmem_cache_shrink(c);
  }
  std::vector<std::string> cache_names() const {
    std::vector<std::string> names;
    for (const kmem_cache* c : all_caches())
      names.push_back(heap_.cache_info(c).name);
    return names;
  }

  std::unique_ptr<kmtest::AlignedRegion> region_; // outlives heap_ (declared first)
  km::Heap heap_;
  kmtest::Recorder rec_;
};

// ============================================================================================
// ZERO_SIZE_PTR, ZERO_OR_NULL_PTR

// "What kmalloc(0) returns: not NULL, and faults when dereferenced."
TEST_F(KmallocContract, ZeroSizePtr_IsSixteenAndZeroOrNull) {
  EXPECT_EQ(ZERO_SIZE_PTR, reinterpret_cast<void*>(16));
  EXPECT_NE(ZERO_SIZE_PTR, nullptr);
  EXPECT_TRUE(ZERO_OR_NULL_PTR(nullptr));
  EXPECT_TRUE(ZERO_OR_NULL_PTR(ZERO_SIZE_PTR));
  EXPECT_TRUE(ZERO_OR_NULL_PTR(reinterpret_cast<void*>(8)));
  EXPECT_FALSE(ZERO_OR_NULL_PTR(reinterpret_cast<void*>(17)));
  void* p = heap_.kmalloc(8, GFP_KERNEL);
  EXPECT_FALSE(ZERO_OR_NULL_PTR(p));
  // Outside the arena, so a dereference faults (page 0 is never mapped).
  EXPECT_EQ(heap_.virt_to_page(ZERO_SIZE_PTR), nullptr);
  heap_.kfree(p);
}

// ============================================================================================
// kmalloc

// "Return: ... ZERO_SIZE_PTR for @size 0"
TEST_F(KmallocContract, Kmalloc_ZeroReturnsZeroSizePtr) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  for (gfp_t gfp : {GFP_KERNEL, GFP_ATOMIC, GFP_DMA, GFP_KERNEL | __GFP_ZERO,
                    GFP_KERNEL | __GFP_RECLAIMABLE, GFP_KERNEL | __GFP_NOWARN}) {
    EXPECT_EQ(heap_.kmalloc(0, gfp), ZERO_SIZE_PTR) << std::hex << gfp;
  }
  EXPECT_EQ(heap_.kzalloc(0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.kmalloc_array(0, 8, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.kmalloc_array(8, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.kcalloc(0, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  kmtest::expect_same_state(before, heap_); // nothing was allocated
}

// "The object comes from the smallest kmalloc cache that fits (kmalloc_index())"
TEST_F(KmallocContract, Kmalloc_SmallestCacheThatFits) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t n : interesting_sizes(spec)) {
      const std::size_t c = smallest_class(spec, n);
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      ASSERT_NE(p, nullptr) << n;
      ASSERT_EQ(cache_name_of(p), class_name("kmalloc-", c, spec.short_names)) << "size " << n;
      ASSERT_EQ(heap_.ksize(p), c) << "size " << n;
      ASSERT_EQ(heap_.slab_object(p).cache, heap_.kmalloc_cache(n, GFP_KERNEL)) << n;
      ASSERT_EQ(heap_.slab_object(p).object, addr(p)) << n;
      heap_.kfree(p);
    }
    shrink_all();
    EXPECT_EQ(heap_.page_counts().slab, 0u);
  }
}

// "larger requests (above KMALLOC_MAX_CACHE_SIZE) come straight from the page allocator at order
// get_order(size) and are page aligned."
TEST_F(KmallocContract, Kmalloc_LargeIsPageAligned) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    const std::size_t ps = spec.page_size;
    for (std::size_t n : {spec.max_cache_size + 1, spec.max_cache_size + ps, 3 * ps + 1, 100 * KiB,
                          MiB - 1, MiB + 1, 3 * MiB, spec.max_size}) {
      if (n <= spec.max_cache_size || n > spec.max_size)
        continue;
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      ASSERT_NE(p, nullptr) << n;
      const unsigned order = order_for(n, ps);
      EXPECT_EQ(addr(p) % ps, 0u) << n;
      const km::PageInfo pi = heap_.page_info(p);
      EXPECT_EQ(pi.owner, km::PageOwner::LargeKmalloc) << n;
      EXPECT_EQ(pi.block, addr(p)) << n;
      EXPECT_EQ(pi.order, order) << n;
      EXPECT_EQ(heap_.get_order(n), order) << n;
      EXPECT_EQ(heap_.page_counts().large_kmalloc, std::size_t{1} << order) << n;
      EXPECT_EQ(heap_.slab_object(p).cache, nullptr) << n;
      EXPECT_EQ(heap_.kmalloc_cache(n, GFP_KERNEL), nullptr) << n;
      heap_.kfree(p);
      EXPECT_EQ(heap_.page_counts().large_kmalloc, 0u) << n;
    }
  }
}

// "The result is aligned to at least ARCH_KMALLOC_MINALIGN"
TEST_F(KmallocContract, Kmalloc_MinAlignIsArchKmallocMinalign) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    if (spec.minalign > 8) { // the arm64 variants raise ARCH_KMALLOC_MINALIGN to KMALLOC_MIN_SIZE
      EXPECT_EQ(heap_.kmalloc_limits().minalign, spec.minalign);
    }
    EXPECT_EQ(heap_.kmalloc_limits().min_size, spec.min_size);
    // Three live objects per size, so more than one slot of each slab is looked at.
    for (std::size_t n : interesting_sizes(spec)) {
      if (n > 16 * KiB)
        break;
      void* p[3];
      for (void*& q : p) {
        q = heap_.kmalloc(n, GFP_KERNEL);
        ASSERT_NE(q, nullptr);
        ASSERT_EQ(addr(q) % spec.minalign, 0u) << "size " << n << " at " << q;
      }
      for (void* q : p)
        heap_.kfree(q);
    }
    shrink_all();
  }
}

// "The result is aligned ... to @size when @size is a power of two."
TEST_F(KmallocContract, Kmalloc_PowerOfTwoIsNaturallyAligned) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t n = 1; n <= spec.max_size; n *= 2) {
      // Two slabs' worth of objects (slab sizes), or two blocks (large sizes).
      std::size_t count = 2;
      if (kmem_cache* c = kmalloc_cache(n))
        count = std::min<std::size_t>(2 * heap_.cache_info(c).objects_per_slab + 1, 2048);
      std::vector<void*> objs;
      for (std::size_t i = 0; i < count; ++i) {
        void* p = heap_.kmalloc(n, GFP_KERNEL);
        ASSERT_NE(p, nullptr) << "size " << n << " object " << i;
        ASSERT_EQ(addr(p) % n, 0u) << "size " << n << " object " << i << " at " << p;
        objs.push_back(p);
      }
      for (void* p : objs)
        heap_.kfree(p);
      shrink_all();
    }
  }
}

// "@flags: ... __GFP_DMA takes from dma-kmalloc-*"
TEST_F(KmallocContract, Kmalloc_DmaFlagUsesDmaCache) {
  for (const ProfileSpec& spec : {kProfiles[0], kProfiles[4]}) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    ASSERT_EQ(heap_.nr_zones(), 2u);
    ASSERT_STREQ(heap_.zone_info(0).name, "DMA");
    for (std::size_t n : {1ul, 8ul, 30ul, 64ul, 65ul, 96ul, 150ul, 192ul, 1000ul, 4096ul, 8192ul}) {
      const std::size_t c = smallest_class(spec, n);
      // __GFP_DMA wins over __GFP_RECLAIMABLE (kmalloc_type()).
      for (gfp_t gfp : {GFP_DMA, GFP_KERNEL | GFP_DMA, GFP_DMA | __GFP_RECLAIMABLE}) {
        void* p = heap_.kmalloc(n, gfp);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(cache_name_of(p), class_name("dma-kmalloc-", c, spec.short_names)) << n;
        EXPECT_EQ(heap_.page_info(p).zone, 0u) << "object not in ZONE_DMA, size " << n;
        EXPECT_NE(heap_.cache_info(heap_.slab_object(p).cache).flags & SLAB_CACHE_DMA, 0u);
        heap_.kfree(p);
      }
    }
    // The large path takes its pages from ZONE_DMA too.
    void* big = heap_.kmalloc(spec.max_cache_size + 1, GFP_DMA | __GFP_NOWARN);
    if (spec.max_cache_size < spec.max_size) {
      ASSERT_NE(big, nullptr);
      EXPECT_EQ(heap_.page_info(big).zone, 0u);
      heap_.kfree(big);
    }
  }
}

// "@flags: ... __GFP_RECLAIMABLE from kmalloc-rcl-*" (4.20+; linux-4-slab has no such caches)
TEST_F(KmallocContract, Kmalloc_ReclaimableUsesRclCache) {
  for (std::size_t n : {8ul, 96ul, 100ul, 192ul, 1024ul, 8192ul}) {
    void* p = heap_.kmalloc(n, GFP_KERNEL | __GFP_RECLAIMABLE);
    ASSERT_NE(p, nullptr);
    const std::size_t c = smallest_class(kLinux6, n);
    EXPECT_EQ(cache_name_of(p), class_name("kmalloc-rcl-", c, true)) << n;
    const km::CacheInfo ci = heap_.cache_info(heap_.slab_object(p).cache);
    EXPECT_NE(ci.flags & SLAB_RECLAIM_ACCOUNT, 0u);
    EXPECT_GT(heap_.slab_bytes().reclaimable, 0u);
    heap_.kfree(p);
  }
  init(kProfiles[4].options); // linux-4-slab: served from the normal caches
  void* p = heap_.kmalloc(100, GFP_KERNEL | __GFP_RECLAIMABLE);
  EXPECT_EQ(cache_name_of(p), "kmalloc-128");
  heap_.kfree(p);
}

// "@flags: ... __GFP_ZERO zeroes the object."
TEST_F(KmallocContract, Kmalloc_GfpZeroZeroesTheObject) {
  init(kLinux6.options, /*dirty=*/true);
  for (std::size_t n : {1ul, 8ul, 50ul, 96ul, 100ul, 4000ul, 8192ul, 8193ul, 20000ul, MiB}) {
    void* dirty = heap_.kmalloc(n, GFP_KERNEL);
    ASSERT_NE(dirty, nullptr);
    // The whole object, not just n bytes: a small object's first bytes may be its hardened free
    // pointer (ptr ^ random ^ swab(addr)), whose low byte is 0 one time in 256.
    EXPECT_NE(first_not(peek(dirty, heap_.ksize(dirty)), 0, 0, heap_.ksize(dirty)), -1)
        << "the arena should start dirty, size " << n;
    void* p = heap_.kmalloc(n, GFP_KERNEL | __GFP_ZERO);
    ASSERT_NE(p, nullptr);
    const std::size_t ks = heap_.ksize(p);
    EXPECT_EQ(first_not(peek(p, ks), 0, 0, ks), -1) << "size " << n << " ksize " << ks;
    heap_.kfree(p);
    heap_.kfree(dirty);
  }
}

// "Return: ... NULL when out of memory"; out of memory is normal: the heap stays valid and
// freeing restores everything (design §6).
TEST_F(KmallocContract, Kmalloc_OutOfMemoryReturnsNull) {
  init("profile=linux-6,arena=2M,dma=0,seed=1");
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  for (std::size_t n : {64ul, 1000ul, 8192ul, 20000ul}) {
    std::vector<void*> objs;
    for (;;) {
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      if (p == nullptr)
        break;
      fill_pattern(p, n, static_cast<unsigned>(objs.size()));
      objs.push_back(p);
      ASSERT_LT(objs.size(), 100000u);
    }
    EXPECT_GT(objs.size(), 0u);
    expect_no_reports(); // out of memory is not misuse
    EXPECT_EQ(heap_.validate(), 0u);
    for (std::size_t i = 0; i < objs.size(); ++i) {
      EXPECT_TRUE(has_pattern(objs[i], n, static_cast<unsigned>(i))) << "object " << i;
      heap_.kfree(objs[i]);
    }
    shrink_all();
    kmtest::expect_same_state(before, heap_);
  }
  // Injected page allocation failures: slab and large paths.
  heap_.inject_page_alloc_failures(100);
  EXPECT_EQ(heap_.kmalloc(64, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.kmalloc(3 * 4096, GFP_KERNEL), nullptr);
  heap_.inject_page_alloc_failures(0);
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  EXPECT_NE(p, nullptr);
  heap_.kfree(p);
}

// "Return: ... NULL when ... @size exceeds KMALLOC_MAX_SIZE (with a warning unless __GFP_NOWARN)."
TEST_F(KmallocContract, Kmalloc_TooLargeReturnsNullWithWarning) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
    EXPECT_EQ(heap_.kmalloc_limits().max_size, spec.max_size);
    for (std::size_t n : {spec.max_size + 1, 2 * spec.max_size, SIZE_MAX / 2, SIZE_MAX}) {
      EXPECT_EQ(heap_.kmalloc(n, GFP_KERNEL), nullptr) << n;
      expect_reports(ErrorKind::SizeTooLarge, 1, "KMALLOC_MAX_SIZE");
    }
    kmtest::expect_same_state(before, heap_);
  }
}

TEST_F(KmallocContract, Kmalloc_TooLargeSilentWithNowarn) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  for (std::size_t n : {4 * MiB + 1, SIZE_MAX}) {
    EXPECT_EQ(heap_.kmalloc(n, GFP_KERNEL | __GFP_NOWARN), nullptr);
    EXPECT_EQ(heap_.kzalloc(n, GFP_KERNEL | __GFP_NOWARN), nullptr);
  }
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
  // KMALLOC_MAX_SIZE itself is allowed.
  void* p = heap_.kmalloc(4 * MiB, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(heap_.ksize(p), 4 * MiB);
  heap_.kfree(p);
}

// gfp.h: "any other bit makes a request out of contract (NULL + warning)."
TEST_F(KmallocContract, Kmalloc_UnknownGfpBitsReturnNullWithWarning) {
  for (gfp_t bad : {gfp_t{0x200}, gfp_t{0x800000}, gfp_t{0x80000000}}) {
    EXPECT_EQ(heap_.kmalloc(64, GFP_KERNEL | bad), nullptr);
    expect_reports(ErrorKind::InvalidGfp, 1);
    EXPECT_EQ(heap_.kmalloc(64, GFP_KERNEL | bad | __GFP_NOWARN), nullptr);
    expect_no_reports();
  }
}

// ============================================================================================
// kzalloc, kmalloc_array, kcalloc

// "kzalloc - kmalloc() with __GFP_ZERO. Return: as kmalloc()."
TEST_F(KmallocContract, Kzalloc_Zeroes) {
  init(kLinux6.options, /*dirty=*/true);
  for (std::size_t n : {1ul, 24ul, 96ul, 192ul, 200ul, 8192ul, 8193ul, 40000ul}) {
    void* p = heap_.kzalloc(n, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const std::size_t ks = heap_.ksize(p);
    EXPECT_EQ(ks, heap_.kmalloc_size_roundup(n));
    EXPECT_EQ(first_not(peek(p, ks), 0, 0, ks), -1) << "size " << n;
    heap_.kfree(p);
  }
  EXPECT_EQ(heap_.kzalloc(0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.kzalloc(4 * MiB + 1, GFP_KERNEL), nullptr);
  expect_reports(ErrorKind::SizeTooLarge, 1);
  void* d = heap_.kzalloc(64, GFP_DMA);
  EXPECT_EQ(cache_name_of(d), "dma-kmalloc-64");
  heap_.kfree(d);
}

// "kmalloc_array - Return: as kmalloc(n * size); NULL, without a warning, when n * size
// overflows."
TEST_F(KmallocContract, KmallocArray_OverflowReturnsNullSilently) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  const std::size_t half = SIZE_MAX / 2 + 1;
  EXPECT_EQ(heap_.kmalloc_array(half, 2, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.kmalloc_array(2, half, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.kmalloc_array(SIZE_MAX, SIZE_MAX, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.kmalloc_array(std::size_t{1} << 32, std::size_t{1} << 32, GFP_KERNEL), nullptr);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
  // No overflow: exactly kmalloc(n * size), warning included.
  void* p = heap_.kmalloc_array(3, 32, GFP_KERNEL);
  EXPECT_EQ(cache_name_of(p), "kmalloc-96");
  EXPECT_EQ(heap_.ksize(p), 96u);
  heap_.kfree(p);
  p = heap_.kmalloc_array(SIZE_MAX, 1, GFP_KERNEL | __GFP_NOWARN);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(heap_.kmalloc_array(MiB, 8, GFP_KERNEL), nullptr); // 8 MiB > KMALLOC_MAX_SIZE
  expect_reports(ErrorKind::SizeTooLarge, 1);
}

// "kcalloc - kmalloc_array() with __GFP_ZERO. Return: as kmalloc_array()."
TEST_F(KmallocContract, Kcalloc_ZeroesAndOverflow) {
  init(kLinux6.options, /*dirty=*/true);
  for (auto [n, size] : {std::pair<std::size_t, std::size_t>{10, 10}, {3, 32}, {1000, 9}}) {
    void* p = heap_.kcalloc(n, size, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const std::size_t ks = heap_.ksize(p);
    EXPECT_EQ(ks, heap_.kmalloc_size_roundup(n * size));
    EXPECT_EQ(first_not(peek(p, ks), 0, 0, ks), -1) << n << " x " << size;
    heap_.kfree(p);
  }
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  EXPECT_EQ(heap_.kcalloc(SIZE_MAX / 4 + 1, 4, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.kcalloc(4, SIZE_MAX / 4 + 1, GFP_KERNEL), nullptr);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
  EXPECT_EQ(heap_.kcalloc(0, 4, GFP_KERNEL), ZERO_SIZE_PTR);
}

// ============================================================================================
// krealloc, krealloc_array

// "@p: object from kmalloc (or NULL / ZERO_SIZE_PTR, then this is kmalloc(@new_size))."
TEST_F(KmallocContract, Krealloc_NullIsKmalloc) {
  for (const void* p :
       {static_cast<const void*>(nullptr), static_cast<const void*>(ZERO_SIZE_PTR)}) {
    void* q = heap_.krealloc(p, 100, GFP_KERNEL);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(cache_name_of(q), "kmalloc-128");
    EXPECT_EQ(heap_.ksize(q), 128u);
    heap_.kfree(q);
    q = heap_.krealloc(p, 100, GFP_DMA);
    EXPECT_EQ(cache_name_of(q), "dma-kmalloc-128");
    heap_.kfree(q);
    q = heap_.krealloc(p, 20000, GFP_KERNEL);
    EXPECT_EQ(heap_.page_info(q).owner, km::PageOwner::LargeKmalloc);
    heap_.kfree(q);
    EXPECT_EQ(heap_.krealloc(p, 4 * MiB + 1, GFP_KERNEL), nullptr);
    expect_reports(ErrorKind::SizeTooLarge, 1);
  }
  init(kLinux6.options, /*dirty=*/true);
  void* z = heap_.krealloc(nullptr, 100, GFP_KERNEL | __GFP_ZERO);
  EXPECT_EQ(first_not(peek(z, 128), 0, 0, 128), -1);
  heap_.kfree(z);
}

// "@new_size: bytes required; 0 frees @p and returns ZERO_SIZE_PTR."
TEST_F(KmallocContract, Krealloc_ZeroFreesAndReturnsZeroSizePtr) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  void* p = heap_.kmalloc(100, GFP_KERNEL);
  kmem_cache* c = kmalloc_cache(100);
  EXPECT_EQ(live(c), 1u);
  EXPECT_EQ(heap_.krealloc(p, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(live(c), 0u);
  void* big = heap_.kmalloc(MiB, GFP_KERNEL);
  EXPECT_EQ(heap_.page_counts().large_kmalloc, 256u);
  EXPECT_EQ(heap_.krealloc(big, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.page_counts().large_kmalloc, 0u);
  EXPECT_EQ(heap_.krealloc(nullptr, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(heap_.krealloc(ZERO_SIZE_PTR, 0, GFP_KERNEL), ZERO_SIZE_PTR);
  expect_no_reports();
  shrink_all();
  kmtest::expect_same_state(before, heap_);
}

// "Stays in place when @new_size fits the object (so shrinking never moves)"
TEST_F(KmallocContract, Krealloc_ShrinkNeverMoves) {
  for (std::size_t n : {8ul, 96ul, 128ul, 192ul, 8192ul, 8193ul, 20000ul, MiB, 4 * MiB}) {
    void* p = heap_.kmalloc(n, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const std::size_t ks = heap_.ksize(p);
    const km::PageCounts counts = heap_.page_counts();
    fill_pattern(p, n, 3);
    for (std::size_t smaller : {n, n - 1, n / 2, std::size_t{1}}) {
      if (smaller == 0)
        continue;
      void* q = heap_.krealloc(p, smaller, GFP_KERNEL);
      ASSERT_EQ(q, p) << n << " -> " << smaller;
      EXPECT_TRUE(has_pattern(q, smaller, 3)) << n << " -> " << smaller;
      EXPECT_EQ(heap_.ksize(q), ks) << "the object is kept whole";
      EXPECT_EQ(heap_.page_counts(), counts) << "large kmalloc shrink keeps all its pages";
    }
    heap_.kfree(p);
  }
}

// "Stays in place when @new_size fits the object"
TEST_F(KmallocContract, Krealloc_GrowWithinObjectStaysInPlace) {
  for (auto [from, to] : {std::pair<std::size_t, std::size_t>{1, 8},
                          {65, 96},
                          {97, 128},
                          {129, 192},
                          {4097, 8192},
                          {8193, 12288},
                          {20000, 32768}}) {
    void* p = heap_.kmalloc(from, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, from, 5);
    void* q = heap_.krealloc(p, to, GFP_KERNEL);
    ASSERT_EQ(q, p) << from << " -> " << to;
    EXPECT_TRUE(has_pattern(q, from, 5));
    // The grown part is the caller's now (ASan: addressable).
    EXPECT_EQ(first_poisoned(q, to), to);
    std::memset(q, 0x11, to);
    heap_.kfree(q);
  }
}

// "otherwise copies the object into a new one and frees @p."
TEST_F(KmallocContract, Krealloc_GrowMovesAndCopies) {
  for (auto [from, to] : {std::pair<std::size_t, std::size_t>{64, 65},
                          {96, 97},
                          {100, 1000},
                          {8192, 8193},
                          {16384, 100000},
                          {4096, 4 * MiB}}) {
    void* p = heap_.kmalloc(from, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, from, 9);
    kmem_cache* old_cache = kmalloc_cache(from);
    const std::size_t old_live = old_cache != nullptr ? live(old_cache) : 0;
    void* q = heap_.krealloc(p, to, GFP_KERNEL);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(q, p) << from << " -> " << to;
    EXPECT_TRUE(has_pattern(q, from, 9)) << from << " -> " << to;
    EXPECT_EQ(heap_.ksize(q), heap_.kmalloc_size_roundup(to));
    if (kmem_cache* nc = kmalloc_cache(to)) {
      EXPECT_EQ(heap_.slab_object(q).cache, nc);
    } else {
      EXPECT_EQ(heap_.page_info(q).owner, km::PageOwner::LargeKmalloc);
    }
    if (old_cache != nullptr) {
      EXPECT_EQ(live(old_cache), old_live - 1) << "the old object is freed";
    }
    std::memset(q, 0x22, to);
    heap_.kfree(q);
    EXPECT_EQ(heap_.page_counts().large_kmalloc, 0u) << "old and new large blocks are both freed";
  }
}

// "Return: the object; NULL on failure, when @p is left intact."
TEST_F(KmallocContract, Krealloc_FailureLeavesOldIntact) {
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  fill_pattern(p, 64, 1);
  void* big = heap_.kmalloc(20000, GFP_KERNEL);
  fill_pattern(big, 20000, 2);
  kmem_cache* c64 = kmalloc_cache(64);
  const km::PageCounts counts = heap_.page_counts();

  heap_.inject_page_alloc_failures(1000);
  EXPECT_EQ(heap_.krealloc(p, 1000, GFP_KERNEL), nullptr);    // kmalloc-1k has no slab yet
  EXPECT_EQ(heap_.krealloc(p, 16384, GFP_KERNEL), nullptr);   // large path
  EXPECT_EQ(heap_.krealloc(big, 65536, GFP_KERNEL), nullptr); // large to large
  heap_.inject_page_alloc_failures(0);
  EXPECT_EQ(heap_.krealloc(p, 4 * MiB + 1, GFP_KERNEL | __GFP_NOWARN), nullptr);
  EXPECT_EQ(heap_.krealloc_array(p, 2, 3 * MiB, GFP_KERNEL | __GFP_NOWARN), nullptr);
  expect_no_reports();

  EXPECT_EQ(heap_.page_counts(), counts);
  EXPECT_EQ(live(c64), 1u);
  EXPECT_EQ(heap_.ksize(p), 64u);
  EXPECT_EQ(heap_.ksize(big), 32768u);
  EXPECT_TRUE(has_pattern(p, 64, 1));
  EXPECT_TRUE(has_pattern(big, 20000, 2));
  // Still a live object: it can be resized and freed normally.
  void* q = heap_.krealloc(p, 16384, GFP_KERNEL);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(has_pattern(q, 64, 1));
  heap_.kfree(q);
  heap_.kfree(big);
}

// "@flags: as kmalloc(); with __GFP_ZERO the bytes past @new_size in the object are zeroed."
TEST_F(KmallocContract, Krealloc_GfpZeroZeroesPastNewSize) {
  init(kLinux6.options, /*dirty=*/true);
  struct Case {
    std::size_t from, to;
  };
  for (Case k : {Case{128, 50}, Case{65, 80}, Case{96, 96}, Case{64, 100}, Case{8192, 8193},
                 Case{20000, 10000}, Case{20000, 30000}, Case{100, 30000}}) {
    void* p = heap_.kmalloc(k.from, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const std::size_t old_ks = heap_.ksize(p);
    poke(p, 0xab, old_ks); // slack included
    void* q = heap_.krealloc(p, k.to, GFP_KERNEL | __GFP_ZERO);
    ASSERT_NE(q, nullptr);
    const std::size_t ks = heap_.ksize(q);
    const std::vector<unsigned char> bytes = peek(q, ks);
    EXPECT_EQ(first_not(bytes, 0xab, 0, std::min(k.from, k.to)), -1)
        << k.from << " -> " << k.to << ": the kept bytes changed";
    EXPECT_EQ(first_not(bytes, 0, k.to, ks), -1)
        << k.from << " -> " << k.to << " (ksize " << ks << "): bytes past new_size not zeroed";
    heap_.kfree(q);
  }
}

// "krealloc_array - krealloc(p, n * size); NULL when n * size overflows (p intact)."
TEST_F(KmallocContract, KreallocArray_Overflow) {
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  fill_pattern(p, 64, 4);
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  EXPECT_EQ(heap_.krealloc_array(p, SIZE_MAX / 2 + 1, 4, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.krealloc_array(p, 4, SIZE_MAX / 2 + 1, GFP_KERNEL), nullptr);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
  EXPECT_EQ(live(kmalloc_cache(64)), 1u);
  EXPECT_TRUE(has_pattern(p, 64, 4));
  // No overflow: krealloc(p, n * size).
  void* q = heap_.krealloc_array(p, 2, 16, GFP_KERNEL);
  EXPECT_EQ(q, p);
  q = heap_.krealloc_array(q, 4, 32, GFP_KERNEL);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(cache_name_of(q), "kmalloc-128");
  EXPECT_TRUE(has_pattern(q, 64, 4));
  EXPECT_EQ(heap_.krealloc_array(q, 0, 8, GFP_KERNEL), ZERO_SIZE_PTR);
  EXPECT_EQ(live(kmalloc_cache(128)), 0u);
}

// ============================================================================================
// kfree, kfree_sensitive

// "kfree - free an object from kmalloc() or kmem_cache_alloc()."
TEST_F(KmallocContract, Kfree_FreesKmallocObjects) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  std::vector<void*> objs;
  for (std::size_t n : {8ul, 96ul, 192ul, 1000ul, 8192ul, 8193ul, MiB})
    for (gfp_t gfp : {GFP_KERNEL, GFP_DMA, GFP_KERNEL | __GFP_RECLAIMABLE})
      objs.push_back(heap_.kmalloc(n, gfp));
  for (void* p : objs)
    heap_.kfree(p);
  expect_no_reports();
  EXPECT_EQ(heap_.page_counts().large_kmalloc, 0u);
  for (kmem_cache* c : all_caches()) {
    EXPECT_EQ(live(c), 0u) << heap_.cache_info(c).name;
  }
  shrink_all();
  kmtest::expect_same_state(before, heap_);
}

TEST_F(KmallocContract, Kfree_AcceptsKmemCacheObjects) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  kmem_cache* plain = heap_.kmem_cache_create("contract_plain", 40, 0, 0, nullptr);
  kmem_cache* aligned = heap_.kmem_cache_create("contract_aligned", 40, 0, SLAB_HWCACHE_ALIGN,
                                                [](void* obj) { std::memset(obj, 1, 40); });
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(aligned, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 300; ++i) {
    objs.push_back(heap_.kmem_cache_alloc(plain, GFP_KERNEL));
    objs.push_back(heap_.kmem_cache_alloc(aligned, GFP_KERNEL));
  }
  EXPECT_EQ(live(plain), 300u);
  EXPECT_EQ(live(aligned), 300u);
  for (void* p : objs)
    heap_.kfree(p);
  expect_no_reports();
  EXPECT_EQ(live(plain), 0u);
  EXPECT_EQ(live(aligned), 0u);
  heap_.kmem_cache_destroy(plain);
  heap_.kmem_cache_destroy(aligned);
  expect_no_reports(); // no ObjectsRemaining: kfree really freed them
  kmtest::expect_same_state(before, heap_);
}

// "@objp: the object; NULL and ZERO_SIZE_PTR are ignored."
TEST_F(KmallocContract, Kfree_NullAndZeroSizePtrAreNoOps) {
  void* keep = heap_.kmalloc(64, GFP_KERNEL);
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  heap_.kfree(nullptr);
  heap_.kfree(ZERO_SIZE_PTR);
  heap_.kfree(heap_.kmalloc(0, GFP_KERNEL));
  heap_.kfree_sensitive(nullptr);
  heap_.kfree_sensitive(ZERO_SIZE_PTR);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
  EXPECT_EQ(live(kmalloc_cache(64)), 1u);
  heap_.kfree(keep);
}

// "A pointer that is not a live object start is reported ("Invalid object pointer")."
TEST_F(KmallocContract, Kfree_InvalidPointerReported) {
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  void* big = heap_.kmalloc(20000, GFP_KERNEL);
  const std::uintptr_t pages = heap_.get_free_pages(GFP_KERNEL, 1);
  int on_stack = 0;
  kmem_cache* c64 = kmalloc_cache(64);
  const km::PageCounts counts = heap_.page_counts();
  const std::size_t live_before = live(c64);

  const std::uintptr_t arena_end = heap_.arena_start() + heap_.arena_pages() * heap_.page_size();
  std::uintptr_t free_page = 0; // a page inside a free buddy block
  heap_.for_each_free_block(
      [](void* ctx, const km::FreeBlock& b) { *static_cast<std::uintptr_t*>(ctx) = b.pfn; },
      &free_page);
  free_page *= heap_.page_size();

  // Each with the reason lookup() gives (mm/slub.c's messages differ; these are ours).
  struct Bad {
    std::uintptr_t at;
    const char* what;
    const char* reason;
  };
  const std::vector<Bad> bad = {
      {addr(p) + 8, "interior of a slab object", "(not at an object boundary)"},
      {addr(p) + 1, "misaligned inside a slab object", "(not at an object boundary)"},
      {addr(big) + 4096, "interior of a large kmalloc", "(not the start of a large kmalloc)"},
      {addr(big) + 8, "interior of a large kmalloc's first page",
       "(not the start of a large kmalloc)"},
      {pages, "an alloc_pages block", "(in an alloc_pages block)"},
      {heap_.arena_start(), "heap metadata", "(heap metadata)"},
      {free_page, "a free page", "(in a free page)"},
      {addr(&on_stack), "outside the heap", "(outside the heap)"},
      {arena_end, "just past the arena", "(outside the heap)"},
      {heap_.arena_start() - 16, "just before the arena", "(outside the heap)"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.what);
    heap_.kfree(reinterpret_cast<void*>(b.at));
    expect_reports(ErrorKind::InvalidObjectPointer, 1, b.reason);
  }
  // Refused: nothing was freed.
  EXPECT_EQ(heap_.page_counts(), counts);
  EXPECT_EQ(live(c64), live_before);
  heap_.kfree(p);
  heap_.kfree(big);
  heap_.free_pages(pages, 1);
}

// A freed object is not a live object start either: a second kfree is reported and refused.
TEST_F(KmallocContract, Kfree_DoubleFreeReported) {
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  heap_.kfree(p);
  heap_.kfree(p);
  EXPECT_EQ(rec_.size(), 1u) << rec_.dump();
  rec_.clear();
  void* big = heap_.kmalloc(20000, GFP_KERNEL);
  heap_.kfree(big);
  heap_.kfree(big);
  expect_reports(ErrorKind::InvalidObjectPointer, 1);
  EXPECT_EQ(heap_.validate(), 0u);
}

// The same when the object is not the most recently freed one (not at the freelist's head).
TEST_F(KmallocContract, Kfree_DoubleFreeOfEarlierObjectReported) {
  void* a = heap_.kmalloc(64, GFP_KERNEL);
  void* b = heap_.kmalloc(64, GFP_KERNEL);
  heap_.kfree(a);
  heap_.kfree(b);
  heap_.kfree(a); // a is a freed object, not a live object start
  EXPECT_EQ(rec_.size(), 1u) << "double free of a non-head object went unreported\n" << rec_.dump();
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << "the freelist was corrupted:\n" << rec_.dump();
  rec_.clear();
  // Left alone, the next two allocations hand out the same object twice.
  void* x = heap_.kmalloc(64, GFP_KERNEL);
  void* y = heap_.kmalloc(64, GFP_KERNEL);
  void* z = heap_.kmalloc(64, GFP_KERNEL);
  EXPECT_TRUE(x != y && y != z && x != z) << x << " " << y << " " << z;
  heap_.destroy(); // the freelist may be broken; do not validate it again
  rec_.clear();
}

// "kfree_sensitive - zero the whole object (ksize() bytes), then kfree() it."
TEST_F(KmallocContract, KfreeSensitive_ZeroesWholeObject) {
  for (std::size_t n : {8ul, 100ul, 128ul, 192ul, 8192ul}) {
    void* p = heap_.kmalloc(n, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    kmem_cache* c = kmalloc_cache(n);
    const std::size_t ks = heap_.ksize(p);
    poke(p, 0xab, ks); // the requested bytes and the slack
    const std::size_t before = live(c);
    heap_.kfree_sensitive(p);
    EXPECT_EQ(live(c), before - 1) << "kfree_sensitive frees";
    // The free pointer now sits inside the freed object at the cache's offset.
    const unsigned fp = heap_.cache_info(c).offset;
    const std::vector<unsigned char> bytes = peek(p, ks);
    EXPECT_EQ(first_not(bytes, 0, 0, fp), -1) << "size " << n;
    EXPECT_EQ(first_not(bytes, 0, fp + sizeof(void*), ks), -1) << "size " << n;
  }
  // Large: every page of the block.
  void* big = heap_.kmalloc(20000, GFP_KERNEL);
  poke(big, 0xab, 32768);
  heap_.kfree_sensitive(big);
  EXPECT_EQ(heap_.page_counts().large_kmalloc, 0u);
  EXPECT_EQ(first_not(peek(big, 32768), 0, 0, 32768), -1);
  // A kmem_cache with a ctor keeps its free pointer outside the object, so the zeroed object
  // can be seen again through the next allocation (the same object, LIFO).
  kmem_cache* c = heap_.kmem_cache_create("contract_ctor", 48, 0, 0,
                                          [](void* obj) { std::memset(obj, 0x5a, 48); });
  void* o = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  std::memset(o, 0xcd, 48);
  heap_.kfree_sensitive(o);
  void* again = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_EQ(again, o);
  EXPECT_EQ(first_not(peek(again, 48), 0, 0, 48), -1);
  heap_.kmem_cache_free(c, again);
  heap_.kmem_cache_destroy(c);
  expect_no_reports();
}

// "then kfree() it": the misuse kfree() reports is reported, and a refused object is not zeroed.
TEST_F(KmallocContract, KfreeSensitive_MisuseReportedLikeKfree) {
  void* p = heap_.kmalloc(64, GFP_KERNEL);
  std::memset(p, 0xab, 64);
  heap_.kfree_sensitive(static_cast<char*>(p) + 8);
  expect_reports(ErrorKind::InvalidObjectPointer, 1);
  EXPECT_EQ(first_not(peek(p, 64), 0xab, 0, 64), -1) << "a refused free must not zero";
  heap_.kfree_sensitive(p);
  heap_.kfree_sensitive(p);
  EXPECT_EQ(rec_.size(), 1u) << rec_.dump();
  rec_.clear();
}

// ============================================================================================
// ksize

// "Return: ... 0 for NULL and ZERO_SIZE_PTR."
TEST_F(KmallocContract, Ksize_OfNullIsZero) {
  EXPECT_EQ(heap_.ksize(nullptr), 0u);
  EXPECT_EQ(heap_.ksize(ZERO_SIZE_PTR), 0u);
  EXPECT_EQ(heap_.ksize(heap_.kmalloc(0, GFP_KERNEL)), 0u);
  expect_no_reports();
}

// "0 (with a report) for a pointer that is not an allocated object"
TEST_F(KmallocContract, Ksize_OfAFreedOrInteriorPointerIsZeroWithReport) {
  auto* p = static_cast<unsigned char*>(heap_.kmalloc(64, GFP_KERNEL));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(heap_.ksize(p + 8), 0u);
  expect_reports(ErrorKind::InvalidObjectPointer, 1, "not at an object boundary");
  heap_.kfree(p);
  EXPECT_EQ(heap_.ksize(p), 0u);
  expect_reports(ErrorKind::InvalidObjectPointer, 1, "the object is free");
  EXPECT_EQ(heap_.validate(), 0u);
}

// "Return: the cache's object size, or PAGE_SIZE << order for a large kmalloc"
TEST_F(KmallocContract, Ksize_IsTheCacheObjectSizeOrTheLargeBlock) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t c : class_sizes(spec)) {
      void* p = heap_.kmalloc(c, GFP_KERNEL);
      ASSERT_NE(p, nullptr);
      const km::CacheInfo ci = heap_.cache_info(heap_.slab_object(p).cache);
      EXPECT_EQ(heap_.ksize(p), ci.object_size) << c;
      EXPECT_EQ(ci.object_size, c);
      EXPECT_EQ(ci.size, c) << "kmalloc caches have no padding";
      heap_.kfree(p);
      shrink_all();
    }
    for (std::size_t n = spec.max_cache_size + 1; n <= spec.max_size; n = n * 2 + 1) {
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      ASSERT_NE(p, nullptr) << n;
      EXPECT_EQ(heap_.ksize(p), spec.page_size << order_for(n, spec.page_size)) << n;
      EXPECT_EQ(heap_.ksize(p), spec.page_size << heap_.page_info(p).order) << n;
      heap_.kfree(p);
    }
  }
  // kmem_cache objects: slab_ksize(), the stride (object plus alignment padding).
  init(kLinux6.options);
  kmem_cache* c = heap_.kmem_cache_create("contract_ksize", 40, 0, SLAB_HWCACHE_ALIGN, nullptr);
  void* o = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  EXPECT_EQ(heap_.ksize(o), heap_.cache_info(c).size);
  EXPECT_EQ(heap_.ksize(o), 64u);
  heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_destroy(c);
}

// "ksize - the usable size of an object (reporting only: it does not make the slack usable;
// use kmalloc_size_roundup() before allocating for that)."
TEST_F(KmallocContract, Ksize_ReportsNotUnpoisons) {
  for (std::size_t n : {1ul, 100ul, 150ul, 5000ul, 8193ul, 20000ul}) {
    auto* p = static_cast<unsigned char*>(heap_.kmalloc(n, GFP_KERNEL));
    ASSERT_NE(p, nullptr);
    const std::size_t ks = heap_.ksize(p);
    ASSERT_GT(ks, n);
    EXPECT_EQ(heap_.ksize(p), ks) << "ksize has no side effect";
    // Only the requested bytes are the caller's (KASAN semantics; checkable under ASan).
    EXPECT_EQ(first_poisoned(p, ks), km::kAsanEnabled ? n : ks) << "size " << n;
    heap_.kfree(p);
    // Asking for the rounded-up size makes all of it usable.
    const std::size_t r = heap_.kmalloc_size_roundup(n);
    EXPECT_EQ(r, ks);
    p = static_cast<unsigned char*>(heap_.kmalloc(r, GFP_KERNEL));
    EXPECT_EQ(heap_.ksize(p), r);
    EXPECT_EQ(first_poisoned(p, r), r);
    std::memset(p, 0x33, r);
    heap_.kfree(p);
  }
}

// ============================================================================================
// kmalloc_size_roundup

// "Return: 0 for 0"
TEST_F(KmallocContract, KmallocSizeRoundup_ZeroIsZero) {
  for (const ProfileSpec& spec : kProfiles) {
    init(spec.options);
    EXPECT_EQ(heap_.kmalloc_size_roundup(0), 0u) << spec.options;
  }
}

// "Return: ... ksize(kmalloc(@size)) up to KMALLOC_MAX_SIZE"
TEST_F(KmallocContract, KmallocSizeRoundup_EqualsKsizeOfKmalloc) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    std::size_t previous = 0;
    for (std::size_t n : interesting_sizes(spec)) {
      const std::size_t r = heap_.kmalloc_size_roundup(n);
      ASSERT_EQ(r, smallest_class(spec, n)) << n;
      ASSERT_GE(r, previous) << "monotone at " << n;
      ASSERT_EQ(heap_.kmalloc_size_roundup(r), r) << "idempotent at " << n;
      previous = r;
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      ASSERT_EQ(heap_.ksize(p), r) << n;
      heap_.kfree(p);
    }
    shrink_all();
  }
}

TEST_F(KmallocContract, KmallocSizeRoundup_LargePath) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t n : {spec.max_cache_size + 1, 3 * spec.page_size + 1, 100 * KiB, MiB, MiB + 1,
                          spec.max_size - 1, spec.max_size}) {
      if (n <= spec.max_cache_size || n > spec.max_size)
        continue;
      const std::size_t r = heap_.kmalloc_size_roundup(n);
      EXPECT_EQ(r, spec.page_size << order_for(n, spec.page_size)) << n;
      void* p = heap_.kmalloc(n, GFP_KERNEL);
      ASSERT_NE(p, nullptr) << n;
      EXPECT_EQ(heap_.ksize(p), r) << n;
      heap_.kfree(p);
    }
  }
}

// "Return: ... @size itself beyond."
TEST_F(KmallocContract, KmallocSizeRoundup_BeyondMaxSizeReturnsSize) {
  for (const ProfileSpec& spec : kProfiles) {
    init(spec.options);
    for (std::size_t n : {spec.max_size + 1, spec.max_size * 3, SIZE_MAX - 1, SIZE_MAX}) {
      EXPECT_EQ(heap_.kmalloc_size_roundup(n), n) << spec.options << " " << n;
    }
  }
  expect_no_reports();
}

// ============================================================================================
// kmalloc_index

// The seed's table (include/linux/slab.h kmalloc_index, KMALLOC_MIN_SIZE 8).
TEST_F(KmallocContract, KmallocIndex_SeedTable) {
  struct Row {
    std::size_t size;
    int index;
  };
  const Row rows[] = {
      {0, 0},          {1, 3},         {7, 3},         {8, 3},          {9, 4},
      {16, 4},         {17, 5},        {32, 5},        {33, 6},         {64, 6},
      {65, 1},         {80, 1},        {96, 1},        {97, 7},         {128, 7},
      {129, 2},        {160, 2},       {192, 2},       {193, 8},        {256, 8},
      {257, 9},        {512, 9},       {513, 10},      {1024, 10},      {1025, 11},
      {2048, 11},      {4096, 12},     {4097, 13},     {8192, 13},      {8193, 14},
      {16 * KiB, 14},  {32 * KiB, 15}, {64 * KiB, 16}, {128 * KiB, 17}, {256 * KiB, 18},
      {512 * KiB, 19}, {MiB, 20},      {MiB + 1, 21},  {2 * MiB, 21},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(heap_.kmalloc_index(r.size), r.index) << r.size;
  }
}

// "n for 2^(n-1)+1 .. 2^n", every n of the profile, at both ends of its range.
TEST_F(KmallocContract, KmallocIndex_PowerOfTwoRanges) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    const int low = static_cast<int>(std::countr_zero(spec.min_size)); // KMALLOC_SHIFT_LOW
    for (int n = low + 1; n <= spec.max_index; ++n) {
      const std::size_t lo = (std::size_t{1} << (n - 1)) + 1;
      const std::size_t hi = std::size_t{1} << n;
      const bool special = (lo == 65 && spec.min_size <= 32) || (lo == 129 && spec.min_size <= 64);
      if (!special) {
        EXPECT_EQ(heap_.kmalloc_index(lo), n) << lo;
      }
      EXPECT_EQ(heap_.kmalloc_index(hi), n) << hi;
    }
    // Up to KMALLOC_MIN_SIZE: KMALLOC_SHIFT_LOW.
    for (std::size_t s = 1; s <= spec.min_size; ++s) {
      ASSERT_EQ(heap_.kmalloc_index(s), low) << s;
    }
  }
}

// "1 for 65..96, 2 for 129..192" (iff KMALLOC_MIN_SIZE allows those caches)
TEST_F(KmallocContract, KmallocIndex_96And192) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t s = 65; s <= 96; ++s) {
      ASSERT_EQ(heap_.kmalloc_index(s), spec.min_size <= 32 ? 1 : 7) << s; // else kmalloc-128
    }
    for (std::size_t s = 129; s <= 192; ++s) {
      ASSERT_EQ(heap_.kmalloc_index(s), spec.min_size <= 64 ? 2 : 8) << s; // else kmalloc-256
    }
  }
}

// "Return: -1 past the profile's largest index." (2 MiB for linux-6, 64 MiB for linux-4-slab)
TEST_F(KmallocContract, KmallocIndex_MinusOneBeyondLargestIndex) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    const std::size_t last = std::size_t{1} << spec.max_index;
    EXPECT_EQ(heap_.kmalloc_index(last), spec.max_index);
    EXPECT_EQ(heap_.kmalloc_index(last + 1), -1);
    EXPECT_EQ(heap_.kmalloc_index(SIZE_MAX), -1);
  }
}

// Every size the kmalloc caches serve maps to the cache of that index (kmalloc_index() is the
// lookup the doc of kmalloc() refers to).
TEST_F(KmallocContract, KmallocIndex_NamesTheCacheKmallocUses) {
  for (const ProfileSpec& spec : kProfiles) {
    SCOPED_TRACE(spec.options);
    init(spec.options);
    for (std::size_t n : interesting_sizes(spec)) {
      const int index = heap_.kmalloc_index(n);
      const std::size_t bytes = index == 1   ? 96
                                : index == 2 ? 192
                                             : std::size_t{1} << static_cast<unsigned>(index);
      ASSERT_EQ(bytes, smallest_class(spec, n)) << n;
    }
  }
}

// ============================================================================================
// kmem_cache_create / alloc / zalloc / free / destroy / shrink

// "@name: shown in slabinfo (at most 63 characters)."
TEST_F(KmallocContract, KmemCacheCreate_NameShownInSlabinfo) {
  const std::string name63(63, 'n');
  kmem_cache* a = heap_.kmem_cache_create("contract_cache", 40, 0, 0, nullptr);
  kmem_cache* b = heap_.kmem_cache_create(name63.c_str(), 40, 0, 0, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::string text(heap_.slabinfo(nullptr, 0) + 1, '\0');
  text.resize(heap_.slabinfo(text.data(), text.size()));
  EXPECT_THAT(text, HasSubstr("\ncontract_cache "));
  EXPECT_THAT(text, HasSubstr("\n" + name63 + " "));
  EXPECT_STREQ(heap_.cache_info(b).name, name63.c_str());
  const std::string name64(64, 'n');
  EXPECT_EQ(heap_.kmem_cache_create(name64.c_str(), 40, 0, 0, nullptr), nullptr);
  expect_reports(ErrorKind::CacheCreateFailed, 1, "63");
  heap_.kmem_cache_destroy(a);
  heap_.kmem_cache_destroy(b);
  text.assign(heap_.slabinfo(nullptr, 0) + 1, '\0');
  text.resize(heap_.slabinfo(text.data(), text.size()));
  EXPECT_THAT(text, testing::Not(HasSubstr("contract_cache")));
}

// "@size: object size."
TEST_F(KmallocContract, KmemCacheCreate_SizeIsTheObjectSize) {
  for (unsigned size : {1u, 7u, 8u, 40u, 100u, 4096u, 5000u, 100000u}) {
    kmem_cache* c = heap_.kmem_cache_create("contract_size", size, 0, 0, nullptr);
    ASSERT_NE(c, nullptr) << size;
    const km::CacheInfo ci = heap_.cache_info(c);
    EXPECT_EQ(ci.object_size, size);
    EXPECT_GE(ci.size, size);
    std::vector<unsigned char*> objs;
    for (unsigned i = 0; i < ci.objects_per_slab + 1; ++i) {
      auto* o = static_cast<unsigned char*>(heap_.kmem_cache_alloc(c, GFP_KERNEL));
      ASSERT_NE(o, nullptr);
      EXPECT_EQ(first_poisoned(o, size), size) << "all object_size bytes are the caller's";
      fill_pattern(o, size, i);
      objs.push_back(o);
    }
    for (unsigned i = 0; i < objs.size(); ++i) {
      EXPECT_TRUE(has_pattern(objs[i], size, i)) << "objects overlap, size " << size;
      heap_.kmem_cache_free(c, objs[i]);
    }
    heap_.kmem_cache_destroy(c);
  }
  expect_no_reports();
}

// "@align: minimum alignment (0 or a power of two)."
TEST_F(KmallocContract, KmemCacheCreate_AlignIsAMinimum) {
  for (unsigned align : {0u, 8u, 16u, 64u, 256u, 4096u}) {
    for (unsigned size : {8u, 40u, 300u}) {
      kmem_cache* c = heap_.kmem_cache_create("contract_align", size, align, 0, nullptr);
      ASSERT_NE(c, nullptr);
      const unsigned want = std::max(align, 8u); // ARCH_SLAB_MINALIGN
      EXPECT_GE(heap_.cache_info(c).align, want);
      std::vector<void*> objs;
      for (int i = 0; i < 40; ++i) {
        objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
        EXPECT_EQ(addr(objs.back()) % want, 0u) << "align " << align << " size " << size;
      }
      for (void* o : objs)
        heap_.kmem_cache_free(c, o);
      heap_.kmem_cache_destroy(c);
    }
  }
  for (unsigned bad : {3u, 12u, 48u, 0x80000001u}) {
    EXPECT_EQ(heap_.kmem_cache_create("contract_align", 40, bad, 0, nullptr), nullptr) << bad;
    expect_reports(ErrorKind::CacheCreateFailed, 1, "align");
  }
}

// "@flags: SLAB_* flags (see kmalloc/slab.h)."
TEST_F(KmallocContract, KmemCacheCreate_FlagsFromSlabH) {
  // SLAB_HWCACHE_ALIGN: calculate_alignment() (20 bytes -> 32, 100 -> 64 with 64-byte lines).
  kmem_cache* hw20 = heap_.kmem_cache_create("contract_hw20", 20, 0, SLAB_HWCACHE_ALIGN, nullptr);
  kmem_cache* hw100 =
      heap_.kmem_cache_create("contract_hw100", 100, 0, SLAB_HWCACHE_ALIGN, nullptr);
  EXPECT_EQ(heap_.cache_info(hw20).align, 32u);
  EXPECT_EQ(heap_.cache_info(hw100).align, 64u);
  // SLAB_CACHE_DMA: slabs in ZONE_DMA.
  kmem_cache* dma = heap_.kmem_cache_create("contract_dma", 64, 0, SLAB_CACHE_DMA, nullptr);
  void* d = heap_.kmem_cache_alloc(dma, GFP_KERNEL);
  EXPECT_EQ(heap_.page_info(d).zone, 0u);
  // SLAB_RECLAIM_ACCOUNT: counted as reclaimable slab memory.
  kmem_cache* rcl = heap_.kmem_cache_create("contract_rcl", 64, 0, SLAB_RECLAIM_ACCOUNT, nullptr);
  EXPECT_EQ(heap_.slab_bytes().reclaimable, 0u);
  void* r = heap_.kmem_cache_alloc(rcl, GFP_KERNEL);
  EXPECT_GT(heap_.slab_bytes().reclaimable, 0u);
  // The other supported flags are accepted.
  kmem_cache* other = heap_.kmem_cache_create(
      "contract_other", 64, 0, SLAB_CONSISTENCY_CHECKS | SLAB_NO_MERGE | SLAB_ACCOUNT, nullptr);
  EXPECT_NE(other, nullptr);
  EXPECT_EQ(heap_.cache_info(other).flags & SLAB_CONSISTENCY_CHECKS, SLAB_CONSISTENCY_CHECKS);
  heap_.kmem_cache_free(dma, d);
  heap_.kmem_cache_free(rcl, r);
  for (kmem_cache* c : {hw20, hw100, dma, rcl, other})
    heap_.kmem_cache_destroy(c);
  expect_no_reports();
}

// "@ctor: called on every object when its slab is created, or NULL."
int g_ctor_calls = 0;
void counting_ctor(void* obj) {
  ++g_ctor_calls;
  std::memset(obj, 0x77, 24);
}

TEST_F(KmallocContract, KmemCacheCreate_CtorCalledForEveryObjectWhenItsSlabIsCreated) {
  g_ctor_calls = 0;
  kmem_cache* c = heap_.kmem_cache_create("contract_ctor", 24, 0, 0, counting_ctor);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(g_ctor_calls, 0) << "no slab yet";
  const unsigned per_slab = heap_.cache_info(c).objects_per_slab;
  std::vector<void*> objs;
  objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  EXPECT_EQ(g_ctor_calls, static_cast<int>(per_slab)) << "every object of the new slab";
  for (unsigned i = 1; i < per_slab; ++i)
    objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  EXPECT_EQ(g_ctor_calls, static_cast<int>(per_slab)) << "not again per allocation";
  for (void* o : objs)
    EXPECT_EQ(first_not(peek(o, 24), 0x77, 0, 24), -1);
  objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL)); // a second slab
  EXPECT_EQ(g_ctor_calls, static_cast<int>(2 * per_slab));
  heap_.kmem_cache_free(c, objs[0]);
  void* again = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  EXPECT_EQ(g_ctor_calls, static_cast<int>(2 * per_slab)) << "not on reuse of a freed object";
  objs[0] = again;
  for (void* o : objs)
    heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_destroy(c);
  // NULL: no constructor.
  kmem_cache* plain = heap_.kmem_cache_create("contract_noctor", 24, 0, 0, nullptr);
  ASSERT_NE(plain, nullptr);
  heap_.kmem_cache_free(plain, heap_.kmem_cache_alloc(plain, GFP_KERNEL));
  heap_.kmem_cache_destroy(plain);
  EXPECT_EQ(g_ctor_calls, static_cast<int>(2 * per_slab));
}

// "Return: the cache, or NULL (with a warning) for bad arguments or unsupported flags."
TEST_F(KmallocContract, KmemCacheCreate_BadArgumentsReturnNullWithWarning) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  const std::size_t caches = cache_names().size();
  struct Bad {
    const char* name;
    unsigned size;
    unsigned align;
    slab_flags_t flags;
    const char* reason;
  };
  const Bad bad[] = {
      {nullptr, 40, 0, 0, "NULL"},
      {"", 40, 0, 0, "empty"},
      {"contract_bad", 0, 0, 0, "size"},
      {"contract_bad", 40, 3, 0, "align"},
      {"contract_bad", 8 * MiB, 0, 0, "too large"},
      {"contract_bad", 40, 0, SLAB_RED_ZONE, "SLAB_RED_ZONE"},
      {"contract_bad", 40, 0, SLAB_POISON, "SLAB_POISON"},
      {"contract_bad", 40, 0, SLAB_STORE_USER, "SLAB_STORE_USER"},
      {"contract_bad", 40, 0, SLAB_TRACE, "SLAB_TRACE"},
      {"contract_bad", 40, 0, SLAB_TYPESAFE_BY_RCU, "SLAB_TYPESAFE_BY_RCU"},
      {"contract_bad", 40, 0, SLAB_CACHE_DMA32, "SLAB_CACHE_DMA32"},
      {"contract_bad", 40, 0, 0x1u, "unknown"},
      {"contract_bad", 40, 0, 0x80000000u, "unknown"},
  };
  for (const Bad& b : bad) {
    EXPECT_EQ(heap_.kmem_cache_create(b.name, b.size, b.align, b.flags, nullptr), nullptr)
        << b.reason;
    expect_reports(ErrorKind::CacheCreateFailed, 1, b.reason);
  }
  EXPECT_TRUE(km::error_kind_is_warning(ErrorKind::CacheCreateFailed));
  EXPECT_EQ(cache_names().size(), caches);
  kmtest::expect_same_state(before, heap_);
}

// "kmem_cache_alloc - an object of @cachep, or NULL."
TEST_F(KmallocContract, KmemCacheAlloc_ObjectOfTheCacheOrNull) {
  kmem_cache* c = heap_.kmem_cache_create("contract_alloc", 72, 0, 0, nullptr);
  kmem_cache* other = heap_.kmem_cache_create("contract_other", 72, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 200; ++i) {
    void* o = heap_.kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(o, nullptr);
    const km::SlabObject so = heap_.slab_object(o);
    EXPECT_EQ(so.cache, c);
    EXPECT_EQ(so.object, addr(o));
    objs.push_back(o);
  }
  EXPECT_EQ(live(c), 200u);
  EXPECT_EQ(live(other), 0u);
  // Out of memory: NULL, silently, and the cache is still fine.
  heap_.inject_page_alloc_failures(1000);
  EXPECT_EQ(heap_.kmem_cache_alloc(other, GFP_KERNEL), nullptr);
  heap_.inject_page_alloc_failures(0);
  expect_no_reports();
  // Not a cache: reported, NULL.
  EXPECT_EQ(heap_.kmem_cache_alloc(reinterpret_cast<kmem_cache*>(objs[0]), GFP_KERNEL), nullptr);
  expect_reports(ErrorKind::InvalidCache, 1);
  for (void* o : objs)
    heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_destroy(c);
  heap_.kmem_cache_destroy(other);
}

// "kmem_cache_zalloc - kmem_cache_alloc() with __GFP_ZERO."
TEST_F(KmallocContract, KmemCacheZalloc_Zeroes) {
  init(kLinux6.options, /*dirty=*/true);
  kmem_cache* c = heap_.kmem_cache_create("contract_zalloc", 100, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 100; ++i) {
    void* o = heap_.kmem_cache_zalloc(c, GFP_KERNEL);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(first_not(peek(o, 100), 0, 0, 100), -1) << i;
    std::memset(o, 0xee, 100);
    objs.push_back(o);
  }
  for (void* o : objs)
    heap_.kmem_cache_free(c, o);
  // Reused (dirty) objects are zeroed too.
  void* o = heap_.kmem_cache_zalloc(c, GFP_KERNEL);
  EXPECT_EQ(first_not(peek(o, 100), 0, 0, 100), -1);
  heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_destroy(c);
}

// "kmem_cache_free - free @objp to @cachep"
TEST_F(KmallocContract, KmemCacheFree_FreesToTheCache) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  kmem_cache* c = heap_.kmem_cache_create("contract_free", 64, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 500; ++i)
    objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  for (std::size_t i = 0; i < objs.size(); ++i) {
    heap_.kmem_cache_free(c, objs[i]);
    if (i % 100 == 99) {
      EXPECT_EQ(live(c), objs.size() - i - 1);
    }
  }
  heap_.kmem_cache_free(c, nullptr); // NULL is a no-op
  expect_no_reports();
  heap_.kmem_cache_destroy(c);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
}

// "misuse (another cache's object, double free) is reported."
TEST_F(KmallocContract, KmemCacheFree_WrongCacheReported) {
  kmem_cache* a = heap_.kmem_cache_create("contract_a", 64, 0, 0, nullptr);
  kmem_cache* b = heap_.kmem_cache_create("contract_b", 64, 0, 0, nullptr);
  void* o = heap_.kmem_cache_alloc(a, GFP_KERNEL);
  heap_.kmem_cache_free(b, o);
  expect_reports(ErrorKind::WrongCache, 1, "contract_a");
  void* k = heap_.kmalloc(64, GFP_KERNEL);
  heap_.kmem_cache_free(b, k);
  expect_reports(ErrorKind::WrongCache, 1, "kmalloc-64");
  EXPECT_EQ(live(a), 1u) << "refused";
  heap_.kmem_cache_free(a, o);
  heap_.kfree(k);
  heap_.kmem_cache_destroy(a);
  heap_.kmem_cache_destroy(b);
}

// "a pointer that is not an object start ... is reported and nothing is freed"
TEST_F(KmallocContract, KmemCacheFree_InteriorPointerReportedNotFreed) {
  kmem_cache* c = heap_.kmem_cache_create("contract_interior", 64, 0, 0, nullptr);
  auto* o = static_cast<unsigned char*>(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  heap_.kmem_cache_free(c, o + 8);
  expect_reports(ErrorKind::InvalidObjectPointer, 1, "not at an object boundary");
  EXPECT_EQ(live(c), 1u) << "refused";
  EXPECT_EQ(heap_.validate(), 0u);
  heap_.kmem_cache_free(c, o);
  EXPECT_EQ(live(c), 0u);
  heap_.kmem_cache_destroy(c);
}

TEST_F(KmallocContract, KmemCacheFree_DoubleFreeReported) {
  kmem_cache* c = heap_.kmem_cache_create("contract_double", 64, 0, 0, nullptr);
  void* o = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_free(c, o);
  expect_reports(ErrorKind::ObjectDoubleFree, 1, "Object already free");
  EXPECT_EQ(heap_.validate(), 0u);
  heap_.kmem_cache_destroy(c);
}

// The same when the object is not the most recently freed one.
TEST_F(KmallocContract, KmemCacheFree_DoubleFreeOfEarlierObjectReported) {
  kmem_cache* c = heap_.kmem_cache_create("contract_double", 64, 0, 0, nullptr);
  void* a = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  void* b = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  heap_.kmem_cache_free(c, a);
  heap_.kmem_cache_free(c, b);
  heap_.kmem_cache_free(c, a);
  EXPECT_EQ(rec_.count(ErrorKind::ObjectDoubleFree), 1u)
      << "double free of a non-head object went unreported\n"
      << rec_.dump();
  rec_.clear();
  EXPECT_EQ(heap_.validate(), 0u) << "the freelist was corrupted:\n" << rec_.dump();
  heap_.destroy(); // the freelist may be broken; do not validate it again
  rec_.clear();
}

// "kmem_cache_destroy - destroy an empty cache"
TEST_F(KmallocContract, KmemCacheDestroy_EmptyCacheIsDestroyed) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  const std::vector<std::string> names = cache_names();
  kmem_cache* c = heap_.kmem_cache_create("contract_destroy", 128, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 300; ++i)
    objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  for (void* o : objs)
    heap_.kmem_cache_free(c, o);
  heap_.kmem_cache_destroy(c);
  expect_no_reports();
  EXPECT_EQ(cache_names(), names);
  kmtest::expect_same_state(before, heap_); // every slab went back to the page allocator
  // The destroyed pointer is not a cache any more.
  EXPECT_EQ(heap_.kmem_cache_alloc(c, GFP_KERNEL), nullptr);
  expect_reports(ErrorKind::InvalidCache, 1);
  // The name can be used again.
  kmem_cache* again = heap_.kmem_cache_create("contract_destroy", 128, 0, 0, nullptr);
  ASSERT_NE(again, nullptr);
  heap_.kmem_cache_destroy(again);
  heap_.kmem_cache_destroy(nullptr);
  expect_no_reports();
}

// "with live objects it is reported and kept."
TEST_F(KmallocContract, KmemCacheDestroy_WithLiveObjectsReportedAndKept) {
  kmem_cache* c = heap_.kmem_cache_create("contract_busy", 128, 0, 0, nullptr);
  void* a = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  void* b = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  heap_.kmem_cache_free(c, b);
  heap_.kmem_cache_destroy(c);
  expect_reports(ErrorKind::ObjectsRemaining, 1, "contract_busy");
  EXPECT_TRUE(km::error_kind_is_warning(ErrorKind::ObjectsRemaining));
  // Kept: listed, usable, its object still live.
  const std::vector<std::string> names = cache_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "contract_busy"), names.end());
  EXPECT_EQ(live(c), 1u);
  void* d = heap_.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(d, nullptr);
  heap_.kmem_cache_free(c, d);
  heap_.kmem_cache_free(c, a);
  heap_.kmem_cache_destroy(c);
  expect_no_reports();
}

// "kmem_cache_shrink - release empty slabs. Return: 0 iff no slab remains."
TEST_F(KmallocContract, KmemCacheShrink_ReleasesEmptySlabs) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  kmem_cache* c = heap_.kmem_cache_create("contract_shrink", 256, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 1000; ++i)
    objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  for (void* o : objs)
    heap_.kmem_cache_free(c, o);
  EXPECT_GT(heap_.cache_info(c).nr_slabs, 0u) << "some empty slabs are kept (min_partial)";
  EXPECT_EQ(heap_.kmem_cache_shrink(c), 0);
  EXPECT_EQ(heap_.cache_info(c).nr_slabs, 0u);
  kmtest::expect_same_state(before, heap_);
  EXPECT_EQ(heap_.kmem_cache_shrink(c), 0) << "nothing to do";
  heap_.kmem_cache_destroy(c);
}

TEST_F(KmallocContract, KmemCacheShrink_NonZeroWhileSlabsRemain) {
  kmem_cache* c = heap_.kmem_cache_create("contract_shrink", 256, 0, 0, nullptr);
  std::vector<void*> objs;
  for (int i = 0; i < 1000; ++i)
    objs.push_back(heap_.kmem_cache_alloc(c, GFP_KERNEL));
  void* keep = objs[500];
  for (void* o : objs)
    if (o != keep)
      heap_.kmem_cache_free(c, o);
  EXPECT_NE(heap_.kmem_cache_shrink(c), 0);
  EXPECT_EQ(heap_.cache_info(c).nr_slabs, 1u) << "only the slab of the live object remains";
  EXPECT_EQ(live(c), 1u);
  heap_.kmem_cache_free(c, keep);
  EXPECT_EQ(heap_.kmem_cache_shrink(c), 0);
  heap_.kmem_cache_destroy(c);
}

// ============================================================================================
// alloc_pages, __free_pages, __get_free_pages, free_pages, page_address, virt_to_page, get_order

// "alloc_pages - 2^@order naturally aligned pages. Return: the first page's descriptor"
TEST_F(KmallocContract, AllocPages_NaturallyAlignedBlockOfTwoToTheOrderPages) {
  const std::size_t ps = heap_.page_size();
  for (unsigned order = 0; order <= heap_.config().max_order; ++order) {
    for (gfp_t gfp : {GFP_KERNEL, GFP_DMA}) {
      struct page* pg = heap_.alloc_pages(gfp, order);
      ASSERT_NE(pg, nullptr) << order;
      void* a = heap_.page_address(pg);
      EXPECT_EQ(addr(a) % (ps << order), 0u) << "order " << order;
      EXPECT_EQ(heap_.virt_to_page(a), pg) << "the first page";
      const km::PageInfo pi = heap_.page_info(a);
      EXPECT_EQ(pi.owner, km::PageOwner::PageAlloc);
      EXPECT_EQ(pi.order, order);
      EXPECT_EQ(heap_.page_counts().page_alloc, std::size_t{1} << order);
      std::memset(a, 0x5c, ps << order); // all 2^order pages are the caller's
      if (gfp == GFP_DMA) {
        EXPECT_EQ(pi.zone, 0u);
      }
      heap_.free_pages(pg, order);
    }
  }
}

// "Return: ... NULL (with a warning for @order > MAX_ORDER unless __GFP_NOWARN)."
TEST_F(KmallocContract, AllocPages_OrderAboveMaxOrderReturnsNullWithWarning) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  for (unsigned order : {11u, 12u, 16u, 31u, 64u, 1000u}) {
    EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, order), nullptr) << order;
    expect_reports(ErrorKind::OrderTooLarge, 1, "MAX_ORDER");
    EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN, order), nullptr);
    EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL | __GFP_NOWARN, order), 0u);
    expect_no_reports();
  }
  // Out of memory: NULL without a warning.
  heap_.inject_page_alloc_failures(1);
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, 0), nullptr);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
}

// "__free_pages - free pages from alloc_pages() with the same @order."
TEST_F(KmallocContract, FreePages_WithTheSameOrderFreesTheBlock) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  std::vector<std::pair<struct page*, unsigned>> blocks;
  for (unsigned order : {0u, 3u, 1u, 10u, 0u, 2u})
    blocks.emplace_back(heap_.alloc_pages(GFP_KERNEL, order), order);
  // Another order is misuse: reported, and the block stays allocated.
  heap_.free_pages(blocks[1].first, 2);
  expect_reports(ErrorKind::PageOrderMismatch, 1);
  EXPECT_EQ(heap_.page_info(heap_.page_address(blocks[1].first)).owner, km::PageOwner::PageAlloc);
  for (auto [pg, order] : blocks)
    heap_.free_pages(pg, order);
  heap_.free_pages(static_cast<struct page*>(nullptr), 0);
  expect_no_reports();
  kmtest::expect_same_state(before, heap_);
}

// "__get_free_pages - alloc_pages() returning the address. Return: the address or 0."
TEST_F(KmallocContract, GetFreePages_ReturnsTheAddressOrZero) {
  const std::size_t ps = heap_.page_size();
  for (unsigned order = 0; order <= 10; ++order) {
    const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, order);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(a % (ps << order), 0u);
    EXPECT_EQ(addr(heap_.page_address(heap_.virt_to_page(reinterpret_cast<void*>(a)))), a);
    EXPECT_EQ(heap_.page_info(reinterpret_cast<void*>(a)).order, order);
    heap_.free_pages(a, order);
  }
  heap_.inject_page_alloc_failures(1);
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 0), 0u);
  EXPECT_EQ(heap_.get_free_pages(GFP_KERNEL, 11), 0u);
  expect_reports(ErrorKind::OrderTooLarge, 1);
  init(kLinux6.options, /*dirty=*/true);
  const std::uintptr_t z = heap_.get_free_pages(GFP_KERNEL | __GFP_ZERO, 2);
  EXPECT_EQ(first_not(peek(reinterpret_cast<void*>(z), 4 * ps), 0, 0, 4 * ps), -1);
  heap_.free_pages(z, 2);
}

// "free_pages - free by address; 0 is ignored."
TEST_F(KmallocContract, FreePagesByAddress_ZeroIsIgnored) {
  const kmtest::Snapshot before = kmtest::Snapshot::of(heap_);
  heap_.free_pages(std::uintptr_t{0}, 0);
  heap_.free_pages(std::uintptr_t{0}, 5);
  expect_no_reports();
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, 4);
  heap_.free_pages(a, 4);
  kmtest::expect_same_state(before, heap_);
  heap_.free_pages(a, 4); // already free: reported
  expect_reports(ErrorKind::PageDoubleFree, 1);
}

// "page_address - the address of a page."
TEST_F(KmallocContract, PageAddress_IsTheAddressOfThePage) {
  const std::size_t ps = heap_.page_size();
  struct page* pg = heap_.alloc_pages(GFP_KERNEL, 3);
  auto* base = static_cast<unsigned char*>(heap_.page_address(pg));
  EXPECT_EQ(heap_.page_to_pfn(pg), addr(base) / ps);
  for (std::size_t i = 0; i < 8; ++i) {
    struct page* each = heap_.virt_to_page(base + i * ps);
    EXPECT_EQ(heap_.page_address(each), base + i * ps);
  }
  EXPECT_EQ(heap_.page_address(nullptr), nullptr);
  heap_.free_pages(pg, 3);
}

// "virt_to_page - the page holding an address of the heap, or NULL."
TEST_F(KmallocContract, VirtToPage_PageHoldingAnAddressOrNull) {
  const std::size_t ps = heap_.page_size();
  auto* obj = static_cast<unsigned char*>(heap_.kmalloc(100, GFP_KERNEL));
  struct page* pg = heap_.virt_to_page(obj);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(addr(heap_.page_address(pg)), addr(obj) & ~(ps - 1));
  for (std::size_t off : {std::size_t{0}, std::size_t{1}, std::size_t{99}}) {
    EXPECT_EQ(heap_.virt_to_page(obj + off),
              heap_.virt_to_page(reinterpret_cast<void*>((addr(obj) + off) & ~(ps - 1))));
  }
  const std::uintptr_t start = heap_.arena_start();
  const std::uintptr_t end = start + heap_.arena_pages() * ps;
  EXPECT_NE(heap_.virt_to_page(reinterpret_cast<void*>(start)), nullptr);
  EXPECT_NE(heap_.virt_to_page(reinterpret_cast<void*>(end - 1)), nullptr);
  EXPECT_NE(heap_.virt_to_page(reinterpret_cast<void*>(start)),
            heap_.virt_to_page(reinterpret_cast<void*>(start + ps)));
  int on_stack = 0;
  EXPECT_EQ(heap_.virt_to_page(&on_stack), nullptr);
  EXPECT_EQ(heap_.virt_to_page(reinterpret_cast<void*>(end)), nullptr);
  EXPECT_EQ(heap_.virt_to_page(reinterpret_cast<void*>(start - 1)), nullptr);
  EXPECT_EQ(heap_.virt_to_page(nullptr), nullptr);
  heap_.kfree(obj);
}

// "get_order - the smallest order whose block holds @size bytes (@size > 0)."
TEST_F(KmallocContract, GetOrder_SmallestOrderWhoseBlockHoldsSize) {
  struct Row {
    std::size_t size;
    unsigned order;
  };
  for (const Row& r :
       {Row{1, 0}, Row{4095, 0}, Row{4096, 0}, Row{4097, 1}, Row{8192, 1}, Row{8193, 2},
        Row{16384, 2}, Row{16385, 3}, Row{MiB, 8}, Row{4 * MiB, 10}, Row{4 * MiB + 1, 11}}) {
    EXPECT_EQ(heap_.get_order(r.size), r.order) << r.size;
  }
  init("profile=linux-6,page_shift=14,max_order=8,seed=1");
  for (const Row& r : {Row{1, 0}, Row{16384, 0}, Row{16385, 1}, Row{65536, 2}, Row{65537, 3}}) {
    EXPECT_EQ(heap_.get_order(r.size), r.order) << r.size;
  }
  for (std::size_t n = 1; n < 300000; n += 997) {
    EXPECT_EQ(heap_.get_order(n), order_for(n, 16384)) << n;
  }
}

// ============================================================================================
// slabinfo / buddyinfo: snprintf-style

// Every buffer size from 0 to past the end: the full length is returned, the text written is the
// prefix that fits, NUL-terminated, and nothing past `size` is touched.
template <class Dump> void expect_snprintf_style(Dump dump) {
  const std::size_t n = dump(nullptr, 0);
  ASSERT_GT(n, 0u);
  std::string full(n + 1, '\0');
  ASSERT_EQ(dump(full.data(), full.size()), n);
  full.resize(n);
  ASSERT_EQ(full.find('\0'), std::string::npos);
  std::vector<char> buf(n + 16);
  for (std::size_t size = 0; size <= n + 2; ++size) {
    std::fill(buf.begin(), buf.end(), '#');
    ASSERT_EQ(dump(buf.data(), size), n) << "size " << size;
    if (size == 0) {
      ASSERT_EQ(buf[0], '#') << "size 0 writes nothing";
      continue;
    }
    const std::size_t kept = std::min(n, size - 1);
    ASSERT_EQ(std::string(buf.data(), kept), full.substr(0, kept)) << "size " << size;
    ASSERT_EQ(buf[kept], '\0') << "size " << size;
    ASSERT_EQ(buf[size], '#') << "size " << size << ": wrote past the buffer";
  }
}

// "kmalloc_slabinfo - /proc/slabinfo (version 2.1) ... snprintf-style. Return: the full length
// (a return value >= @size means the text was cut)."
TEST_F(KmallocContract, Slabinfo_Version21) {
  void* p = heap_.kmalloc(96, GFP_KERNEL);
  std::string text(heap_.slabinfo(nullptr, 0) + 1, '\0');
  text.resize(heap_.slabinfo(text.data(), text.size()));
  EXPECT_THAT(text, testing::StartsWith(
                        "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> "
                        "<objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> "
                        "<sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"));
  // One line per cache: 13 sizes x 3 types for linux-6.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2 + 39);
  for (const char* name : {"kmalloc-8 ", "kmalloc-96 ", "kmalloc-192 ", "kmalloc-8k ",
                           "kmalloc-rcl-1k ", "dma-kmalloc-4k ", "dma-kmalloc-96 "}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + name));
  }
  EXPECT_THAT(text, testing::ContainsRegex("\nkmalloc-96 +[1-9][0-9]* +[1-9][0-9]* +96 "));
  heap_.kfree(p);
}

TEST_F(KmallocContract, Slabinfo_SnprintfReturnsFullLengthAndTruncates) {
  heap_.kmem_cache_create("contract_info", 40, 0, 0, nullptr);
  expect_snprintf_style([&](char* buf, std::size_t size) { return heap_.slabinfo(buf, size); });
}

// "kmalloc_buddyinfo - /proc/buddyinfo of the default heap, snprintf-style."
TEST_F(KmallocContract, Buddyinfo_SnprintfReturnsFullLengthAndTruncates) {
  const std::string text = kmtest::buddyinfo_string(heap_);
  EXPECT_THAT(text, testing::StartsWith("Node 0, zone      DMA "));
  EXPECT_THAT(text, HasSubstr("\nNode 0, zone   Normal "));
  expect_snprintf_style([&](char* buf, std::size_t size) { return heap_.buddyinfo(buf, size); });
}

// ============================================================================================
// enum kmalloc_report_kind, kmalloc_report_kind_name, kmalloc_report_is_warning (no default heap
// needed; the C calls that use it are in capi_heap_death_test.cpp)

// The kinds, written from report.h's list: C constant, ErrorKind, name, warning.
struct KindRow {
  kmalloc_report_kind c;
  ErrorKind kind;
  const char* name;
  bool warning;
};
const KindRow kKinds[] = {
    {KMALLOC_REPORT_ORDER_TOO_LARGE, ErrorKind::OrderTooLarge, "OrderTooLarge", true},
    {KMALLOC_REPORT_INVALID_GFP, ErrorKind::InvalidGfp, "InvalidGfp", true},
    {KMALLOC_REPORT_PAGE_DOUBLE_FREE, ErrorKind::PageDoubleFree, "PageDoubleFree", false},
    {KMALLOC_REPORT_PAGE_INVALID_FREE, ErrorKind::PageInvalidFree, "PageInvalidFree", false},
    {KMALLOC_REPORT_PAGE_ORDER_MISMATCH, ErrorKind::PageOrderMismatch, "PageOrderMismatch", false},
    {KMALLOC_REPORT_PAGE_OWNER_MISMATCH, ErrorKind::PageOwnerMismatch, "PageOwnerMismatch", false},
    {KMALLOC_REPORT_CACHE_CREATE_FAILED, ErrorKind::CacheCreateFailed, "CacheCreateFailed", true},
    {KMALLOC_REPORT_SLAB_PANIC, ErrorKind::SlabPanic, "SlabPanic", false},
    {KMALLOC_REPORT_OBJECTS_REMAINING, ErrorKind::ObjectsRemaining, "ObjectsRemaining", true},
    {KMALLOC_REPORT_INVALID_CACHE, ErrorKind::InvalidCache, "InvalidCache", false},
    {KMALLOC_REPORT_INVALID_OBJECT_POINTER, ErrorKind::InvalidObjectPointer, "InvalidObjectPointer",
     false},
    {KMALLOC_REPORT_WRONG_CACHE, ErrorKind::WrongCache, "WrongCache", false},
    {KMALLOC_REPORT_OBJECT_DOUBLE_FREE, ErrorKind::ObjectDoubleFree, "ObjectDoubleFree", false},
    {KMALLOC_REPORT_FREELIST_CORRUPT, ErrorKind::FreelistCorrupt, "FreelistCorrupt", false},
    {KMALLOC_REPORT_SIZE_TOO_LARGE, ErrorKind::SizeTooLarge, "SizeTooLarge", true},
    {KMALLOC_REPORT_KMALLOC_DISABLED, ErrorKind::KmallocDisabled, "KmallocDisabled", true},
    {KMALLOC_REPORT_HEAP_UNINITIALIZED, ErrorKind::HeapUninitialized, "HeapUninitialized", true},
    {KMALLOC_REPORT_CORRUPTION, ErrorKind::Corruption, "Corruption", false},
};

// "enum kmalloc_report_kind - what a report is about: the values of km::ErrorKind
// (kmalloc/report.h), in the same order."
TEST_F(KmallocContract, ReportKind_TheValuesOfErrorKindInOrder) {
  static_assert(std::size(kKinds) == km::kErrorKindCount);
  EXPECT_EQ(static_cast<unsigned>(KMALLOC_REPORT_NR_KINDS), km::kErrorKindCount);
  for (unsigned i = 0; i < std::size(kKinds); ++i) {
    SCOPED_TRACE(kKinds[i].name);
    EXPECT_EQ(static_cast<unsigned>(kKinds[i].c), i);
    EXPECT_EQ(static_cast<unsigned>(kKinds[i].kind), i);
  }
}

// "Warnings (see kmalloc_report_is_warning()) refuse the call and let the program go on; the
// other kinds are misuse or corruption, on which the default handler aborts." The C++ Heap
// makes the reports (the C layer forwards them unchanged); the default handler's abort is
// KmallocContractDeathTest.Misuse_ReportedOnStderrAndAborts and
// KmallocContractHeapDeathTest.SetReportHandler_NullRestoresTheDefault.
TEST_F(KmallocContract, ReportKind_WarningsRefuseAndGoOn) {
  EXPECT_EQ(heap_.kmalloc(5 * MiB, GFP_KERNEL), nullptr);
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL, 11), nullptr);
  EXPECT_EQ(heap_.kmem_cache_create("warn", 8, 3, 0, nullptr), nullptr);
  ASSERT_EQ(rec_.size(), 3u) << rec_.dump();
  for (const kmtest::Recorded& r : rec_.reports) {
    EXPECT_EQ(kmalloc_report_is_warning(static_cast<kmalloc_report_kind>(r.kind)), 1) << r;
    EXPECT_THAT(r.message, HasSubstr("WARNING"));
  }
  rec_.clear();
  void* p = heap_.kmalloc(8, GFP_KERNEL);
  heap_.kfree(p);
  heap_.kfree(p);
  expect_reports(ErrorKind::ObjectDoubleFree, 1, "BUG");
  EXPECT_EQ(kmalloc_report_is_warning(KMALLOC_REPORT_OBJECT_DOUBLE_FREE), 0);
}

// "kmalloc_report_kind_name - the name of @kind as the C++ API spells it (km::error_kind_name()),
// e.g. "ObjectDoubleFree" for KMALLOC_REPORT_OBJECT_DOUBLE_FREE."
// "Return: the name; "Unknown" for KMALLOC_REPORT_NR_KINDS or another value that is not a kind."
TEST_F(KmallocContract, ReportKindName_AsTheCppApiSpellsIt) {
  for (const KindRow& row : kKinds) {
    EXPECT_STREQ(kmalloc_report_kind_name(row.c), row.name);
    EXPECT_STREQ(kmalloc_report_kind_name(row.c), km::error_kind_name(row.kind));
  }
  EXPECT_STREQ(kmalloc_report_kind_name(KMALLOC_REPORT_OBJECT_DOUBLE_FREE), "ObjectDoubleFree");
  EXPECT_STREQ(kmalloc_report_kind_name(KMALLOC_REPORT_NR_KINDS), "Unknown");
  EXPECT_STREQ(kmalloc_report_kind_name(static_cast<kmalloc_report_kind>(31)), "Unknown");
}

// "kmalloc_report_is_warning - whether the default handler returns after a report of @kind (a
// kernel WARN) rather than aborting (a BUG)."
// "Return: 1 for a warning kind; 0 for the others and for a value that is not a kind."
TEST_F(KmallocContract, ReportIsWarning_TheKindsTheDefaultHandlerReturnsAfter) {
  for (const KindRow& row : kKinds) {
    EXPECT_EQ(kmalloc_report_is_warning(row.c), row.warning ? 1 : 0) << row.name;
    EXPECT_EQ(kmalloc_report_is_warning(row.c) == 1, km::error_kind_is_warning(row.kind))
        << row.name;
  }
  EXPECT_EQ(kmalloc_report_is_warning(KMALLOC_REPORT_NR_KINDS), 0);
  EXPECT_EQ(kmalloc_report_is_warning(static_cast<kmalloc_report_kind>(31)), 0);
}

} // namespace
