// slab/cpu_slab.cpp - the cpu-slab state machine of SLUB (kmem_cache.h lists the states): cpu
// slots and threads, the allocation fast path from the slot's freelist and its slow path
// (remote frees, the partial list, a new slab), the free fast path to the slot's cpu slab and
// __slab_free for any other slab, freeze / deactivate / isolate, new and discarded slabs, flush
// and shrink, and the checks every free makes before it changes anything.
//
// Locks (order in platform/lock.h): the fast paths take none; nor do a remote free that leaves
// its slab on its list and the cpu's refill from its own slab's remote frees (one
// compare-and-swap of the slab's freelist pair each, slab_freelist.h). Everything that changes
// a cache's lists and counters, or moves a slab between them, holds that cache's list_lock; the
// shared slot's calls hold overflow_lock_ throughout.
#include "slab/slub.h"

#include <cstring>

#include "platform/asan.h"
#include "support/bits.h"
#include "support/check.h"

namespace km {

namespace {

constexpr gfp_t kZoneBits = __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM | __GFP_MOVABLE;

// slot_state_ values.
constexpr std::uint32_t kSlotFree = 0;
constexpr std::uint32_t kSlotClaimed = 1;  // a thread's
constexpr std::uint32_t kSlotBorrowed = 2; // a flush is deactivating it

bool debug_cache(const kmem_cache* s) {
  return (s->flags & SLAB_CONSISTENCY_CHECKS) != 0;
}

bool take_slot(std::uint32_t* state, std::uint32_t as) {
  std::uint32_t expected = kSlotFree;
  return __atomic_compare_exchange_n(state, &expected, as, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}

} // namespace

// ---- cpu slots

// The thread key's destructor. A call into the heap from a later destructor of the same thread
// claims a slot again (and this runs again: PTHREAD_DESTRUCTOR_ITERATIONS).
void SlabAllocator::on_thread_exit(void* claim) {
  const auto* c = static_cast<const SlotClaim*>(claim);
  if (platform::this_thread_slot.heap == c->slabs->id_)
    platform::this_thread_slot.heap = 0;
  c->slabs->release_slot(c->cpu);
}

inline unsigned SlabAllocator::this_cpu() {
  if (__builtin_expect(slot_mode_ != SlotMode::Threads, 0)) {
    if (slot_mode_ == SlotMode::Fixed)
      return cpu_;
    const unsigned cpu = platform::platform_hooks.current_cpu();
    return cpu < nr_cpus_ ? cpu : nr_cpus_; // out of range: the shared slot, under its lock
  }
  platform::ThreadSlot& cached = platform::this_thread_slot;
  if (cached.heap == id_)
    return cached.cpu;
  const void* claim = platform::thread_value(key_);
  const unsigned cpu = claim != nullptr ? static_cast<const SlotClaim*>(claim)->cpu : claim_slot();
  cached = platform::ThreadSlot{id_, cpu};
  return cpu;
}

// A thread's first call: the lowest free slot, else the shared one. Without a thread key (the
// platform gave none) every thread shares the shared slot.
unsigned SlabAllocator::claim_slot() {
  if (!key_.ok)
    return nr_cpus_;
  unsigned cpu = nr_cpus_;
  for (unsigned i = 0; i < nr_cpus_; ++i) {
    if (take_slot(&slot_state_[i], kSlotClaimed)) {
      cpu = i;
      break;
    }
  }
  platform::set_thread_value(key_, &claims_[cpu]);
  return cpu;
}

// The exit hook: the thread's cpu slabs go back to their caches' lists, then the slot is free.
void SlabAllocator::release_slot(unsigned cpu) {
  if (cpu >= nr_cpus_)
    return; // the shared slot stays with the threads still using it
  {
    platform::LockGuard guard(slab_mutex_);
    for (kmem_cache* s = newest_; s != nullptr; s = s->next_cache)
      flush_slot(s, cpu);
  }
  __atomic_store_n(&slot_state_[cpu], kSlotFree, __ATOMIC_RELEASE);
}

// The caller holds the slot (its own, a borrowed one, the shared one under overflow_lock, or
// every slot with set_cpu), so nobody else writes its slab: an empty slot is skipped without
// list_lock, as the kernel's flush_all skips a cpu whose has_cpu_slab() is false.
void SlabAllocator::flush_slot(kmem_cache* s, unsigned cpu) {
  if (s->cpu_slab[cpu].slab == nullptr)
    return;
  platform::LockGuard guard(s->list_lock);
  deactivate_slab(s, &s->cpu_slab[cpu]);
}

// flush_all(): the kernel runs it on every cpu. Here a thread flushes its own slot, the shared
// one and every slot no thread holds (borrowed meanwhile); a slot another live thread holds is
// left to it (it is flushed when that thread exits). With set_cpu the caller runs alone, and
// every slot is flushed. With the platform's current_cpu() only the caller's cpu and the shared
// slot are: the embedder runs the flush on each cpu, as the kernel's flush_all does.
void SlabAllocator::flush(kmem_cache* s) {
  const bool fixed = slot_mode_ == SlotMode::Fixed;
  const unsigned own = fixed ? 0 : this_cpu();
  for (unsigned cpu = 0; cpu < nr_cpus_; ++cpu) {
    if (fixed || cpu == own) {
      flush_slot(s, cpu);
    } else if (slot_mode_ == SlotMode::Threads && take_slot(&slot_state_[cpu], kSlotBorrowed)) {
      flush_slot(s, cpu);
      __atomic_store_n(&slot_state_[cpu], kSlotFree, __ATOMIC_RELEASE);
    }
  }
  platform::LockGuard guard(overflow_lock_);
  flush_slot(s, nr_cpus_);
}

void SlabAllocator::flush_all() {
  platform::LockGuard guard(slab_mutex_);
  for (kmem_cache* s = newest_; s != nullptr; s = s->next_cache)
    flush(s);
}

int SlabAllocator::shrink(kmem_cache* s) {
  flush(s);
  platform::LockGuard guard(s->list_lock);
  for (page* slab = s->partial.front(); slab != nullptr;) {
    page* next = slab->next;
    if (slab_freelist(slab).inuse == 0) {
      s->partial.remove(slab);
      discard_slab(s, slab);
    }
    slab = next;
  }
  return s->nr_slabs != 0 ? 1 : 0;
}

// ---- slabs

// A new slab of s, not yet visible to any other thread (the caller counts it under list_lock).
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
  slab->frozen = 0;
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
  return slab;
}

void SlabAllocator::discard_slab(kmem_cache* s, page* slab) {
  --s->nr_slabs;
  s->total_objects -= slab->objects;
  slab->slab_cache = nullptr;
  slab->freelist = nullptr;
  slab->frozen = 0;
  const bool freed = pages_->free(slab, slab->order, PageOwner::Slab);
  KM_CHECK(freed);
}

// The cpu takes every free object; a remote free racing with this lands before (taken) or
// after (on slab->freelist, for the cpu to take back later).
void SlabAllocator::freeze(kmem_cache_cpu* c, page* slab) {
  const auto cpu = static_cast<std::uint16_t>(slab->slab_cache->cpu_slab.index_of(c));
  SlabFreelist old = slab_freelist(slab);
  while (!slab_update(slab, old, {nullptr, old.objects, old.objects, cpu, 1})) {
  }
  c->slab = slab;
  c->freelist = old.freelist;
}

// get_freelist: the objects other cpus freed to the cpu slab since it was frozen, all at once
// and without a lock; the slab stays frozen with every object counted in use.
void* SlabAllocator::take_remote_frees(page* slab) {
  SlabFreelist old = slab_freelist(slab);
  while (old.freelist != nullptr &&
         !slab_update(slab, old, {nullptr, old.objects, old.objects, old.slab_cpu, 1})) {
  }
  return old.freelist;
}

// deactivate_slab: the cpu's free objects go back to the slab, which leaves the cpu and joins
// the list its fill level calls for (or the page allocator, when empty and enough are kept).
void SlabAllocator::deactivate_slab(kmem_cache* s, kmem_cache_cpu* c) {
  page* slab = c->slab;
  if (slab == nullptr)
    return;
  // As 6.8 deactivate_slab. Stage one: count the cpu's free objects and find the last.
  void* const head = c->freelist;
  void* tail = nullptr;
  unsigned count = 0;
  for (void* obj = head; obj != nullptr; obj = get_freepointer(s, obj)) {
    tail = obj;
    ++count;
  }
  c->freelist = nullptr;
  c->slab = nullptr;
  // Stage two: unfreeze, splicing them before the objects other cpus freed meanwhile.
  SlabFreelist old = slab_freelist(slab);
  SlabFreelist now;
  do {
    if (tail != nullptr)
      set_freepointer(s, tail, old.freelist);
    now = {tail != nullptr ? head : old.freelist, static_cast<std::uint16_t>(old.inuse - count),
           old.objects, 0, 0};
  } while (!slab_update(slab, old, now));
  // Stage three: the list its fill level calls for. A slab that received remote frees goes to
  // the tail of the partial list (DEACTIVATE_TO_TAIL), any other to its head, where the next
  // allocation finds it hot. Frees that race with this and change the slab's list wait for
  // list_lock; the others change only its freelist pair.
  const bool remote_frees = old.freelist != nullptr;
  if (now.inuse == 0 && s->partial.length() >= s->layout.min_partial)
    discard_slab(s, slab);
  else if (now.inuse == now.objects)
    s->full.push_back(slab);
  else if (remote_frees)
    s->partial.push_back(slab);
  else
    s->partial.push_front(slab);
}

// A slab whose freelist turned out corrupt: keep its objects away from every cpu and list
// reader by marking it full (its free objects leak, as SLUB's slab_fix does).
void SlabAllocator::isolate_slab(kmem_cache* s, kmem_cache_cpu* c, unsigned cpu) {
  page* slab = c->slab;
  c->freelist = nullptr;
  c->slab = nullptr;
  SlabFreelist old = slab_freelist(slab);
  while (!slab_update(slab, old, {nullptr, old.objects, old.objects, 0, 0})) {
  }
  // Its free objects count as allocated from now on (leaked), in the bitmap too.
  auto* base = static_cast<unsigned char*>(pages_->page_address(slab));
  for (unsigned i = 0; i < slab->objects; ++i)
    live_delta_[cpu].bits += live_.set(base + std::size_t{i} * s->layout.size) ? 1 : 0;
  s->full.push_back(slab);
}

// ---- allocation

void* SlabAllocator::alloc(kmem_cache* s, gfp_t gfp) {
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_invalid_gfp(*reporter_, gfp);
    return nullptr;
  }
  return slab_alloc(s, gfp);
}

