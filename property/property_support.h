// property/property_support.h - shared pieces of the RapidCheck properties: a generated buddy
// arena (config + where its memory comes from), and a report recorder for direct Heap use.
//
// An arena is either mmap'd by the heap (aligned to the largest block) or carved from a region
// this file maps once, at a page offset (and sometimes a byte offset) that leaves it unaligned
// to the largest block, so the heap starts with small blocks.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "kmalloc/config.h"
#include "kmalloc/heap.h"
#include "kmalloc/report.h"
#include "model/text.h"

namespace km::property {

inline constexpr std::size_t kMinArenaPages = 16;
inline constexpr std::size_t kMaxArenaPages = 512;
inline constexpr unsigned kMaxRegionOffsetPages = 7;

// What a generated test case runs on. Shown in counterexamples through operator<<.
struct ArenaSpec {
  unsigned page_shift = 12;
  unsigned max_order = 10;
  std::size_t pages = 64;    // pages of memory handed to the heap
  unsigned dma_eighths = 0;  // ZONE_DMA = pages * dma_eighths / 8 (0: no DMA zone)
  bool use_region = false;   // false: Heap::init(cfg) mmaps; true: a region at an offset
  unsigned offset_pages = 0; // region start = aligned base + offset_pages pages ...
  unsigned offset_bytes = 0; // ... + offset_bytes (0 or unaligned: one page is lost)
  unsigned max_caches = 1;   // metadata size varies with these two
  unsigned nr_cpus = 1;
};

inline std::ostream& operator<<(std::ostream& os, const ArenaSpec& s) {
  os << "ArenaSpec{page_shift=" << s.page_shift << ", max_order=" << s.max_order
     << ", pages=" << s.pages << ", dma=" << s.dma_eighths << "/8, ";
  if (s.use_region)
    os << "region at +" << s.offset_pages << " pages +" << s.offset_bytes << " bytes";
  else
    os << "mmap'd";
  return os << ", max_caches=" << s.max_caches << ", nr_cpus=" << s.nr_cpus << "}";
}

// Small arenas: 16..512 pages of 4, 16 or 64 KiB, max_order 0..10, DMA zone none or k/8.
inline rc::Gen<ArenaSpec> gen_arena_spec() {
  return rc::gen::exec([] {
    ArenaSpec s;
    s.page_shift = *rc::gen::element(12u, 14u, 16u);
    s.max_order = *rc::gen::inRange(0u, 11u);
    s.pages = *rc::gen::inRange(kMinArenaPages, kMaxArenaPages + 1);
    s.dma_eighths =
        *rc::gen::weightedElement<unsigned>({{4, 0u}, {1, 1u}, {1, 2u}, {1, 4u}, {1, 6u}, {1, 7u}});
    s.use_region = *rc::gen::element(false, true);
    if (s.use_region) {
      s.offset_pages = *rc::gen::inRange(0u, kMaxRegionOffsetPages + 1);
      s.offset_bytes = *rc::gen::weightedElement<unsigned>({{3, 0u}, {1, 8u}, {1, 100u}});
    }
    s.max_caches = *rc::gen::element(1u, 4u, 32u);
    s.nr_cpus = *rc::gen::element(1u, 2u, 8u);
    return s;
  });
}

// One region for every case, aligned to the largest block of any config (64 KiB << 10), with
// room for the largest arena at the largest offset. Never unmapped.
inline unsigned char* region_base() {
  static unsigned char* base = [] {
    constexpr std::size_t kAlign = std::size_t{64} << 20;
    constexpr std::size_t kBytes =
        (kMaxArenaPages + kMaxRegionOffsetPages + 1) * (std::size_t{1} << 16);
    void* p = mmap(nullptr, kBytes + kAlign, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("property: mmap");
      std::abort();
    }
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    return reinterpret_cast<unsigned char*>((addr + kAlign - 1) & ~(kAlign - 1));
  }();
  return base;
}

// A spec made concrete: the Config and, for region arenas, the region.
struct Arena {
  Config cfg;
  void* region = nullptr; // nullptr: Heap::init(cfg) maps the arena
  std::size_t bytes = 0;
  std::size_t metadata_pages = 0;
  std::size_t arena_pages = 0;

  Status init(Heap& heap) const {
    return region != nullptr ? heap.init(cfg, region, bytes) : heap.init(cfg);
  }
};

// Builds the Arena. The DMA zone must hold more than the metadata pages, which only the heap
// knows: a probe heap without DMA zone tells them; the DMA size is then raised to fit.
// Returns false (with `why`) if even the probe fails, which a valid spec never does.
inline bool make_arena(const ArenaSpec& s, Arena& out, std::string& why) {
  const std::size_t page_size = std::size_t{1} << s.page_shift;
  out = Arena{};
  out.cfg.page_shift = s.page_shift;
  out.cfg.max_order = s.max_order;
  out.cfg.arena_size = s.pages * page_size;
  out.cfg.dma_zone_size = 0;
  out.cfg.max_caches = s.max_caches;
  out.cfg.nr_cpus = s.nr_cpus;
  out.cfg.random_seed = 1;
  if (s.use_region) {
    out.region = region_base() + s.offset_pages * page_size + s.offset_bytes;
    out.bytes = s.pages * page_size;
  }
  {
    Heap probe;
    const Status st = out.init(probe);
    if (!st.ok) {
      why = std::string("probe heap init failed: ") + st.message;
      return false;
    }
    out.metadata_pages = probe.page_counts().metadata;
    out.arena_pages = probe.arena_pages();
  }
  if (s.dma_eighths != 0) {
    std::size_t dma = out.arena_pages * s.dma_eighths / 8;
    if (dma <= out.metadata_pages)
      dma = out.metadata_pages + 1;
    if (dma < out.arena_pages)
      out.cfg.dma_zone_size = dma * page_size;
  }
  return true;
}

// Records every report; for properties that drive a Heap directly and expect none.
struct ReportLog {
  struct Entry {
    ErrorKind kind;
    std::uintptr_t address;
    std::string message; // copied: ErrorReport::message is valid during the call only
  };
  std::vector<Entry> reports;

  static void record(void* context, const ErrorReport& r) {
    static_cast<ReportLog*>(context)->reports.push_back(Entry{r.kind, r.address, r.message});
  }
  void install(Heap& heap) { heap.set_report_handler(&ReportLog::record, this); }
  bool empty() const { return reports.empty(); }
  std::string text() const {
    std::string out;
    for (const Entry& e : reports)
      out += "  " + e.message + "\n";
    return out;
  }
};

using km::oracle::hex;

inline std::string buddyinfo_text(const Heap& heap) {
  const std::size_t length = heap.buddyinfo(nullptr, 0);
  std::string text(length + 1, '\0');
  heap.buddyinfo(text.data(), text.size());
  text.resize(length);
  return text;
}

} // namespace km::property
