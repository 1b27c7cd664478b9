// slab/slub.cpp - kmem_cache create/alloc/free/shrink/destroy and validate(); see slub.h.
#include "slab/slub.h"

#include <cstring>
#include <initializer_list>
#include <new>

#include "platform/asan.h"
#include "support/bits.h"
#include "support/check.h"
#include "support/text_buffer.h"

namespace km {

namespace {

constexpr gfp_t kZoneBits = __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM | __GFP_MOVABLE;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uintptr_t addr_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

} // namespace

void SlabAllocator::init(const Reporter* reporter, PageAllocator* pages, const Config& cfg,
                         kmem_cache* cache_slots, kmem_cache_cpu* cpu_slots, unsigned nr_slots,
                         std::uint64_t* live_bitmap, std::uint64_t seed) {
  live_ = live_bitmap;
  live_count_ = 0;
  arena_start_ = pages->start_pfn() << pages->page_shift();
  reporter_ = reporter;
  pages_ = pages;
  slots_ = cache_slots;
  cpu_slots_ = cpu_slots;
  max_caches_ = nr_slots;
  nr_cpus_ = cfg.nr_cpus;
  cpu_ = 0;
  hardened_ = cfg.freelist_hardened;
  seed_ = seed;
  order_params_ =
      SlabOrderParams{cfg.page_shift,
                      cfg.max_order,
                      cfg.nr_cpus,
                      cfg.slub_min_order < cfg.max_order ? cfg.slub_min_order : cfg.max_order,
                      cfg.slub_max_order < cfg.max_order ? cfg.slub_max_order : cfg.max_order,
                      cfg.slub_min_objects,
                      cfg.cache_line_size};
  for (unsigned i = 0; i < max_caches_; ++i) {
    new (&slots_[i]) kmem_cache{};
    slots_[i].generation = 1;
  }
  for (unsigned i = 0; i < max_caches_ * nr_cpus_; ++i)
    new (&cpu_slots_[i]) kmem_cache_cpu{};
  newest_ = nullptr;
}

// ---- free pointers: stored = ptr ^ random ^ swab(address of the pointer) when hardened.

void* SlabAllocator::get_freepointer(const kmem_cache* s, void* obj) const {
  auto* where = static_cast<unsigned char*>(obj) + s->layout.offset;
  std::uintptr_t raw = load_metadata_word(where);
  if (hardened_)
    raw ^= s->random ^ __builtin_bswap64(addr_of(where));
  return reinterpret_cast<void*>(raw);
}

void SlabAllocator::set_freepointer(const kmem_cache* s, void* obj, void* fp) const {
  auto* where = static_cast<unsigned char*>(obj) + s->layout.offset;
  std::uintptr_t raw = addr_of(fp);
  if (hardened_)
    raw ^= s->random ^ __builtin_bswap64(addr_of(where));
  store_metadata_word(where, raw);
}

// ---- cache lifecycle

kmem_cache* SlabAllocator::create(const char* name, unsigned size, unsigned align,
                                  slab_flags_t flags, void (*ctor)(void*)) {
  const bool panic = (flags & SLAB_PANIC) != 0;
  const char* shown = name != nullptr ? name : "(null)";
  auto fail = [&](const char* reason) -> kmem_cache* {
    report_cache_create_failed(*reporter_, shown, reason, panic);
    return nullptr;
  };
  if (name == nullptr || name[0] == '\0')
    return fail("name is NULL or empty");
  if (std::strlen(name) > kCacheNameMax)
    return fail("name is longer than 63 characters");
  if (size == 0)
    return fail("size is 0");
  if (align != 0 && !is_pow2(align))
    return fail("align is not a power of two");
  if ((flags & ~SLAB_SUPPORTED_FLAGS) != 0) {
    if (flags & SLAB_RED_ZONE)
      return fail("SLAB_RED_ZONE is not supported yet");
    if (flags & SLAB_POISON)
      return fail("SLAB_POISON is not supported yet");
    if (flags & SLAB_STORE_USER)
      return fail("SLAB_STORE_USER is not supported yet");
    if (flags & SLAB_TRACE)
      return fail("SLAB_TRACE is not supported yet");
    if (flags & SLAB_TYPESAFE_BY_RCU)
      return fail("SLAB_TYPESAFE_BY_RCU is not supported (no RCU)");
    if (flags & SLAB_CACHE_DMA32)
      return fail("SLAB_CACHE_DMA32 is not supported (no DMA32 zone)");
    return fail("unknown flag bits");
  }
  SlabLayout layout;
  if (!calculate_layout(size, align, flags, ctor != nullptr, order_params_, layout))
    return fail("object too large for MAX_ORDER");
  kmem_cache* s = nullptr;
  unsigned slot = 0;
  for (; slot < max_caches_; ++slot) {
    if (!slots_[slot].in_use && !slots_[slot].retired) {
      s = &slots_[slot];
      break;
    }
  }
  if (s == nullptr)
    return fail("no free kmem_cache descriptor (Config::max_caches)");
  kmem_cache_cpu* cpus = &cpu_slots_[slot * nr_cpus_];
  const std::uint16_t generation = s->generation;
  new (s) kmem_cache{};
  s->generation = generation;
  std::memcpy(s->name, name, std::strlen(name) + 1);
  s->flags = flags;
  s->layout = layout;
  s->ctor = ctor;
  s->random = hardened_ ? splitmix64(seed_ ^ (std::uint64_t{slot} << 32) ^ addr_of(s)) : 0;
  s->cpu_slab = cpus;
  for (unsigned c = 0; c < nr_cpus_; ++c)
    cpus[c] = kmem_cache_cpu{};
  s->in_use = true;
  s->next_cache = newest_;
  s->prev_cache = nullptr;
  if (newest_ != nullptr)
    newest_->prev_cache = s;
  newest_ = s;
  return s;
}

bool SlabAllocator::is_cache(const kmem_cache* s) const {
  const auto a = addr_of(s);
  const auto base = addr_of(slots_);
  return a >= base && a < base + max_caches_ * sizeof(kmem_cache) &&
         (a - base) % sizeof(kmem_cache) == 0 && s->in_use;
}

namespace {
constexpr unsigned kHandleShift = 48;
constexpr bool kTaggedHandles = sizeof(std::uintptr_t) == 8;
} // namespace

kmem_cache* SlabAllocator::handle_of(const kmem_cache* s) const {
  if (s == nullptr)
    return nullptr;
  std::uintptr_t h = addr_of(s);
  if constexpr (kTaggedHandles) {
    KM_DCHECK_EQ(h >> kHandleShift, 0u);
    h |= static_cast<std::uintptr_t>(s->generation) << kHandleShift;
  }
  return reinterpret_cast<kmem_cache*>(h);
}

kmem_cache* SlabAllocator::resolve(const kmem_cache* handle) const {
  std::uintptr_t a = addr_of(handle);
  std::uintptr_t generation = 0;
  if constexpr (kTaggedHandles) {
    generation = a >> kHandleShift;
    a &= (std::uintptr_t{1} << kHandleShift) - 1;
  }
  auto* s = reinterpret_cast<kmem_cache*>(a);
  if (!is_cache(s))
    return nullptr;
  if (kTaggedHandles && s->generation != generation)
    return nullptr;
  return s;
}

void SlabAllocator::destroy(kmem_cache* s) {
  KM_DCHECK(is_cache(s)); // Heap resolved the handle and reported a dead one
  flush(s);
  std::size_t live = 0;
  s->partial.for_each([&](const page* slab) { live += slab->inuse; });
  s->full.for_each([&](const page* slab) { live += slab->inuse; });
  if (live != 0) {
    // The kernel WARNs and leaks the cache; we keep it alive and usable.
    report_objects_remaining(*reporter_, s->name, live);
    return;
  }
  while (!s->partial.empty()) {
    page* slab = s->partial.front();
    s->partial.remove(slab);
    discard_slab(s, slab);
  }
  if (s->prev_cache != nullptr)
    s->prev_cache->next_cache = s->next_cache;
  else
    newest_ = s->next_cache;
  if (s->next_cache != nullptr)
    s->next_cache->prev_cache = s->prev_cache;
  s->in_use = false;
  if (++s->generation == 0) // wrapped: every handle value of this slot has been used
    s->retired = true;
}

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

// ---- slabs

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
  // The slab's allocation bits start clear. They are cleared here rather than at heap init, so
  // init commits none of the bitmap (and a caller's region may hold anything there).
  const std::size_t slab_bytes = std::size_t{1} << (pages_->page_shift() + order);
  std::memset(&live_[live_bit(start) / 64], 0, slab_bytes / 64);
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
    set_live(base + std::size_t{i} * s->layout.size);
  s->full.push_back(slab);
}

