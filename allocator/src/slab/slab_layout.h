// slab/slab_layout.h - object layout and slab order of a cache (Linux 6.8 mm/slub.c
// calculate_sizes / calculate_order, mm/slab_common.c calculate_alignment). Pure functions.
#pragma once

#include <cstdint>

#include "kmalloc/slab.h"

namespace km {

inline constexpr unsigned kMaxObjsPerPage = 32767; // slab->objects is 15 bits
inline constexpr unsigned kArchSlabMinAlign = 8;   // ARCH_SLAB_MINALIGN
inline constexpr unsigned kMinPartial = 5;
inline constexpr unsigned kMaxPartial = 10;

struct SlabOrderParams {
  unsigned page_shift;
  unsigned max_order; // MAX_PAGE_ORDER of the heap
  unsigned nr_cpus;
  unsigned slub_min_order;
  unsigned slub_max_order;   // already clamped to max_order
  unsigned slub_min_objects; // 0 = automatic
  unsigned cache_line_size;
};

struct SlabLayout {
  unsigned object_size; // what the user asked for
  unsigned size;        // stride: object + free pointer (if outside) rounded to align
  unsigned align;
  unsigned offset; // free pointer offset inside the stride
  unsigned inuse;  // bytes of the stride in use by the object (metadata starts here)
  unsigned order;  // s->oo
  unsigned objects;
  unsigned min_order; // s->min: get_order(size), the fallback when order pages are short
  unsigned min_objects;
  unsigned min_partial;
};

// calculate_alignment: SLAB_HWCACHE_ALIGN starts at the cache line and halves while the
// object fits in half of it; then at least ARCH_SLAB_MINALIGN, rounded to the pointer size.
unsigned calculate_alignment(slab_flags_t flags, unsigned align, unsigned size,
                             unsigned cache_line_size);

// calculate_order: the slab order for objects of `size` bytes (the stride), or -1 when even
// get_order(size) exceeds max_order (-ENOSYS).
int calculate_order(unsigned size, const SlabOrderParams& p);

// Fills `out` for a cache; false if the object cannot be placed (size 0 or order too large).
bool calculate_layout(unsigned object_size, unsigned align, slab_flags_t flags, bool has_ctor,
                      const SlabOrderParams& p, SlabLayout& out);

} // namespace km