void* SlabAllocator::slab_alloc(kmem_cache* s, gfp_t gfp) {
  KM_DCHECK((gfp & ~__GFP_BITS_MASK) == 0);
  const unsigned cpu = this_cpu();
  std::uintptr_t corrupt = 0; // a debug cache's corrupt freelist, reported once no lock is held
  void* obj;
  if (cpu == nr_cpus_) {
    platform::LockGuard guard(overflow_lock_);
    obj = alloc_on(s, cpu, gfp, corrupt);
  } else {
    obj = alloc_on(s, cpu, gfp, corrupt);
  }
  if (corrupt != 0)
    report_freelist_corrupt(*reporter_, s->name, corrupt);
  return obj;
}

void* SlabAllocator::alloc_on(kmem_cache* s, unsigned cpu, gfp_t gfp, std::uintptr_t& corrupt) {
  kmem_cache_cpu* c = &s->cpu_slab[cpu];
  void* obj = c->freelist;
  if (obj == nullptr || (s->flags & SLAB_CONSISTENCY_CHECKS) != 0) {
    obj = alloc_slow(s, c, gfp, corrupt); // counts its path
  } else {
    c->freelist = get_freepointer(s, obj);
    SlotPathStats& paths = live_delta_[cpu].paths;
    ++(cpu < nr_cpus_ ? paths.fast_allocs : paths.locked_allocs);
  }
  if (obj == nullptr)
    return nullptr;
  live_delta_[cpu].bits += live_.set(obj) ? 1 : 0;
  unpoison(obj, s->layout.object_size);
  if ((gfp & __GFP_ZERO) != 0)
    std::memset(obj, 0, s->layout.object_size);
  return obj;
}