// ---- allocation

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
  set_live(obj);
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

// ---- free

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
      !test_live(obj) || ((s->flags & SLAB_CONSISTENCY_CHECKS) != 0 && on_freelist(s, slab, obj)) ||
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
  clear_live(obj);
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

// ---- introspection

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
  ci.nr_slabs = s->nr_slabs;
  ci.nr_partial = s->partial.length();
  ci.nr_full = s->full.length();
  ci.total_objects = s->total_objects;
  std::size_t partial_free = 0;
  s->partial.for_each([&](const page* slab) { partial_free += slab->objects - slab->inuse; });
  std::size_t cpu_free = 0;
  for (unsigned c = 0; c < nr_cpus_; ++c) {
    const kmem_cache_cpu& cc = s->cpu_slab[c];
    if (cc.slab == nullptr)
      continue;
    ++ci.nr_cpu_slabs;
    bool ok = true;
    cpu_free += count_free(s, cc.slab, cc.freelist, cc.slab->objects, ok);
    cpu_free += cc.slab->objects - cc.slab->inuse;
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

// ---- validate

std::size_t SlabAllocator::count_live(std::uintptr_t begin, std::uintptr_t end) const {
  std::size_t count = 0;
  for (std::size_t bit = (begin - arena_start_) / 8; bit < (end - arena_start_) / 8;) {
    if (bit % 64 == 0 && bit + 64 <= (end - arena_start_) / 8) {
      count += static_cast<std::size_t>(__builtin_popcountll(live_[bit / 64]));
      bit += 64;
    } else {
      count += (live_[bit / 64] >> (bit % 64)) & 1u;
      ++bit;
    }
  }
  return count;
}

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
                                         const void* cpu_list, char state) const {
  const Reporter& r = *reporter_;
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
  const unsigned expected_objects = slab->order == s->layout.order       ? s->layout.objects
                                    : slab->order == s->layout.min_order ? s->layout.min_objects
                                                                         : 0;
  if (slab->objects != expected_objects || slab->inuse > slab->objects) {
    report_corruption(r, "AC1", addr,
                      "%s: slab %#lx order %u has %u objects (%u in use), expected %u", s->name,
                      static_cast<unsigned long>(addr), slab->order, slab->objects, slab->inuse,
                      expected_objects);
    return errors + 1;
  }
  bool ok = true;
  const std::size_t on_slab = count_free(s, slab, slab->freelist, slab->objects, ok);
  const std::size_t on_cpu = count_free(s, slab, cpu_list, slab->objects, ok);
  if (!ok) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: freelist corrupt (invalid pointer or cycle)",
                      s->name, static_cast<unsigned long>(addr));
    return errors + 1;
  }
  const std::size_t slab_begin = addr;
  const std::size_t live_bits =
      count_live(slab_begin, slab_begin + std::size_t{slab->objects} * s->layout.size);
  const std::size_t free_total = on_slab + on_cpu;
  if (free_total <= slab->objects && live_bits != slab->objects - free_total) {
    report_corruption(r, "LIVE", addr,
                      "%s: slab %#lx: %zu allocation bits set, %zu objects allocated", s->name,
                      static_cast<unsigned long>(addr), live_bits,
                      static_cast<std::size_t>(slab->objects) - free_total);
    ++errors;
  }
  bool free_marked_live = false;
  const void* lists[2] = {slab->freelist, cpu_list};
  for (const void* list : lists)
    for (void* p = const_cast<void*>(list); p != nullptr && !free_marked_live;
         p = get_freepointer(s, p))
      free_marked_live = test_live(p);
  if (free_marked_live) {
    report_corruption(r, "LIVE", addr, "%s: slab %#lx: a free object is marked allocated", s->name,
                      static_cast<unsigned long>(addr));
    ++errors;
  }
  if (static_cast<std::size_t>(slab->objects - slab->inuse) != on_slab) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: objects %u - inuse %u != %zu on its freelist",
                      s->name, static_cast<unsigned long>(addr), slab->objects, slab->inuse,
                      on_slab);
    ++errors;
  }
  if (on_slab + on_cpu > slab->objects) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx: %zu free objects exceed capacity %u", s->name,
                      static_cast<unsigned long>(addr), on_slab + on_cpu, slab->objects);
    ++errors;
  }
  const bool frozen = (slab->flags & PG_frozen) != 0;
  const bool state_ok = state == 'c'   ? frozen
                        : state == 'p' ? !frozen && slab->inuse < slab->objects
                                       : !frozen && slab->inuse == slab->objects;
  if (!state_ok) {
    report_corruption(r, "AC1", addr, "%s: slab %#lx on the %s list has inuse %u/%u, frozen %d",
                      s->name, static_cast<unsigned long>(addr),
                      state == 'c'   ? "cpu"
                      : state == 'p' ? "partial"
                                     : "full",
                      slab->inuse, slab->objects, frozen ? 1 : 0);
    ++errors;
  }
  return errors;
}

