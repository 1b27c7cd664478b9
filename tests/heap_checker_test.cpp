// heap_checker_test.cpp - the whole-heap oracle (model/heap_checker.h): clean op lists pass, and
// each kind of check fires on a heap broken behind the checker's back (a test that cannot fail
// checks nothing). Also the printers and the fuzz_heap decoder (fuzz/heap_decode.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KM_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(KM_TEST_ASAN)
#define KM_TEST_ASAN 1
#endif
#ifdef KM_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "fuzz/heap_decode.h"
#include "heap_state.h"
#include "kmalloc/heap.h"
#include "model/heap_checker.h"
#include "model/heap_op.h"

namespace {

using namespace km::oracle;

km::Config small_config() {
  km::Config cfg;
  cfg.profile = km::Profile::Linux6;
  cfg.arena_size = 4u << 20;
  cfg.nr_cpus = 2;
  cfg.random_seed = 7;
  return cfg;
}

// Overwrites free (poisoned) heap memory behind the allocator's back, as a heap bug would.
void scribble(void* p, std::size_t n) {
#ifdef KM_TEST_ASAN
  __asan_unpoison_memory_region(p, n);
#endif
  std::memset(p, 0x5a, n);
#ifdef KM_TEST_ASAN
  __asan_poison_memory_region(p, n);
#endif
}

Op kmalloc_op(std::uint64_t size, gfp_t gfp = GFP_KERNEL) {
  return Op{.kind = OpKind::Kmalloc, .size = size, .gfp = gfp};
}
Op free_op(Handle h, FreeRoute route = FreeRoute::Own) {
  return Op{.kind = OpKind::Free, .handle = h, .route = route};
}

// The message of the CheckError that running ops, then `breakage`, then `after` throws.
template <class Break>
std::string failure_of(const std::vector<Op>& ops, Break breakage, const std::vector<Op>& after,
                       HeapChecker* into = nullptr) {
  HeapChecker own;
  HeapChecker& checker = into != nullptr ? *into : own;
  EXPECT_TRUE(checker.init(small_config(), nullptr, 0).ok);
  try {
    for (const Op& op : ops)
      checker.apply(op);
    breakage(checker);
    for (const Op& op : after)
      checker.apply(op);
    checker.finish();
  } catch (const CheckError& e) {
    return e.what();
  }
  return "";
}

// Runs ops and finish() on a freshly initialised checker: the CheckError's message, or "".
std::string run_ops(HeapChecker& checker, const std::vector<Op>& ops) {
  return failure_of(
      ops, [&](HeapChecker&) {}, {}, &checker);
}

TEST(HeapChecker, MixedLayersRunClean) {
  const std::vector<Op> ops = {
      kmalloc_op(96),
      Op{.kind = OpKind::CacheCreate, .size = 200, .n = 0, .flags = SLAB_HWCACHE_ALIGN},
      Op{.kind = OpKind::CacheAlloc, .cache = 0},
      Op{.kind = OpKind::AllocPages, .gfp = GFP_KERNEL | __GFP_ZERO, .arg = 2},
      kmalloc_op(20000),
      Op{.kind = OpKind::Krealloc, .size = 300, .handle = 0},
      free_op(1),
      free_op(1), // double free: reported, refused
      free_op(2),
      Op{.kind = OpKind::Free, .handle = 3, .arg = 1, .route = FreeRoute::FreePages}, // wrong order
      Op{.kind = OpKind::FreeAt,
         .size = 0,
         .arg = static_cast<std::uint32_t>(Where::ArenaPage),
         .route = FreeRoute::Kfree}, // the metadata page
      Op{.kind = OpKind::CacheShrink, .cache = 0},
      Op{.kind = OpKind::Validate},
  };
  HeapChecker checker;
  EXPECT_EQ(run_ops(checker, ops), "");
  EXPECT_EQ(checker.misuse_count(), 3u);
  EXPECT_EQ(checker.live_count(), 0u);
}

// A metadata page (the first page of the arena) is refused by every free route, each with its
// own report: kfree and kfree_sensitive an invalid pointer, free_pages and __free_pages an invalid
// page free (not a double free: a metadata descriptor reads as free, but is not a buddy page),
// and __free_pages of a pointer 1..7 bytes into the page's descriptor an invalid page free.
TEST(HeapChecker, MetadataPagesAreRefusedByEveryFreeRoute) {
  std::vector<Op> ops = {Op{.kind = OpKind::CacheCreate, .size = 64}};
  for (FreeRoute route : {FreeRoute::Kfree, FreeRoute::KfreeSensitive, FreeRoute::CacheFree,
                          FreeRoute::FreePages, FreeRoute::PageFree})
    for (std::uint64_t offset : {0, 8, 5}) // 5: __free_pages of a pointer into a descriptor
      ops.push_back(Op{.kind = OpKind::FreeAt,
                       .size = offset,
                       .cache = 0,
                       .arg = static_cast<std::uint32_t>(Where::ArenaPage),
                       .route = route});
  HeapChecker checker;
  EXPECT_EQ(run_ops(checker, ops), "");
  EXPECT_EQ(checker.misuse_count(), 15u);
}

// gfp bits outside __GFP_BITS_MASK: krealloc of a live object and kmem_cache_alloc refuse them
// with NULL and a warning (none with __GFP_NOWARN), as kmalloc does; the model predicts both.
TEST(HeapChecker, InvalidGfpBitsAreRefusedEverywhere) {
  constexpr gfp_t kBadBit = 0x800000;
  const std::vector<Op> ops = {
      kmalloc_op(100),
      Op{.kind = OpKind::Krealloc, .size = 500, .gfp = GFP_KERNEL | kBadBit, .handle = 0},
      Op{.kind = OpKind::Krealloc, .size = 500, .gfp = GFP_KERNEL | kBadBit | __GFP_NOWARN},
      Op{.kind = OpKind::CacheCreate, .size = 72},
      Op{.kind = OpKind::CacheAlloc, .gfp = GFP_KERNEL | kBadBit, .cache = 0},
      Op{.kind = OpKind::CacheAlloc, .gfp = GFP_KERNEL | kBadBit | __GFP_NOWARN, .cache = 0},
      Op{.kind = OpKind::Verify, .handle = 0}};
  EXPECT_EQ(failure_of(ops,
                       [](HeapChecker& c) {
                         EXPECT_EQ(c.allocation(1).addr, 0u);
                         EXPECT_EQ(c.allocation(2).addr, 0u);
                       },
                       {}),
            "");
}

// NO2: a byte of a live object changes behind the checker's back.
TEST(HeapChecker, FiresOnAnOverwrittenObject) {
  const std::string what = failure_of(
      {kmalloc_op(64)},
      [](HeapChecker& c) { reinterpret_cast<unsigned char*>(c.allocation(0).addr)[5] ^= 1; },
      {Op{.kind = OpKind::Verify, .handle = 0}});
  EXPECT_NE(what.find("(NO2)"), std::string::npos) << what;
  // The message ends with the ops so far, numbered, with what they returned.
  EXPECT_NE(what.find("\n  0: kmalloc(64, GFP_KERNEL) -> #0  = 0x"), std::string::npos) << what;
  EXPECT_NE(what.find("\n  1: verify(#0)\n"), std::string::npos) << what;
}

// The history in a failure message is the last 200 ops, numbered from the first op, with the
// handles and caches they made.
TEST(HeapChecker, FailureShowsTheLastOps) {
  std::vector<Op> ops = {Op{.kind = OpKind::CacheCreate, .size = 40}};
  for (int i = 0; i < 300; ++i)
    ops.push_back(kmalloc_op(16));
  const std::string what = failure_of(
      ops, [](HeapChecker& c) { reinterpret_cast<unsigned char*>(c.allocation(299).addr)[0] ^= 1; },
      {Op{.kind = OpKind::Verify, .handle = 299}});
  EXPECT_EQ(what.find("\n  100: kmalloc"), std::string::npos) << what;
  EXPECT_NE(what.find("\n  102: kmalloc(16, GFP_KERNEL) -> #101  = 0x"), std::string::npos) << what;
  EXPECT_NE(what.find("\n  301: verify(#299)\n"), std::string::npos) << what;
  EXPECT_NE(failure_of({Op{.kind = OpKind::CacheCreate, .size = 40}},
                       [](HeapChecker& c) { c.heap().alloc_pages(GFP_KERNEL, 0); }, {kmalloc_op(8)})
                .find("\n  0: c0 = kmem_cache_create"),
            std::string::npos);
}

// The fill is the stated pattern, byte for byte (the checker writes and compares eight bytes
// at a time): a kmalloc object, and the first page of a 16 KiB alloc_pages block.
TEST(HeapChecker, FillsTheStatedPattern) {
  HeapChecker checker;
  ASSERT_TRUE(checker.init(small_config(), nullptr, 0).ok);
  checker.apply(kmalloc_op(1000));
  checker.apply(Op{.kind = OpKind::AllocPages, .arg = 2});
  for (Handle h : {0u, 1u}) {
    const auto* b = reinterpret_cast<const unsigned char*>(checker.allocation(h).addr);
    for (std::size_t i = 0; i < std::min<std::size_t>(4096, checker.allocation(h).requested); ++i)
      ASSERT_EQ(b[i], HeapChecker::pattern(h, i)) << "#" << h << " byte " << i;
  }
  checker.finish();
}

// NO2 at every byte offset of a 200-byte object (one flipped bit each), and in the sampled part
// of a larger block: the first bytes of a later page.
TEST(HeapChecker, FiresOnAnOverwriteAtAnyOffset) {
  for (std::size_t at = 0; at < 200; at += 1) {
    const std::string what =
        failure_of({kmalloc_op(200)},
                   [at](HeapChecker& c) {
                     reinterpret_cast<unsigned char*>(c.allocation(0).addr)[at] ^= 0x10;
                   },
                   {Op{.kind = OpKind::Verify, .handle = 0}});
    ASSERT_NE(what.find("byte +" + std::to_string(at) + " "), std::string::npos) << what;
  }
  const std::string what = failure_of(
      {Op{.kind = OpKind::AllocPages, .arg = 2}},
      [](HeapChecker& c) { reinterpret_cast<unsigned char*>(c.allocation(0).addr)[12289] ^= 1; },
      {Op{.kind = OpKind::Verify, .handle = 0}});
  EXPECT_NE(what.find("byte +12289 "), std::string::npos) << what;
}

// Bytes known to be zero must read zero: krealloc in place with __GFP_ZERO zeroes the spare
// bytes up to ksize (Linux 6.12), so after growing back in place [50, 120) must read zero; a
// nonzero byte there fires, at an unaligned offset too.
TEST(HeapChecker, FiresOnANonzeroByteKnownToBeZero) {
  const std::vector<Op> ops = {
      kmalloc_op(100), Op{.kind = OpKind::Krealloc, .size = 50, .gfp = GFP_KERNEL | __GFP_ZERO},
      Op{.kind = OpKind::Krealloc, .size = 120}};
  EXPECT_EQ(failure_of(ops, [](HeapChecker&) {}, {Op{.kind = OpKind::Verify, .handle = 0}}), "");
  const std::string what = failure_of(
      ops, [](HeapChecker& c) { reinterpret_cast<unsigned char*>(c.allocation(0).addr)[77] = 1; },
      {Op{.kind = OpKind::Verify, .handle = 0}});
  EXPECT_NE(what.find("byte +77 is 0x1, must read zero"), std::string::npos) << what;
}

// One checker runs input after input (fuzz_heap keeps one): after reset() a second run sees a
// fresh heap and model, and the same ops give the same results.
TEST(HeapChecker, ReusedCheckerStartsFresh) {
  const std::vector<Op> ops = {kmalloc_op(96), Op{.kind = OpKind::CacheCreate, .size = 40},
                               Op{.kind = OpKind::CacheAlloc, .cache = 0}, kmalloc_op(5000),
                               free_op(0)};
  HeapChecker checker;
  std::vector<std::uintptr_t> first;
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(checker.init(small_config(), nullptr, 0).ok);
    for (const Op& op : ops)
      checker.apply(op);
    ASSERT_EQ(checker.handle_count(), 3u);
    ASSERT_EQ(checker.cache_count(), 1u);
    ASSERT_EQ(checker.ops_checked(), ops.size());
    for (Handle h = 0; h < 3; ++h)
      if (run == 0)
        first.push_back(checker.allocation(h).addr - checker.heap().arena_start());
      else
        EXPECT_EQ(checker.allocation(h).addr - checker.heap().arena_start(), first[h]);
    checker.finish();
  }
}

