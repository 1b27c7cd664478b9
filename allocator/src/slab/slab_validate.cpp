// slab/slab_validate.cpp - SlabAllocator::validate(): walks every cache's lists, cpu slabs and
// freelists and checks AC1, OWN, AC2 and LIVE as slub.h states them, reporting each broken one
// by name. Read-only: a corrupt freelist is counted, never followed past its slab.
#include "slab/slub.h"

#include "support/bits.h"

namespace km {

std::size_t SlabAllocator::count_free(const kmem_cache* s, const page* slab, const void* list,
                                      std::size_t limit, bool& ok) const {
  std::size_t n = 0;
  for (void* p = const_cast<void*>(list); p != nullptr; p = get_freepointer(s, p)) {
    if (!object_valid(s, slab, p) || ++n > limit) {
      ok = false;
      break;
    }
  }
  return n;
}

std::size_t SlabAllocator::validate_slab(const kmem_cache* s, const page* slab,
                                         const void* cpu_list, char state,
                                         const Reporter& r) const {
  const auto addr = addr_of(pages_->page_address(slab));
  std::size_t errors = 0;
  if (pages_->checked_descriptor(slab) == nullptr) {
    report_corruption(r, "AC1", 0, "%s: a slab list holds a foreign descriptor", s->name);
    return 1;
  }
  if (slab->owner != PageOwner::Slab || (slab->flags & PG_head) == 0 || slab->slab_cache != s) {
    report_corruption(r, "OWN", addr, "%s: slab %#lx is owned by %s (flags %#x, cache %s)", s->name,
                      static_cast<unsigned long>(addr), page_owner_name(slab->owner), slab->flags,
                      slab->slab_cache == s ? "ok" : "other");
    return 1;
  }
  // One snapshot of the freelist pair (exact when no other thread frees to the slab).
  const SlabFreelist st = slab_freelist(slab);
  const unsigned expected_objects = slab->order == s->layout.order       ? s->layout.objects
                                    : slab->order == s->layout.min_order ? s->layout.min_objects
                                                                         : 0;
  if (slab->objects != expected_objects || st.inuse > slab->objects) {
    report_corruption(
        r, "AC1", addr, "%s: slab %#lx order %u has %u objects (%u in use), expected %u", s->name,
        static_cast<unsigned long>(addr), slab->order, slab->objects, st.inuse, expected_objects);
    return errors + 1;
  }
  bool ok = true;
  const std::size_t on_slab = count_free(s, slab, st.freelist, slab->objects, ok);
  const std::size_t on_cpu = count_free(s, slab, cpu_list, slab->objects, ok);
  if (!ok) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: freelist corrupt (invalid pointer or cycle)",
                      s->name, static_cast<unsigned long>(addr));
    return errors + 1;
  }
  const std::size_t slab_begin = addr;
  const std::size_t live_bits =
      live_.count(slab_begin, slab_begin + std::size_t{slab->objects} * s->layout.size);
  const std::size_t free_total = on_slab + on_cpu;
  if (free_total <= slab->objects && live_bits != slab->objects - free_total) {
    report_corruption(r, "LIVE", addr,
                      "%s: slab %#lx: %zu allocation bits set, %zu objects allocated", s->name,
                      static_cast<unsigned long>(addr), live_bits,
                      static_cast<std::size_t>(slab->objects) - free_total);
    ++errors;
  }
  bool free_marked_live = false;
  const void* lists[2] = {st.freelist, cpu_list};
  for (const void* list : lists)
    for (void* p = const_cast<void*>(list); p != nullptr && !free_marked_live;
         p = get_freepointer(s, p))
      free_marked_live = live_.test(p);
  if (free_marked_live) {
    report_corruption(r, "LIVE", addr, "%s: slab %#lx: a free object is marked allocated", s->name,
                      static_cast<unsigned long>(addr));
    ++errors;
  }
  if (static_cast<std::size_t>(slab->objects - st.inuse) != on_slab) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: objects %u - inuse %u != %zu on its freelist",
                      s->name, static_cast<unsigned long>(addr), slab->objects, st.inuse, on_slab);
    ++errors;
  }
  if (on_slab + on_cpu > slab->objects) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: %zu free objects exceed capacity %u", s->name,
                      static_cast<unsigned long>(addr), on_slab + on_cpu, slab->objects);
    ++errors;
  }
  const bool frozen = st.frozen != 0;
  const bool state_ok = state == 'c'   ? frozen
                        : state == 'p' ? !frozen && st.inuse < slab->objects
                                       : !frozen && st.inuse == slab->objects;
  if (!state_ok) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx on the %s list has inuse %u/%u, frozen %d",
                      s->name, static_cast<unsigned long>(addr),
                      state == 'c'   ? "cpu"
                      : state == 'p' ? "partial"
                                     : "full",
                      st.inuse, slab->objects, frozen ? 1 : 0);
    ++errors;
  }
  return errors;
}

