// slab_layout_test.cpp - the pure layout functions of the slab layer (slab/slab_layout.h):
// calculate_alignment, calculate_order and calculate_layout, against the numbers Linux 6.8
// mm/slub.c and mm/slab_common.c produce (linux-facts.md §3, §4.2-§4.4).
#include "slab/slab_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <vector>

namespace {

using km::calculate_alignment;
using km::calculate_layout;
using km::calculate_order;
using km::SlabLayout;
using km::SlabOrderParams;

// The kernel's x86-64 defaults: 4 KiB pages, MAX_PAGE_ORDER 10, slub_max_order 3.
SlabOrderParams params(unsigned nr_cpus = 8) {
  SlabOrderParams p{};
  p.page_shift = 12;
  p.max_order = 10;
  p.nr_cpus = nr_cpus;
  p.slub_min_order = 0;
  p.slub_max_order = 3;
  p.slub_min_objects = 0;
  p.cache_line_size = 64;
  return p;
}

SlabLayout layout_of(unsigned size, const SlabOrderParams& p, unsigned align = 0,
                     slab_flags_t flags = 0, bool ctor = false) {
  SlabLayout l{};
  EXPECT_TRUE(calculate_layout(size, align, flags, ctor, p, l)) << "size " << size;
  return l;
}

// ---- calculate_alignment (mm/slab_common.c)

TEST(SlabAlignment, HwcacheAlignHalvesWhileTheObjectFitsInHalf) {
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 20, 64), 32u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 8, 64), 8u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 100, 64), 64u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 64, 64), 64u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 33, 64), 64u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 32, 64), 32u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 16, 64), 16u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 1, 64), 8u); // ARCH_SLAB_MINALIGN
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 4096, 64), 64u);
}

TEST(SlabAlignment, HwcacheAlignFollowsTheCacheLineSize) {
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 100, 128), 128u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 20, 128), 32u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 20, 16), 16u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 100, 8), 8u);
}

TEST(SlabAlignment, ExplicitAlignIsKept) {
  EXPECT_EQ(calculate_alignment(0, 256, 20, 64), 256u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 256, 20, 64), 256u);
  EXPECT_EQ(calculate_alignment(SLAB_HWCACHE_ALIGN, 16, 100, 64), 64u); // the larger wins
  EXPECT_EQ(calculate_alignment(0, 16, 100, 64), 16u);
  EXPECT_EQ(calculate_alignment(0, 4096, 8, 64), 4096u);
}

TEST(SlabAlignment, WithoutFlagsAtLeastEight) {
  EXPECT_EQ(calculate_alignment(0, 0, 20, 64), 8u);
  EXPECT_EQ(calculate_alignment(0, 0, 1, 64), 8u);
  EXPECT_EQ(calculate_alignment(0, 0, 100, 64), 8u);
  EXPECT_EQ(calculate_alignment(0, 1, 100, 64), 8u);
  EXPECT_EQ(calculate_alignment(0, 4, 100, 64), 8u);
  EXPECT_EQ(calculate_alignment(0, 8, 100, 64), 8u);
  EXPECT_EQ(calculate_alignment(SLAB_CACHE_DMA | SLAB_PANIC, 0, 100, 64), 8u);
}

// ---- calculate_order / calculate_layout: the kernel's numbers

struct KernelRow {
  unsigned size;
  unsigned objects;
  unsigned order;
};

// /proc/slabinfo of a 6.8 kernel with 8 CPUs and 4 KiB pages (linux-facts.md §4.3).
const KernelRow kKernel8Cpus[] = {
    {8, 512, 0},   {16, 256, 0}, {32, 128, 0}, {64, 64, 0},  {96, 42, 0},
    {128, 32, 0},  {192, 21, 0}, {256, 32, 1}, {512, 32, 2}, {1024, 32, 3},
    {2048, 16, 3}, {4096, 8, 3}, {8192, 4, 3},
};

