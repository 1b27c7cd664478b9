// slab/cache_registry.cpp - the kmem_cache registry: the descriptor slots, kmem_cache_create
// (argument checks, layout, a free slot, the hardening key), the slab_caches list, handles with
// generations, and kmem_cache_destroy. See slub.h for the handle format.
#include "slab/slub.h"

#include <cstring>
#include <new>

#include "support/bits.h"
#include "support/check.h"

namespace km {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr unsigned kHandleShift = 48;
constexpr bool kTaggedHandles = sizeof(std::uintptr_t) == 8;

} // namespace

void SlabAllocator::init(const Reporter* reporter, PageAllocator* pages, const Config& cfg,
                         kmem_cache* cache_slots, kmem_cache_cpu* cpu_slots, unsigned nr_slots,
                         void* slot_area, std::uint64_t* live_bitmap, std::uint64_t seed) {
  KM_DCHECK(cfg.nr_cpus >= 1 && cfg.nr_cpus <= kMaxCpus); // resolved by Heap::init
  live_.init(live_bitmap, pages->start_pfn() << pages->page_shift());
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
  for (std::size_t i = 0; i < cpu_run_slots(max_caches_) * (nr_cpus_ + 1); ++i)
    new (&cpu_slots_[i]) kmem_cache_cpu{};
  slab_mutex_.init();
  overflow_lock_.init();
  slot_mode_ =
      platform::platform_hooks.current_cpu != nullptr ? SlotMode::Platform : SlotMode::Threads;
  // slot_area: nr_cpus_ + 1 counters, nr_cpus_ + 1 claims, nr_cpus_ ownership words.
  auto* area = static_cast<unsigned char*>(slot_area);
  live_delta_ = reinterpret_cast<SlotCounters*>(area);
  claims_ = reinterpret_cast<SlotClaim*>(area + sizeof(SlotCounters) * (nr_cpus_ + 1));
  slot_state_ = reinterpret_cast<std::uint32_t*>(claims_ + nr_cpus_ + 1);
  for (unsigned i = 0; i <= nr_cpus_; ++i) {
    new (&live_delta_[i]) SlotCounters{};
    new (&claims_[i]) SlotClaim{this, i};
  }
  for (unsigned i = 0; i < nr_cpus_; ++i)
    new (&slot_state_[i]) std::uint32_t{0};
  key_ = platform::create_thread_key(&SlabAllocator::on_thread_exit);
  id_ = platform::next_heap_id();
  fork_hook_ = platform::ForkHook{&fork_prepare, &fork_parent, &fork_child, this};
  platform::add_fork_hook(&fork_hook_);
  platform::LockGuard guard(slab_mutex_);
  newest_ = nullptr;
}

std::size_t SlabAllocator::slot_area_bytes(unsigned nr_cpus) {
  static_assert(alignof(SlotCounters) == 64 && alignof(SlotClaim) <= 64 &&
                sizeof(SlotClaim) % alignof(std::uint32_t) == 0);
  return (sizeof(SlotCounters) + sizeof(SlotClaim)) * (std::size_t{nr_cpus} + 1) +
         sizeof(std::uint32_t) * nr_cpus;
}

SlabAllocator::~SlabAllocator() {
  platform::delete_thread_key(key_); // no exit hook runs for this heap any more
  if (fork_hook_.context != nullptr)
    platform::remove_fork_hook(&fork_hook_);
}

// The locks are a set that changes with the caches, which the analysis cannot follow; the order
// is the one platform/lock.h gives.
void SlabAllocator::fork_prepare(void* self) {
  const auto* sa = static_cast<const SlabAllocator*>(self);
  sa->slab_mutex_.lock();
  const_cast<platform::Lock&>(sa->overflow_lock_).lock();
  for (const kmem_cache* s = sa->newest_; s != nullptr; s = s->next_cache)
    s->list_lock.lock();
  sa->pages_->lock_for_fork();
}

void SlabAllocator::unlock_all_after_fork() const {
  pages_->unlock_after_fork();
  for (const kmem_cache* s = newest_; s != nullptr; s = s->next_cache)
    s->list_lock.unlock();
  const_cast<platform::Lock&>(overflow_lock_).unlock();
  slab_mutex_.unlock();
}

void SlabAllocator::fork_parent(void* self) {
  static_cast<const SlabAllocator*>(self)->unlock_all_after_fork();
}

// The child has one thread, the one that forked: the other threads' slots are free (their cpu
// slabs stay until a flush or a new holder uses them).
void SlabAllocator::fork_child(void* self) {
  auto* sa = static_cast<SlabAllocator*>(self);
  const void* claim = platform::thread_value(sa->key_);
  const unsigned own = claim != nullptr ? static_cast<const SlotClaim*>(claim)->cpu : sa->nr_cpus_;
  for (unsigned cpu = 0; cpu < sa->nr_cpus_; ++cpu)
    if (cpu != own)
      sa->slot_state_[cpu] = 0;
  sa->unlock_all_after_fork();
}

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
  {
    platform::LockGuard guard(slab_mutex_);
    unsigned slot = 0;
    for (; slot < max_caches_; ++slot) {
      if (!slots_[slot].in_use && !slots_[slot].retired) {
        s = &slots_[slot];
        break;
      }
    }
    if (s != nullptr) {
      const CpuSlabs cpus{&cpu_slots_[slot], static_cast<unsigned>(cpu_run_slots(max_caches_))};
      const std::uint16_t generation = s->generation;
      new (s) kmem_cache{};
      s->list_lock.init();
      s->generation = generation;
      std::memcpy(s->name, name, std::strlen(name) + 1);
      s->flags = flags;
      s->layout = layout;
      s->reciprocal_size = reciprocal_value(layout.size);
      s->ctor = ctor;
      s->random = hardened_ ? splitmix64(seed_ ^ (std::uint64_t{slot} << 32) ^ addr_of(s)) : 0;
      s->cpu_slab = cpus;
      for (unsigned c = 0; c <= nr_cpus_; ++c)
        cpus[c] = kmem_cache_cpu{};
      s->in_use = true;
      s->next_cache = newest_;
      s->prev_cache = nullptr;
      if (newest_ != nullptr)
        newest_->prev_cache = s;
      newest_ = s;
    }
  }
  if (s == nullptr)
    return fail("no free kmem_cache descriptor (Config::max_caches)");
  return s;
}

bool SlabAllocator::is_cache(const kmem_cache* s) const {
  const auto a = addr_of(s);
  const auto base = addr_of(slots_);
  return a >= base && a < base + max_caches_ * sizeof(kmem_cache) &&
         (a - base) % sizeof(kmem_cache) == 0 && s->in_use;
}

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
  std::size_t live = 0;
  {
    platform::LockGuard registry(slab_mutex_);
    flush(s);
    platform::LockGuard guard(s->list_lock);
    s->partial.for_each([&](const page* slab) { live += slab_freelist(slab).inuse; });
    s->full.for_each([&](const page* slab) { live += slab_freelist(slab).inuse; });
    // A cpu slab that another live thread holds (flush leaves it to that thread) counts whole.
    for (unsigned c = 0; c <= nr_cpus_; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        live += s->cpu_slab[c].slab->objects;
    if (live == 0) {
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
  }
  // The kernel WARNs and leaks the cache; we keep it alive and usable.
  if (live != 0)
    report_objects_remaining(*reporter_, s->name, live);
}

} // namespace km
