// heap_test_support.h - helpers shared by the unit and death tests: aligned regions, a recording
// report handler, a list of configurations to sweep, and snapshots of a heap's free state.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "kmalloc/heap.h"

namespace km {
// Found by argument-dependent lookup from gtest assertions.
inline bool operator==(const PageCounts& a, const PageCounts& b) {
  return a.total == b.total && a.free == b.free && a.metadata == b.metadata &&
         a.page_alloc == b.page_alloc && a.slab == b.slab && a.large_kmalloc == b.large_kmalloc;
}

inline std::ostream& operator<<(std::ostream& os, const PageCounts& c) {
  return os << "{total=" << c.total << " free=" << c.free << " metadata=" << c.metadata
            << " page_alloc=" << c.page_alloc << " slab=" << c.slab
            << " large_kmalloc=" << c.large_kmalloc << "}";
}
} // namespace km

namespace kmtest {

// An anonymous mapping of `bytes`, aligned to `alignment` (a power of two), so page frame numbers
// relative to its start are predictable: pfn = (start >> page_shift) + relative index.
class AlignedRegion {
public:
  AlignedRegion(std::size_t bytes, std::size_t alignment) : bytes_(bytes) {
    raw_size_ = bytes + alignment;
    raw_ = mmap(nullptr, raw_size_, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw_ == MAP_FAILED) {
      raw_ = nullptr;
      return;
    }
    const auto start = reinterpret_cast<std::uintptr_t>(raw_);
    aligned_ = reinterpret_cast<void*>((start + alignment - 1) & ~(alignment - 1));
  }
  ~AlignedRegion() {
    if (raw_ != nullptr)
      munmap(raw_, raw_size_);
  }
  AlignedRegion(const AlignedRegion&) = delete;
  AlignedRegion& operator=(const AlignedRegion&) = delete;

  void* get() const { return aligned_; }
  std::uintptr_t address() const { return reinterpret_cast<std::uintptr_t>(aligned_); }
  std::size_t size() const { return bytes_; }

private:
  void* raw_ = nullptr;
  void* aligned_ = nullptr;
  std::size_t raw_size_ = 0;
  std::size_t bytes_ = 0;
};

// A copy of an ErrorReport (the message is only valid during the handler call).
struct Recorded {
  km::ErrorKind kind;
  std::uintptr_t address;
  std::string message;
};

inline std::ostream& operator<<(std::ostream& os, const Recorded& r) {
  return os << km::error_kind_name(r.kind) << " @" << std::hex << r.address << std::dec << ": "
            << r.message;
}

// Recording report handler: install with heap.set_report_handler(Recorder::handle, &rec).
struct Recorder {
  std::vector<Recorded> reports;