TEST(SlabOrder, KmallocCachesWithEightCpus) {
  const SlabOrderParams p = params(8);
  for (const KernelRow& row : kKernel8Cpus) {
    SCOPED_TRACE(row.size);
    EXPECT_EQ(calculate_order(row.size, p), static_cast<int>(row.order));
    const SlabLayout l = layout_of(row.size, p);
    EXPECT_EQ(l.size, row.size);
    EXPECT_EQ(l.objects, row.objects);
    EXPECT_EQ(l.order, row.order);
    EXPECT_EQ(l.min_order, 0u + (row.size > 4096 ? 1u : 0u)); // get_order(size)
    EXPECT_EQ(l.min_objects, (4096u << l.min_order) / row.size);
  }
}

// min_objects = 4 * (fls(nr_cpus) + 1): 1 cpu 8, 2 cpus 12, 4 cpus 16, 8 cpus 20, 16 cpus 24.
TEST(SlabOrder, MinObjectsFollowsTheCpuCount) {
  // 512-byte objects: 8 fit in order 0, 16 in order 1, 20 need order 2.
  EXPECT_EQ(calculate_order(512, params(1)), 0);
  EXPECT_EQ(calculate_order(512, params(2)), 1); // 12 * 512 = 6 KiB
  EXPECT_EQ(calculate_order(512, params(3)), 1); // fls(3) == 2: 12
  EXPECT_EQ(calculate_order(512, params(4)), 1);
  EXPECT_EQ(calculate_order(512, params(7)), 1); // fls(7) == 3: 16
  EXPECT_EQ(calculate_order(512, params(8)), 2);
  EXPECT_EQ(calculate_order(512, params(16)), 2); // 24 * 512 = 12 KiB
  // 256-byte objects: 8 and 16 fit in one page, 20 do not.
  EXPECT_EQ(calculate_order(256, params(1)), 0);
  EXPECT_EQ(calculate_order(256, params(4)), 0);
  EXPECT_EQ(calculate_order(256, params(7)), 0); // fls(7) == 3: 16 * 256 = 4 KiB exactly
  EXPECT_EQ(calculate_order(256, params(8)), 1); // fls(8) == 4: 20 * 256 = 5 KiB
  // 1 cpu: min_objects 8 exactly (8 * 1024 = 8 KiB, order 1); 4 cpus: 16 (16 KiB, order 2).
  EXPECT_EQ(calculate_order(1024, params(1)), 1);
  EXPECT_EQ(calculate_order(1024, params(4)), 2);
  EXPECT_EQ(calculate_order(1024, params(8)), 3);
  // 1 cpu kmalloc-256 and -512 are single pages (8 objects fit), 4 cpus -512 is order 1.
  EXPECT_EQ(layout_of(512, params(1)).objects, 8u);
  EXPECT_EQ(layout_of(512, params(4)).objects, 16u);
  EXPECT_EQ(layout_of(1024, params(1)).objects, 8u);
  EXPECT_EQ(layout_of(1024, params(4)).objects, 16u);
}

TEST(SlabOrder, SlubMinObjectsOverridesTheCpuRule) {
  SlabOrderParams p = params(8);
  p.slub_min_objects = 64;
  EXPECT_EQ(calculate_order(256, p), 2); // 64 * 256 = 16 KiB
  EXPECT_EQ(layout_of(256, p).objects, 64u);
  p.slub_min_objects = 1;
  EXPECT_EQ(calculate_order(256, p), 0);
  EXPECT_EQ(calculate_order(1024, p), 0);
  EXPECT_EQ(calculate_order(8192, p), 1); // get_order(size) is the floor
  // min_objects is capped by what fits in slub_max_order: 1000 objects of 1 KiB do not.
  p.slub_min_objects = 1000;
  EXPECT_EQ(calculate_order(1024, p), 3);
  EXPECT_EQ(layout_of(1024, p).objects, 32u);
}

TEST(SlabOrder, SlubMinOrderRaisesTheOrder) {
  SlabOrderParams p = params(8);
  p.slub_min_order = 2;
  EXPECT_EQ(calculate_order(8, p), 2);
  EXPECT_EQ(layout_of(8, p).objects, 2048u);
  EXPECT_EQ(layout_of(8, p).min_order, 0u); // the fallback is still get_order(size)
  EXPECT_EQ(calculate_order(64, p), 2);
  EXPECT_EQ(calculate_order(2048, p), 3); // above slub_min_order already
}