// fuzz_heap alternates C API inputs and C++ ones over one region. The C API heap a checker built
// must die with its input: left alive, the next input overwrote it, its thread key leaked, and
// after 1,024 C inputs (PTHREAD_KEYS_MAX) the heap got no key, so the thread ran on the shared
// slot and set_cpu(0) moved it to another slab (found by checker_bench on corpus/heap).
TEST(HeapChecker, ReusedCheckerDestroysTheCApiHeapItBuilt) {
  static unsigned char region[1u << 20] __attribute__((aligned(4096)));
  km::Config cfg = small_config();
  cfg.arena_size = sizeof region;
  const std::string options = km::fuzz::options_of(cfg);
  // Allocated, then the same class again after set_cpu(0): from the same cpu slab, slot 0.
  const std::vector<Op> ops = {kmalloc_op(8), Op{.kind = OpKind::SetCpu, .arg = 0}, kmalloc_op(8),
                               free_op(0), free_op(1)};
  HeapChecker checker;
  for (int input = 0; input < 1100; ++input) {
    ASSERT_EQ(checker.init_c(cfg, options.c_str(), region, sizeof region), 0) << input;
    try {
      for (const Op& op : ops)
        checker.apply(op);
      checker.finish();
    } catch (const CheckError& e) {
      FAIL() << "C input " << input << ": " << e.what();
    }
    ASSERT_TRUE(checker.init(cfg, region, sizeof region).ok) << input;
    EXPECT_FALSE(km::c_api_heap().initialized()) << input;
    checker.finish();
  }
}
// MU1: the model expects a double-free report the heap does not give (the freed object was
// allocated again behind the checker's back, so the heap's free is legal).
TEST(HeapChecker, FiresOnAMissingReport) {
  const std::string what = failure_of({kmalloc_op(64), free_op(0)},
                                      [](HeapChecker& c) {
                                        ASSERT_EQ(c.heap().kmalloc(64, GFP_KERNEL),
                                                  reinterpret_cast<void*>(c.allocation(0).addr));
                                      },
                                      {free_op(0)});
  EXPECT_NE(what.find("reports differ (MU1): expected [ObjectDoubleFree"), std::string::npos)
      << what;
}