// A debug cache's freelist that points outside its slab isolates the slab (isolate_slab) and
// the allocation goes on from another; `corrupt` gets the first bad object, for the caller to
// report after it released every lock.
void* SlabAllocator::alloc_slow(kmem_cache* s, kmem_cache_cpu* c, gfp_t gfp,
                                std::uintptr_t& corrupt) {
  const unsigned cpu = s->cpu_slab.index_of(c);
  SlotPathStats& paths = live_delta_[cpu].paths;
  // The objects other cpus freed to this cpu's slab, without a lock (a debug cache's under it).
  if (c->freelist == nullptr && c->slab != nullptr && !debug_cache(s)) {
    if (void* obj = take_remote_frees(c->slab); obj != nullptr) {
      c->freelist = get_freepointer(s, obj);
      ++(cpu < nr_cpus_ ? paths.fast_allocs : paths.locked_allocs);
      return obj;
    }
  }
  ++paths.locked_allocs;
  s->list_lock.lock();
  for (;;) {
    if (c->freelist == nullptr && c->slab != nullptr) {
      c->freelist = take_remote_frees(c->slab);
      if (c->freelist == nullptr)
        deactivate_slab(s, c);
    }
    if (c->freelist == nullptr && c->slab == nullptr) {
      page* slab = s->partial.front();
      if (slab != nullptr) {
        s->partial.remove(slab);
      } else {
        s->list_lock.unlock(); // the page allocator, without the cache's lock
        slab = new_slab(s, gfp);
        s->list_lock.lock();
        if (slab == nullptr) {
          s->list_lock.unlock();
          return nullptr;
        }
        ++s->nr_slabs;
        s->total_objects += slab->objects;
      }
      freeze(c, slab);
    }
    void* obj = c->freelist;
    void* next = get_freepointer(s, obj);
    if ((s->flags & SLAB_CONSISTENCY_CHECKS) != 0 &&
        (!object_valid(s, c->slab, obj) || (next != nullptr && !object_valid(s, c->slab, next)))) {
      if (corrupt == 0)
        corrupt = addr_of(obj);
      isolate_slab(s, c, cpu);
      continue;
    }
    c->freelist = next;
    s->list_lock.unlock();
    return obj;
  }
}

