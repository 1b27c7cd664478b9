// model/slab_layout_spec.cpp - the slab layout rules; see slab_layout_spec.h.
#include "model/slab_layout_spec.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "model/cpu_spec.h"
#include "model/text.h"

namespace km::model::slab {

namespace {

constexpr unsigned kPointer = 8;          // sizeof(void*)
constexpr unsigned kMinAlign = 8;         // ARCH_SLAB_MINALIGN
constexpr std::uint64_t kMaxObjs = 32767; // MAX_OBJS_PER_PAGE

std::uint64_t round_up(std::uint64_t x, std::uint64_t a) {
  return (x + a - 1) / a * a;
}

// What one slab of a given order would be for objects of `size` bytes.
struct Candidate {
  unsigned order = 0;
  std::uint64_t bytes = 0;   // PAGE_SIZE << order
  std::uint64_t objects = 0; // how many objects it holds
  std::uint64_t waste = 0;   // the tail no object fits in
};

Candidate candidate(unsigned order, unsigned size, unsigned page_shift) {
  const std::uint64_t bytes = std::uint64_t{1} << (page_shift + order);
  return Candidate{order, bytes, bytes / size, bytes % size};
}

// The waste tolerances the kernel tries, tightest first: 1/16, 1/8, 1/4 (and 1/2 since 6.7).
// A candidate "passes tolerance f" when its waste is at most 1/f of the slab.
bool waste_within(const Candidate& c, unsigned f) {
  return c.waste <= c.bytes / f;
}

// The number of objects the kernel wants per slab: slab_min_objects=, or 4 * (fls(cpus) + 1)
// (nr_cpus=auto: this machine's, cpu_spec.h).
std::uint64_t wanted_objects(const Config& given) {
  const Config cfg = resolve_cpus(given);
  return cfg.slub_min_objects != 0 ? cfg.slub_min_objects : 4 * (std::bit_width(cfg.nr_cpus) + 1);
}

// MAX_OBJS_PER_PAGE: slab->objects is 15 bits. When even the smallest allowed slab would hold
// more, the kernel takes the largest order whose slab is smaller than that many objects.
int largest_order_under_obj_limit(unsigned size, unsigned page_shift) {
  int best = -1;
  for (unsigned o = 0; o < 64 - page_shift; ++o)
    if ((std::uint64_t{1} << (page_shift + o)) < std::uint64_t{size} * kMaxObjs)
      best = static_cast<int>(o);
  return best;
}

// The last resort of both rules: the smallest order one object fits, if the buddy has it.
int one_object_order(unsigned lowest, unsigned size, unsigned page_shift, unsigned limit) {
  for (unsigned o = lowest; o <= limit; ++o)
    if (candidate(o, size, page_shift).objects >= 1)
      return static_cast<int>(o);
  return -1; // -ENOSYS
}

// Linux 6.7+ (commit "mm/slub: refactor calculate_order() and calc_slab_order()" and its series;
// 6.8 and 6.18 alike). The kernel comment: start at the order min_objects needs (or
// slab_min_order), accept at most 1/16 waste and find the smallest such order up to
// slab_max_order; else accept more waste (1/8, 1/4, 1/2) and try again; 1/2 accepts the
// min_objects order as long as one object fits within slab_max_order. As a choice: the tightest
// tolerance some allowed order passes, and the smallest order that passes it.
int order_linux67(unsigned size, const Config& cfg) {
  const unsigned ps = cfg.page_shift;
  const unsigned top = std::min(cfg.slub_max_order, cfg.max_order);
  const unsigned floor_order = std::min(cfg.slub_min_order, cfg.max_order);
  const std::uint64_t at_top = std::max<std::uint64_t>(candidate(top, size, ps).objects, 1);
  const std::uint64_t wanted = std::min(wanted_objects(cfg), at_top);
  // The lowest order holding `wanted` objects (get_order(wanted * size)), or slab_min_order.
  const unsigned lowest =
      std::max(oracle::get_order(wanted * size, std::uint64_t{1} << ps), floor_order);
  if (candidate(lowest, size, ps).objects > kMaxObjs)
    return largest_order_under_obj_limit(size, ps);

  for (unsigned f : {16u, 8u, 4u, 2u})
    for (unsigned o = lowest; o <= top; ++o)
      if (waste_within(candidate(o, size, ps), f))
        return static_cast<int>(o);
  return one_object_order(0, size, ps, cfg.max_order);
}

// Linux <= 6.6: the same search, but the tolerances stop at 1/4 and, before accepting more
// waste, the kernel lowers the wanted object count one by one down to 2; the last resort is one
// object, first within slab_max_order and then within the buddy (old exclusive MAX_ORDER, i.e.
// orders below cfg.max_order + 1). As a choice: minimise (objects wanted, descending; tolerance;
// order) over the orders that hold at least that many objects.
int order_linux66(unsigned size, const Config& cfg) {
  const unsigned ps = cfg.page_shift;
  const unsigned top = std::min(cfg.slub_max_order, cfg.max_order);
  const unsigned floor_order = std::min(cfg.slub_min_order, cfg.max_order);
  if (candidate(floor_order, size, ps).objects > kMaxObjs)
    return largest_order_under_obj_limit(size, ps);
  const std::uint64_t wanted = std::min(wanted_objects(cfg), candidate(top, size, ps).objects);
  constexpr unsigned kTolerances[] = {16, 8, 4};
  for (std::uint64_t k = wanted; k >= 2; --k) {
    for (unsigned f : kTolerances) {
      for (unsigned o = floor_order; o <= top; ++o) {
        const Candidate c = candidate(o, size, ps);
        if (c.bytes >= k * size && waste_within(c, f))
          return static_cast<int>(o);
      }
    }
  }
  const int within_top = one_object_order(floor_order, size, ps, top);
  if (within_top >= 0)
    return within_top;
  return one_object_order(floor_order, size, ps, cfg.max_order);
}

} // namespace

// calculate_alignment (mm/slab_common.c), stated as what it guarantees rather than as the
// kernel's halving loop: a SLAB_HWCACHE_ALIGN object is placed in the smallest power-of-two slot
// that holds it, but never in more than one cache line ("if the object is small, objects share a
// line"); the caller's align and ARCH_SLAB_MINALIGN are lower bounds; the result is a whole
// number of pointers.
unsigned calc_alignment(slab_flags_t flags, unsigned align, unsigned size, unsigned cache_line) {
  std::uint64_t want = std::max(align, kMinAlign);
  if ((flags & SLAB_HWCACHE_ALIGN) != 0) {
    std::uint64_t slot = 1;
    while (slot < size && slot < cache_line)
      slot <<= 1; // the smallest power of two >= size, capped at the cache line
    want = std::max<std::uint64_t>(want, slot);
  }
  return static_cast<unsigned>(round_up(want, kPointer));
}

int calc_order(unsigned size, const Config& cfg, KernelRule rule) {
  if (size == 0)
    return -1;
  return rule == KernelRule::Linux66 ? order_linux66(size, cfg) : order_linux67(size, cfg);
}

unsigned calc_min_partial(unsigned size) {
  unsigned log = 0;
  while ((std::uint64_t{2} << log) <= size)
    ++log;
  return std::clamp(log / 2, 5u, 10u);
}

ModelLayout calc_layout(const Config& cfg, unsigned size, unsigned align, slab_flags_t flags,
                        bool ctor) {
  ModelLayout l;
  constexpr slab_flags_t kSupported = SLAB_CONSISTENCY_CHECKS | SLAB_KMALLOC | SLAB_HWCACHE_ALIGN |
                                      SLAB_CACHE_DMA | SLAB_RECLAIM_ACCOUNT | SLAB_PANIC |
                                      SLAB_NO_MERGE | SLAB_ACCOUNT;
  auto refuse = [&](std::string why) {
    l.why = std::move(why);
    return l;
  };
  if (size == 0)
    return refuse("size 0");
  if (align != 0 && !std::has_single_bit(align))
    return refuse("align is not a power of two");
  if ((flags & ~kSupported) != 0)
    return refuse("unsupported flags " + oracle::slab_flags_to_string(flags & ~kSupported));
  const std::uint64_t page = std::uint64_t{1} << cfg.page_shift;
  l.object_size = size;
  l.align = calc_alignment(flags, align, size, cfg.cache_line_size);
  // The stride (calculate_sizes): the object in whole pointers, plus a pointer-sized slot after
  // it when the free pointer may not live inside the object, in whole units of the alignment.
  // The free pointer must stay out of the object when the object's bytes must survive
  // kmem_cache_free (a ctor; SLAB_TYPESAFE_BY_RCU and SLAB_POISON are refused above) or when the
  // object cannot hold it (only with SLAB_RED_ZONE, refused above); otherwise it sits at the
  // pointer-aligned middle of the object.
  const std::uint64_t words = (std::uint64_t{size} + kPointer - 1) / kPointer;
  const bool pointer_outside = ctor;
  l.offset = pointer_outside ? static_cast<unsigned>(words * kPointer)
                             : static_cast<unsigned>(size / 2 / kPointer * kPointer);
  const std::uint64_t used = (words + (pointer_outside ? 1 : 0)) * kPointer;
  const std::uint64_t stride = round_up(used, l.align);
  if (stride > (page << cfg.max_order) || stride > 0xffffffffu)
    return refuse("object too large for max_order"); // the kernel's size is an unsigned int
  l.size = static_cast<unsigned>(stride);
  const int order = calc_order(l.size, cfg);
  if (order < 0)
    return refuse("object too large for max_order");
  l.order = static_cast<unsigned>(order);
  l.objects = static_cast<unsigned>((page << l.order) / l.size);
  l.min_order = oracle::get_order(l.size, page);
  l.min_objects = static_cast<unsigned>((page << l.min_order) / l.size);
  l.min_partial = calc_min_partial(l.size);
  l.ok = true;
  return l;
}

} // namespace km::model::slab