TEST(SlabOrder, SlubMaxOrderCapsTheOrder) {
  SlabOrderParams p = params(8);
  p.slub_max_order = 0;
  EXPECT_EQ(calculate_order(1024, p), 0); // max_objects = 4
  EXPECT_EQ(layout_of(1024, p).objects, 4u);
  EXPECT_EQ(calculate_order(256, p), 0);
  EXPECT_EQ(layout_of(256, p).objects, 16u);
  // An object larger than the slub_max_order slab still gets get_order(size).
  EXPECT_EQ(calculate_order(8192, p), 1);
  EXPECT_EQ(layout_of(8192, p).objects, 1u);
  p.slub_max_order = 1;
  EXPECT_EQ(calculate_order(1024, p), 1);
  EXPECT_EQ(calculate_order(16384, p), 2);
}

// Leftover fractions: 16, then 8, 4, 2; the first order that wastes little enough wins.
TEST(SlabOrder, LeftoverFractionLoop) {
  const SlabOrderParams p = params(8);
  // 3000 bytes: 10 objects need 32 KiB (order 3), leftover 2768 > 32K/16 but <= 32K/8.
  EXPECT_EQ(calculate_order(3000, p), 3);
  EXPECT_EQ(layout_of(3000, p).objects, 10u);
  // 1000 bytes: min_order 3 (20 KB); 32768 % 1000 = 768 <= 2048.
  EXPECT_EQ(calculate_order(1000, p), 3);
  // 200 bytes: order 0 leaves 96 of 4096 (<= 256).
  EXPECT_EQ(calculate_order(200, p), 0);
  EXPECT_EQ(layout_of(200, p).objects, 20u);
  // 5000 bytes: max_objects 6 -> order 3 leaves 2768 (<= 4096 at fraction 8).
  EXPECT_EQ(calculate_order(5000, p), 3);
  EXPECT_EQ(layout_of(5000, p).objects, 6u);
}

// order_objects(min_order, size) above MAX_OBJS_PER_PAGE (32767): get_order(size * 32767) - 1.
TEST(SlabOrder, MaxObjsPerPageCap) {
  SlabOrderParams p = params(8);
  p.slub_min_order = 8; // 1 MiB of 8-byte objects = 131072
  EXPECT_EQ(calculate_order(8, p), 5);
  const SlabLayout l = layout_of(8, p);
  EXPECT_EQ(l.order, 5u);
  EXPECT_EQ(l.objects, 16384u);
  EXPECT_LE(l.objects, km::kMaxObjsPerPage);
  // 64 KiB pages: one order-2 slab of 8-byte objects would hold 32768.
  SlabOrderParams q = params(8);
  q.page_shift = 16;
  q.max_order = 6;
  q.slub_min_order = 2;
  EXPECT_EQ(calculate_order(8, q), 1);
  EXPECT_EQ(layout_of(8, q).objects, 16384u);
  // Without the cap nothing changes: 64 KiB pages, 8 bytes, order 0 holds 8192.
  q.slub_min_order = 0;
  EXPECT_EQ(calculate_order(8, q), 0);
  EXPECT_EQ(layout_of(8, q).objects, 8192u);
}

TEST(SlabOrder, TooLargeForMaxOrderFails) {
  SlabOrderParams p = params(8);
  p.max_order = 4; // 64 KiB blocks
  EXPECT_EQ(calculate_order(65536, p), 4);
  EXPECT_EQ(calculate_order(65537, p), -1);
  SlabLayout l{};
  EXPECT_TRUE(calculate_layout(65536, 0, 0, false, p, l));
  EXPECT_EQ(l.objects, 1u);
  EXPECT_EQ(l.order, 4u);
  EXPECT_FALSE(calculate_layout(65537, 0, 0, false, p, l));
  // The free pointer after the object pushes a 64 KiB object over the edge.
  EXPECT_FALSE(calculate_layout(65536, 0, 0, true, p, l));
  // Alignment can too: 40 KiB aligned to 64 KiB fits, aligned to 128 KiB does not.
  EXPECT_TRUE(calculate_layout(40000, 65536, 0, false, p, l));
  EXPECT_FALSE(calculate_layout(40000, 131072, 0, false, p, l));
  // Default MAX_ORDER 10: 4 MiB is the largest object.
  const SlabOrderParams d = params(8);
  EXPECT_EQ(calculate_order(4u << 20, d), 10);
  EXPECT_EQ(calculate_order((4u << 20) + 8, d), -1);
  EXPECT_FALSE(calculate_layout(0, 0, 0, false, d, l));
}

