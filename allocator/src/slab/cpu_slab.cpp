// slab/cpu_slab.cpp - the cpu-slab state machine of SLUB (kmem_cache.h lists the states): the
// allocation fast path from the cpu's freelist and its slow path (remote frees, the partial
// list, a new slab), the free fast path to the cpu slab and __slab_free for any other slab,
// freeze / deactivate / isolate, new and discarded slabs, flush and shrink, and the checks every
// free makes before it changes anything.
#include "slab/slub.h"

#include <cstring>

#include "platform/asan.h"
#include "support/bits.h"
#include "support/check.h"

namespace km {

namespace {

constexpr gfp_t kZoneBits = __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM | __GFP_MOVABLE;

} // namespace

int SlabAllocator::shrink(kmem_cache* s) {
  flush(s);
  for (page* slab = s->partial.front(); slab != nullptr;) {
    page* next = slab->next;
    if (slab->inuse == 0) {
      s->partial.remove(slab);
      discard_slab(s, slab);
    }
    slab = next;
  }
  return s->nr_slabs != 0 ? 1 : 0;
}

void SlabAllocator::flush(kmem_cache* s) {
  for (unsigned c = 0; c < nr_cpus_; ++c)
    deactivate_slab(s, &s->cpu_slab[c]);
}

void SlabAllocator::flush_all() {
  for (kmem_cache* s = newest_; s != nullptr; s = s->next_cache)
    flush(s);
}

page* SlabAllocator::new_slab(kmem_cache* s, gfp_t gfp) {
  gfp_t base = gfp & ~(kZoneBits | __GFP_ZERO);
  if (s->flags & SLAB_CACHE_DMA)
    base |= __GFP_DMA;
  if (s->flags & SLAB_RECLAIM_ACCOUNT)
    base |= __GFP_RECLAIMABLE;
  const SlabLayout& l = s->layout;
  // allocate_slab: the preferred order without retrying hard, then the minimum order.
  unsigned order = l.order;
  unsigned objects = l.objects;
  page* slab =
      pages_->alloc((base | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL, order, PageOwner::Slab);
  if (slab == nullptr) {
    order = l.min_order;
    objects = l.min_objects;
    slab = pages_->alloc(base, order, PageOwner::Slab);
    if (slab == nullptr)
      return nullptr;
  }
  auto* start = static_cast<unsigned char*>(pages_->page_address(slab));
  // The slab's allocation bits start clear (a caller's region may hold anything there).
  const std::size_t slab_bytes = std::size_t{1} << (pages_->page_shift() + order);
  live_.clear_range(start, slab_bytes);
  slab->slab_cache = s;
  slab->objects = static_cast<std::uint16_t>(objects);
  slab->inuse = 0;
  slab->slab_cpu = 0;
  slab->next = slab->prev = nullptr;
  if (s->ctor != nullptr)
    for (unsigned i = 0; i < objects; ++i)
      s->ctor(start + std::size_t{i} * l.size);
  poison(start, std::size_t{1} << (pages_->page_shift() + order));
  for (unsigned i = 0; i < objects; ++i) {
    void* next = i + 1 < objects ? start + std::size_t{i + 1} * l.size : nullptr;
    set_freepointer(s, start + std::size_t{i} * l.size, next);
  }
  slab->freelist = start;
  ++s->nr_slabs;
  s->total_objects += objects;
  return slab;
}

void SlabAllocator::discard_slab(kmem_cache* s, page* slab) {
  --s->nr_slabs;
  s->total_objects -= slab->objects;
  slab->slab_cache = nullptr;
  slab->freelist = nullptr;
  slab->flags &= static_cast<std::uint8_t>(~PG_frozen);
  const bool freed = pages_->free(slab, slab->order, PageOwner::Slab);
  KM_CHECK(freed);
}

void SlabAllocator::freeze(kmem_cache_cpu* c, page* slab) {
  slab->flags |= PG_frozen;
  slab->slab_cpu = static_cast<std::uint16_t>(c - slab->slab_cache->cpu_slab);
  c->slab = slab;
  c->freelist = slab->freelist;
  slab->freelist = nullptr;
  slab->inuse = slab->objects;
  ++c->tid;
}

// deactivate_slab: the cpu's free objects go back to the slab, which leaves the cpu and joins
// the list its fill level calls for (or the page allocator, when empty and enough are kept).
void SlabAllocator::deactivate_slab(kmem_cache* s, kmem_cache_cpu* c) {
  page* slab = c->slab;
  if (slab == nullptr)
    return;
  // As 6.8 deactivate_slab: a slab that received remote frees goes to the tail of the partial
  // list (DEACTIVATE_TO_TAIL), any other to its head, where the next allocation finds it hot.
  const bool remote_frees = slab->freelist != nullptr;
  void* obj = c->freelist;
  while (obj != nullptr) {
    void* next = get_freepointer(s, obj);
    set_freepointer(s, obj, slab->freelist);
    slab->freelist = obj;
    --slab->inuse;
    obj = next;
  }
  c->freelist = nullptr;
  c->slab = nullptr;
  ++c->tid;
  slab->flags &= static_cast<std::uint8_t>(~PG_frozen);
  if (slab->inuse == 0 && s->partial.length() >= s->layout.min_partial)
    discard_slab(s, slab);
  else if (slab->inuse == slab->objects)
    s->full.push_back(slab);
  else if (remote_frees)
    s->partial.push_back(slab);
  else
    s->partial.push_front(slab);
}

// A slab whose freelist turned out corrupt: keep its objects away from every cpu and list
// reader by marking it full (its free objects leak, as SLUB's slab_fix does).
void SlabAllocator::isolate_slab(kmem_cache* s, kmem_cache_cpu* c) {
  page* slab = c->slab;
  c->freelist = nullptr;
  c->slab = nullptr;
  ++c->tid;
  slab->flags &= static_cast<std::uint8_t>(~PG_frozen);
  slab->freelist = nullptr;
  slab->inuse = slab->objects;
  // Its free objects count as allocated from now on (leaked), in the bitmap too.
  auto* base = static_cast<unsigned char*>(pages_->page_address(slab));
  for (unsigned i = 0; i < slab->objects; ++i)
    live_.set(base + std::size_t{i} * s->layout.size);
  s->full.push_back(slab);
}

void* SlabAllocator::alloc(kmem_cache* s, gfp_t gfp) {
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_invalid_gfp(*reporter_, gfp);
    return nullptr;
  }
  kmem_cache_cpu* c = &s->cpu_slab[cpu_];
  void* obj = c->freelist;
  if (obj == nullptr || (s->flags & SLAB_CONSISTENCY_CHECKS) != 0) {
    obj = alloc_slow(s, c, gfp);
  } else {
    c->freelist = get_freepointer(s, obj);
    ++c->tid;
  }
  if (obj == nullptr)
    return nullptr;
  live_.set(obj);
  unpoison(obj, s->layout.object_size);
  if ((gfp & __GFP_ZERO) != 0)
    std::memset(obj, 0, s->layout.object_size);
  return obj;
}

void* SlabAllocator::alloc_slow(kmem_cache* s, kmem_cache_cpu* c, gfp_t gfp) {
  for (;;) {
    if (c->freelist == nullptr && c->slab != nullptr) {
      page* slab = c->slab;
      if (slab->freelist != nullptr) { // objects freed by other cpus
        c->freelist = slab->freelist;
        slab->freelist = nullptr;
        slab->inuse = slab->objects;
      } else {
        deactivate_slab(s, c);
      }
    }
    if (c->freelist == nullptr && c->slab == nullptr) {
      page* slab = s->partial.front();
      if (slab != nullptr) {
        s->partial.remove(slab);
      } else {
        slab = new_slab(s, gfp);
        if (slab == nullptr)
          return nullptr;
      }
      freeze(c, slab);
    }
    void* obj = c->freelist;
    void* next = get_freepointer(s, obj);
    if ((s->flags & SLAB_CONSISTENCY_CHECKS) != 0 &&
        (!object_valid(s, c->slab, obj) || (next != nullptr && !object_valid(s, c->slab, next)))) {
      report_freelist_corrupt(*reporter_, s->name, addr_of(obj));
      isolate_slab(s, c);
      continue;
    }
    c->freelist = next;
    ++c->tid;
    return obj;
  }
}

bool SlabAllocator::object_valid(const kmem_cache* s, const page* slab, const void* obj) const {
  const auto base = addr_of(pages_->page_address(slab));
  const auto a = addr_of(obj);
  return a >= base && a < base + std::size_t{slab->objects} * s->layout.size &&
         (a - base) % s->layout.size == 0;
}

bool SlabAllocator::on_freelist(const kmem_cache* s, const page* slab, const void* obj) const {
  const void* lists[2] = {slab->freelist, nullptr};
  if ((slab->flags & PG_frozen) != 0)
    lists[1] = s->cpu_slab[slab->slab_cpu].freelist;
  for (const void* list : lists) {
    std::size_t steps = 0;
    for (void* p = const_cast<void*>(list); p != nullptr && steps <= slab->objects; ++steps) {
      if (p == obj)
        return true;
      if (!object_valid(s, slab, p))
        break;
      p = get_freepointer(s, p);
    }
  }
  return false;
}

kmem_cache* SlabAllocator::cache_of(const page* head) const {
  return head != nullptr && pages_->owner_of(head) == PageOwner::Slab ? head->slab_cache : nullptr;
}

bool SlabAllocator::check_free(kmem_cache* s, void* obj) const {
  KM_DCHECK(is_cache(s)); // Heap resolved the handle and reported a dead one
  page* p = pages_->virt_to_page(addr_of(obj));
  if (p == nullptr) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj), "outside the heap");
    return false;
  }
  const PageOwner owner = pages_->owner_of(p);
  page* slab = owner == PageOwner::Free || owner == PageOwner::Metadata
                   ? p
                   : pages_->pfn_to_page(pages_->start_pfn() + p->head);
  if (owner != PageOwner::Slab || slab->owner != PageOwner::Slab) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj),
                                  owner == PageOwner::Free ? "in a free page"
                                                           : "not in a slab page");
    return false;
  }
  if (slab->slab_cache != s) {
    report_wrong_cache(*reporter_, s->name, slab->slab_cache->name, addr_of(obj));
    return false;
  }
  if (!object_valid(s, slab, obj)) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj), "not at an object boundary");
    return false;
  }
  return check_not_free(s, slab, obj);
}