  static void handle(void* context, const km::ErrorReport& report) {
    static_cast<Recorder*>(context)->reports.push_back(
        Recorded{report.kind, report.address, report.message != nullptr ? report.message : ""});
  }
  void clear() { reports.clear(); }
  std::size_t size() const { return reports.size(); }
  std::size_t count(km::ErrorKind kind) const {
    return static_cast<std::size_t>(std::count_if(
        reports.begin(), reports.end(), [kind](const Recorded& r) { return r.kind == kind; }));
  }
  std::string dump() const {
    std::string out;
    for (const Recorded& r : reports)
      out += "  [" + std::string(km::error_kind_name(r.kind)) + "] " + r.message + "\n";
    return out;
  }
};

// validate() through a recording handler (then the default handler again), so a broken heap
// fails the calling test with the reports instead of aborting the test binary.
inline std::size_t quiet_validate(km::Heap& heap) {
  Recorder rec;
  heap.set_report_handler(Recorder::handle, &rec);
  const std::size_t errors = heap.validate();
  heap.set_report_handler(nullptr, nullptr);
  EXPECT_EQ(rec.size(), errors);
  if (!rec.reports.empty())
    ADD_FAILURE() << "validate() reported:\n" << rec.dump();
  return errors;
}

// A configuration to sweep, with a readable name for parameterised test names.
struct NamedConfig {
  const char* name;
  km::Config cfg;
};

inline std::ostream& operator<<(std::ostream& os, const NamedConfig& c) {
  return os << c.name << "{page_shift=" << c.cfg.page_shift << " max_order=" << c.cfg.max_order
            << " arena=" << c.cfg.arena_size << " dma=" << c.cfg.dma_zone_size << "}";
}

inline km::Config make_config(unsigned page_shift, unsigned max_order, std::size_t arena_pages,
                              std::size_t dma_pages) {
  km::Config cfg;
  cfg.page_shift = page_shift;
  cfg.max_order = max_order;
  cfg.arena_size = arena_pages << page_shift;
  cfg.dma_zone_size = dma_pages << page_shift;
  cfg.nr_cpus = 8; // explicit, not the machine's (kNrCpusAuto): the layouts these tests expect
  return cfg;
}

// The same with the slab layer's metadata shrunk to one cache descriptor and one cpu, so small
// heaps keep a predictable page layout (1 metadata page up to 40 pages, 2 up to 64 pages of 4 KiB).
inline km::Config lean(km::Config cfg) {
  cfg.max_caches = 1;
  cfg.nr_cpus = 1;
  return cfg;
}

// The configurations every parameterised test runs against: tiny heaps (64 pages, MAX_ORDER 4),
// the kernel's MAX_ORDER 10, 4/16/64 KiB pages, with and without ZONE_DMA, a MAX_ORDER larger
// than the whole arena. The small ones use lean() metadata; the others the default slab settings.
inline std::vector<NamedConfig> sweep_configs() {
  return {
      {"tiny4k", lean(make_config(12, 4, 64, 0))},
      {"tiny4k_dma", lean(make_config(12, 4, 64, 16))},
      {"linux4k", make_config(12, 10, 2048, 512)},
      {"pages16k", make_config(14, 8, 1024, 256)},
      {"pages64k", make_config(16, 6, 256, 64)},
      {"pages64k_order10", make_config(16, 10, 1024, 0)},
      {"order_exceeds_arena", lean(make_config(12, 10, 40, 0))},
      {"order0_only", lean(make_config(12, 0, 16, 8))},
  };
}

inline std::string config_test_name(const testing::TestParamInfo<NamedConfig>& info) {
  return info.param.name;
}

// Free blocks of a heap, sorted by (zone, pfn, order).
using Block = std::tuple<unsigned, std::uintptr_t, unsigned>;

inline std::vector<Block> free_blocks(const km::Heap& heap) {
  std::vector<Block> out;
  heap.for_each_free_block(
      [](void* ctx, const km::FreeBlock& b) {
        static_cast<std::vector<Block>*>(ctx)->emplace_back(b.zone, b.pfn, b.order);
      },
      &out);
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string buddyinfo_string(const km::Heap& heap) {
  const std::size_t n = heap.buddyinfo(nullptr, 0);
  std::string s(n + 1, '\0');
  heap.buddyinfo(s.data(), s.size());
  s.resize(n);
  return s;
}

// Everything observable about the page allocator's state, for "nothing changed" checks.
struct Snapshot {
  std::vector<Block> blocks;
  std::string buddyinfo;
  km::PageCounts counts;

  static Snapshot of(const km::Heap& heap) {
    return Snapshot{free_blocks(heap), buddyinfo_string(heap), heap.page_counts()};
  }
};

inline void expect_same_state(const Snapshot& before, const km::Heap& heap) {
  const Snapshot now = Snapshot::of(heap);
  EXPECT_EQ(now.counts, before.counts);
  EXPECT_EQ(now.buddyinfo, before.buddyinfo);
  EXPECT_TRUE(now.blocks == before.blocks) << "free blocks changed";
}

// The free blocks a freshly initialised heap must have (memblock_free_all): each zone's pages
// after the metadata, cut greedily into the largest naturally aligned blocks (pfn % 2^o == 0)
// of order <= max_order that fit in the zone.
inline std::vector<Block> expected_initial_blocks(const km::Heap& heap) {
  std::vector<Block> out;
  const unsigned shift = heap.config().page_shift;
  const unsigned max_order = heap.config().max_order;
  const std::uintptr_t data_start =
      (heap.arena_start() >> shift) + static_cast<std::uintptr_t>(heap.page_counts().metadata);
  for (unsigned z = 0; z < heap.nr_zones(); ++z) {
    const km::ZoneInfo zi = heap.zone_info(z);
    std::uintptr_t pfn = std::max<std::uintptr_t>(zi.start_pfn, data_start);
    const std::uintptr_t end = zi.start_pfn + zi.spanned_pages;
    while (pfn < end) {
      unsigned order = 0;
      while (order < max_order && pfn % (std::uintptr_t{2} << order) == 0 &&
             pfn + (std::uintptr_t{2} << order) <= end)
        ++order;
      out.emplace_back(z, pfn, order);
      pfn += std::uintptr_t{1} << order;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A heap over a region the test owns, aligned to `align_pages` pages and starting `offset`
// bytes into it, so page frame numbers relative to the region are predictable.
class RegionHeap {
public:
  RegionHeap(const km::Config& cfg, std::size_t pages, std::size_t align_pages = 0,
             std::size_t offset = 0)
      : page_size_(std::size_t{1} << cfg.page_shift),
        region_(pages * page_size_ + offset,
                (align_pages != 0 ? align_pages : (std::size_t{1} << cfg.max_order)) * page_size_) {
    base_ = region_.address() + offset;
    status_ = heap_.init(cfg, reinterpret_cast<void*>(base_), pages * page_size_);
  }
  ~RegionHeap() { heap_.destroy(); } // before the region is unmapped

  km::Heap& heap() { return heap_; }
  const km::Status& status() const { return status_; }
  AlignedRegion& region() { return region_; }
  std::size_t page_size() const { return page_size_; }
  // Relative page numbers count from the region's aligned start plus `origin` pages.
  void set_origin(std::uintptr_t origin) { origin_ = origin; }
  // pfn of the page `rel` pages after the origin.
  std::uintptr_t pfn(std::uintptr_t rel) const {
    return (region_.address() / page_size_) + origin_ + rel;
  }
  std::uintptr_t addr(std::uintptr_t rel) const { return pfn(rel) * page_size_; }
  std::uintptr_t rel(std::uintptr_t addr) const { return addr / page_size_ - pfn(0); }

  // Makes the last 16 pages of a heap built with MAX_ORDER 3 over a region of a multiple of 16
  // pages the "window" of the worked examples, whatever the size of the metadata: every page is
  // allocated at order 0, then pages 1..15 of the window are freed. They coalesce into free
  // blocks 1 (order 0), 2 (order 1), 4 (order 2) and 8 (order 3); page 0 of the window and
  // every page outside it stay allocated. Relative page numbers then count from the window.
  // Use with ASSERT_NO_FATAL_FAILURE.
  void make_window(std::size_t pages) {
    ASSERT_EQ(heap_.config().max_order, 3u);
    std::vector<std::uintptr_t> all;
    for (std::uintptr_t a; (a = heap_.get_free_pages(GFP_KERNEL, 0)) != 0;) {
      all.push_back(a);
      ASSERT_LE(all.size(), pages);
    }
    ASSERT_EQ(heap_.page_counts().free, 0u);
    set_origin(pages - 16);
    for (std::uintptr_t a : all)
      if (a > addr(0) && a < addr(16))
        heap_.free_pages(a, 0);
    ASSERT_EQ(heap_.page_counts().free, 15u);
  }

private:
  std::size_t page_size_;
  AlignedRegion region_;
  std::uintptr_t base_ = 0;
  std::uintptr_t origin_ = 0;
  km::Heap heap_;
  km::Status status_;
};

// The metadata pages a heap of `pages` pages built from cfg keeps, measured on a throwaway heap
// over a region (the count does not depend on the DMA zone).
inline std::size_t metadata_pages_of(km::Config cfg, std::size_t pages) {
  cfg.dma_zone_size = 0;
  RegionHeap probe(cfg, pages);
  return probe.status().ok ? probe.heap().page_counts().metadata : 0;
}

// cfg with ZONE_DMA sized so that the metadata and ZONE_DMA together are the first
// `first_pages` pages of an arena of `pages` pages (the zones follow the metadata).
inline km::Config with_dma_ending_at(km::Config cfg, std::size_t pages, std::size_t first_pages) {
  cfg.dma_zone_size = (first_pages - metadata_pages_of(cfg, pages)) << cfg.page_shift;
  return cfg;
}

} // namespace kmtest
