// front/kmalloc_caches.h - the kmalloc front end: size classes, the kmalloc caches per type,
// the large path to the page allocator, and the kmalloc family built on them.
//
// Profiles (Config::profile):
//   linux-6       SLUB (Linux 6.10 include/linux/slab.h, mm/slab_common.c, mm/slub.c):
//                 KMALLOC_SHIFT_LOW = ilog2(KMALLOC_MIN_SIZE) (3), SHIFT_HIGH = PAGE_SHIFT + 1,
//                 SHIFT_MAX = MAX_ORDER + PAGE_SHIFT; types normal, reclaimable (kmalloc-rcl-*),
//                 dma (dma-kmalloc-*); names with k/M suffixes; 96/192 aligned to their largest
//                 power-of-two divisor (the 6.11 rule), powers of two to their size.
//   linux-4-slab  the seed's SLAB view (Linux 4.19): SHIFT_LOW 5, SHIFT_HIGH = SHIFT_MAX =
//                 min(MAX_ORDER + PAGE_SHIFT - 1, 25) with the old exclusive MAX_ORDER (ours + 1);
//                 types normal and dma (no rcl before 4.20); names like kmalloc-1024. Objects
//                 come from our SLUB caches; only the size classes follow SLAB.
// Indexes: 0 = size 0, 1 = 96, 2 = 192, n >= 3 = 2^n; kmalloc_index() answers up to 64 MiB
// (index 26) and -1 beyond, where the kernel would BUG().
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/cache_info.h"
#include "kmalloc/kmalloc_limits.h"
#include "page/page_alloc.h"
#include "slab/slub.h"

namespace km {

inline constexpr unsigned kKmallocIndexMax = 26; // 64 MiB
inline constexpr unsigned kKmallocTypes = 3;     // normal, reclaimable, dma
enum KmallocType : unsigned { KMALLOC_NORMAL = 0, KMALLOC_RECLAIM = 1, KMALLOC_DMA = 2 };

// Number of kmalloc caches a Config creates (so the heap can reserve their descriptors).
unsigned kmalloc_cache_count(const Config& cfg);

class KmallocFrontEnd {
public:
  // Creates the caches as create_kmalloc_caches() does. False when one cannot be created.
  bool init(const Reporter* reporter, const Config& cfg, PageAllocator* pages,
            SlabAllocator* slabs);
  bool enabled() const { return enabled_; }
  const KmallocLimits& limits() const { return limits_; }

  int kmalloc_index(std::size_t size) const;
  kmem_cache* kmalloc_slab(std::size_t size, gfp_t gfp) const;
  kmem_cache* cache_at(unsigned type, unsigned index) const { return caches_[type][index]; }
  std::size_t kmalloc_size_roundup(std::size_t size) const;

  void* kmalloc(std::size_t size, gfp_t gfp);
  void kfree(const void* obj);
  std::size_t ksize(const void* obj) const;
  void* krealloc(const void* obj, std::size_t new_size, gfp_t gfp);
  void kfree_sensitive(const void* obj);

private:
  void* kmalloc_large(std::size_t size, gfp_t gfp);
  // The allocation obj starts: head is its slab or large block, cache its kmem_cache (nullptr
  // for a large block). Reports and returns false when obj is not an object start; with
  // !freeing, also when it is a free slab object (kfree leaves that to the slab layer's
  // "Object already free").
  bool lookup(const void* obj, const char* function, bool freeing, kmem_cache*& cache,
              page*& head) const;
  std::size_t object_size(const kmem_cache* cache, const page* head) const;

  const Reporter* reporter_ = nullptr;
  PageAllocator* pages_ = nullptr;
  SlabAllocator* slabs_ = nullptr;
  bool enabled_ = false;
  bool has_reclaim_type_ = false;
  KmallocLimits limits_{};
  std::uint8_t size_index_[24] = {}; // sizes 1..192 in steps of 8, as kmalloc_size_index[]
  kmem_cache* caches_[kKmallocTypes][kKmallocIndexMax + 1] = {};
};

} // namespace km