SlotPathStats SlabAllocator::path_stats() const {
  SlotPathStats sum;
  for (unsigned cpu = 0; cpu <= nr_cpus_; ++cpu) {
    const SlotPathStats& p = live_delta_[cpu].paths;
    sum.fast_allocs += p.fast_allocs;
    sum.locked_allocs += p.locked_allocs;
    sum.fast_frees += p.fast_frees;
    sum.locked_frees += p.locked_frees;
    sum.remote_frees += p.remote_frees;
  }
  return sum;
}

// ---- free

bool SlabAllocator::object_valid(const kmem_cache* s, const page* slab, const void* obj) const {
  const auto base = addr_of(pages_->page_address(slab));
  const auto a = addr_of(obj);
  return a >= base && a < base + std::size_t{slab->objects} * s->layout.size &&
         std::size_t{obj_to_index(s, a - base)} * s->layout.size == a - base;
}

bool SlabAllocator::on_freelist(const kmem_cache* s, const page* slab, const void* obj) const {
  const SlabFreelist state = slab_freelist(slab);
  const void* lists[2] = {state.freelist, nullptr};
  if (state.frozen != 0)
    lists[1] = s->cpu_slab[state.slab_cpu].freelist;
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

page* SlabAllocator::slab_of_object(kmem_cache* s, void* obj) {
  KM_DCHECK(is_cache(s)); // Heap resolved the handle and reported a dead one
  page* p = pages_->virt_to_page(addr_of(obj));
  if (p == nullptr) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj), "outside the heap");
    return nullptr;
  }
  const PageOwner owner = pages_->owner_of(p);
  page* slab = owner == PageOwner::Free || owner == PageOwner::Metadata
                   ? p
                   : pages_->pfn_to_page(pages_->start_pfn() + p->head);
  if (owner != PageOwner::Slab || slab->owner != PageOwner::Slab) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj),
                                  owner == PageOwner::Free ? "in a free page"
                                                           : "not in a slab page");
    return nullptr;
  }
  if (slab->slab_cache != s) {
    report_wrong_cache(*reporter_, s->name, slab->slab_cache->name, addr_of(obj));
    return nullptr;
  }
  if (!object_valid(s, slab, obj)) {
    report_invalid_object_pointer(*reporter_, s->name, addr_of(obj), "not at an object boundary");
    return nullptr;
  }
  return slab;
}