// AC2: pages leave the free lists without the model seeing it; the next op (one that takes no
// pages, so that no placement check fires first) finds the page counters off.
TEST(HeapChecker, FiresOnPagesTakenBehindItsBack) {
  const std::string what = failure_of(
      {}, [](HeapChecker& c) { ASSERT_NE(c.heap().alloc_pages(GFP_KERNEL, 1), nullptr); },
      {Op{.kind = OpKind::Flush}});
  EXPECT_NE(what.find("(AC2)"), std::string::npos) << what;
}

// AC1: an object leaves a slab without the model seeing it; the page counts agree, the
// cache's counters do not.
TEST(HeapChecker, FiresOnAnObjectTheModelDidNotSee) {
  const std::string what =
      failure_of({kmalloc_op(64), kmalloc_op(64)},
                 [](HeapChecker& c) { ASSERT_NE(c.heap().kmalloc(64, GFP_KERNEL), nullptr); },
                 {Op{.kind = OpKind::Validate}});
  EXPECT_NE(what.find("(AC1)"), std::string::npos) << what;
}

// NO2 when the object is freed: the pattern is checked before every free.
TEST(HeapChecker, FiresOnAnOverwriteSeenAtFree) {
  const std::string what = failure_of(
      {kmalloc_op(300)},
      [](HeapChecker& c) { reinterpret_cast<unsigned char*>(c.allocation(0).addr)[299] ^= 4; },
      {free_op(0)});
  EXPECT_NE(what.find("byte +299 "), std::string::npos) << what;
  EXPECT_NE(what.find("before its free (NO2)"), std::string::npos) << what;
}