std::size_t SlabAllocator::validate_cache(const kmem_cache* s, const Reporter& r) const {
  std::size_t errors = 0;
  std::size_t slabs = 0;
  std::size_t objects = 0;
  const PageList* lists[2] = {&s->partial, &s->full};
  for (unsigned li = 0; li < 2; ++li) {
    if (!lists[li]->consistent(pages_->npages())) {
      report_corruption(r, "AC1", 0, "%s: %s list is broken", s->name,
                        li == 0 ? "partial" : "full");
      ++errors;
      continue;
    }
    lists[li]->for_each([&](const page* slab) {
      ++slabs;
      objects += slab->objects;
      errors += validate_slab(s, slab, nullptr, li == 0 ? 'p' : 'f', r);
    });
  }
  for (unsigned c = 0; c <= nr_cpus_; ++c) {
    const kmem_cache_cpu& cc = s->cpu_slab[c];
    if (cc.slab == nullptr) {
      if (cc.freelist != nullptr) {
        report_corruption(r, "AC1", 0, "%s: cpu %u has a freelist but no slab", s->name, c);
        ++errors;
      }
      continue;
    }
    ++slabs;
    objects += cc.slab->objects;
    if (const unsigned recorded = slab_freelist(cc.slab).slab_cpu; recorded != c) {
      report_corruption(r, "AC1", 0, "%s: cpu %u slab records cpu %u", s->name, c, recorded);
      ++errors;
    }
    errors += validate_slab(s, cc.slab, cc.freelist, 'c', r);
  }
  if (slabs != s->nr_slabs || objects != s->total_objects) {
    report_corruption(r, "AC1", 0, "%s: counters say %zu slabs / %zu objects, lists hold %zu / %zu",
                      s->name, s->nr_slabs, s->total_objects, slabs, objects);
    ++errors;
  }
  return errors;
}

// The walk runs under slab_mutex and each list_lock; its reports reach the handler after they
// are released.
std::size_t SlabAllocator::validate() const {
  return report_after(*reporter_, [this](const Reporter& r) {
    platform::LockGuard registry(slab_mutex_);
    return validate_locked(r);
  });
}

std::size_t SlabAllocator::validate_locked(const Reporter& r) const {
  std::size_t errors = 0;
  std::size_t slab_pages = 0;
  std::size_t caches = 0;
  for (const kmem_cache* s = newest_; s != nullptr && caches <= max_caches_; s = s->next_cache) {
    ++caches;
    platform::LockGuard guard(s->list_lock);
    errors += validate_cache(s, r);
    auto add_pages = [&](const page* slab) { slab_pages += std::size_t{1} << slab->order; };
    s->partial.for_each(add_pages);
    s->full.for_each(add_pages);
    for (unsigned c = 0; c <= nr_cpus_; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add_pages(s->cpu_slab[c].slab);
  }
  std::size_t live_in_slabs = 0;
  for (const kmem_cache* s = newest_; s != nullptr && caches <= max_caches_ + 1;
       s = s->next_cache) {
    platform::LockGuard guard(s->list_lock);
    auto add_live = [&](const page* slab) {
      const auto base = addr_of(pages_->page_address(slab));
      live_in_slabs += live_.count(base, base + std::size_t{slab->objects} * s->layout.size);
    };
    s->partial.for_each(add_live);
    s->full.for_each(add_live);
    for (unsigned c = 0; c <= nr_cpus_; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add_live(s->cpu_slab[c].slab);
  }
  long long live_all = 0; // running counts per slot: no walk over the whole arena
  for (unsigned c = 0; c <= nr_cpus_; ++c)
    live_all += live_delta_[c].bits;
  if (errors == 0 &&
      live_all != static_cast<long long>(live_in_slabs)) { // (slabs trusted when clean)
    report_corruption(r, "LIVE", 0, "%lld allocation bits are set, %zu of them inside slab objects",
                      live_all, live_in_slabs);
    ++errors;
  }
  if (slab_pages != pages_->owner_pages(PageOwner::Slab)) {
    report_corruption(r, "AC2", 0, "caches hold %zu slab pages, the page allocator %zu", slab_pages,
                      pages_->owner_pages(PageOwner::Slab));
    ++errors;
  }
  return errors;
}

} // namespace km