// The allocation bitmap catches every double free (free_on clears the bit atomically, so it
// also decides between two racing frees); SLAB_CONSISTENCY_CHECKS also walks the freelists, and
// the hardened freelist's naive check (the head of the list the object would join) stays as a
// second line should the bitmap be damaged (for a remote free, under list_lock in free_on).
bool SlabAllocator::check_not_free(const kmem_cache* s, const page* slab, const void* obj) {
  return check_not_free_on(s, this_cpu(), slab, obj);
}

bool SlabAllocator::check_not_free_on(const kmem_cache* s, unsigned cpu, const page* slab,
                                      const void* obj) {
  const kmem_cache_cpu* c = &s->cpu_slab[cpu];
  const bool local = cpu < nr_cpus_ && c->slab == slab; // (the shared slot: under its lock)
  bool already_free = !live_.test(obj) || (hardened_ && local && obj == c->freelist);
  if (!already_free && debug_cache(s)) {
    platform::LockGuard guard(s->list_lock);
    already_free = on_freelist(s, slab, obj);
  }
  if (already_free) {
    report_object_double_free(*reporter_, s->name, addr_of(obj));
    return false;
  }
  return true;
}

bool SlabAllocator::free_object(kmem_cache* s, page* slab, void* obj) {
  const unsigned cpu = this_cpu();
  if (!check_not_free_on(s, cpu, slab, obj))
    return false;
  return free_to_slab(s, cpu, slab, obj);
}

bool SlabAllocator::free(kmem_cache* s, void* obj) {
  if (obj == nullptr)
    return false;
  page* slab = slab_of_object(s, obj);
  return slab != nullptr && free_object(s, slab, obj);
}

// A double free that free_on finds is reported here, after the shared slot's lock is released:
// a report handler never runs with a heap lock held.
bool SlabAllocator::free_to_slab(kmem_cache* s, unsigned cpu, page* slab, void* obj) {
  bool freed;
  if (cpu == nr_cpus_) {
    platform::LockGuard guard(overflow_lock_);
    freed = free_on(s, cpu, slab, obj);
  } else {
    freed = free_on(s, cpu, slab, obj);
  }
  if (!freed)
    report_object_double_free(*reporter_, s->name, addr_of(obj));
  return freed;
}