// MU1 the other way: the heap reports a misuse the model did not predict (a bad free made
// behind the checker's back, while its report handler is installed).
TEST(HeapChecker, FiresOnAnUnexpectedReport) {
  const std::string what = failure_of(
      {kmalloc_op(64)},
      [](HeapChecker& c) { c.heap().kfree(reinterpret_cast<void*>(c.allocation(0).addr + 8)); },
      {kmalloc_op(8)});
  EXPECT_NE(
      what.find(
          "reports differ (MU1): expected none; got [kmalloc: BUG kfree: Invalid object pointer"),
      std::string::npos)
      << what;
}

// AC3 in the full walk: the heap's free blocks are no longer the model's.
TEST(HeapChecker, FiresWhenTheFreeBlocksDiffer) {
  const std::string what = failure_of({},
                                      [](HeapChecker& c) {
                                        ASSERT_NE(c.heap().alloc_pages(GFP_KERNEL, 2), nullptr);
                                        c.walk();
                                      },
                                      {});
  EXPECT_NE(what.find("free blocks differ (AC3)"), std::string::npos) << what;
}

// The cache list in the full walk: a cache the model never saw created.
TEST(HeapChecker, FiresOnACacheTheModelDidNotSee) {
  const std::string what =
      failure_of({},
                 [](HeapChecker& c) {
                   ASSERT_NE(c.heap().kmem_cache_create("stray", 40, 0, 0, nullptr), nullptr);
                   c.walk();
                 },
                 {});
  EXPECT_NE(what.find("for_each_cache lists"), std::string::npos) << what;
}