// The allocation bitmap catches every double free; SLAB_CONSISTENCY_CHECKS also walks the
// freelists, and the hardened freelist's naive check (the head of the list the object would
// join) stays as a second line should the bitmap be damaged.
bool SlabAllocator::check_not_free(const kmem_cache* s, const page* slab, const void* obj) const {
  const kmem_cache_cpu* c = &s->cpu_slab[cpu_];
  const bool local = c->slab == slab;
  const bool already_free =
      !live_.test(obj) ||
      ((s->flags & SLAB_CONSISTENCY_CHECKS) != 0 && on_freelist(s, slab, obj)) ||
      (hardened_ && obj == (local ? c->freelist : slab->freelist));
  if (already_free) {
    report_object_double_free(*reporter_, s->name, addr_of(obj));
    return false;
  }
  return true;
}

bool SlabAllocator::free_object(kmem_cache* s, page* slab, void* obj) {
  if (!check_not_free(s, slab, obj))
    return false;
  free_to_slab(s, slab, obj);
  return true;
}

bool SlabAllocator::free(kmem_cache* s, void* obj) {
  if (obj == nullptr || !check_free(s, obj))
    return false;
  free_checked(s, obj);
  return true;
}

void SlabAllocator::free_checked(kmem_cache* s, void* obj) {
  const page* p = pages_->virt_to_page(addr_of(obj));
  free_to_slab(s, pages_->pfn_to_page(pages_->start_pfn() + p->head), obj);
}

void SlabAllocator::free_to_slab(kmem_cache* s, page* slab, void* obj) {
  kmem_cache_cpu* c = &s->cpu_slab[cpu_];
  live_.clear(obj);
  poison(obj, s->layout.size);
  if (c->slab == slab) {
    set_freepointer(s, obj, c->freelist);
    c->freelist = obj;
    ++c->tid;
  } else {
    slab_free_slow(s, slab, obj);
  }
}

// __slab_free: to a slab that is not this cpu's.
void SlabAllocator::slab_free_slow(kmem_cache* s, page* slab, void* obj) {
  const bool frozen = (slab->flags & PG_frozen) != 0;
  const bool was_full = !frozen && slab->freelist == nullptr;
  set_freepointer(s, obj, slab->freelist);
  slab->freelist = obj;
  --slab->inuse;
  if (frozen)
    return; // another cpu's slab: it takes these back when its own freelist runs dry
  if (slab->inuse == 0 && s->partial.length() >= s->layout.min_partial) {
    if (was_full)
      s->full.remove(slab);
    else
      s->partial.remove(slab);
    discard_slab(s, slab);
    return;
  }
  if (was_full) {
    s->full.remove(slab);
    s->partial.push_back(slab);
  }
}

} // namespace km