// Sizes near UINT_MAX must fail cleanly, not wrap the stride to 0 and divide by it.
TEST(SlabOrder, HugeSizesDoNotOverflow) {
  const SlabOrderParams p = params(8);
  SlabLayout l{};
  for (unsigned size : {0x80000000u, 0xfffffff0u, 0xfffffff8u, 0xfffffff9u, 0xffffffffu}) {
    SCOPED_TRACE(size);
    EXPECT_FALSE(calculate_layout(size, 0, 0, false, p, l));
    EXPECT_FALSE(calculate_layout(size, 0, 0, true, p, l));
    EXPECT_FALSE(calculate_layout(size, 0, SLAB_HWCACHE_ALIGN, false, p, l));
  }
  // The alignment rounds the stride past 32 bits.
  EXPECT_FALSE(calculate_layout(0x80000001u, 0x80000000u, 0, false, p, l));
  EXPECT_FALSE(calculate_layout(0x80000000u, 0x80000000u, 0, true, p, l));
}

// An independent statement of calculate_order from linux-facts.md §4.3, swept over sizes and
// cpu counts; the kernel numbers above pin it, this catches the cases between them.
int reference_order(unsigned size, const SlabOrderParams& p) {
  const auto slab_bytes = [&](unsigned order) {
    return std::uint64_t{1} << (p.page_shift + order);
  };
  const auto order_for = [&](std::uint64_t bytes) {
    unsigned order = 0;
    while (slab_bytes(order) < bytes)
      ++order;
    return order;
  };
  unsigned fls = 0;
  while ((p.nr_cpus >> fls) != 0)
    ++fls;
  std::uint64_t min_objects = p.slub_min_objects != 0 ? p.slub_min_objects : 4 * (fls + 1);
  std::uint64_t max_objects = slab_bytes(p.slub_max_order) / size;
  if (max_objects == 0)
    max_objects = 1;
  if (min_objects > max_objects)
    min_objects = max_objects;
  unsigned min_order = order_for(min_objects * size);
  if (p.slub_min_order > min_order)
    min_order = p.slub_min_order;
  if (slab_bytes(min_order) / size > 32767)
    return static_cast<int>(order_for(std::uint64_t{size} * 32767)) - 1;
  for (unsigned fraction : {16u, 8u, 4u, 2u})
    for (unsigned order = min_order; order <= p.slub_max_order; ++order)
      if (slab_bytes(order) % size <= slab_bytes(order) / fraction)
        return static_cast<int>(order);
  const unsigned order = order_for(size);
  return order <= p.max_order ? static_cast<int>(order) : -1;
}

TEST(SlabOrder, MatchesTheSpecificationAcrossSizesAndCpus) {
  for (unsigned cpus : {1u, 2u, 3u, 4u, 8u, 16u, 64u}) {
    for (unsigned page_shift : {12u, 14u, 16u}) {
      SlabOrderParams p = params(cpus);
      p.page_shift = page_shift;
      for (unsigned size = 8; size <= 3 * (1u << page_shift); size += 8) {
        const int want = reference_order(size, p);
        const int got = calculate_order(size, p);
        if (got != want) {
          ADD_FAILURE() << "size " << size << " cpus " << cpus << " page_shift " << page_shift
                        << ": order " << got << ", expected " << want;
          return;
        }
      }
    }
  }
}

// ---- free pointer placement and stride (calculate_sizes)

