// mutant_survivors_test.cpp - contract tests for behaviours the rest of the suite left unpinned,
// each found by a mutant of tools/mutants.tsv that survived it (the id is in each test's
// comment). The expected values come from the kernel's contract (linux-facts.md, the public
// headers), never from the implementation.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "heap_state.h"
#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "platform/asan.h"
#include "slab/kmem_cache.h"

namespace {

using km::ErrorKind;
using kmtest::Recorder;

std::uintptr_t addr(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// A heap with a recording handler, so misuse is refused and the test goes on.
struct RecordingHeap {
  km::Heap heap;
  Recorder rec;
  bool ok = false;

  explicit RecordingHeap(const km::Config& cfg) {
    heap.set_report_handler(Recorder::handle, &rec);
    const km::Status st = heap.init(cfg);
    ok = st.ok;
    if (!ok)
      ADD_FAILURE() << "init: " << st.message;
  }
};

// kmtest::quiet_validate, then the recorder again (quiet_validate restores the default handler).
std::size_t validate(RecordingHeap& t) {
  const std::size_t errors = kmtest::quiet_validate(t.heap);
  t.heap.set_report_handler(Recorder::handle, &t.rec);
  return errors;
}

km::Config small_config() {
  km::Config cfg;
  cfg.arena_size = 8u << 20;
  cfg.random_seed = 1; // deterministic freelist keys
  return cfg;
}

// The 8 raw bytes at p, which the heap may have poisoned (a free object under ASan).
std::uint64_t raw_word(const void* p) {
  km::unpoison(p, sizeof(std::uint64_t));
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  km::poison(p, sizeof(std::uint64_t));
  return v;
}

// ---- L14: the too-large object check

// kmem_cache_create must refuse an object whose stride exceeds the largest buddy block
// (2^(PAGE_SHIFT + MAX_ORDER) bytes): not even one object fits a slab. With 64 KiB pages and
// MAX_ORDER 15 the largest block is 2 GiB, and a size near UINT_MAX has a stride of 4 GiB: twice
// the largest block, which must still be refused (and not wrap to a stride of 0).
TEST(MutantSurvivors, CreateRefusesAStrideOfTwiceTheLargestBlock) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = 15;
  cfg.arena_size = 32u << 20;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  for (unsigned size : {0xffffffffu, 0xfffffff9u}) {
    SCOPED_TRACE(size);
    t.rec.clear();
    EXPECT_EQ(t.heap.kmem_cache_create("huge", size, 0, 0, nullptr), nullptr);
    EXPECT_EQ(t.rec.size(), 1u) << t.rec.dump();
    EXPECT_EQ(t.rec.count(ErrorKind::CacheCreateFailed), 1u) << t.rec.dump();
  }
  // A stride of exactly 2^32 from the alignment as well.
  t.rec.clear();
  EXPECT_EQ(t.heap.kmem_cache_create("huge", 0x80000001u, 0x80000000u, 0, nullptr), nullptr);
  EXPECT_EQ(t.rec.count(ErrorKind::CacheCreateFailed), 1u) << t.rec.dump();
  EXPECT_EQ(validate(t), 0u);
}

// With 64 KiB pages and MAX_ORDER 16 the largest block is 4 GiB, so a stride of exactly 2^32
// passes the block check but does not fit kmem_cache::size (an unsigned int): it must be refused,
// not wrap to 0 and divide by it (the SIGFPE found while killing L14).
TEST(SlabLayoutLimits, CreateRefusesAStrideOfFourGiB) {
  km::Config cfg;
  cfg.page_shift = 16;
  cfg.max_order = 16;
  cfg.arena_size = 32u << 20;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.heap.kmem_cache_create("huge", 0xffffffffu, 0, 0, nullptr), nullptr);
  EXPECT_EQ(t.rec.size(), 1u) << t.rec.dump();
  EXPECT_EQ(t.rec.count(ErrorKind::CacheCreateFailed), 1u) << t.rec.dump();
  EXPECT_EQ(validate(t), 0u);
}

// ---- S01: the per-cache random of the hardened freelist pointer