// A ctor cache's object that was never handed out must hold the constructor's bytes: after
// every other object of the first slab is overwritten behind the checker's back, the next
// allocation fires (whichever free object the heap picks).
TEST(HeapChecker, FiresOnAnUnusedObjectWithoutTheConstructorsBytes) {
  const std::string what =
      failure_of({Op{.kind = OpKind::CacheCreate, .size = 100, .arg = 1},
                  Op{.kind = OpKind::CacheAlloc, .cache = 0}},
                 [](HeapChecker& c) {
                   const km::CacheInfo info = c.heap().cache_info(
                       c.heap().page_info(reinterpret_cast<void*>(c.allocation(0).addr)).cache);
                   const std::uintptr_t base =
                       c.heap().page_info(reinterpret_cast<void*>(c.allocation(0).addr)).block;
                   for (unsigned i = 0; i < info.objects_per_slab; ++i)
                     if (base + i * info.size != c.allocation(0).addr)
                       scribble(reinterpret_cast<void*>(base + i * info.size), info.object_size);
                 },
                 {Op{.kind = OpKind::CacheAlloc, .cache = 0}});
  EXPECT_NE(what.find("an object never used before without the constructor's bytes at +0"),
            std::string::npos)
      << what;
}

// kfree_sensitive zeroes the object: bytes back in it when the slot is next taken fire.
TEST(HeapChecker, FiresOnAWipedObjectThatIsNotZero) {
  const std::string what =
      failure_of({kmalloc_op(64), free_op(0, FreeRoute::KfreeSensitive)},
                 [](HeapChecker& c) { scribble(reinterpret_cast<void*>(c.allocation(0).addr), 4); },
                 {kmalloc_op(64)});
  EXPECT_NE(what.find("byte +0 of an object kfree_sensitive wiped is 0x5a"), std::string::npos)
      << what;
}

// The min_partial rule, on a heap whose cache min_partial (5 for 64-byte objects) is changed
// behind the checker's back (heap_state.h). Ops: c0, then `slabs` slabs' worth of objects.
std::vector<Op> cache_with_slabs(unsigned slabs) {
  std::vector<Op> ops = {Op{.kind = OpKind::CacheCreate, .size = 64}};
  ops.insert(ops.end(), slabs * 64, Op{.kind = OpKind::CacheAlloc, .cache = 0});
  return ops;
}
auto set_min_partial(unsigned min_partial) {
  return [min_partial](HeapChecker& c) {
    void* obj = reinterpret_cast<void*>(c.allocation(0).addr);
    kmem_cache* s = c.heap().state_for_testing()->slabs.resolve(c.heap().page_info(obj).cache);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->layout.objects, 64u);
    s->layout.min_partial = min_partial;
  };
}
std::vector<Op> frees(Handle first, Handle count) {
  std::vector<Op> ops;
  for (Handle h = first; h < first + count; ++h)
    ops.push_back(free_op(h));
  return ops;
}

// An empty slab that goes back while fewer than min_partial slabs are partial.
TEST(HeapChecker, FiresOnAnEmptySlabDiscardedUnderMinPartial) {
  const std::string what = failure_of(cache_with_slabs(2), set_min_partial(0), frees(0, 64));
  EXPECT_NE(what.find("an empty slab went back to the page allocator leaving 0 partial slabs, "
                      "min_partial is 5"),
            std::string::npos)
      << what;
}

