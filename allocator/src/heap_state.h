// heap_state.h - everything a Heap owns, placed at the start of its arena (metadata pages):
// HeapState, then the memmap (one struct page per page), then cache_slots() kmem_cache
// descriptors and their cache_slots() * cpu_slots_per_cache() per-cpu slabs, then the per-slot
// state of the slab layer (SlabAllocator::slot_area_bytes(nr_cpus)), then the allocation bitmap.
// Everything per cpu is sized by the heap's resolved nr_cpus, never by kMaxCpus.
#pragma once

#include <cstddef>
#include <cstdint>

#include "front/kmalloc_caches.h"
#include "kmalloc/config.h"
#include "page/page_alloc.h"
#include "report/report_impl.h"
#include "slab/kmem_cache.h"
#include "slab/slub.h"
#include "support/bits.h"

namespace km {

struct HeapState {
  Config config;
  Reporter reporter;
  std::uintptr_t start = 0; // first byte of the (page-aligned) arena
  std::size_t npages = 0;
  std::size_t metadata_pages = 0;
  PageAllocator pages;
  SlabAllocator slabs;
  KmallocFrontEnd front;
};

// kmem_cache descriptors: the user's max_caches (0: one per 16 arena pages, 4 to 128) plus the
// kmalloc caches of the profile.
inline std::size_t cache_slots(const Config& cfg, std::size_t npages) {
  std::size_t user = cfg.max_caches;
  if (user == 0)
    user = npages / 16 < 4 ? 4 : npages / 16 > 128 ? 128 : npages / 16;
  return user + kmalloc_cache_count(cfg);
}

// cfg with nr_cpus = kNrCpusAuto resolved (config.h) for a machine whose nr_cpu_ids is
// `possible` and whose num_present_cpus() is `present` (unclamped); any other nr_cpus is kept.
inline Config resolve_nr_cpus(Config cfg, unsigned possible, unsigned present) {
  if (cfg.nr_cpus != kNrCpusAuto)
    return cfg;
  if (possible == 0)
    possible = 1;
  cfg.nr_cpus = possible < kMaxCpus ? possible : kMaxCpus;
  // calculate_order's count: num_present_cpus(), or nr_cpu_ids when that is <= 1.
  const unsigned order_cpus = present <= 1 ? possible : present;
  if (cfg.slub_min_objects == 0 && fls64(order_cpus) != fls64(cfg.nr_cpus))
    cfg.slub_min_objects = 4 * (fls64(order_cpus) + 1);
  return cfg;
}

struct MetadataLayout {
  std::size_t memmap; // offsets from the arena start
  std::size_t caches;
  std::size_t cpu_slabs;
  std::size_t slot_area;   // SlabAllocator's per-slot state
  std::size_t live_bitmap; // one bit per 8 bytes of arena
  std::size_t end;
};

constexpr std::size_t align_to(std::size_t x, std::size_t a) {
  return (x + a - 1) & ~(a - 1);
}

inline MetadataLayout metadata_layout(std::size_t npages, const Config& cfg) {
  MetadataLayout l{};
  l.memmap = align_to(sizeof(HeapState), alignof(page));
  l.caches = align_to(l.memmap + npages * sizeof(page), alignof(kmem_cache));
  l.cpu_slabs = align_to(l.caches + cache_slots(cfg, npages) * sizeof(kmem_cache), 64);
  l.slot_area = align_to(l.cpu_slabs + cpu_run_slots(cache_slots(cfg, npages)) *
                                           cpu_slots_per_cache(cfg) * sizeof(kmem_cache_cpu),
                         64);
  l.live_bitmap =
      align_to(l.slot_area + SlabAllocator::slot_area_bytes(cfg.nr_cpus), alignof(std::uint64_t));
  l.end = l.live_bitmap + align_to((npages << cfg.page_shift) / 64, sizeof(std::uint64_t));
  return l;
}

} // namespace km
