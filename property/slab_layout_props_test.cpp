// property/slab_layout_props_test.cpp - the slab layer's layout rules, through the public API
// only (kmem_cache_create, Heap::cache_info, Heap::slab_object, page_info).
//
// The expected values are computed here from linux-facts.md, independently of allocator/src:
//   calculate_alignment (section 3): SLAB_HWCACHE_ALIGN starts at the cache line and halves
//     while the object fits in half of it; then at least ARCH_SLAB_MINALIGN (8), pointer-aligned.
//   stride (section 4.4): ALIGN(ALIGN(object_size, sizeof(void*)), align) without ctor or debug.
//   calculate_order (section 4.3, Linux 6.8), min_partial (section 4.2).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "kmalloc/slab.h"
#include "property_support.h"

namespace {

using km::property::hex;
using km::property::ReportLog;
namespace gen = rc::gen;

constexpr unsigned kMaxObjsPerSlab = 32767; // slab->objects is 15 bits
constexpr unsigned kPointerSize = 8;

// ---- the kernel's worked numbers (linux-facts.md 4.3): 8 CPUs, 4 KiB pages

struct KernelRow {
  unsigned size;
  unsigned objects;
  unsigned order;
};

TEST(SlabLayout, KmallocCachesMatchKernelSlabinfo) {
  constexpr KernelRow kRows[] = {
      {8, 512, 0},   {16, 256, 0}, {32, 128, 0}, {64, 64, 0},  {96, 42, 0},
      {128, 32, 0},  {192, 21, 0}, {256, 32, 1}, {512, 32, 2}, {1024, 32, 3},
      {2048, 16, 3}, {4096, 8, 3}, {8192, 4, 3},
  };
  km::Config cfg;
  cfg.page_shift = 12;
  cfg.nr_cpus = 8;
  cfg.arena_size = std::size_t{8} << 20;
  cfg.dma_zone_size = 0;
  km::Heap heap;
  const km::Status st = heap.init(cfg);
  ASSERT_TRUE(st.ok) << st.message;
  ReportLog log;
  log.install(heap);
  for (const KernelRow& row : kRows) {
    SCOPED_TRACE("kmalloc-" + std::to_string(row.size));
    const std::string name = "kmalloc-" + std::to_string(row.size);
    kmem_cache* cache = heap.kmem_cache_create(name.c_str(), row.size, 0, 0, nullptr);
    ASSERT_NE(cache, nullptr) << log.text();
    const km::CacheInfo info = heap.cache_info(cache);
    EXPECT_EQ(info.size, row.size);
    EXPECT_EQ(info.objects_per_slab, row.objects);
    EXPECT_EQ(info.order, row.order);
    // The first slab is allocated at the preferred order.
    void* obj = heap.kmem_cache_alloc(cache, GFP_KERNEL);
    ASSERT_NE(obj, nullptr);
    const km::PageInfo page = heap.page_info(obj);
    EXPECT_EQ(page.owner, km::PageOwner::Slab);
    EXPECT_EQ(page.order, row.order);
    heap.kmem_cache_free(cache, obj);
    heap.kmem_cache_destroy(cache);
  }
  EXPECT_TRUE(log.empty()) << log.text();
  EXPECT_EQ(heap.page_counts().slab, 0u);
}

// ---- the rules, independently

unsigned fls(unsigned x) {
  unsigned n = 0;
  for (; x != 0; x >>= 1)
    ++n;
  return n;
}

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  return (x + a - 1) / a * a;
}

