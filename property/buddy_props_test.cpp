// property/buddy_props_test.cpp - plain properties of the page allocator, checked on a Heap
// directly (no reference model): get_order against its definition, natural alignment and
// placement of every block, page conservation (AC2), and free-all restores buddyinfo (AC4).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "property_support.h"

namespace {

using km::property::Arena;
using km::property::ArenaSpec;
using km::property::hex;
using km::property::ReportLog;
namespace gen = rc::gen;

// ---- get_order

// A heap per page shift, only for Heap::get_order (which needs an initialised heap).
const km::Heap& heap_for_shift(unsigned page_shift) {
  static std::map<unsigned, std::unique_ptr<km::Heap>> heaps;
  std::unique_ptr<km::Heap>& h = heaps[page_shift];
  if (!h) {
    h = std::make_unique<km::Heap>();
    km::Config cfg;
    cfg.page_shift = page_shift;
    cfg.arena_size = std::size_t{16} << page_shift;
    cfg.dma_zone_size = 0;
    cfg.max_caches = 1;
    cfg.nr_cpus = 1;
    const km::Status st = h->init(cfg);
    if (!st.ok)
      RC_FAIL(std::string("heap init failed: ") + st.message);
  }
  return *h;
}

// The definition: the smallest order o with page_size << o >= size.
unsigned plain_get_order(std::size_t size, unsigned page_shift) {
  unsigned order = 0;
  while ((std::uint64_t{1} << (page_shift + order)) < size)
    ++order;
  return order;
}

RC_GTEST_PROP(BuddyProps, GetOrderMatchesDefinition, ()) {
  const unsigned page_shift = *gen::element(12u, 14u, 16u);
  const std::size_t page_size = std::size_t{1} << page_shift;
  // Any size up to 1 TiB, small sizes, and sizes next to a block boundary.
  const std::size_t size = *gen::weightedOneOf<std::size_t>(
      {{1, gen::inRange<std::size_t>(1, std::size_t{1} << 40)},
       {1, gen::inRange<std::size_t>(1, std::size_t{64} << 16)},
       {2, gen::exec([page_size] {
          const unsigned order = *gen::inRange(0u, 24u);
          const int delta = *gen::element(-1, 0, 1);
          return static_cast<std::size_t>(static_cast<long long>(page_size << order) + delta);
        })}});
  const unsigned got = heap_for_shift(page_shift).get_order(size);
  const unsigned want = plain_get_order(size, page_shift);
  RC_CLASSIFY(size % page_size == 0, "page multiple");
  RC_CLASSIFY(want == 0, "order 0");
  RC_ASSERT(got == want);
}

// ---- random alloc/free sequences on a Heap

constexpr gfp_t kGfps[] = {GFP_KERNEL, GFP_KERNEL | __GFP_DMA, GFP_KERNEL | __GFP_ZERO, GFP_ATOMIC,
                           GFP_KERNEL | __GFP_NOFAIL};

struct Step {
  bool alloc = true;
  unsigned order = 0;   // alloc: the order
  unsigned gfp = 0;     // alloc: index into kGfps
  std::size_t pick = 0; // free: which live block (modulo their count)
};

std::ostream& operator<<(std::ostream& os, const Step& s) {
  if (s.alloc)
    return os << "alloc(order=" << s.order << ", gfp#" << s.gfp << ")";
  return os << "free(live[" << s.pick << " % n])";
}

// Valid requests only (order <= max_order, known gfp bits): the heap must never report.
rc::Gen<std::vector<Step>> gen_steps(unsigned max_order) {
  const unsigned small = std::min(max_order, 3u);
  const auto step = gen::exec([=] {
    Step s;
    s.alloc = *gen::weightedElement<bool>({{3, true}, {2, false}});
    if (s.alloc) {
      s.order = *gen::weightedOneOf<unsigned>(
          {{3, gen::inRange(0u, small + 1)}, {1, gen::inRange(0u, max_order + 1)}});
      s.gfp = *gen::inRange(0u, static_cast<unsigned>(std::size(kGfps)));
    } else {
      s.pick = *gen::inRange<std::size_t>(0, 1024);
    }
    return s;
  });
  return gen::container<std::vector<Step>>(step);
}

struct Block {
  std::uintptr_t addr;
  unsigned order;
};

// A Heap over a generated arena that records reports.
struct TestHeap {
  ArenaSpec spec;
  Arena arena;
  km::Heap heap;
  ReportLog log;
  std::vector<Block> live;

  void init() {
    spec = *km::property::gen_arena_spec();
    std::string why;
    if (!km::property::make_arena(spec, arena, why))
      RC_FAIL(why);
    const km::Status st = arena.init(heap);
    if (!st.ok)
      RC_FAIL(std::string("heap init failed: ") + st.message);
    log.install(heap);
  }
  std::size_t page_size() const { return heap.page_size(); }
  std::uintptr_t arena_end() const {
    return heap.arena_start() + heap.arena_pages() * heap.page_size();
  }

  // Runs the step; returns the block it allocated (addr 0 for NULL) or freed.
  Block run(const Step& s) {
    if (s.alloc) {
      struct page* p = heap.alloc_pages(kGfps[s.gfp], s.order);
      const auto addr = reinterpret_cast<std::uintptr_t>(heap.page_address(p));
      if (addr != 0)
        live.push_back(Block{addr, s.order});
      return Block{addr, s.order};
    }
    if (live.empty())
      return Block{0, 0};
    const std::size_t i = s.pick % live.size();
    const Block b = live[i];
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    heap.free_pages(b.addr, b.order);
    return b;
  }