TEST(SlabLayoutTest, FreePointerInTheMiddleWithoutCtor) {
  const SlabOrderParams p = params(8);
  struct Row {
    unsigned size, offset, stride;
  };
  for (const Row& r :
       {Row{8, 0, 8}, Row{20, 8, 24}, Row{24, 8, 24}, Row{64, 32, 64}, Row{100, 48, 104},
        Row{96, 48, 96}, Row{1, 0, 8}, Row{4096, 2048, 4096}, Row{36, 16, 40}}) {
    SCOPED_TRACE(r.size);
    const SlabLayout l = layout_of(r.size, p);
    EXPECT_EQ(l.object_size, r.size);
    EXPECT_EQ(l.offset, r.offset); // ALIGN_DOWN(size / 2, 8)
    EXPECT_EQ(l.size, r.stride);
    EXPECT_EQ(l.inuse, r.stride);
    EXPECT_LE(l.offset + 8, l.size);
  }
}

TEST(SlabLayoutTest, FreePointerAfterTheObjectWithCtor) {
  const SlabOrderParams p = params(8);
  struct Row {
    unsigned size, offset, stride;
  };
  for (const Row& r : {Row{8, 8, 16}, Row{20, 24, 32}, Row{24, 24, 32}, Row{64, 64, 72},
                       Row{100, 104, 112}, Row{1, 8, 16}}) {
    SCOPED_TRACE(r.size);
    const SlabLayout l = layout_of(r.size, p, 0, 0, true);
    EXPECT_EQ(l.offset, r.offset); // ALIGN(size, 8): outside the object
    EXPECT_EQ(l.inuse, r.offset);
    EXPECT_EQ(l.size, r.stride); // grows by one pointer
    EXPECT_GE(l.offset, l.object_size);
  }
  // With alignment the stride rounds up after the pointer is added.
  const SlabLayout hw = layout_of(100, p, 0, SLAB_HWCACHE_ALIGN, true);
  EXPECT_EQ(hw.offset, 104u);
  EXPECT_EQ(hw.size, 128u);
  EXPECT_EQ(hw.align, 64u);
  const SlabLayout a = layout_of(64, p, 64, 0, true);
  EXPECT_EQ(a.offset, 64u);
  EXPECT_EQ(a.size, 128u);
}

TEST(SlabLayoutTest, StrideIsAlignedSize) {
  const SlabOrderParams p = params(8);
  const SlabLayout hw20 = layout_of(20, p, 0, SLAB_HWCACHE_ALIGN);
  EXPECT_EQ(hw20.align, 32u);
  EXPECT_EQ(hw20.size, 32u);
  EXPECT_EQ(hw20.objects, 128u);
  const SlabLayout hw100 = layout_of(100, p, 0, SLAB_HWCACHE_ALIGN);
  EXPECT_EQ(hw100.align, 64u);
  EXPECT_EQ(hw100.size, 128u);
  const SlabLayout a256 = layout_of(20, p, 256);
  EXPECT_EQ(a256.align, 256u);
  EXPECT_EQ(a256.size, 256u);
  EXPECT_EQ(a256.offset, 8u); // the middle of the object, not of the stride
  EXPECT_EQ(a256.order, 1u);
  EXPECT_EQ(a256.objects, 32u);
  for (unsigned size = 1; size <= 600; ++size)
    for (unsigned align : {0u, 8u, 16u, 64u, 128u}) {
      const SlabLayout l = layout_of(size, p, align);
      ASSERT_EQ(l.size % l.align, 0u) << size << "/" << align;
      ASSERT_GE(l.size, size);
      ASSERT_LT(l.size - size, l.align + 8u);
    }
}

// min_partial = clamp(ilog2(stride) / 2, MIN_PARTIAL 5, MAX_PARTIAL 10).
TEST(SlabLayoutTest, MinPartial) {
  const SlabOrderParams p = params(8);
  struct Row {
    unsigned size, min_partial;
  };
  for (const Row& r :
       {Row{8, 5}, Row{1024, 5}, Row{2048, 5}, Row{4096, 6}, Row{8192, 6}, Row{16384, 7},
        Row{65536, 8}, Row{262144, 9}, Row{1u << 20, 10}, Row{4u << 20, 10}}) {
    SCOPED_TRACE(r.size);
    EXPECT_EQ(layout_of(r.size, p).min_partial, r.min_partial);
  }
  // ilog2 is of the stride: a ctor's pointer does not change it here, alignment might.
  EXPECT_EQ(layout_of(4000, p, 4096).min_partial, 6u);
  EXPECT_EQ(layout_of(4000, p).min_partial, 5u);
}

} // namespace