// CONFIG_SLAB_FREELIST_HARDENED stores a free pointer as ptr ^ s->random ^ swab(ptr_addr), where
// ptr_addr is the address the pointer is stored at and s->random is a per-cache random
// (get_random_long() at cache creation). So raw ^ ptr ^ swab(ptr_addr) is the cache's key: the
// same for every free pointer of one cache, different between two caches, and not 0.
std::uint64_t freelist_key(km::Heap& heap, kmem_cache* c) {
  const unsigned offset = heap.cache_info(c).offset;
  void* x = heap.kmem_cache_alloc(c, GFP_KERNEL);
  void* y = heap.kmem_cache_alloc(c, GFP_KERNEL);
  EXPECT_NE(x, nullptr);
  EXPECT_NE(y, nullptr);
  if (x == nullptr || y == nullptr)
    return 0;
  // Both on this cpu's slab: after these frees y's free pointer is x.
  heap.kmem_cache_free(c, x);
  heap.kmem_cache_free(c, y);
  const auto* where = static_cast<const unsigned char*>(y) + offset;
  return raw_word(where) ^ addr(x) ^ __builtin_bswap64(addr(where));
}

TEST(MutantSurvivors, HardenedFreelistKeyIsPerCache) {
  km::Config cfg = small_config();
  cfg.freelist_hardened = true;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  kmem_cache* a = t.heap.kmem_cache_create("key-a", 64, 0, 0, nullptr);
  kmem_cache* b = t.heap.kmem_cache_create("key-b", 64, 0, 0, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::uint64_t key_a = freelist_key(t.heap, a);
  const std::uint64_t key_b = freelist_key(t.heap, b);
  // Consistent within a cache: the key of a second pair of free pointers is the same.
  EXPECT_EQ(freelist_key(t.heap, a), key_a);
  EXPECT_EQ(freelist_key(t.heap, b), key_b);
  EXPECT_NE(key_a, 0u) << "the free pointer is not keyed by a random";
  EXPECT_NE(key_b, 0u) << "the free pointer is not keyed by a random";
  EXPECT_NE(key_a, key_b) << "two caches encode the same free pointer the same way";
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(validate(t), 0u);
}

// ---- S34, S39: the kernel's own double-free checks, should the allocation bitmap miss one

// The allocation bitmap is this allocator's addition; the kernel detects a double free by
// set_freepointer's naive check (CONFIG_SLAB_FREELIST_HARDENED: BUG_ON(object == fp), the object
// is the head of the list it would join) and, with SLAB_CONSISTENCY_CHECKS, by on_freelist()
// ("Object already free"), which walks the slab's freelist and the cpu freelist. These tests
// damage the bitmap (the freed object's bit set again) so only those checks can catch the second
// free: it must be reported as ObjectDoubleFree and refused, leaving the freelists acyclic.

// Frees obj a second time with its bitmap bit set, expects one ObjectDoubleFree report, then
// repairs the bit and checks the heap.
// Flips obj's bit in the allocation bitmap (HeapState's metadata layout).
void flip_live_bit(km::Heap& heap, const void* obj) {
  km::HeapState* state = heap.state_for_testing();
  const km::MetadataLayout l = km::metadata_layout(state->npages, state->config);
  auto* bitmap = reinterpret_cast<std::uint64_t*>(state->start + l.live_bitmap);
  const std::size_t bit = (addr(obj) - state->start) / 8; // one bit per 8 bytes of arena
  bitmap[bit / 64] ^= std::uint64_t{1} << (bit % 64);
}

void expect_second_free_caught(RecordingHeap& t, kmem_cache* c, void* obj) {
  const km::SlabAllocator& sa = t.heap.state_for_testing()->slabs;
  ASSERT_FALSE(sa.object_live(obj));
  flip_live_bit(t.heap, obj); // the damage: the bitmap says obj is allocated
  ASSERT_TRUE(sa.object_live(obj));
  t.rec.clear();
  t.heap.kmem_cache_free(c, obj);
  EXPECT_EQ(t.rec.size(), 1u) << t.rec.dump();
  ASSERT_EQ(t.rec.count(ErrorKind::ObjectDoubleFree), 1u) << t.rec.dump();
  EXPECT_NE(t.rec.reports[0].message.find("Object already free"), std::string::npos)
      << t.rec.dump();
  EXPECT_EQ(t.rec.reports[0].address, addr(obj));
  flip_live_bit(t.heap, obj); // the repair: obj is free
  ASSERT_FALSE(sa.object_live(obj));
  EXPECT_EQ(validate(t), 0u);
}

// S39, local: the object is the head of this cpu's freelist.
TEST(MutantSurvivors, HardenedNaiveCheckCatchesCpuFreelistHead) {
  km::Config cfg = small_config();
  cfg.freelist_hardened = true;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("naive", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  void* x = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(x, nullptr);
  t.heap.kmem_cache_free(c, x);
  ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
  expect_second_free_caught(t, c, x);
  // The cache still works and hands x out once.
  EXPECT_EQ(t.heap.kmem_cache_alloc(c, GFP_KERNEL), x);
  EXPECT_NE(t.heap.kmem_cache_alloc(c, GFP_KERNEL), x);
}

// S39, remote: freed from another cpu, the object is the head of the slab's freelist.
TEST(MutantSurvivors, HardenedNaiveCheckCatchesSlabFreelistHead) {
  km::Config cfg = small_config();
  cfg.freelist_hardened = true;
  cfg.nr_cpus = 2;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("naive-remote", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  t.heap.set_cpu(0);
  void* x = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(x, nullptr);
  t.heap.set_cpu(1);
  t.heap.kmem_cache_free(c, x);
  ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
  expect_second_free_caught(t, c, x);
}

// S34: SLAB_CONSISTENCY_CHECKS finds an object deep in the cpu freelist (not its head, so the
// naive check cannot see it).
TEST(MutantSurvivors, ConsistencyChecksSearchTheCpuFreelist) {
  for (bool hardened : {false, true}) {
    SCOPED_TRACE(hardened ? "hardened" : "not hardened");
    km::Config cfg = small_config();
    cfg.freelist_hardened = hardened;
    RecordingHeap t(cfg);
    ASSERT_TRUE(t.ok);
    kmem_cache* c = t.heap.kmem_cache_create("checked", 64, 0, SLAB_CONSISTENCY_CHECKS, nullptr);
    ASSERT_NE(c, nullptr);
    void* x = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
    void* y = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(x, nullptr);
    ASSERT_NE(y, nullptr);
    t.heap.kmem_cache_free(c, x);
    t.heap.kmem_cache_free(c, y); // the cpu freelist is now y -> x -> ...
    ASSERT_EQ(t.rec.size(), 0u) << t.rec.dump();
    expect_second_free_caught(t, c, x);
  }
}

// ---- S49: a misaligned kmem_cache pointer

// A pointer a few bytes off a live cache handle is not a live cache, whatever the bytes it
// would be read as hold: cache_info() gives the all-zero "(not a live cache)" answer, and the
// calls that take a cache report InvalidCache and do nothing.
TEST(MutantSurvivors, MisalignedCachePointerIsNotACache) {
  RecordingHeap t(small_config());
  ASSERT_TRUE(t.ok);
  kmem_cache* c = t.heap.kmem_cache_create("first", 64, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  // The neighbouring descriptor's name is chosen so that, read a few bytes off, it looks like a
  // live descriptor of c's handle (nonzero bytes, then the handle's tag bits): only the
  // alignment of the pointer tells the two apart.
  const auto tag = static_cast<unsigned>(addr(c) >> 48);
  ASSERT_TRUE(tag < 0x10000 && (tag == 0 || (tag & 0xff) != 0)) << tag;
  const char name[] = {'m', 'm', static_cast<char>(tag & 0xff), static_cast<char>(tag >> 8), 0};
  kmem_cache* neighbour = t.heap.kmem_cache_create(name, 64, 0, 0, nullptr);
  ASSERT_NE(neighbour, nullptr);
  void* obj = t.heap.kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  constexpr long kStride = static_cast<long>(sizeof(kmem_cache));
  const auto shifted = [&](long off) {
    return reinterpret_cast<kmem_cache*>(static_cast<std::intptr_t>(addr(c)) + off);
  };
  for (long off = -(kStride - 1); off < 2 * kStride; ++off) {
    if (off % kStride == 0)
      continue; // c itself, and (with c's tag) its neighbour's handle
    SCOPED_TRACE(off);
    const km::CacheInfo ci = t.heap.cache_info(shifted(off));
    ASSERT_STREQ(ci.name, "(not a live cache)");
    ASSERT_EQ(ci.size, 0u);
    ASSERT_EQ(ci.objects_per_slab, 0u);
  }
  for (long off : {-2L, -1L, 1L, 8L, kStride / 2}) {
    SCOPED_TRACE(off);
    t.rec.clear();
    EXPECT_EQ(t.heap.kmem_cache_alloc(shifted(off), GFP_KERNEL), nullptr);
    t.heap.kmem_cache_free(shifted(off), obj);
    t.heap.kmem_cache_destroy(shifted(off));
    EXPECT_EQ(t.rec.size(), 3u) << t.rec.dump();
    EXPECT_EQ(t.rec.count(ErrorKind::InvalidCache), 3u) << t.rec.dump();
  }
  // The real caches are untouched: obj is still allocated and frees once.
  t.rec.clear();
  EXPECT_STREQ(t.heap.cache_info(c).name, "first");
  EXPECT_STREQ(t.heap.cache_info(neighbour).name, name);
  t.heap.kmem_cache_free(c, obj);
  EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  EXPECT_EQ(validate(t), 0u);
}

// ---- K08: kmalloc-96 exists iff KMALLOC_MIN_SIZE <= 32

// At KMALLOC_MIN_SIZE 32 exactly (arm64-like ARCH_KMALLOC_MINALIGN) the 96-byte caches exist,
// and they do not take any of the Config::max_caches descriptors kmem_cache_create may use.
TEST(MutantSurvivors, MinSize32KeepsThe96CachesAndAllUserDescriptors) {
  for (km::Profile profile : {km::Profile::Linux6, km::Profile::Linux4Slab}) {
    SCOPED_TRACE(km::profile_name(profile));
    km::Config cfg = small_config();
    cfg.profile = profile;
    cfg.kmalloc_min_size = 32;
    cfg.max_caches = 4;
    RecordingHeap t(cfg);
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(t.heap.kmalloc_index(96), 1);
    const kmem_cache* k96 = t.heap.kmalloc_cache(96, GFP_KERNEL);
    ASSERT_NE(k96, nullptr);
    EXPECT_STREQ(t.heap.cache_info(k96).name, "kmalloc-96");
    const kmem_cache* d96 = t.heap.kmalloc_cache(96, GFP_KERNEL | __GFP_DMA);
    ASSERT_NE(d96, nullptr);
    EXPECT_STREQ(t.heap.cache_info(d96).name, "dma-kmalloc-96");
    void* p = t.heap.kmalloc(96, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(t.heap.ksize(p), 96u);
    t.heap.kfree(p);
    for (unsigned i = 0; i < cfg.max_caches; ++i) {
      SCOPED_TRACE(i);
      EXPECT_NE(t.heap.kmem_cache_create("user", 40, 0, 0, nullptr), nullptr) << t.rec.dump();
    }
    EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
    EXPECT_EQ(validate(t), 0u);
  }
}

// ---- K30: kfree of a pointer into a slab's tail

// A slab whose size is not a multiple of the stride ends with unused bytes. A pointer there at
// a stride multiple (one past the last object) is not an object: kfree reports it as an invalid
// object pointer ("Invalid object pointer"), frees nothing, and the heap stays valid.
TEST(MutantSurvivors, KfreeIntoTheSlabTailIsAnInvalidPointer) {
  km::Config cfg = small_config();
  cfg.profile = km::Profile::Linux6;
  RecordingHeap t(cfg);
  ASSERT_TRUE(t.ok);
  for (std::size_t size : {96u, 192u}) {
    SCOPED_TRACE(size);
    const kmem_cache* c = t.heap.kmalloc_cache(size, GFP_KERNEL);
    ASSERT_NE(c, nullptr);
    const km::CacheInfo ci = t.heap.cache_info(c);
    void* p = t.heap.kmalloc(size, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const km::SlabObject so = t.heap.slab_object(p);
    ASSERT_EQ(so.cache, c);
    const std::size_t slab_bytes = t.heap.page_size() << ci.order;
    const std::uintptr_t tail = so.slab + std::size_t{ci.objects_per_slab} * ci.size;
    ASSERT_LT(tail, so.slab + slab_bytes) << "no tail to point into";
    t.rec.clear();
    t.heap.kfree(reinterpret_cast<void*>(tail));
    EXPECT_EQ(t.rec.size(), 1u) << t.rec.dump();
    EXPECT_EQ(t.rec.count(ErrorKind::InvalidObjectPointer), 1u) << t.rec.dump();
    EXPECT_EQ(validate(t), 0u);
    t.rec.clear();
    t.heap.kfree(p);
    EXPECT_EQ(t.rec.size(), 0u) << t.rec.dump();
  }
  EXPECT_EQ(validate(t), 0u);
}

} // namespace