std::size_t SlabAllocator::validate_cache(const kmem_cache* s) const {
  const Reporter& r = *reporter_;
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
      errors += validate_slab(s, slab, nullptr, li == 0 ? 'p' : 'f');
    });
  }
  for (unsigned c = 0; c < nr_cpus_; ++c) {
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
    if (cc.slab->slab_cpu != c) {
      report_corruption(r, "AC1", 0, "%s: cpu %u slab records cpu %u", s->name, c,
                        cc.slab->slab_cpu);
      ++errors;
    }
    errors += validate_slab(s, cc.slab, cc.freelist, 'c');
  }
  if (slabs != s->nr_slabs || objects != s->total_objects) {
    report_corruption(r, "AC1", 0, "%s: counters say %zu slabs / %zu objects, lists hold %zu / %zu",
                      s->name, s->nr_slabs, s->total_objects, slabs, objects);
    ++errors;
  }
  return errors;
}

std::size_t SlabAllocator::validate() const {
  std::size_t errors = 0;
  std::size_t slab_pages = 0;
  std::size_t caches = 0;
  for (const kmem_cache* s = newest_; s != nullptr && caches <= max_caches_; s = s->next_cache) {
    ++caches;
    errors += validate_cache(s);
    auto add_pages = [&](const page* slab) { slab_pages += std::size_t{1} << slab->order; };
    s->partial.for_each(add_pages);
    s->full.for_each(add_pages);
    for (unsigned c = 0; c < nr_cpus_; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add_pages(s->cpu_slab[c].slab);
  }
  std::size_t live_in_slabs = 0;
  for (const kmem_cache* s = newest_; s != nullptr && caches <= max_caches_ + 1;
       s = s->next_cache) {
    auto add_live = [&](const page* slab) {
      const auto base = addr_of(pages_->page_address(slab));
      live_in_slabs += count_live(base, base + std::size_t{slab->objects} * s->layout.size);
    };
    s->partial.for_each(add_live);
    s->full.for_each(add_live);
    for (unsigned c = 0; c < nr_cpus_; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add_live(s->cpu_slab[c].slab);
  }
  const std::size_t live_all = live_count_;       // a running count: no walk over the whole arena
  if (errors == 0 && live_all != live_in_slabs) { // slab ranges are only trusted when clean
    report_corruption(*reporter_, "LIVE", 0,
                      "%zu allocation bits are set, %zu of them inside slab objects", live_all,
                      live_in_slabs);
    ++errors;
  }
  if (slab_pages != pages_->owner_pages(PageOwner::Slab)) {
    report_corruption(*reporter_, "AC2", 0, "caches hold %zu slab pages, the page allocator %zu",
                      slab_pages, pages_->owner_pages(PageOwner::Slab));
    ++errors;
  }
  return errors;
}

} // namespace km
