// kmalloc/kmalloc_limits.h - the kmalloc size limits of a heap's profile. Shared by the kmalloc
// front end and kmalloc/heap.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "kmalloc/export.h"
#include "kmalloc/slab.h"

struct kmem_cache;

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

// The kmalloc size limits of a heap's profile (include/linux/slab.h names).
struct KmallocLimits {
  Profile profile;
  unsigned shift_low;         // KMALLOC_SHIFT_LOW
  unsigned shift_high;        // KMALLOC_SHIFT_HIGH
  unsigned shift_max;         // KMALLOC_SHIFT_MAX
  std::size_t min_size;       // KMALLOC_MIN_SIZE
  std::size_t minalign;       // ARCH_KMALLOC_MINALIGN
  std::size_t max_cache_size; // KMALLOC_MAX_CACHE_SIZE
  std::size_t max_size;       // KMALLOC_MAX_SIZE
};

} // namespace km
#pragma GCC visibility pop
