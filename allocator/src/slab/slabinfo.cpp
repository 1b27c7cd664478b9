// slab/slabinfo.cpp - what a cache reports about itself: CacheInfo (the fields of
// /proc/slabinfo and /sys/kernel/slab/<cache>/) and the /proc/slabinfo text, version 2.1.
#include "slab/slub.h"

#include "support/text_buffer.h"

namespace km {

CacheInfo SlabAllocator::info(const kmem_cache* s) const {
  CacheInfo ci{};
  const SlabLayout& l = s->layout;
  ci.name = s->name;
  ci.flags = s->flags;
  ci.object_size = l.object_size;
  ci.size = l.size;
  ci.align = l.align;
  ci.offset = l.offset;
  ci.objects_per_slab = l.objects;
  ci.order = l.order;
  ci.min_order = l.min_order;
  ci.min_partial = l.min_partial;
  platform::LockGuard guard(s->list_lock);
  ci.nr_slabs = s->nr_slabs;
  ci.nr_partial = s->partial.length();
  ci.nr_full = s->full.length();
  ci.total_objects = s->total_objects;
  std::size_t partial_free = 0;
  s->partial.for_each(
      [&](const page* slab) { partial_free += slab->objects - slab_freelist(slab).inuse; });
  std::size_t cpu_free = 0;
  for (unsigned c = 0; c <= nr_cpus_; ++c) { // (other threads' slots: exact when they are idle)
    const kmem_cache_cpu& cc = s->cpu_slab[c];
    if (cc.slab == nullptr)
      continue;
    ++ci.nr_cpu_slabs;
    bool ok = true;
    cpu_free += count_free(s, cc.slab, cc.freelist, cc.slab->objects, ok);
    cpu_free += cc.slab->objects - slab_freelist(cc.slab).inuse;
  }
  ci.active_objects = s->total_objects - partial_free;
  ci.free_objects = partial_free + cpu_free;
  return ci;
}

std::size_t SlabAllocator::slabinfo(char* buf, std::size_t size) const {
  TextBuffer out{buf, size};
  out.append("slabinfo - version: 2.1\n");
  out.append("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
             " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs>"
             " <num_slabs> <sharedavail>\n");
  platform::LockGuard guard(slab_mutex_);
  for (const kmem_cache* s = newest_; s != nullptr; s = s->next_cache) {
    const CacheInfo ci = info(s);
    out.append("%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
               s->name, static_cast<unsigned long>(ci.active_objects),
               static_cast<unsigned long>(ci.total_objects), ci.size, ci.objects_per_slab,
               1 << ci.order, 0u, 0u, 0u, static_cast<unsigned long>(ci.nr_slabs),
               static_cast<unsigned long>(ci.nr_slabs), 0ul);
  }
  return out.length();
}

} // namespace km
