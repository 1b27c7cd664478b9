// slab/slab_layout.cpp - see slab_layout.h.
#include "slab/slab_layout.h"

#include "support/bits.h"

namespace km {

namespace {

constexpr unsigned kPointerSize = sizeof(void*);

unsigned order_objects(unsigned order, unsigned size, unsigned page_shift) {
  return static_cast<unsigned>((std::uint64_t{1} << (page_shift + order)) / size);
}

// The first order in [min_order, max_order] whose leftover is at most 1/fraction of the
// slab; max_order + 1 when there is none.
unsigned calc_slab_order(unsigned size, unsigned min_order, unsigned max_order, unsigned fraction,
                         unsigned page_shift) {
  unsigned order = min_order;
  for (; order <= max_order; ++order) {
    const std::uint64_t slab_size = std::uint64_t{1} << (page_shift + order);
    if (slab_size % size <= slab_size / fraction)
      break;
  }
  return order;
}

} // namespace

unsigned calculate_alignment(slab_flags_t flags, unsigned align, unsigned size,
                             unsigned cache_line_size) {
  if ((flags & SLAB_HWCACHE_ALIGN) != 0) {
    unsigned ralign = cache_line_size;
    while (size <= ralign / 2)
      ralign /= 2;
    if (ralign > align)
      align = ralign;
  }
  if (align < kArchSlabMinAlign)
    align = kArchSlabMinAlign;
  return static_cast<unsigned>(align_up(align, kPointerSize));
}

int calculate_order(unsigned size, const SlabOrderParams& p) {
  unsigned min_objects = p.slub_min_objects;
  if (min_objects == 0)
    min_objects = 4 * (fls64(p.nr_cpus) + 1);
  unsigned max_objects = order_objects(p.slub_max_order, size, p.page_shift);
  if (max_objects < 1)
    max_objects = 1;
  if (min_objects > max_objects)
    min_objects = max_objects;
  unsigned min_order = get_order(static_cast<std::size_t>(min_objects) * size, p.page_shift);
  if (p.slub_min_order > min_order)
    min_order = p.slub_min_order;
  if (order_objects(min_order, size, p.page_shift) > kMaxObjsPerPage)
    return static_cast<int>(
               get_order(static_cast<std::size_t>(size) * kMaxObjsPerPage, p.page_shift)) -
           1;
  for (unsigned fraction = 16; fraction > 1; fraction /= 2) {
    const unsigned order =
        calc_slab_order(size, min_order, p.slub_max_order, fraction, p.page_shift);
    if (order <= p.slub_max_order)
      return static_cast<int>(order);
  }
  const unsigned order = get_order(size, p.page_shift);
  return order <= p.max_order ? static_cast<int>(order) : -1;
}

bool calculate_layout(unsigned object_size, unsigned align, slab_flags_t flags, bool has_ctor,
                      const SlabOrderParams& p, SlabLayout& out) {
  if (object_size == 0)
    return false;
  out = SlabLayout{};
  out.object_size = object_size;
  out.align = calculate_alignment(flags, align, object_size, p.cache_line_size);
  // The stride in 64 bits: sizes near UINT_MAX must be refused, not wrap to 0.
  std::uint64_t stride = align_up(object_size, kPointerSize);
  out.inuse = static_cast<unsigned>(stride);
  if (has_ctor) {
    // The constructor's state must survive kmem_cache_free: free pointer after the object.
    out.offset = static_cast<unsigned>(stride);
    stride += kPointerSize;
  } else {
    // Middle of the object, away from small over- and underflows of the neighbours.
    out.offset = static_cast<unsigned>(align_down(object_size / 2, kPointerSize));
  }
  stride = align_up(stride, out.align);
  if (stride > (std::uint64_t{1} << (p.page_shift + p.max_order)))
    return false; // not even one object fits the largest block
  if (stride > UINT32_MAX)
    return false; // kmem_cache::size is an unsigned int (64 KiB pages, MAX_ORDER 16: 4 GiB)
  const auto size = static_cast<unsigned>(stride);
  out.size = size;
  const int order = calculate_order(size, p);
  if (order < 0 || static_cast<unsigned>(order) > p.max_order)
    return false;
  out.order = static_cast<unsigned>(order);
  out.objects = order_objects(out.order, size, p.page_shift);
  out.min_order = get_order(size, p.page_shift);
  out.min_objects = order_objects(out.min_order, size, p.page_shift);
  if (out.objects == 0 || out.min_order > p.max_order)
    return false;
  unsigned min_partial = ilog2(size) / 2;
  if (min_partial > kMaxPartial)
    min_partial = kMaxPartial;
  if (min_partial < kMinPartial)
    min_partial = kMinPartial;
  out.min_partial = min_partial;
  return true;
}

} // namespace km