// False, freeing nothing, when obj is already free (freed meanwhile by another thread, or the
// hardened remote-head check); the caller reports it.
bool SlabAllocator::free_on(kmem_cache* s, unsigned cpu, page* slab, void* obj) {
  kmem_cache_cpu* c = &s->cpu_slab[cpu];
  if (!live_.clear(obj)) // freed meanwhile by another thread
    return false;
  --live_delta_[cpu].bits;
  poison(obj, s->layout.size);
  SlotPathStats& paths = live_delta_[cpu].paths;
  if (c->slab == slab && !debug_cache(s)) { // the fast path: this slot's own cpu slab
    set_freepointer(s, obj, c->freelist);
    c->freelist = obj;
    ++(cpu < nr_cpus_ ? paths.fast_frees : paths.locked_frees);
    return true;
  }
  // __slab_free: one update of the slab's freelist pair, without a lock unless it moves the
  // slab between lists (debug caches: always under list_lock).
  SlabFree done = debug_cache(s) ? SlabFree::NeedsLock : slab_free_lockless(s, slab, obj);
  if (done == SlabFree::NeedsLock) {
    platform::LockGuard guard(s->list_lock);
    if (c->slab == slab) { // a debug cache's cpu slab: changed under list_lock only
      set_freepointer(s, obj, c->freelist);
      c->freelist = obj;
      done = SlabFree::Done;
    } else {
      done = slab_free_locked(s, slab, obj);
    }
    ++paths.locked_frees;
  } else {
    ++(cpu < nr_cpus_ ? paths.remote_frees : paths.locked_frees);
  }
  if (done == SlabFree::Refused) { // free already: its bit was set in error; the bitmap is kept
    live_delta_[cpu].bits += live_.set(obj) ? 1 : 0;
    return false;
  }
  return true;
}

// __slab_free for a slab that is not this cpu's, when the free leaves it on its list: a frozen
// slab (another cpu's), or a partial slab that keeps objects in use. Otherwise (it was full, or
// it becomes empty) NeedsLock, changing nothing: the caller retries under list_lock. Refused
// when obj is already the slab's first free object (the hardened freelist's naive check).
SlabAllocator::SlabFree SlabAllocator::slab_free_lockless(const kmem_cache* s, page* slab,
                                                          void* obj) {
  SlabFreelist old = slab_freelist(slab);
  for (;;) {
    if (hardened_ && old.freelist == obj)
      return SlabFree::Refused;
    if (old.frozen == 0 && (old.freelist == nullptr || old.inuse == 1))
      return SlabFree::NeedsLock;
    set_freepointer(s, obj, old.freelist);
    if (slab_update(slab, old,
                    {obj, static_cast<std::uint16_t>(old.inuse - 1), old.objects, old.slab_cpu,
                     old.frozen}))
      return SlabFree::Done;
  }
}

// __slab_free under list_lock, taken before the update as the kernel takes it, so that the
// slab's list and its state change together; frees racing without the lock change only the
// freelist pair, and the update retries with what they left.
SlabAllocator::SlabFree SlabAllocator::slab_free_locked(kmem_cache* s, page* slab, void* obj) {
  SlabFreelist old = slab_freelist(slab);
  SlabFreelist now;
  do {
    if (hardened_ && old.freelist == obj)
      return SlabFree::Refused;
    set_freepointer(s, obj, old.freelist);
    now = old;
    now.freelist = obj;
    --now.inuse;
  } while (!slab_update(slab, old, now));
  if (old.frozen != 0)
    return SlabFree::Done; // another cpu's slab: it takes these back when its own freelist runs dry
  const bool was_full = old.freelist == nullptr;
  if (now.inuse == 0 && s->partial.length() >= s->layout.min_partial) {
    if (was_full)
      s->full.remove(slab);
    else
      s->partial.remove(slab);
    discard_slab(s, slab);
  } else if (was_full) {
    s->full.remove(slab);
    s->partial.push_back(slab);
  }
  return SlabFree::Done;
}

} // namespace km