// Pointers to the opaque kmem_cache as numbers (RapidCheck cannot print the struct).
std::uintptr_t addr_of(const kmem_cache* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

bool is_pow2(std::uint64_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

unsigned plain_get_order(std::uint64_t size, unsigned page_shift) {
  unsigned order = 0;
  while ((std::uint64_t{1} << (page_shift + order)) < size)
    ++order;
  return order;
}

// Largest power of two <= cache line such that the object is bigger than half of it.
unsigned hwcache_align(unsigned size, unsigned cache_line) {
  unsigned ralign = cache_line;
  while (size <= ralign / 2)
    ralign /= 2;
  return ralign;
}

struct SlabCase {
  unsigned size = 8;
  unsigned align = 0; // 0 or a power of two
  bool hwcache = false;
  unsigned nr_cpus = 8;
  unsigned page_shift = 12;
  unsigned cache_line = 64;
  unsigned slub_min_order = 0;
  unsigned slub_max_order = 3;
  unsigned slub_min_objects = 0;
};

std::ostream& operator<<(std::ostream& os, const SlabCase& c) {
  return os << "SlabCase{size=" << c.size << ", align=" << c.align
            << (c.hwcache ? ", SLAB_HWCACHE_ALIGN" : "") << ", nr_cpus=" << c.nr_cpus
            << ", page_shift=" << c.page_shift << ", cache_line=" << c.cache_line
            << ", slub_min_order=" << c.slub_min_order << ", slub_max_order=" << c.slub_max_order
            << ", slub_min_objects=" << c.slub_min_objects << "}";
}

rc::Gen<SlabCase> gen_slab_case() {
  return gen::exec([] {
    SlabCase c;
    c.size = *gen::weightedOneOf<unsigned>({{2, gen::inRange(1u, 16385u)},
                                            {1, gen::inRange(1u, 257u)},
                                            {1, gen::inRange(2048u, 16385u)},
                                            {1, gen::exec([] {
                                               const unsigned p = 1u << *gen::inRange(0u, 15u);
                                               return std::max(1u, p + *gen::element(-1, 0, 1));
                                             })}});
    c.align = *gen::weightedOneOf<unsigned>(
        {{2, gen::just(0u)},
         {1, gen::map(gen::inRange(0u, 13u), [](unsigned k) { return 1u << k; })}});
    c.hwcache = *gen::element(false, true);
    c.nr_cpus = *gen::inRange(1u, 65u);
    c.page_shift = *gen::element(12u, 14u, 16u);
    c.cache_line = *gen::weightedElement<unsigned>({{4, 64u}, {1, 32u}, {1, 128u}});
    // Mostly the kernel defaults; sometimes the slab_{min,max}_order / min_objects knobs.
    c.slub_max_order = *gen::weightedElement<unsigned>({{4, 3u}, {1, 0u}, {1, 1u}, {1, 5u}});
    c.slub_min_order = *gen::weightedOneOf<unsigned>(
        {{4, gen::just(0u)}, {1, gen::inRange(0u, c.slub_max_order + 1)}});
    c.slub_min_objects = *gen::weightedElement<unsigned>({{4, 0u}, {1, 1u}, {1, 64u}});
    return c;
  });
}

unsigned expected_alignment(const SlabCase& c) {
  unsigned align = c.align;
  if (c.hwcache)
    align = std::max(align, hwcache_align(c.size, c.cache_line));
  align = std::max(align, 8u);
  return static_cast<unsigned>(align_up(align, kPointerSize));
}

std::uint64_t order_objects(unsigned order, unsigned size, unsigned page_shift) {
  return (std::uint64_t{1} << (page_shift + order)) / size;
}

// mm/slub.c calculate_order (6.8), for a stride `size`; -1 when even get_order(size) is above
// max_order (cache creation fails).
int expected_order(unsigned size, const SlabCase& c, unsigned max_order) {
  std::uint64_t min_objects =
      c.slub_min_objects != 0 ? c.slub_min_objects : 4 * (fls(c.nr_cpus) + 1);
  const std::uint64_t max_objects =
      std::max<std::uint64_t>(order_objects(c.slub_max_order, size, c.page_shift), 1);
  min_objects = std::min(min_objects, max_objects);
  const unsigned min_order =
      std::max(c.slub_min_order, plain_get_order(min_objects * size, c.page_shift));
  if (order_objects(min_order, size, c.page_shift) > kMaxObjsPerSlab)
    return static_cast<int>(plain_get_order(std::uint64_t{size} * kMaxObjsPerSlab, c.page_shift)) -
           1;
  for (unsigned fraction = 16; fraction > 1; fraction /= 2)
    for (unsigned order = min_order; order <= c.slub_max_order; ++order) {
      const std::uint64_t slab = std::uint64_t{1} << (c.page_shift + order);
      if (slab % size <= slab / fraction)
        return static_cast<int>(order);
    }
  const unsigned order = plain_get_order(size, c.page_shift);
  return order <= max_order ? static_cast<int>(order) : -1;
}

// A heap for one case, and the cache under test.
struct SlabHeap {
  km::Config cfg;
  km::Heap heap;
  ReportLog log;
  kmem_cache* cache = nullptr;
  km::CacheInfo info{};

  explicit SlabHeap(const SlabCase& c) {
    cfg.page_shift = c.page_shift;
    cfg.nr_cpus = c.nr_cpus;
    cfg.cache_line_size = c.cache_line;
    cfg.slub_min_order = c.slub_min_order;
    cfg.slub_max_order = c.slub_max_order;
    cfg.slub_min_objects = c.slub_min_objects;
    cfg.max_caches = 4;
    cfg.arena_size = std::size_t{256} << c.page_shift;
    cfg.dma_zone_size = 0;
    cfg.random_seed = 1;
    const km::Status st = heap.init(cfg);
    if (!st.ok)
      RC_FAIL(std::string("heap init failed: ") + st.message);
    log.install(heap);
    cache = heap.kmem_cache_create("property", c.size, c.align, c.hwcache ? SLAB_HWCACHE_ALIGN : 0u,
                                   nullptr);
    if (cache == nullptr)
      RC_FAIL("kmem_cache_create failed:\n" + log.text());
    info = heap.cache_info(cache);
  }
};

// Every stride up to 16 KiB (every size rounds to a multiple of 8), for several page sizes,
// CPU counts and slub_max_order values: the order and object count calculate_order gives.
TEST(SlabLayout, OrderMatchesCalculateOrderForEveryStride) {
  for (unsigned page_shift : {12u, 14u, 16u})
    for (unsigned nr_cpus : {1u, 4u, 8u, 64u})
      for (unsigned slub_max_order : {1u, 3u}) {
        SlabCase c;
        c.page_shift = page_shift;
        c.nr_cpus = nr_cpus;
        c.slub_max_order = slub_max_order;
        km::Config cfg;
        cfg.page_shift = page_shift;
        cfg.nr_cpus = nr_cpus;
        cfg.slub_max_order = slub_max_order;
        cfg.max_caches = 1;
        cfg.arena_size = std::size_t{64} << page_shift;
        cfg.dma_zone_size = 0;
        km::Heap heap;
        const km::Status st = heap.init(cfg);
        ASSERT_TRUE(st.ok) << st.message;
        ReportLog log;
        log.install(heap);
        for (unsigned size = 8; size <= 16384; size += 8) {
          kmem_cache* cache = heap.kmem_cache_create("sweep", size, 0, 0, nullptr);
          ASSERT_NE(cache, nullptr) << log.text();
          const km::CacheInfo info = heap.cache_info(cache);
          heap.kmem_cache_destroy(cache);
          c.size = size;
          const int want = expected_order(size, c, cfg.max_order);
          if (info.size != size || static_cast<int>(info.order) != want ||
              info.objects_per_slab != order_objects(info.order, size, page_shift)) {
            ADD_FAILURE() << c << ": stride " << info.size << " order " << info.order << " ("
                          << info.objects_per_slab << " objects), calculate_order says order "
                          << want;
            break;
          }
        }
        EXPECT_TRUE(log.empty()) << log.text();
      }
}

// calculate_alignment: a power of two >= 8 and >= the requested align; with
// SLAB_HWCACHE_ALIGN at least the halved cache line; exactly the kernel's value.
RC_GTEST_PROP(SlabLayoutProps, AlignmentFollowsCalculateAlignment, ()) {
  const SlabCase c = *gen_slab_case();
  SlabHeap h(c);
  RC_ASSERT(is_pow2(h.info.align));
  RC_ASSERT(h.info.align >= 8u);
  RC_ASSERT(h.info.align >= c.align);
  if (c.hwcache)
    RC_ASSERT(h.info.align >= hwcache_align(c.size, c.cache_line));
  RC_ASSERT(h.info.align == expected_alignment(c));
  RC_CLASSIFY(c.hwcache, "SLAB_HWCACHE_ALIGN");
  RC_CLASSIFY(c.align > 8, "align > 8");
}

// Stride, objects per slab and order: the stride is a multiple of align and holds the object;
// objects_per_slab == (PAGE_SIZE << order) / size <= 32767; the order stays within
// slub_max_order unless get_order(size) is above it; exactly calculate_order's value.
RC_GTEST_PROP(SlabLayoutProps, StrideAndOrderFollowCalculateOrder, ()) {
  const SlabCase c = *gen_slab_case();
  SlabHeap h(c);
  const km::CacheInfo& info = h.info;
  RC_ASSERT(info.object_size == c.size);
  RC_ASSERT(info.size % info.align == 0u);
  RC_ASSERT(info.size >= c.size);
  RC_ASSERT(info.size == align_up(align_up(c.size, kPointerSize), info.align));
  RC_ASSERT(info.objects_per_slab == order_objects(info.order, info.size, c.page_shift));
  RC_ASSERT(info.objects_per_slab >= 1u);
  RC_ASSERT(info.objects_per_slab <= kMaxObjsPerSlab);
  const unsigned min_order = plain_get_order(info.size, c.page_shift);
  if (min_order <= c.slub_max_order)
    RC_ASSERT(info.order <= c.slub_max_order);
  else
    RC_ASSERT(info.order == min_order);
  RC_ASSERT(info.min_order == min_order);
  RC_ASSERT(static_cast<int>(info.order) == expected_order(info.size, c, h.cfg.max_order));
  const unsigned ilog2 = fls(info.size) - 1;
  RC_ASSERT(info.min_partial == std::clamp(ilog2 / 2, 5u, 10u));
  RC_TAG(info.order == 0 ? "order 0" : info.order <= 3 ? "order 1-3" : "order 4+");
}

// Every object kmem_cache_alloc returns is aligned to info.align, starts at
// slab_base + i * size (Heap::slab_object) inside a naturally aligned slab, and keeps its
// bytes while the others are written. Freeing everything and destroying the cache returns
// every slab page.
RC_GTEST_PROP(SlabLayoutProps, ObjectsLieAtAlignedStrides, ()) {
  const SlabCase c = *gen_slab_case();
  SlabHeap h(c);
  const km::CacheInfo& info = h.info;
  const std::string buddy_before = km::property::buddyinfo_text(h.heap);
  // A bit over two slabs' worth, at most 256 objects.
  const std::size_t count = std::min<std::size_t>(2 * std::size_t{info.objects_per_slab} + 1, 256);
  std::vector<unsigned char*> objects;
  std::set<std::uintptr_t> slabs;
  for (std::size_t i = 0; i < count; ++i) {
    auto* obj = static_cast<unsigned char*>(h.heap.kmem_cache_alloc(h.cache, GFP_KERNEL));
    if (obj == nullptr)
      RC_FAIL("kmem_cache_alloc #" + std::to_string(i) + " returned NULL\n" + h.log.text());
    const auto addr = reinterpret_cast<std::uintptr_t>(obj);
    RC_ASSERT(addr % info.align == 0u);
    const km::SlabObject so = h.heap.slab_object(obj);
    RC_ASSERT(addr_of(so.cache) == addr_of(h.cache));
    RC_ASSERT(so.object == addr);
    RC_ASSERT(so.slab + std::uintptr_t{so.index} * info.size == addr);
    const km::PageInfo page = h.heap.page_info(obj);
    RC_ASSERT(page.owner == km::PageOwner::Slab);
    RC_ASSERT(page.block == so.slab);
    RC_ASSERT(addr_of(page.cache) == addr_of(h.cache));
    const std::size_t slab_bytes = h.heap.page_size() << page.order;
    RC_ASSERT(so.slab % slab_bytes == 0u);
    RC_ASSERT(so.index < order_objects(page.order, info.size, c.page_shift));
    RC_ASSERT(addr + c.size <= so.slab + slab_bytes);
    std::memset(obj, static_cast<int>(i * 37 + 1), c.size);
    objects.push_back(obj);
    slabs.insert(so.slab);
  }
  for (std::size_t i = 0; i < objects.size(); ++i)
    for (std::size_t b = 0; b < c.size; ++b)
      if (objects[i][b] != static_cast<unsigned char>(i * 37 + 1))
        RC_FAIL("object #" + std::to_string(i) + " at " +
                hex(reinterpret_cast<std::uintptr_t>(objects[i])) + " byte " + std::to_string(b) +
                " was overwritten");
  RC_ASSERT(std::set<unsigned char*>(objects.begin(), objects.end()).size() == objects.size());
  RC_CLASSIFY(slabs.size() > 1, "several slabs");
  for (unsigned char* obj : objects)
    h.heap.kmem_cache_free(h.cache, obj);
  h.heap.kmem_cache_destroy(h.cache);
  if (!h.log.empty())
    RC_FAIL("unexpected reports:\n" + h.log.text());
  RC_ASSERT(h.heap.page_counts().slab == 0u);
  RC_ASSERT(km::property::buddyinfo_text(h.heap) == buddy_before);
  RC_ASSERT(h.heap.validate() == 0u);
}

} // namespace