  void assert_no_reports() const {
    if (!log.empty())
      RC_FAIL("unexpected reports:\n" + log.text());
  }
};

// Every block alloc_pages returns is naturally aligned (address % (PAGE_SIZE << order) == 0),
// lies inside the arena, overlaps no other live block, and page_info agrees.
RC_GTEST_PROP(BuddyProps, BlocksAreNaturallyAlignedInsideTheArena, ()) {
  TestHeap t;
  t.init();
  const std::vector<Step> steps = *gen_steps(t.arena.cfg.max_order);
  std::map<std::uintptr_t, std::uintptr_t> live; // start -> end
  std::size_t allocated = 0;
  for (const Step& s : steps) {
    const Block b = t.run(s);
    t.assert_no_reports();
    if (!s.alloc) {
      if (b.addr != 0)
        live.erase(b.addr);
      continue;
    }
    if (b.addr == 0)
      continue;
    ++allocated;
    const std::size_t bytes = t.page_size() << b.order;
    RC_ASSERT(b.addr % bytes == 0);
    RC_ASSERT(b.addr >= t.heap.arena_start());
    RC_ASSERT(b.addr + bytes <= t.arena_end());
    const auto next = live.lower_bound(b.addr);
    if (next != live.end())
      RC_ASSERT(next->first >= b.addr + bytes);
    if (next != live.begin())
      RC_ASSERT(std::prev(next)->second <= b.addr);
    live[b.addr] = b.addr + bytes;
    const km::PageInfo info = t.heap.page_info(reinterpret_cast<void*>(b.addr + bytes - 1));
    RC_ASSERT(info.in_arena);
    RC_ASSERT(info.owner == km::PageOwner::PageAlloc);
    RC_ASSERT(info.block == b.addr);
    RC_ASSERT(info.order == b.order);
  }
  RC_ASSERT(t.heap.validate() == 0u);
  RC_CLASSIFY(allocated == 0, "nothing allocated");
  RC_CLASSIFY(t.heap.arena_start() % (t.page_size() << t.arena.cfg.max_order) != 0,
              "arena not aligned to the largest block");
}

// AC2: free + metadata + alloc_pages pages == total after every step; the free count equals
// each zone's counter and sum(nr_free[o] << o); the allocated count equals the live blocks.
RC_GTEST_PROP(BuddyProps, PagesAreConserved, ()) {
  TestHeap t;
  t.init();
  const std::vector<Step> steps = *gen_steps(t.arena.cfg.max_order);
  const std::size_t metadata = t.heap.page_counts().metadata;
  for (const Step& s : steps) {
    t.run(s);
    t.assert_no_reports();
    const km::PageCounts pc = t.heap.page_counts();
    RC_ASSERT(pc.total == t.heap.arena_pages());
    RC_ASSERT(pc.free + pc.metadata + pc.page_alloc == pc.total);
    RC_ASSERT(pc.slab == 0u);
    RC_ASSERT(pc.large_kmalloc == 0u);
    RC_ASSERT(pc.metadata == metadata);
    std::size_t live_pages = 0;
    for (const Block& b : t.live)
      live_pages += std::size_t{1} << b.order;
    RC_ASSERT(pc.page_alloc == live_pages);
    std::size_t zone_free = 0;
    for (unsigned z = 0; z < t.heap.nr_zones(); ++z) {
      const km::ZoneInfo zi = t.heap.zone_info(z);
      std::size_t by_order = 0;
      for (unsigned o = 0; o <= km::kMaxOrderLimit; ++o)
        by_order += zi.nr_free[o] << o;
      RC_ASSERT(by_order == zi.free_pages);
      zone_free += zi.free_pages;
    }
    RC_ASSERT(zone_free == pc.free);
  }
  RC_CLASSIFY(t.heap.page_counts().free == 0, "arena exhausted at the end");
}

std::vector<std::tuple<unsigned, std::uintptr_t, unsigned>> free_blocks(const km::Heap& heap) {
  std::vector<std::tuple<unsigned, std::uintptr_t, unsigned>> out;
  heap.for_each_free_block(
      [](void* ctx, const km::FreeBlock& b) {
        static_cast<std::vector<std::tuple<unsigned, std::uintptr_t, unsigned>>*>(ctx)
            ->emplace_back(b.zone, b.pfn, b.order);
      },
      &out);
  std::sort(out.begin(), out.end());
  return out;
}

// AC4: after any sequence, freeing every live block (in a random order) gives back the initial
// /proc/buddyinfo text and the initial free blocks.
RC_GTEST_PROP(BuddyProps, FreeAllRestoresInitialBuddyinfo, ()) {
  TestHeap t;
  t.init();
  const std::string initial_text = km::property::buddyinfo_text(t.heap);
  const auto initial_blocks = free_blocks(t.heap);
  const std::vector<Step> steps = *gen_steps(t.arena.cfg.max_order);
  for (const Step& s : steps)
    t.run(s);
  RC_CLASSIFY(t.live.size() > 8, "more than 8 blocks live before free-all");
  while (!t.live.empty())
    t.run(Step{false, 0, 0, *gen::inRange<std::size_t>(0, t.live.size())});
  t.assert_no_reports();
  RC_ASSERT(km::property::buddyinfo_text(t.heap) == initial_text);
  RC_ASSERT(free_blocks(t.heap) == initial_blocks);
  RC_ASSERT(t.heap.validate() == 0u);
}

} // namespace