// More empty slabs kept on the partial list than min_partial.
TEST(HeapChecker, FiresOnMoreEmptySlabsThanMinPartial) {
  const std::string what = failure_of(cache_with_slabs(8), set_min_partial(100), frees(0, 512));
  EXPECT_NE(what.find("more than min_partial 5 empty slabs on the partial list"), std::string::npos)
      << what;
}

// MU1 compares a kfree report's reason too: a page taken behind the checker's back is free in
// the model, so kfree of it must say "in a free page"; the heap says "in an alloc_pages block".
TEST(HeapChecker, FiresOnAReportWithAnotherReason) {
  const std::string what =
      failure_of({},
                 [](HeapChecker& c) {
                   struct page* pg = c.heap().alloc_pages(GFP_KERNEL, 0);
                   ASSERT_NE(pg, nullptr);
                   const auto at = reinterpret_cast<std::uintptr_t>(c.heap().page_address(pg));
                   c.apply(Op{.kind = OpKind::FreeAt,
                              .size = at - c.heap().arena_start(),
                              .arg = static_cast<std::uint32_t>(Where::ArenaPage),
                              .route = FreeRoute::Kfree});
                 },
                 {});
  EXPECT_NE(what.find("(in a free page)]; got [kmalloc: BUG kfree: Invalid object pointer"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("(in an alloc_pages block)"), std::string::npos) << what;
}

// slabinfo's active_objects counts the free objects of cpu slabs: a heap that puts its cpu slab
// back on the partial list behind the checker's back (flush) no longer counts them.
TEST(HeapChecker, FiresOnActiveObjectsWithoutTheCpuSlabsFreeObjects) {
  const std::string what = failure_of(cache_with_slabs(0),
                                      [](HeapChecker& c) {
                                        c.apply(Op{.kind = OpKind::CacheAlloc, .cache = 0});
                                        c.heap().flush_cpu_slabs();
                                        c.walk();
                                      },
                                      {});
  EXPECT_NE(what.find("active_objects 1, but 1 live objects and 63 free in cpu slabs (AC1)"),
            std::string::npos)
      << what;
}

TEST(HeapOp, PrintsReadableSequences) {
  const std::vector<Op> ops = {kmalloc_op(96), free_op(0), free_op(0),
                               Op{.kind = OpKind::CacheCreate, .size = 24, .flags = 0},
                               Op{.kind = OpKind::CacheAlloc, .gfp = GFP_ATOMIC, .cache = 0}};
  EXPECT_EQ(format_ops(ops), "kmalloc(96, GFP_KERNEL) -> #0; free(#0); free(#0); c0 = "
                             "kmem_cache_create(24, 0, 0, NULL); kmem_cache_alloc(c0, "
                             "GFP_ATOMIC) -> #1");
  EXPECT_EQ(to_cpp(ops[0]), "{.kind = OpKind::Kmalloc, .size = 0x60}");
  EXPECT_EQ(to_cpp(ops[1]), "{.kind = OpKind::Free, .route = FreeRoute::Own}");
}

// Records are fixed 8-byte units: dropping one op record leaves every other op as it was, and
// victims are named by allocation number.
TEST(HeapDecode, RecordsAreIndependent) {
  std::vector<std::uint8_t> bytes(8, 0);
  const std::uint8_t kmalloc_rec[8] = {0, 0, 32, 0, 0, 0, 0, 0}; // kmalloc(32, GFP_KERNEL)
  const std::uint8_t free_rec[8] = {10, 1, 0, 0, 0, 0, 0, 0};    // free(#1 % count)
  for (const auto* rec : {kmalloc_rec, kmalloc_rec, free_rec, kmalloc_rec})
    bytes.insert(bytes.end(), rec, rec + 8);
  const km::fuzz::HeapInput in = km::fuzz::decode_heap_input(bytes.data(), bytes.size(), 32u << 20);
  ASSERT_EQ(in.ops.size(), 4u);
  EXPECT_EQ(format_ops(in.ops), "kmalloc(32, GFP_KERNEL) -> #0; kmalloc(32, GFP_KERNEL) -> #1; "
                                "free(#1); kmalloc(32, GFP_KERNEL) -> #2");
  EXPECT_EQ(in.cfg.profile, km::Profile::Linux6);
  EXPECT_TRUE(in.via_c);
}

} // namespace
